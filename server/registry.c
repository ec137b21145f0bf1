/* registry.c - refcounted loaded versions behind atomic pointers (see
 * registry.h).
 *
 * Why "pins": a reader must not increment the refcount of a version that a
 * concurrent swap has just dropped and freed. Each slot counts readers that
 * are between loading the pointer and taking their reference (pins). The
 * swapper exchanges the pointer first, then waits until pins reads zero
 * before dropping the old reference: any reader that loaded the old pointer
 * was pinned when the exchange happened, so it has taken its reference by
 * the time pins is zero. (All of it is sequentially consistent.) A pin lasts
 * a few instructions, so the wait is short; readers never wait at all.
 */
#include "registry.h"

#include <pthread.h>
#include <sched.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

typedef struct slot {
    char name[RS_NAME_MAX + 1];
    _Atomic(rs_loaded *) current;
    _Atomic uint32_t pins;
} slot;

/* A store loads read from, with its count of live loaded versions. */
typedef struct store_use {
    rs_store *store;
    _Atomic uint32_t live;
} store_use;

struct rs_registry {
    rs_store *store;                        /* where loads read from (admin lock) */
    store_use uses[RS_REGISTRY_MAX_STORES]; /* (admin lock, but live is atomic) */
    int use;                                /* uses[use].store == store */
    rs_stats *stats;
    rs_retriever_options ropt;
    pthread_mutex_t admin; /* serialises loads and swaps; never on the request path */
    _Atomic int n_slots;
    _Atomic int default_slot;
    slot slots[RS_REGISTRY_MAX];
};

int rs_registry_create(rs_store *store, rs_stats *stats, const rs_retriever_options *ropt,
                       rs_registry **out, rs_error *err)
{
    rs_registry *reg = rs_calloc(1, sizeof(*reg), err);
    if (!reg) return -1;
    if (ropt) reg->ropt = *ropt;
    reg->store = store;
    reg->uses[0].store = store;
    reg->stats = stats;
    pthread_mutex_init(&reg->admin, NULL);
    atomic_store(&reg->default_slot, -1);
    *out = reg;
    return 0;
}

void rs_loaded_destroy(rs_loaded *l)
{
    if (!l) return;
    rs_retriever_free(l->retriever);
    rs_model_free(l->model);
    rs_snapshot_close(l->snap);
    if (l->manifest) json_decref(l->manifest);
    rs_similarity_release(&l->sim);
    rs_catalog_free(&l->catalog);
    /* Counted down only once the snapshot is closed: then the store may go. */
    if (l->store_live) atomic_fetch_sub(l->store_live, 1);
    free(l);
    /* A version is megabytes freed at once, on whichever thread let it go
     * last, into that thread's malloc arena; hand the free pages back now
     * (once per retired version) rather than let each arena keep its high
     * water mark. */
    malloc_trim(0);
}

void rs_loaded_release(rs_loaded *l)
{
    if (l && atomic_fetch_sub(&l->refs, 1) == 1) rs_loaded_destroy(l);
}

int rs_loaded_check(const rs_loaded *l, rs_error *err)
{
    uint64_t size = 0;
    if (rs_store_file_holds(l->store, l->extent, &size)) return 0;
    return rs_fail_kind(err, RS_ERR_IO,
                        "variant %s version %llu cannot be read: the store's data.mdb shrank to "
                        "%llu bytes under it (it reaches %llu)",
                        l->variant, (unsigned long long)l->version, (unsigned long long)size,
                        (unsigned long long)l->extent);
}

void rs_registry_free(rs_registry *reg)
{
    if (!reg) return;
    int n = atomic_load(&reg->n_slots);
    for (int i = 0; i < n; i++) rs_loaded_release(atomic_exchange(&reg->slots[i].current, NULL));
    pthread_mutex_destroy(&reg->admin);
    free(reg);
}

rs_loaded *rs_registry_acquire_slot(rs_registry *reg, int i)
{
    if (i < 0 || i >= atomic_load(&reg->n_slots)) return NULL;
    slot *s = &reg->slots[i];
    atomic_fetch_add(&s->pins, 1);
    rs_loaded *l = atomic_load(&s->current);
    if (l) atomic_fetch_add(&l->refs, 1);
    atomic_fetch_sub(&s->pins, 1);
    return l;
}

static int find_slot(const rs_registry *reg, const char *name, size_t len)
{
    int n = atomic_load(&((rs_registry *)reg)->n_slots);
    for (int i = 0; i < n; i++) {
        const char *s = reg->slots[i].name;
        if (strlen(s) == len && memcmp(s, name, len) == 0) return i;
    }
    return -1;
}

rs_loaded *rs_registry_acquire(rs_registry *reg, const char *name, size_t len)
{
    int i = name ? find_slot(reg, name, len) : atomic_load(&reg->default_slot);
    return i < 0 ? NULL : rs_registry_acquire_slot(reg, i);
}

int rs_registry_slots(const rs_registry *reg)
{
    return atomic_load(&((rs_registry *)reg)->n_slots);
}

const char *rs_registry_slot_name(const rs_registry *reg, int i)
{
    return (i >= 0 && i < rs_registry_slots(reg)) ? reg->slots[i].name : NULL;
}

int rs_registry_default_slot(const rs_registry *reg)
{
    return atomic_load(&((rs_registry *)reg)->default_slot);
}

/* A float matrix tensor with n_items rows named by the manifest's "items"
 * object under key (e.g. "anchors"): 0 and the view when present; -1 with
 * kind RS_ERR_NOT_FOUND when the manifest names none, another kind when it
 * names one that is missing or misshapen. */
static int items_matrix(rs_loaded *l, const char *key, uint32_t n_items, const float **data,
                        uint32_t *cols, rs_error *err)
{
    json_t *items = l->manifest ? json_object_get(l->manifest, "items") : NULL;
    const char *name = json_string_value(json_object_get(items, key));
    if (!name) return rs_fail_kind(err, RS_ERR_NOT_FOUND, "the manifest names no item %s", key);
    rs_tensor_view v;
    if (rs_snapshot_tensor(l->snap, name, RS_F32, &v, err) != 0) {
        /* Named but absent is a broken snapshot, not "none named". */
        if (err->kind == RS_ERR_NOT_FOUND) err->kind = RS_ERR_CORRUPT;
        return -1;
    }
    if (v.ndim != 2 || v.shape[0] != n_items || v.shape[1] == 0 || v.shape[1] > (1u << 24))
        return rs_fail_kind(err, RS_ERR_CORRUPT, "tensor %s: expected %u rows of item vectors",
                            name, n_items);
    *data = v.data;
    *cols = (uint32_t)v.shape[1];
    return 0;
}

/* What GET /v1/items/{id}/similar compares: PIA anchors when the snapshot
 * has them, else the item vectors without the bias coordinate, else the
 * scoring matrix itself. */
static int load_similarity(rs_loaded *l, uint32_t n_items, rs_error *err)
{
    const float *vectors;
    uint32_t dim;
    int anchors = 1;
    if (items_matrix(l, "anchors", n_items, &vectors, &dim, err) != 0) {
        if (err->kind != RS_ERR_NOT_FOUND) return -1;
        anchors = 0;
        if (items_matrix(l, "vectors", n_items, &vectors, &dim, err) != 0) {
            if (err->kind != RS_ERR_NOT_FOUND) return -1;
            vectors = rs_model_item_matrix(l->model);
            dim = rs_model_dim(l->model);
        }
    }
    return rs_similarity_init(&l->sim, vectors, n_items, dim, anchors, err);
}

/* The version's retriever: the trainer's published MIDX index when the
 * manifest names one and the options allow it, else one built here. A
 * published index that fails to load is logged and replaced by a built one:
 * the model itself is sound (its tensors passed their checks). */
static int make_retriever(rs_registry *reg, rs_loaded *l, const float *items, uint32_t n_items,
                          uint32_t dim, int verify, rs_error *err)
{
    json_t *midx = json_object_get(json_object_get(l->manifest, "retrieval"), "midx");
    const char *prefix = json_string_value(json_object_get(midx, "prefix"));
    json_int_t k = json_integer_value(json_object_get(midx, "codewords"));
    if (reg->ropt.midx_k && k != (json_int_t)reg->ropt.midx_k)
        prefix = NULL; /* another size asked for: do not map one only to drop it */
    if (rs_retriever_load(items, n_items, dim, &reg->ropt, l->snap, prefix, verify, &l->retriever,
                          err) == 0)
        return 0;
    if (err->kind != RS_ERR_NOT_FOUND)
        rs_log(RS_LOG_WARN, "%s v%llu: %s; building an index instead", l->variant,
               (unsigned long long)l->version, err->msg);
    return rs_retriever_create(items, n_items, dim, &reg->ropt, &l->retriever, err);
}

/* Builds a loaded version; on failure frees everything it made. */
static int build(rs_registry *reg, const char *variant, uint64_t version, int verify,
                 rs_loaded **out, rs_error *err)
{
    rs_loaded *l = rs_calloc(1, sizeof(*l), err);
    if (!l) return -1;
    snprintf(l->variant, sizeof(l->variant), "%s", variant);
    pthread_mutex_lock(&reg->admin);
    l->store = reg->store;
    l->store_live = &reg->uses[reg->use].live;
    atomic_fetch_add(l->store_live, 1);
    pthread_mutex_unlock(&reg->admin);
    double t0 = rs_now();
    if (rs_snapshot_open(l->store, variant, version, verify, &l->snap, err) != 0) {
        rs_error_prefix(err, "variant %s", variant);
        goto fail;
    }
    double t_snapshot = rs_now();
    l->version = rs_snapshot_version(l->snap);
    l->extent = rs_snapshot_extent(l->snap);
    /* The model's own errors already name the variant and version. */
    if (rs_model_load(l->snap, &l->model, err) != 0) goto fail;
    uint32_t n_items = rs_model_n_items(l->model), dim = rs_model_dim(l->model);
    const float *items = rs_model_item_matrix(l->model);
    int itemitem = rs_model_itemitem(l->model) != NULL;
    if (n_items == 0 || (!itemitem && (dim == 0 || !items))) {
        rs_fail(err, "the model has no items (%u x %u)", n_items, dim);
        goto fail_prefixed;
    }
    /* rs_model_load parsed the manifest too; this copy serves /v1/models
     * and names the optional tensors. */
    json_error_t jerr;
    l->manifest = json_loads(rs_snapshot_manifest(l->snap), 0, &jerr);
    if (!l->manifest)
        rs_log(RS_LOG_WARN, "%s v%llu: manifest is not valid JSON: %s", variant,
               (unsigned long long)l->version, jerr.text);
    json_t *catalog = json_object_get(l->manifest, "catalog");
    if (catalog) {
        if (rs_catalog_load(l->snap, catalog, n_items, &l->catalog, err) != 0) goto fail_prefixed;
        l->has_catalog = 1;
    }
    /* An item-item model ranks with its own rows: no retriever, no
     * similarity vectors (the retrieval options do not apply to it). */
    if (!itemitem && (make_retriever(reg, l, items, n_items, dim, verify, err) != 0 ||
                      load_similarity(l, n_items, err) != 0))
        goto fail_prefixed;
    rs_log(RS_LOG_DEBUG,
           "%s v%llu: snapshot opened in %.3fs (checksums %s), views reach %zu bytes of data.mdb; "
           "model and "
           "retriever ready %.3fs later",
           variant, (unsigned long long)l->version, t_snapshot - t0,
           verify ? "verified" : "not verified", (size_t)l->extent, rs_now() - t_snapshot);
    l->loaded_at = (double)time(NULL);
    atomic_store(&l->refs, 1);
    *out = l;
    return 0;
fail_prefixed:
    rs_error_prefix(err, "variant %s version %llu", variant, (unsigned long long)l->version);
fail:
    rs_loaded_destroy(l);
    return -1;
}

const char *rs_loaded_method(const rs_loaded *l)
{
    return l->retriever ? rs_retriever_method(l->retriever) : RS_METHOD_ITEM_ITEM;
}

/* The slot for a variant name, created on first use (admin lock held). */
static int slot_for(rs_registry *reg, const char *variant, rs_error *err)
{
    int i = find_slot(reg, variant, strlen(variant));
    if (i >= 0) return i;
    int n = atomic_load(&reg->n_slots);
    if (n >= RS_REGISTRY_MAX)
        return rs_fail(err, "too many variants (at most %d can be served)", RS_REGISTRY_MAX);
    snprintf(reg->slots[n].name, sizeof(reg->slots[n].name), "%s", variant);
    rs_stats_name_variant(reg->stats, n, variant);
    /* Publish the slot only once its name is written. */
    atomic_store(&reg->n_slots, n + 1);
    return n;
}

int rs_registry_reserve(rs_registry *reg, const char *variant, rs_error *err)
{
    if (strlen(variant) == 0 || strlen(variant) > RS_NAME_MAX)
        return rs_fail(err, "bad variant name \"%.80s\"", variant);
    pthread_mutex_lock(&reg->admin);
    int i = slot_for(reg, variant, err);
    pthread_mutex_unlock(&reg->admin);
    return i < 0 ? -1 : 0;
}

int rs_registry_load(rs_registry *reg, const char *variant, uint64_t version, int verify,
                     rs_error *err)
{
    if (strlen(variant) == 0 || strlen(variant) > RS_NAME_MAX)
        return rs_fail(err, "bad variant name \"%.80s\"", variant);
    rs_loaded *l;
    double t0 = rs_now();
    if (build(reg, variant, version, verify, &l, err) != 0) return -1;
    pthread_mutex_lock(&reg->admin);
    int i = slot_for(reg, variant, err);
    if (i < 0) {
        pthread_mutex_unlock(&reg->admin);
        rs_loaded_destroy(l);
        return -1;
    }
    l->slot = i;
    slot *s = &reg->slots[i];
    rs_loaded *old = atomic_exchange(&s->current, l);
    while (atomic_load(&s->pins) != 0) sched_yield();
    pthread_mutex_unlock(&reg->admin);
    char method[48];
    if (l->retriever && rs_retriever_midx_k(l->retriever))
        snprintf(method, sizeof(method), "midx k=%u, %s", rs_retriever_midx_k(l->retriever),
                 rs_retriever_midx_source(l->retriever));
    else
        snprintf(method, sizeof(method), "%s", rs_loaded_method(l));
    rs_log(RS_LOG_INFO, "loaded %s version %llu (%s, %u items, dim %u, %s) in %.3fs%s", variant,
           (unsigned long long)l->version, rs_model_family(l->model), rs_model_n_items(l->model),
           rs_model_dim(l->model), method, rs_now() - t0,
           old ? " (replacing the previous version)" : "");
    rs_loaded_release(old);
    return 0;
}

int rs_registry_set_store(rs_registry *reg, rs_store *store, rs_error *err)
{
    pthread_mutex_lock(&reg->admin);
    int chosen = -1;
    for (int i = 0; i < RS_REGISTRY_MAX_STORES && chosen < 0; i++)
        if (reg->uses[i].store == store) chosen = i;
    /* Reuse an entry whose store no live version needs any more. */
    for (int i = 0; i < RS_REGISTRY_MAX_STORES && chosen < 0; i++)
        if (i != reg->use && atomic_load(&reg->uses[i].live) == 0) chosen = i;
    if (chosen >= 0) {
        if (reg->uses[chosen].store != store) reg->uses[chosen].store = store;
        reg->use = chosen;
        reg->store = store;
    }
    pthread_mutex_unlock(&reg->admin);
    if (chosen < 0)
        return rs_fail(err, "%d earlier stores are still in use by loaded versions",
                       RS_REGISTRY_MAX_STORES - 1);
    return 0;
}

int rs_registry_list(rs_registry *reg, rs_variant_info **variants, uint32_t *n, rs_error *err)
{
    /* Under the admin lock the store cannot be switched, so it cannot be
     * retired and closed while it is read (the watcher switches first). */
    pthread_mutex_lock(&reg->admin);
    int rc = rs_store_list(reg->store, variants, n, err);
    pthread_mutex_unlock(&reg->admin);
    return rc;
}

uint32_t rs_registry_store_users(rs_registry *reg, const rs_store *store)
{
    uint32_t n = 0;
    pthread_mutex_lock(&reg->admin);
    for (int i = 0; i < RS_REGISTRY_MAX_STORES; i++)
        if (reg->uses[i].store == store) n += atomic_load(&reg->uses[i].live);
    pthread_mutex_unlock(&reg->admin);
    return n;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const rs_variant_info *)a)->name, ((const rs_variant_info *)b)->name);
}

int rs_registry_load_all(rs_registry *reg, int verify, int *loaded, rs_error *err)
{
    rs_variant_info *vars;
    uint32_t n;
    *loaded = 0;
    if (rs_store_list(reg->store, &vars, &n, err) != 0) return -1;
    qsort(vars, n, sizeof(vars[0]), by_name);
    int candidates = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!vars[i].current) continue;
        candidates++;
        rs_error lerr;
        if (rs_registry_load(reg, vars[i].name, 0, verify, &lerr) == 0)
            (*loaded)++;
        else
            rs_log(RS_LOG_ERROR, "skipping variant %s: %s", vars[i].name, lerr.msg);
    }
    rs_store_list_free(vars, n);
    if (candidates == 0)
        return rs_fail(err, "the store has no published variant (publish one with rectrain)");
    return 0;
}

int rs_registry_set_default(rs_registry *reg, const char *name, rs_error *err)
{
    int n = rs_registry_slots(reg);
    int chosen = -1;
    int any_loaded = 0;
    for (int i = 0; i < n; i++) any_loaded |= atomic_load(&reg->slots[i].current) != NULL;
    if (name) {
        chosen = find_slot(reg, name, strlen(name));
        /* Nothing loaded yet (configured variants awaiting their first
         * publish): the named slot will be filled by the watcher. */
        if (chosen < 0 || (any_loaded && !atomic_load(&reg->slots[chosen].current))) {
            char known[512] = "";
            for (int i = 0; i < n; i++)
                snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
                         i ? ", " : "", reg->slots[i].name);
            return rs_fail(err, "--default-variant %s: no such variant is loaded (loaded: %s)",
                           name, n ? known : "none");
        }
    } else {
        for (int i = 0; i < n && chosen < 0; i++)
            if (strcmp(reg->slots[i].name, "default") == 0) chosen = i;
        for (int i = 0; i < n; i++) {
            if (chosen >= 0) break;
            if (!atomic_load(&reg->slots[i].current)) continue;
            /* slots are filled in name order by rs_registry_load_all */
            chosen = i;
        }
        if (chosen < 0 && !any_loaded && n > 0) chosen = 0; /* awaiting the first publish */
        if (chosen < 0) return rs_fail(err, "no variant is loaded");
    }
    atomic_store(&reg->default_slot, chosen);
    return 0;
}
