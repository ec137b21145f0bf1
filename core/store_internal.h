/* store_internal.h - what the store's three files share (store.c: the
 * handle, transactions, keys and counters; store_write.c: publishing;
 * store_read.c: listing and snapshots). Private to those files: nothing
 * outside core/store*.c includes it.
 *
 * Keys (all in LMDB's main, unnamed database; see proto/snapshot.md):
 *
 *   store/format                              16-byte format record
 *   variant/<name>/current                    u64 LE, the published version
 *   variant/<name>/next                       u64 LE, the next number to hand out
 *   variant/<name>/v/<%020 version>/manifest  JSON object text
 *   variant/<name>/v/<%020 version>/t/<name>  tensor value (64-byte header + payload)
 *
 * Keys sharing a prefix are contiguous in LMDB's byte order, so a variant's
 * versions and a version's tensors are cursor ranges.
 */
#ifndef RS_STORE_INTERNAL_H
#define RS_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "store.h"

#define RS_STORE_KEY_MAX 256 /* longest key: names are validated first */

struct rs_store {
    MDB_env *env;
    MDB_dbi dbi;
    int readonly;
    int nolock; /* opened with MDB_NOLOCK: lock.mdb was not writable */
    char *dir;
    size_t map_size;
    dev_t dev;
    ino_t ino;
    int fd;               /* data.mdb as LMDB opened it (LMDB owns it) */
    size_t psize;         /* LMDB page size */
    pthread_mutex_t lock; /* guards active and map size adoption */
    uint64_t active;      /* transactions of this handle alive or starting */
};

/* Fills err with what went wrong in LMDB (full map, corruption, ...) while
 * doing `what`; returns -1. */
int rs_store_mdb_fail(const rs_store *s, int rc, rs_error *err, const char *what);

/* Fails (kind RS_ERR_IO) unless data.mdb still holds every page a new
 * transaction can read: a read past the end of a file that shrank under the
 * map would raise SIGBUS. */
int rs_store_check_pages(rs_store *s, rs_error *err);

/* Every transaction of a handle starts with rs_store_txn_begin and ends with
 * rs_store_txn_abort, or with mdb_txn_commit followed by rs_store_txn_done
 * (the handle counts live transactions to know when it may adopt a map that
 * another process grew). */
int rs_store_txn_begin(rs_store *s, unsigned flags, MDB_txn **txn, rs_error *err);
void rs_store_txn_done(rs_store *s);
void rs_store_txn_abort(rs_store *s, MDB_txn *txn);

/* Formats a key into buf (RS_STORE_KEY_MAX bytes); returns its length. */
int rs_store_key(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline MDB_val rs_store_val(const char *s, int n)
{
    return (MDB_val){.mv_size = (size_t)n, .mv_data = (void *)s};
}

static inline int rs_store_has_prefix(const MDB_val *k, const char *prefix, size_t n)
{
    return k->mv_size >= n && memcmp(k->mv_data, prefix, n) == 0;
}

/* The u64 counter at key (`current`, `next`): *found is 0 and *out 0 when it
 * does not exist. */
int rs_store_get_u64(rs_store *s, MDB_txn *txn, const char *key, uint64_t *out, int *found,
                     rs_error *err);
int rs_store_put_u64(rs_store *s, MDB_txn *txn, const char *key, uint64_t value, rs_error *err);

/* Deletes every key under prefix (store_write.c). */
int rs_store_delete_prefix(rs_store *s, MDB_txn *txn, const char *prefix, rs_error *err);

/* A growing list of version numbers; free v. */
typedef struct rs_u64vec {
    uint64_t *v;
    size_t n, cap;
} rs_u64vec;

/* Ascending version numbers of variant, one cursor seek per version. */
int rs_store_list_versions(rs_store *s, MDB_txn *txn, const char *variant, rs_u64vec *out,
                           rs_error *err);

#endif
