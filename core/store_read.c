/* store_read.c - reading the store (see store.h): the current version of a
 * variant, the listing of variants and versions, and snapshots: a version
 * opened in its own read transaction, its tensors validated once and then
 * read zero-copy from LMDB's memory map (proto/snapshot.md).
 */
#include "store_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define PAYLOAD_ALIGN 16 /* views are at least this aligned */

/* ------------------------------------------------------------------------ */
/* Current version and listing.                                               */

int rs_store_current(rs_store *store, const char *variant, uint64_t *version, rs_error *err)
{
    *version = 0;
    if (rs_store_check_name("variant", variant, err) != 0) return -1;
    MDB_txn *txn;
    if (rs_store_txn_begin(store, MDB_RDONLY, &txn, err) != 0) return -1;
    char key[RS_STORE_KEY_MAX];
    rs_store_key(key, "variant/%s/current", variant);
    int found;
    int rc = rs_store_get_u64(store, txn, key, version, &found, err);
    rs_store_txn_abort(store, txn);
    return rc;
}

static int read_manifest(rs_store *s, MDB_txn *txn, const char *variant, uint64_t version,
                         char **out, int *found, rs_error *err)
{
    char key[RS_STORE_KEY_MAX];
    int klen = rs_store_key(key, "variant/%s/v/%020" PRIu64 "/manifest", variant, version);
    MDB_val k = rs_store_val(key, klen), v;
    *out = NULL;
    *found = 0;
    int rc = mdb_get(txn, s->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rs_store_mdb_fail(s, rc, err, "reading a manifest");
    *found = 1;
    if (memchr(v.mv_data, '\0', v.mv_size))
        return rs_fail(err,
                       "store %s: variant '%s' version %" PRIu64 ": manifest contains a NUL byte",
                       s->dir, variant, version);
    char *text = rs_malloc(v.mv_size + 1, 1, err);
    if (!text) return -1;
    memcpy(text, v.mv_data, v.mv_size);
    text[v.mv_size] = '\0';
    *out = text;
    return 0;
}

static int by_variant_name(const void *a, const void *b)
{
    return strcmp(((const rs_variant_info *)a)->name, ((const rs_variant_info *)b)->name);
}

static int list_one(rs_store *s, MDB_txn *txn, rs_variant_info *info, rs_error *err)
{
    char key[RS_STORE_KEY_MAX];
    rs_store_key(key, "variant/%s/current", info->name);
    int found;
    if (rs_store_get_u64(s, txn, key, &info->current, &found, err) != 0) return -1;
    rs_store_key(key, "variant/%s/next", info->name);
    if (rs_store_get_u64(s, txn, key, &info->next, &found, err) != 0) return -1;
    rs_u64vec versions = {0};
    if (rs_store_list_versions(s, txn, info->name, &versions, err) != 0) {
        free(versions.v);
        return -1;
    }
    if (versions.n > UINT32_MAX) versions.n = UINT32_MAX;
    info->versions = calloc(versions.n ? versions.n : 1, sizeof(*info->versions));
    if (!info->versions) {
        free(versions.v);
        return rs_fail(err, "out of memory listing store %s", s->dir);
    }
    for (size_t i = 0; i < versions.n; i++) {
        rs_version_info *vi = &info->versions[info->n_versions];
        vi->version = versions.v[i];
        vi->is_current = versions.v[i] == info->current;
        if (read_manifest(s, txn, info->name, vi->version, &vi->manifest_json, &found, err) != 0) {
            free(versions.v);
            return -1;
        }
        info->n_versions++;
        if (!found) {
            free(versions.v);
            return rs_fail(
                err, "store %s is corrupted: variant '%s' version %" PRIu64 " has no manifest",
                s->dir, info->name, vi->version);
        }
    }
    free(versions.v);
    return 0;
}

int rs_store_list(rs_store *store, rs_variant_info **variants, uint32_t *n_variants, rs_error *err)
{
    *variants = NULL;
    *n_variants = 0;
    MDB_txn *txn;
    if (rs_store_txn_begin(store, MDB_RDONLY, &txn, err) != 0) return -1;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, store->dbi, &cur);
    if (rc != 0) {
        rs_store_txn_abort(store, txn);
        return rs_store_mdb_fail(store, rc, err, "listing the store");
    }
    rs_variant_info *list = NULL;
    uint32_t n = 0, cap = 0;
    static const char PREFIX[] = "variant/";
    const size_t plen = sizeof(PREFIX) - 1;
    MDB_val k = rs_store_val(PREFIX, (int)plen), v;
    int failed = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (!failed && rc == 0 && rs_store_has_prefix(&k, PREFIX, plen)) {
        const char *name = (const char *)k.mv_data + plen;
        const char *slash = memchr(name, '/', k.mv_size - plen);
        size_t len = slash ? rs_name_length_ok(name, (size_t)(slash - name)) : 0;
        if (!len) {
            rs_fail(err, "store %s is corrupted: malformed key '%.*s'", store->dir,
                    (int)RS_MIN(k.mv_size, 200), (const char *)k.mv_data);
            failed = 1;
            break;
        }
        if (n == cap) {
            uint32_t ncap = cap ? cap * 2 : 8;
            rs_variant_info *nl = realloc(list, ncap * sizeof(*nl));
            if (!nl) {
                rs_fail(err, "out of memory listing store %s", store->dir);
                failed = 1;
                break;
            }
            list = nl;
            cap = ncap;
        }
        rs_variant_info *info = &list[n++];
        memset(info, 0, sizeof(*info));
        memcpy(info->name, name, len);
        if (list_one(store, txn, info, err) != 0) {
            failed = 1;
            break;
        }
        /* "variant/<name>0" sorts right after every "variant/<name>/..." key. */
        char next[RS_STORE_KEY_MAX];
        int nlen = rs_store_key(next, "variant/%s0", info->name);
        k = rs_store_val(next, nlen);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    rs_store_txn_abort(store, txn);
    if (!failed && rc != 0 && rc != MDB_NOTFOUND) {
        rs_store_mdb_fail(store, rc, err, "listing the store");
        failed = 1;
    }
    if (failed) {
        rs_store_list_free(list, n);
        return -1;
    }
    if (n > 1) qsort(list, n, sizeof(*list), by_variant_name);
    *variants = list;
    *n_variants = n;
    return 0;
}

void rs_store_list_free(rs_variant_info *variants, uint32_t n_variants)
{
    if (!variants) return;
    for (uint32_t i = 0; i < n_variants; i++) {
        if (variants[i].versions)
            for (uint32_t j = 0; j < variants[i].n_versions; j++)
                free(variants[i].versions[j].manifest_json);
        free(variants[i].versions);
    }
    free(variants);
}

/* ------------------------------------------------------------------------ */
/* Snapshots.                                                                 */

typedef struct entry {
    char name[RS_NAME_MAX + 1];
    rs_tensor_view view;
    uint32_t crc;   /* stored payload checksum */
    size_t bytes;   /* payload bytes */
    void *owned;    /* aligned copy when the map's payload was misaligned */
    int strings_ok; /* NAME.offsets validated against NAME.bytes */
} entry;

struct rs_snapshot {
    rs_store *store;
    MDB_txn *txn;
    char variant[RS_NAME_MAX + 1];
    uint64_t version;
    char *manifest;
    entry *entries; /* sorted by name */
    uint32_t n_entries;
    uint64_t extent; /* bytes of data.mdb the views reach */
};

/* Payload address of empty tensors: any non-NULL, well-aligned pointer. */
static _Alignas(64) const uint8_t empty_payload[64];

static int by_entry_name(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static const entry *find_entry(const rs_snapshot *snap, const char *name)
{
    entry key;
    if (!name || strlen(name) > RS_NAME_MAX) return NULL;
    strcpy(key.name, name);
    return bsearch(&key, snap->entries, snap->n_entries, sizeof(entry), by_entry_name);
}

static int snap_fail(const rs_snapshot *snap, rs_error *err, const char *tensor)
{
    if (tensor)
        return rs_error_prefix(err, "store %s: variant '%s' version %" PRIu64 " tensor '%s'",
                               snap->store->dir, snap->variant, snap->version, tensor);
    return rs_error_prefix(err, "store %s: variant '%s' version %" PRIu64, snap->store->dir,
                           snap->variant, snap->version);
}

/* Validates every NAME.offsets / NAME.bytes pair of the expected dtypes. */
static int check_string_tables(rs_snapshot *snap, rs_error *err)
{
    static const char OFFSETS[] = ".offsets";
    const size_t olen = sizeof(OFFSETS) - 1;
    for (uint32_t i = 0; i < snap->n_entries; i++) {
        entry *e = &snap->entries[i];
        size_t len = strlen(e->name);
        if (len <= olen || strcmp(e->name + len - olen, OFFSETS) != 0) continue;
        char bname[RS_NAME_MAX + 8];
        snprintf(bname, sizeof(bname), "%.*s.bytes", (int)(len - olen), e->name);
        const entry *b = find_entry(snap, bname);
        if (!b || e->view.dtype != RS_U64 || e->view.ndim != 1 || b->view.dtype != RS_U8 ||
            b->view.ndim != 1)
            continue; /* not a string table; rs_snapshot_strings reports why */
        const uint64_t *off = e->view.data;
        uint64_t n = e->view.count;
        if (n == 0) {
            rs_fail(err, "string table offsets are empty (need n+1 entries)");
            return snap_fail(snap, err, e->name);
        }
        if (off[0] != 0) {
            rs_fail(err, "string table offsets start at %" PRIu64 ", not 0", off[0]);
            return snap_fail(snap, err, e->name);
        }
        for (uint64_t j = 1; j < n; j++) {
            if (off[j] < off[j - 1]) {
                rs_fail(err, "string table offsets decrease at %" PRIu64, j);
                return snap_fail(snap, err, e->name);
            }
        }
        if (off[n - 1] != b->view.count) {
            rs_fail(err, "string table ends at %" PRIu64 " but '%s' holds %" PRIu64 " bytes",
                    off[n - 1], bname, b->view.count);
            return snap_fail(snap, err, e->name);
        }
        e->strings_ok = 1;
    }
    return 0;
}

/* The file offset of the map's first byte and the mapping's bounds, found
 * from an address inside it (LMDB does not expose where its map starts).
 * Returns -1 when p is in no file mapping. */
static int map_of(const void *p, uintptr_t *lo, uintptr_t *hi, uint64_t *offset)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    char line[512];
    int found = -1;
    uintptr_t a = (uintptr_t)p;
    while (found < 0 && fgets(line, sizeof(line), f)) {
        unsigned long long start, end, off;
        if (sscanf(line, "%llx-%llx %*s %llx", &start, &end, &off) != 3) continue;
        if (a < start || a >= end) continue;
        *lo = (uintptr_t)start;
        *hi = (uintptr_t)end;
        *offset = off;
        found = 0;
    }
    fclose(f);
    return found;
}

/* How far into data.mdb the views that point into the map reach. When the
 * map cannot be found, the whole map size (every check then fails safe). */
static void measure_extent(rs_snapshot *snap)
{
    uintptr_t lo = 0, hi = 0;
    uint64_t offset = 0;
    int have_map = 0;
    for (uint32_t i = 0; i < snap->n_entries; i++) {
        const entry *e = &snap->entries[i];
        uintptr_t p = (uintptr_t)e->view.data;
        if (e->owned || e->bytes == 0) continue;
        if (!have_map || p < lo || p >= hi) {
            if (map_of(e->view.data, &lo, &hi, &offset) != 0) {
                snap->extent = snap->store->map_size;
                return;
            }
            have_map = 1;
        }
        uint64_t end = (uint64_t)(p - lo) + offset + e->bytes;
        if (end > snap->extent) snap->extent = end;
    }
}

/* Reads every tensor of the version into snap->entries. */
static int load_entries(rs_snapshot *snap, int verify, rs_error *err)
{
    rs_store *s = snap->store;
    char prefix[RS_STORE_KEY_MAX];
    int plen = rs_store_key(prefix, "variant/%s/v/%020" PRIu64 "/t/", snap->variant, snap->version);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(snap->txn, s->dbi, &cur);
    if (rc != 0) return rs_store_mdb_fail(s, rc, err, "reading tensors");
    uint32_t cap = 0;
    MDB_val k = rs_store_val(prefix, plen), v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && rs_store_has_prefix(&k, prefix, (size_t)plen)) {
        const char *name = (const char *)k.mv_data + plen;
        size_t len = rs_name_length_ok(name, k.mv_size - (size_t)plen);
        if (!len) {
            mdb_cursor_close(cur);
            rs_fail(err, "malformed tensor key '%.*s'", (int)RS_MIN(k.mv_size, 200),
                    (const char *)k.mv_data);
            return snap_fail(snap, err, NULL);
        }
        if (snap->n_entries == cap) {
            uint32_t ncap = cap ? cap * 2 : 32;
            entry *ne = realloc(snap->entries, ncap * sizeof(*ne));
            if (!ne) {
                mdb_cursor_close(cur);
                return rs_fail(err, "out of memory opening a snapshot");
            }
            snap->entries = ne;
            cap = ncap;
        }
        entry *e = &snap->entries[snap->n_entries];
        memset(e, 0, sizeof(*e));
        memcpy(e->name, name, len);
        if (rs_tensor_decode_crc(v.mv_data, v.mv_size, verify, &e->view, &e->crc, err) != 0) {
            mdb_cursor_close(cur);
            return snap_fail(snap, err, e->name);
        }
        snap->n_entries++;
        e->bytes = v.mv_size - RS_TENSOR_HEADER_SIZE;
        if (e->bytes == 0) {
            e->view.data = empty_payload;
        } else if ((uintptr_t)e->view.data % PAYLOAD_ALIGN != 0) {
            /* Small values live inside leaf pages with 2-byte alignment;
             * large ones sit on overflow pages, always aligned. */
            e->owned = rs_aligned_alloc(e->bytes, 1, err);
            if (!e->owned) {
                mdb_cursor_close(cur);
                return snap_fail(snap, err, e->name);
            }
            memcpy(e->owned, e->view.data, e->bytes);
            e->view.data = e->owned;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) return rs_store_mdb_fail(s, rc, err, "reading tensors");
    measure_extent(snap);
    /* Key order is byte order, which strcmp agrees with for valid names. */
    qsort(snap->entries, snap->n_entries, sizeof(entry), by_entry_name);
    return check_string_tables(snap, err);
}

/* Explains why a version cannot be found. */
static int missing_version(rs_store *s, MDB_txn *txn, const char *variant, uint64_t version,
                           rs_error *err)
{
    char key[RS_STORE_KEY_MAX];
    rs_store_key(key, "variant/%s/current", variant);
    uint64_t current = 0;
    int found = 0;
    if (rs_store_get_u64(s, txn, key, &current, &found, err) != 0) return -1;
    if (!found) return rs_fail(err, "no variant '%s' in store %s", variant, s->dir);
    if (version == 0)
        return rs_fail(err, "variant '%s' in store %s has no current version", variant, s->dir);
    return rs_fail(err,
                   "variant '%s' in store %s has no version %" PRIu64 " (current is %" PRIu64
                   "; old versions are removed by retention)",
                   variant, s->dir, version, current);
}

int rs_snapshot_open(rs_store *store, const char *variant, uint64_t version, int verify,
                     rs_snapshot **out, rs_error *err)
{
    *out = NULL;
    if (rs_store_check_name("variant", variant, err) != 0) return -1;
    rs_snapshot *snap = rs_calloc(1, sizeof(*snap), err);
    if (!snap) return -1;
    snap->store = store;
    strcpy(snap->variant, variant);
    if (rs_store_txn_begin(store, MDB_RDONLY, &snap->txn, err) != 0) {
        free(snap);
        return -1;
    }
    int found = 0;
    if (version == 0) {
        char key[RS_STORE_KEY_MAX];
        rs_store_key(key, "variant/%s/current", variant);
        if (rs_store_get_u64(store, snap->txn, key, &version, &found, err) != 0) goto fail;
        if (!found || version == 0) {
            missing_version(store, snap->txn, variant, 0, err);
            goto fail;
        }
    }
    snap->version = version;
    if (read_manifest(store, snap->txn, variant, version, &snap->manifest, &found, err) != 0)
        goto fail;
    if (!found) {
        missing_version(store, snap->txn, variant, version, err);
        goto fail;
    }
    json_error_t jerr;
    json_t *root = json_loads(snap->manifest, 0, &jerr);
    int is_object = json_is_object(root);
    json_decref(root);
    if (!is_object) {
        rs_fail(err, "manifest is not a JSON object");
        snap_fail(snap, err, NULL);
        goto fail;
    }
    if (load_entries(snap, verify, err) != 0) goto fail;
    *out = snap;
    return 0;
fail:
    rs_snapshot_close(snap);
    return -1;
}

void rs_snapshot_close(rs_snapshot *snap)
{
    if (!snap) return;
    for (uint32_t i = 0; i < snap->n_entries; i++) free(snap->entries[i].owned);
    free(snap->entries);
    free(snap->manifest);
    if (snap->txn) rs_store_txn_abort(snap->store, snap->txn);
    free(snap);
}

uint64_t rs_snapshot_version(const rs_snapshot *snap)
{
    return snap->version;
}

uint64_t rs_snapshot_extent(const rs_snapshot *snap)
{
    return snap->extent;
}

const char *rs_snapshot_variant(const rs_snapshot *snap)
{
    return snap->variant;
}

const char *rs_snapshot_manifest(const rs_snapshot *snap)
{
    return snap->manifest;
}

int rs_snapshot_has(const rs_snapshot *snap, const char *name)
{
    return find_entry(snap, name) != NULL;
}

int rs_snapshot_tensor(const rs_snapshot *snap, const char *name, rs_dtype dtype,
                       rs_tensor_view *out, rs_error *err)
{
    const entry *e = find_entry(snap, name);
    if (!e) {
        rs_fail(err, "no such tensor");
        return snap_fail(snap, err, name ? name : "(null)");
    }
    if (dtype != 0 && e->view.dtype != dtype) {
        rs_fail(err, "dtype is %s, expected %s", rs_dtype_name(e->view.dtype),
                rs_dtype_name(dtype));
        return snap_fail(snap, err, name);
    }
    *out = e->view;
    return 0;
}

int rs_snapshot_strings(const rs_snapshot *snap, const char *name, uint64_t *n,
                        const uint64_t **offsets, const char **bytes, rs_error *err)
{
    char oname[RS_NAME_MAX + 16], bname[RS_NAME_MAX + 16];
    if (!name || strlen(name) > RS_NAME_MAX) return rs_fail(err, "bad string table name");
    snprintf(oname, sizeof(oname), "%s.offsets", name);
    snprintf(bname, sizeof(bname), "%s.bytes", name);
    rs_tensor_view ov, bv;
    if (rs_snapshot_tensor(snap, oname, RS_U64, &ov, err) != 0 ||
        rs_snapshot_tensor(snap, bname, RS_U8, &bv, err) != 0)
        return rs_error_prefix(err, "string table '%s'", name);
    const entry *e = find_entry(snap, oname);
    if (!e->strings_ok || ov.ndim != 1 || bv.ndim != 1) {
        rs_fail(err, "not a valid string table (both tensors must be 1-D)");
        return snap_fail(snap, err, name);
    }
    *n = ov.count - 1;
    *offsets = ov.data;
    *bytes = bv.data;
    return 0;
}

int rs_snapshot_verify(const rs_snapshot *snap, rs_error *err)
{
    for (uint32_t i = 0; i < snap->n_entries; i++) {
        const entry *e = &snap->entries[i];
        uint32_t got = rs_crc32c(0, e->view.data, e->bytes);
        if (got != e->crc) {
            rs_fail(err, "payload checksum mismatch (stored 0x%08x, computed 0x%08x)", e->crc, got);
            return snap_fail(snap, err, e->name);
        }
    }
    return 0;
}
