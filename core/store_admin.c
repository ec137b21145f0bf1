/* store_admin.c - operating on a store's variants after publishing (see
 * store.h, "Administration"): moving `current` (rollback, promotion),
 * removing a version, the space left in the map and the key-level
 * invariants. Every change is one LMDB write transaction: a server polling
 * `current` or holding a snapshot sees the store before or after it. */
#include "store_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>

/* Starts a write transaction on variant after checking the name. */
static int begin_write(rs_store *s, const char *variant, MDB_txn **txn, rs_error *err)
{
    if (s->readonly) return rs_fail(err, "store %s is open read-only", s->dir);
    if (rs_store_check_name("variant", variant, err) != 0) return -1;
    return rs_store_txn_begin(s, 0, txn, err);
}

static int commit(rs_store *s, MDB_txn *txn, rs_error *err)
{
    int rc = mdb_txn_commit(txn);
    rs_store_txn_done(s);
    return rc ? rs_store_mdb_fail(s, rc, err, "committing") : 0;
}

/* The variant's versions; RS_ERR_NOT_FOUND when it has none. */
static int variant_versions(rs_store *s, MDB_txn *txn, const char *variant, rs_u64vec *out,
                            rs_error *err)
{
    if (rs_store_list_versions(s, txn, variant, out, err) != 0) return -1;
    if (out->n == 0)
        return rs_fail_kind(err, RS_ERR_NOT_FOUND, "store %s has no variant '%s'", s->dir, variant);
    return 0;
}

static int has_version(const rs_u64vec *versions, uint64_t version)
{
    for (size_t i = 0; i < versions->n; i++)
        if (versions->v[i] == version) return 1;
    return 0;
}

static int missing(const rs_store *s, const char *variant, const rs_u64vec *versions,
                   uint64_t version, rs_error *err)
{
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < versions->n && used + 24 < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%" PRIu64, i ? ", " : "",
                                 versions->v[i]);
    return rs_fail_kind(err, RS_ERR_NOT_FOUND,
                        "store %s: variant '%s' has no version %" PRIu64 " (it holds %s)", s->dir,
                        variant, version, list);
}

int rs_store_set_current(rs_store *store, const char *variant, uint64_t version, rs_error *err)
{
    MDB_txn *txn;
    if (begin_write(store, variant, &txn, err) != 0) return -1;
    rs_u64vec versions = {0};
    char key[RS_STORE_KEY_MAX];
    int rc = variant_versions(store, txn, variant, &versions, err);
    if (rc == 0 && !has_version(&versions, version))
        rc = missing(store, variant, &versions, version, err);
    if (rc == 0) {
        rs_store_key(key, "variant/%s/current", variant);
        rc = rs_store_put_u64(store, txn, key, version, err);
    }
    free(versions.v);
    if (rc != 0) {
        rs_store_txn_abort(store, txn);
        return -1;
    }
    return commit(store, txn, err);
}

int rs_store_remove_version(rs_store *store, const char *variant, uint64_t version, int force,
                            uint64_t *new_current, rs_error *err)
{
    MDB_txn *txn;
    if (begin_write(store, variant, &txn, err) != 0) return -1;
    rs_u64vec versions = {0};
    char key[RS_STORE_KEY_MAX];
    uint64_t current = 0;
    int found = 0;
    rs_store_key(key, "variant/%s/current", variant);
    int rc = variant_versions(store, txn, variant, &versions, err);
    if (rc == 0) rc = rs_store_get_u64(store, txn, key, &current, &found, err);
    if (rc == 0 && !has_version(&versions, version))
        rc = missing(store, variant, &versions, version, err);
    if (rc == 0 && version == current) {
        uint64_t newest = 0;
        for (size_t i = 0; i < versions.n; i++)
            if (versions.v[i] != version) newest = versions.v[i];
        if (newest == 0)
            rc = rs_fail_kind(err, RS_ERR_INVALID,
                              "store %s: version %" PRIu64 " is the only version of variant '%s'; "
                              "a variant keeps at least one",
                              store->dir, version, variant);
        else if (!force)
            rc = rs_fail_kind(
                err, RS_ERR_INVALID,
                "store %s: version %" PRIu64 " is the current version of variant '%s'; "
                "set another current first, or --force (then version %" PRIu64 " becomes current)",
                store->dir, version, variant, newest);
        else if ((rc = rs_store_put_u64(store, txn, key, newest, err)) == 0)
            current = newest;
    }
    if (rc == 0) {
        char prefix[RS_STORE_KEY_MAX];
        rs_store_key(prefix, "variant/%s/v/%020" PRIu64 "/", variant, version);
        rc = rs_store_delete_prefix(store, txn, prefix, err);
    }
    free(versions.v);
    if (rc != 0) {
        rs_store_txn_abort(store, txn);
        return -1;
    }
    if (commit(store, txn, err) != 0) return -1;
    if (new_current) *new_current = current;
    return 0;
}

int rs_store_space(rs_store *store, uint64_t *map_size, uint64_t *used, rs_error *err)
{
    MDB_envinfo info;
    int rc = mdb_env_info(store->env, &info);
    if (rc != 0) return rs_store_mdb_fail(store, rc, err, "reading the map size");
    *map_size = info.me_mapsize;
    *used = ((uint64_t)info.me_last_pgno + 1) * store->psize;
    return 0;
}

static int check_variant(rs_store *s, const rs_variant_info *v, rs_error *err)
{
    const char *dir = s->dir, *name = v->name;
    if (v->n_versions == 0)
        return rs_fail(err, "store %s is corrupted: variant '%s' has keys but no version", dir,
                       name);
    uint64_t newest = v->versions[v->n_versions - 1].version;
    int current_found = 0;
    for (uint32_t i = 0; i < v->n_versions; i++) {
        json_error_t jerr;
        json_t *m = json_loads(v->versions[i].manifest_json, 0, &jerr);
        int ok = json_is_object(m);
        json_decref(m);
        if (!ok)
            return rs_fail(err,
                           "store %s is corrupted: variant '%s' version %" PRIu64
                           ": the manifest is not a JSON object",
                           dir, name, v->versions[i].version);
        current_found |= v->versions[i].is_current;
    }
    if (v->current == 0 || !current_found)
        return rs_fail(err,
                       "store %s is corrupted: variant '%s' current version %" PRIu64
                       " is not in the store",
                       dir, name, v->current);
    if (v->next <= newest)
        return rs_fail(err,
                       "store %s is corrupted: variant '%s' next version %" PRIu64
                       " is not above its newest version %" PRIu64,
                       dir, name, v->next, newest);
    return 0;
}

int rs_store_check_invariants(rs_store *store, rs_error *err)
{
    rs_variant_info *variants;
    uint32_t n;
    if (rs_store_list(store, &variants, &n, err) != 0) return -1;
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) rc = check_variant(store, &variants[i], err);
    rs_store_list_free(variants, n);
    return rc;
}
