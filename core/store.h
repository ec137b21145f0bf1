/* store.h - the LMDB snapshot store: versioned variants of trained models.
 *
 * One store is one LMDB environment (a directory). A variant is a named model;
 * each publish adds a numbered version (1, 2, ...) holding a JSON manifest and
 * named tensors, and moves the variant's `current` pointer in the same write
 * transaction, so readers see the old version or the new one, never half of
 * one. Readers open a version inside a long-lived read transaction and get
 * zero-copy views into the memory map. The on-disk layout is documented in
 * proto/snapshot.md.
 *
 * Ownership: rs_store is shared by every snapshot opened from it and must
 * outlive them. Views returned by rs_snapshot_* point into the map and stay
 * valid until rs_snapshot_close().
 *
 * Threads: a process opens a store directory once (a second rs_store_open of
 * the same directory is refused, as LMDB requires) and shares the handle.
 * Snapshots may be opened, used and closed on any thread. One rs_publish is
 * driven by a single thread from begin to commit/abort; publishes are
 * serialised (a second rs_publish_begin waits for the first to finish, also
 * across processes).
 *
 * Code: store.c (the handle), store_write.c (publishing), store_read.c
 * (listing and snapshots), store_admin.c (set-current, remove, checks); the stored tensor value is
 * tensor.h, the name rule names.h, the checksum crc32c.h.
 */
#ifndef RS_STORE_H
#define RS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "crc32c.h" /* the tensor checksum */
#include "names.h"  /* variant and tensor name rules */
#include "tensor.h" /* dtypes, tensor views, the stored tensor value */

typedef struct rs_store rs_store;
typedef struct rs_publish rs_publish;
typedef struct rs_snapshot rs_snapshot;

enum { RS_STORE_READONLY = 1, RS_STORE_CREATE = 2 };

/* The map size rs_store_open uses for map_size 0 (address space, not disk;
 * halved down to 1 GiB where address space is capped). */
#define RS_STORE_DEFAULT_MAP_SIZE ((size_t)64 << 30)

/* Opens (or with RS_STORE_CREATE creates) the store in directory dir.
 * map_size 0 picks the default (64 GiB of address space, not of disk). */
int rs_store_open(const char *dir, int flags, size_t map_size, rs_store **out, rs_error *err);
void rs_store_close(rs_store *store);
/* 1 when a read-only open found lock.mdb not writable (a read-only mount,
 * or a store owned by another user) and opened without LMDB's lock file
 * (MDB_NOLOCK). Readers then do not register, so a writer could reuse pages
 * they still read: such a store must not be published into while it is open
 * here; ship a new store and switch to it instead (deploy/ship-store.sh). */
int rs_store_nolock(const rs_store *store);

/* --- Publishing (one LMDB write transaction) --- */

/* Starts a new version of variant (created if new). *version receives its
 * number (previous highest + 1). */
int rs_publish_begin(rs_store *store, const char *variant, rs_publish **out, uint64_t *version,
                     rs_error *err);
int rs_publish_tensor(rs_publish *pub, const char *name, rs_dtype dtype, uint32_t ndim,
                      const uint64_t *shape, const void *data, rs_error *err);
/* A table of n strings (ids), stored as tensors NAME.offsets (u64, n+1) and
 * NAME.bytes (u8). */
int rs_publish_strings(rs_publish *pub, const char *name, char *const *strings, uint64_t n,
                       rs_error *err);
/* Writes the manifest (a JSON object as text), moves `current` to this
 * version, deletes versions beyond the newest keep_last (0 keeps all) and
 * commits. On success or failure pub is freed. */
int rs_publish_commit(rs_publish *pub, const char *manifest_json, uint32_t keep_last,
                      rs_error *err);
/* Aborts the transaction and frees pub; the store is unchanged. */
void rs_publish_abort(rs_publish *pub);
/* Inside the publish's transaction (so nothing can change it before the
 * commit): the variant's current version (0 when none) and its manifest
 * (malloc'd NUL-terminated text, NULL when none; the caller frees it). */
int rs_publish_current(rs_publish *pub, uint64_t *version, char **manifest, rs_error *err);
/* rs_publish_commit, with move_current 0 leaving `current` where it is (a
 * refused publish gate): the version is still written and `next` moves
 * on; a variant's first version always becomes current. Retention never
 * deletes the current version. */
int rs_publish_commit_as(rs_publish *pub, const char *manifest_json, uint32_t keep_last,
                         int move_current, rs_error *err);

/* --- Administration: each call is one LMDB write transaction, so readers
 * (servers polling `current`, open snapshots) see the store before it or
 * after it, never in between (store_admin.c). --- */

/* Moves variant's `current` to version, which must exist (a rollback or a
 * promotion); RS_ERR_NOT_FOUND for an unknown variant or version. */
int rs_store_set_current(rs_store *store, const char *variant, uint64_t version, rs_error *err);
/* Deletes every key of the version. The current version is refused
 * (RS_ERR_INVALID) unless force, which first moves `current` to the newest
 * other version; the only version of a variant is always refused. *new_current
 * (may be NULL) receives the variant's current version afterwards. */
int rs_store_remove_version(rs_store *store, const char *variant, uint64_t version, int force,
                            uint64_t *new_current, rs_error *err);
/* The map size and the bytes data.mdb's pages reach (its high-water mark):
 * what a publish can still add is at least map_size - used. */
int rs_store_space(rs_store *store, uint64_t *map_size, uint64_t *used, rs_error *err);
/* Checks the key-level invariants of proto/snapshot.md ("Invariants") for
 * every variant: current and next present and well-formed, current >= 1
 * and present, next above every version, every version with a manifest
 * that parses as a JSON object. The first violation goes to err. */
int rs_store_check_invariants(rs_store *store, rs_error *err);

/* --- Listing --- */

typedef struct rs_version_info {
    uint64_t version;
    int is_current;
    char *manifest_json; /* owned by the list */
} rs_version_info;

typedef struct rs_variant_info {
    char name[RS_NAME_MAX + 1];
    uint64_t current; /* 0 when none */
    uint64_t next;    /* the number the next publish uses (0 when absent) */
    uint32_t n_versions;
    rs_version_info *versions; /* ascending by version */
} rs_variant_info;

int rs_store_list(rs_store *store, rs_variant_info **variants, uint32_t *n_variants, rs_error *err);
void rs_store_list_free(rs_variant_info *variants, uint32_t n_variants);

/* Current version of variant without opening it (0 when none). Cheap: the
 * hot-reload watcher polls this. */
int rs_store_current(rs_store *store, const char *variant, uint64_t *version, rs_error *err);

/* --- The file under the map ---
 *
 * Views point into LMDB's map of data.mdb. If the file shrinks under the
 * map (truncated in place), touching a page past its new end raises SIGBUS,
 * so every transaction first checks that the file still holds the pages it
 * can reach, and a reader checks rs_store_file_holds() with its snapshot's
 * rs_snapshot_extent() before using the views. What remains: a file that
 * shrinks between that check and the end of the use. A file replaced or
 * deleted by path is harmless to the map (the old inode lives while it is
 * mapped) but no longer the store that path names; rs_store_file_status()
 * tells them apart. */

typedef enum rs_store_file_state {
    RS_STORE_FILE_OK = 0,
    RS_STORE_FILE_TRUNCATED, /* shorter than the pages the store uses */
    RS_STORE_FILE_REPLACED,  /* the path names another file now */
    RS_STORE_FILE_DELETED,   /* the path names no file */
} rs_store_file_state;

typedef struct rs_store_file {
    rs_store_file_state state;
    uint64_t size; /* bytes of the open data.mdb now */
    uint64_t used; /* bytes the last committed page reaches (0 when truncated below it) */
} rs_store_file;

/* What became of data.mdb; -1 only when the file cannot be examined. */
int rs_store_file_status(rs_store *store, rs_store_file *out, rs_error *err);
/* 1 when the open data.mdb holds at least need bytes (*size: its size). */
int rs_store_file_holds(rs_store *store, uint64_t need, uint64_t *size);
/* "truncated", "replaced", "deleted" or "ok". */
const char *rs_store_file_state_name(rs_store_file_state state);

/* --- Reading a version (zero-copy) --- */

/* Opens version (0 = current) of variant in its own read transaction. Every
 * tensor's checksum is verified when verify is non-zero. */
int rs_snapshot_open(rs_store *store, const char *variant, uint64_t version, int verify,
                     rs_snapshot **out, rs_error *err);
void rs_snapshot_close(rs_snapshot *snap);

uint64_t rs_snapshot_version(const rs_snapshot *snap);
/* Bytes from the start of data.mdb that the snapshot's views reach. */
uint64_t rs_snapshot_extent(const rs_snapshot *snap);
const char *rs_snapshot_variant(const rs_snapshot *snap);
/* NUL-terminated manifest JSON text. */
const char *rs_snapshot_manifest(const rs_snapshot *snap);

/* Looks up tensor name. Fails with a clear message if it is missing, or if
 * dtype does not match (pass 0 to accept any dtype). */
int rs_snapshot_tensor(const rs_snapshot *snap, const char *name, rs_dtype dtype,
                       rs_tensor_view *out, rs_error *err);
/* True when the version has a tensor of that name. */
int rs_snapshot_has(const rs_snapshot *snap, const char *name);

/* A string table written by rs_publish_strings: *n strings; string i is
 * bytes[offsets[i] .. offsets[i+1]) (not NUL-terminated). Bounds are
 * validated on open. */
int rs_snapshot_strings(const rs_snapshot *snap, const char *name, uint64_t *n,
                        const uint64_t **offsets, const char **bytes, rs_error *err);

/* Re-verifies every tensor checksum of the version. */
int rs_snapshot_verify(const rs_snapshot *snap, rs_error *err);

/* The `store/format` record, proto/snapshot.md. */
#define RS_STORE_FORMAT_VERSION 1

#endif
