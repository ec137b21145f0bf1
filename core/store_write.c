/* store_write.c - publishing a version (see store.h): one LMDB write
 * transaction holds the new version's tensors and manifest, moves the
 * variant's `current` pointer and applies retention, so readers see the old
 * version or the new one, never half of one (proto/snapshot.md).
 */
#include "store_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "little_endian.h"

#define PAUSE_ENV "RECSYS_TEST_PAUSE_BEFORE_COMMIT"

int rs_store_delete_prefix(rs_store *s, MDB_txn *txn, const char *prefix, rs_error *err)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi, &cur);
    if (rc != 0) return rs_store_mdb_fail(s, rc, err, "deleting an old version");
    size_t plen = strlen(prefix);
    for (;;) {
        MDB_val k = rs_store_val(prefix, (int)plen), v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc != 0 || !rs_store_has_prefix(&k, prefix, plen)) break;
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0) break;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rs_store_mdb_fail(s, rc, err, "deleting an old version");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Publishing.                                                                */

struct rs_publish {
    rs_store *store;
    MDB_txn *txn;
    char variant[RS_NAME_MAX + 1];
    uint64_t version;
    int failed; /* the LMDB transaction is unusable */
};

static void publish_free(rs_publish *pub, int abort_txn)
{
    if (abort_txn) rs_store_txn_abort(pub->store, pub->txn);
    free(pub);
}

static int publish_fail(rs_publish *pub, int rc, rs_error *err, const char *what)
{
    rs_store_mdb_fail(pub->store, rc, err, what);
    /* Every LMDB write error except KEYEXIST leaves the transaction dead. */
    if (rc != MDB_KEYEXIST) pub->failed = 1;
    return rs_error_prefix(err, "publish variant '%s' version %" PRIu64, pub->variant,
                           pub->version);
}

int rs_publish_begin(rs_store *store, const char *variant, rs_publish **out, uint64_t *version,
                     rs_error *err)
{
    *out = NULL;
    if (store->readonly)
        return rs_fail(err, "store %s is open read-only; cannot publish", store->dir);
    if (rs_store_check_name("variant", variant, err) != 0) return -1;
    int dead = 0;
    mdb_reader_check(store->env, &dead);
    rs_publish *pub = rs_calloc(1, sizeof(*pub), err);
    if (!pub) return -1;
    pub->store = store;
    strcpy(pub->variant, variant);
    if (rs_store_txn_begin(store, 0, &pub->txn, err) != 0) {
        free(pub);
        return -1;
    }
    char key[RS_STORE_KEY_MAX];
    rs_store_key(key, "variant/%s/next", variant);
    uint64_t next = 0;
    int found = 0;
    rs_u64vec versions = {0};
    if (rs_store_get_u64(store, pub->txn, key, &next, &found, err) != 0 ||
        rs_store_list_versions(store, pub->txn, variant, &versions, err) != 0) {
        free(versions.v);
        publish_free(pub, 1);
        return -1;
    }
    /* Numbers are never reused: `next` survives retention deleting versions. */
    uint64_t v = found ? next : 1;
    if (versions.n && versions.v[versions.n - 1] >= v) v = versions.v[versions.n - 1] + 1;
    free(versions.v);
    if (v == 0 || v == UINT64_MAX) {
        publish_free(pub, 1);
        return rs_fail(err, "variant '%s' has run out of version numbers", variant);
    }
    pub->version = v;
    if (version) *version = v;
    *out = pub;
    return 0;
}

/* Reserves a tensor value in the transaction; the caller fills the payload
 * and then calls rs_tensor_seal. */
static int reserve_tensor(rs_publish *pub, const char *name, rs_dtype dtype, uint32_t ndim,
                          const uint64_t *shape, uint8_t **value, uint64_t *bytes, rs_error *err)
{
    if (pub->failed)
        return rs_fail(err, "publish variant '%s' version %" PRIu64 " already failed; abort it",
                       pub->variant, pub->version);
    if (rs_store_check_name("tensor", name, err) != 0)
        return rs_error_prefix(err, "publish variant '%s' version %" PRIu64, pub->variant,
                               pub->version);
    uint64_t count;
    if (!shape) rs_fail(err, "shape is missing");
    if (!shape || rs_tensor_check_shape(dtype, ndim, shape, &count, bytes, err) != 0)
        return rs_error_prefix(err, "publish variant '%s' version %" PRIu64 " tensor '%s'",
                               pub->variant, pub->version, name);
    char key[RS_STORE_KEY_MAX];
    int klen =
        rs_store_key(key, "variant/%s/v/%020" PRIu64 "/t/%s", pub->variant, pub->version, name);
    MDB_val k = rs_store_val(key, klen), v = {(size_t)(*bytes + RS_TENSOR_HEADER_SIZE), NULL};
    int rc = mdb_put(pub->txn, pub->store->dbi, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return rs_fail(err, "publish variant '%s' version %" PRIu64 ": tensor '%s' written twice",
                       pub->variant, pub->version, name);
    if (rc != 0) {
        char what[RS_STORE_KEY_MAX];
        snprintf(what, sizeof(what), "writing tensor '%s'", name);
        return publish_fail(pub, rc, err, what);
    }
    *value = v.mv_data;
    return 0;
}

int rs_publish_tensor(rs_publish *pub, const char *name, rs_dtype dtype, uint32_t ndim,
                      const uint64_t *shape, const void *data, rs_error *err)
{
    uint8_t *value;
    uint64_t count, bytes;
    if (!data && shape && rs_tensor_check_shape(dtype, ndim, shape, &count, &bytes, NULL) == 0 &&
        bytes)
        return rs_fail(err, "publish variant '%s' version %" PRIu64 ": tensor '%s' has no data",
                       pub->variant, pub->version, name ? name : "(null)");
    if (reserve_tensor(pub, name, dtype, ndim, shape, &value, &bytes, err) != 0) return -1;
    if (bytes) memcpy(value + RS_TENSOR_HEADER_SIZE, data, (size_t)bytes);
    rs_tensor_seal(value, dtype, ndim, shape, bytes);
    return 0;
}

int rs_publish_strings(rs_publish *pub, const char *name, char *const *strings, uint64_t n,
                       rs_error *err)
{
    static const char OFFSETS[] = ".offsets", BYTES[] = ".bytes";
    if (rs_store_check_name("string table", name, err) != 0)
        return rs_error_prefix(err, "publish variant '%s'", pub->variant);
    if (strlen(name) + sizeof(OFFSETS) - 1 > RS_NAME_MAX)
        return rs_fail(err, "publish variant '%s': string table name '%s' is longer than %d bytes",
                       pub->variant, name, RS_NAME_MAX - (int)(sizeof(OFFSETS) - 1));
    if (n && !strings)
        return rs_fail(err, "publish variant '%s': string table '%s' has no strings", pub->variant,
                       name);
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!strings[i])
            return rs_fail(err, "publish variant '%s': string %" PRIu64 " of table '%s' is NULL",
                           pub->variant, i, name);
        total += strlen(strings[i]);
    }
    if (n == UINT64_MAX) return rs_fail(err, "string table '%s' is too large", name);
    char tname[RS_NAME_MAX + 1];
    snprintf(tname, sizeof(tname), "%s%s", name, OFFSETS);
    uint64_t shape = n + 1, bytes;
    uint8_t *value;
    if (reserve_tensor(pub, tname, RS_U64, 1, &shape, &value, &bytes, err) != 0) return -1;
    uint8_t *p = value + RS_TENSOR_HEADER_SIZE;
    uint64_t off = 0;
    rs_put_le64(p, 0);
    for (uint64_t i = 0; i < n; i++) {
        off += strlen(strings[i]);
        rs_put_le64(p + 8 * (i + 1), off);
    }
    rs_tensor_seal(value, RS_U64, 1, &shape, bytes);

    snprintf(tname, sizeof(tname), "%s%s", name, BYTES);
    shape = total;
    if (reserve_tensor(pub, tname, RS_U8, 1, &shape, &value, &bytes, err) != 0) {
        pub->failed = 1; /* half a table is written: the version must not commit */
        return -1;
    }
    p = value + RS_TENSOR_HEADER_SIZE;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = strlen(strings[i]);
        memcpy(p, strings[i], len);
        p += len;
    }
    rs_tensor_seal(value, RS_U8, 1, &shape, bytes);
    return 0;
}

/* Test hook: lets a crash test kill the publisher between writing the
 * version and committing. Creates the file named by the variable (holding
 * our pid), then sleeps until the file is removed. */
static void pause_before_commit(void)
{
    const char *path = getenv(PAUSE_ENV);
    if (!path || !*path) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    dprintf(fd, "%ld\n", (long)getpid());
    close(fd);
    while (access(path, F_OK) == 0) sleep(1);
}

/* Deletes the oldest versions beyond keep_last, never the one being
 * published nor the current one (which is another version when a gate
 * left `current` where it was, or after a set-current rollback). */
static int apply_retention(rs_publish *pub, uint32_t keep_last, uint64_t current, rs_error *err)
{
    if (keep_last == 0) return 0;
    rs_u64vec versions = {0};
    if (rs_store_list_versions(pub->store, pub->txn, pub->variant, &versions, err) != 0) {
        free(versions.v);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i + keep_last < versions.n; i++) {
        if (versions.v[i] == pub->version || versions.v[i] == current) continue;
        char prefix[RS_STORE_KEY_MAX];
        rs_store_key(prefix, "variant/%s/v/%020" PRIu64 "/", pub->variant, versions.v[i]);
        rc = rs_store_delete_prefix(pub->store, pub->txn, prefix, err);
    }
    free(versions.v);
    if (rc != 0) pub->failed = 1;
    return rc;
}

int rs_publish_commit(rs_publish *pub, const char *manifest_json, uint32_t keep_last, rs_error *err)
{
    return rs_publish_commit_as(pub, manifest_json, keep_last, 1, err);
}

int rs_publish_current(rs_publish *pub, uint64_t *version, char **manifest, rs_error *err)
{
    *version = 0;
    *manifest = NULL;
    char key[RS_STORE_KEY_MAX];
    rs_store_key(key, "variant/%s/current", pub->variant);
    int found;
    if (rs_store_get_u64(pub->store, pub->txn, key, version, &found, err) != 0) return -1;
    if (!found || *version == 0) return 0;
    int klen = rs_store_key(key, "variant/%s/v/%020" PRIu64 "/manifest", pub->variant, *version);
    MDB_val k = rs_store_val(key, klen), v;
    int rc = mdb_get(pub->txn, pub->store->dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return rs_fail(
            err, "store %s is corrupted: variant '%s' current version %" PRIu64 " has no manifest",
            pub->store->dir, pub->variant, *version);
    if (rc != 0) return rs_store_mdb_fail(pub->store, rc, err, "reading the current manifest");
    if (!(*manifest = rs_malloc(v.mv_size + 1, 1, err))) return -1;
    memcpy(*manifest, v.mv_data, v.mv_size);
    (*manifest)[v.mv_size] = '\0';
    return 0;
}

int rs_publish_commit_as(rs_publish *pub, const char *manifest_json, uint32_t keep_last,
                         int move_current, rs_error *err)
{
    rs_store *s = pub->store;
    int rc = -1;
    char key[RS_STORE_KEY_MAX];
    if (pub->failed) {
        rs_fail(err, "publish variant '%s' version %" PRIu64 " already failed; nothing committed",
                pub->variant, pub->version);
        goto fail;
    }
    if (!manifest_json) {
        rs_fail(err, "manifest is missing");
        goto fail_prefix;
    }
    json_error_t jerr;
    json_t *root = json_loads(manifest_json, 0, &jerr);
    if (!root) {
        rs_fail(err, "manifest is not valid JSON (line %d, column %d: %s)", jerr.line, jerr.column,
                jerr.text);
        goto fail_prefix;
    }
    int is_object = json_is_object(root);
    json_decref(root);
    if (!is_object) {
        rs_fail(err, "manifest must be a JSON object");
        goto fail_prefix;
    }
    int klen =
        rs_store_key(key, "variant/%s/v/%020" PRIu64 "/manifest", pub->variant, pub->version);
    MDB_val k = rs_store_val(key, klen), v = {strlen(manifest_json), (void *)manifest_json};
    int mrc = mdb_put(pub->txn, s->dbi, &k, &v, MDB_NOOVERWRITE);
    if (mrc != 0) {
        publish_fail(pub, mrc, err, "writing the manifest");
        goto fail;
    }
    rs_store_key(key, "variant/%s/current", pub->variant);
    uint64_t current = 0;
    int found = 0;
    if (rs_store_get_u64(s, pub->txn, key, &current, &found, err) != 0) goto fail_prefix;
    /* A variant's first version always becomes current (invariant 2). */
    if (move_current || !found || current == 0) {
        current = pub->version;
        if (rs_store_put_u64(s, pub->txn, key, pub->version, err) != 0) goto fail_prefix;
    }
    rs_store_key(key, "variant/%s/next", pub->variant);
    if (rs_store_put_u64(s, pub->txn, key, pub->version + 1, err) != 0) goto fail_prefix;
    if (apply_retention(pub, keep_last, current, err) != 0) goto fail_prefix;
    pause_before_commit();
    mrc = mdb_txn_commit(pub->txn);
    rs_store_txn_done(s);
    if (mrc != 0) {
        rs_store_mdb_fail(s, mrc, err, "committing");
        rs_error_prefix(err, "publish variant '%s' version %" PRIu64, pub->variant, pub->version);
        publish_free(pub, 0);
        return -1;
    }
    publish_free(pub, 0);
    return 0;

fail_prefix:
    rs_error_prefix(err, "publish variant '%s' version %" PRIu64, pub->variant, pub->version);
fail:
    publish_free(pub, 1);
    return rc;
}

void rs_publish_abort(rs_publish *pub)
{
    if (pub) publish_free(pub, 1);
}
