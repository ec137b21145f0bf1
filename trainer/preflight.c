/* preflight.c - the pre-training checks of publishing (see preflight.h). */
#include "preflight.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "family.h"
#include "midx_store.h"
#include "params.h"
#include "store.h"

#define PAGE_BYTES    4096u
#define HEADER_BYTES  64u
#define MANIFEST_BASE (64u << 10)  /* the manifest without its curves */
#define CURVE_EPOCH   2048u        /* one epoch's curve point, generously */
#define SLACK_BYTES   (256u << 10) /* LMDB's branch pages, meta pages, free list */

/* The nearest existing ancestor of path (path itself when it exists) into
 * buf; -1 with errno when the walk meets anything but a missing entry
 * (ENOTDIR: a component is a file). */
static int existing_ancestor(const char *path, char *buf, size_t size, struct stat *st)
{
    if (snprintf(buf, size, "%s", path) >= (int)size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    while (stat(buf, st) != 0) {
        if (errno != ENOENT) return -1;
        char *slash = strrchr(buf, '/');
        if (!slash)
            snprintf(buf, size, "."); /* a relative path's start */
        else if (slash == buf)
            buf[1] = '\0'; /* the root */
        else
            *slash = '\0';
    }
    return 0;
}

/* A store directory that does not exist yet: its nearest existing ancestor
 * must be a directory we may create entries in. */
static int check_creatable(const char *dir, rs_error *err)
{
    char ancestor[4096];
    struct stat st;
    if (existing_ancestor(dir, ancestor, sizeof(ancestor), &st) != 0)
        return rs_fail(err, "--store %s cannot be created: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return rs_fail(err, "--store %s cannot be created: %s is not a directory", dir, ancestor);
    if (access(ancestor, W_OK | X_OK) != 0)
        return rs_fail(err, "--store %s cannot be created: %s is not writable (%s)", dir, ancestor,
                       strerror(errno));
    return 0;
}

/* An existing store: opened for writing exactly as the publish will, which
 * proves data.mdb and lock.mdb writable, then its space read. */
static int check_existing(const rs_cli *c, rs_preflight *out, rs_error *err)
{
    const char *dir = c->store;
    if (access(dir, W_OK | X_OK) != 0)
        return rs_fail(err,
                       "--store %s is not writable (%s); rectrain needs to write data.mdb "
                       "and lock.mdb there",
                       dir, strerror(errno));
    rs_store *store;
    size_t map = (size_t)(c->map_size_mib << 20);
    if (rs_store_open(dir, RS_STORE_CREATE, map, &store, err) != 0)
        return rs_error_prefix(err, "--store");
    int rc = rs_store_space(store, &out->map_size, &out->used, err);
    rs_store_close(store);
    out->store_exists = 1;
    return rc;
}

int rs_preflight_store(const rs_cli *c, rs_preflight *out, rs_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!c->store) return 0;
    if (rs_store_check_name("variant", c->variant, err) != 0)
        return rs_error_prefix(err, "--variant");
    const char *why = c->family->unpublishable ? c->family->unpublishable(c->family_options) : NULL;
    if (why) return rs_fail(err, "--store: %s", why);
    struct stat st;
    if (stat(c->store, &st) != 0) {
        if (errno == ENOTDIR)
            return rs_fail(err,
                           "--store %s cannot be created: a component of the path is a file, "
                           "not a directory",
                           c->store);
        if (errno != ENOENT) return rs_fail(err, "--store %s: %s", c->store, strerror(errno));
        out->map_size = c->map_size_mib ? c->map_size_mib << 20 : RS_STORE_DEFAULT_MAP_SIZE;
        return check_creatable(c->store, err);
    }
    if (!S_ISDIR(st.st_mode)) return rs_fail(err, "--store %s is not a directory", c->store);
    char data[4200];
    snprintf(data, sizeof(data), "%s/data.mdb", c->store);
    if (access(data, F_OK) == 0) return check_existing(c, out, err);
    if (access(c->store, W_OK | X_OK) != 0)
        return rs_fail(err, "--store %s is not writable (%s)", c->store, strerror(errno));
    out->map_size = c->map_size_mib ? c->map_size_mib << 20 : RS_STORE_DEFAULT_MAP_SIZE;
    return 0;
}

/* One tensor's bytes in the store: header, payload, the overflow pages'
 * rounding and its leaf node. */
static uint64_t tensor_bytes(uint64_t payload)
{
    return payload + HEADER_BYTES + PAGE_BYTES;
}

static uint64_t ids_bytes(const rs_idtable *t)
{
    uint64_t n = rs_idtable_count(t), bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        rs_idtable_name(t, (uint32_t)i, &len);
        bytes += len;
    }
    return tensor_bytes(bytes) + tensor_bytes((n + 1) * 8);
}

static uint64_t rows_bytes(const rs_csr *m)
{
    return tensor_bytes(((uint64_t)m->n_rows + 1) * 8) + tensor_bytes(rs_csr_nnz(m) * 4);
}

/* The model's tensors and, for an embedding model, its serving index
 * (midx_store.h: 4d + 16 bytes per item, 12 per cell, the codebooks). */
static uint64_t model_bytes(const rs_train_model *model)
{
    if (model->publish)
        return model->publish_bytes ? tensor_bytes(model->publish_bytes(model->self))
                                    : tensor_bytes(rs_model_footprint(model));
    if (!model->params) return tensor_bytes(rs_model_footprint(model));
    const rs_params *p = model->params;
    uint64_t bytes = 0, dim = 1;
    for (int i = 0; i < p->n; i++) {
        const rs_param *t = &p->t[i];
        if (!t->spec.name || !t->value) continue;
        bytes += tensor_bytes((uint64_t)t->size * sizeof(float));
        if (model->serve.vectors && !strcmp(t->spec.name, model->serve.vectors))
            dim = (t->spec.cols ? t->spec.cols : 1) + 1; /* + the bias column */
    }
    uint64_t n = model->n_items, k = rs_midx_serving_k(n);
    bytes += 11 * tensor_bytes(0) + n * (4 * dim + 16) + 12 * k * k + 2 * k * dim * 4 + 8 * k;
    return bytes;
}

uint64_t rs_preflight_version_bytes(const rs_train_model *model, const rs_dataset *d, int epochs)
{
    uint64_t bytes = model_bytes(model);
    bytes += ids_bytes(d->items) + ids_bytes(d->users);
    bytes += tensor_bytes((uint64_t)d->known.n_cols * 4); /* popularity */
    bytes += rows_bytes(&d->known);
    if (d->seen.indptr) bytes += rows_bytes(&d->seen);
    bytes += MANIFEST_BASE + (uint64_t)(epochs > 0 ? epochs : 0) * CURVE_EPOCH;
    return bytes + bytes / 32 + SLACK_BYTES;
}

int rs_preflight_space(const rs_cli *c, const rs_preflight *pf, uint64_t estimate, rs_error *err)
{
    if (!c->store) return 0;
    uint64_t room = pf->map_size > pf->used ? pf->map_size - pf->used : 0;
    if (estimate <= room) return 0;
    uint64_t need_mib = ((pf->used + estimate) >> 20) + 1;
    return rs_fail(err,
                   "--store %s: the version will take about %.1f MiB, but the store's map has "
                   "%.1f MiB left (map size %llu MiB, %.1f MiB used); train with --map-size %llu "
                   "or more",
                   c->store, (double)estimate / 1048576.0, (double)room / 1048576.0,
                   (unsigned long long)(pf->map_size >> 20), (double)pf->used / 1048576.0,
                   (unsigned long long)need_mib);
}
