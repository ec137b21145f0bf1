/* store.c - the LMDB snapshot store's handle (see store.h; the on-disk
 * layout, its invariants and why publishing is crash-safe are in
 * proto/snapshot.md): opening and closing a store, the format record,
 * transactions, keys, counters and the version list of a variant.
 * Publishing is in store_write.c, listing and snapshots in store_read.c, the
 * tensor value in tensor.c; the key layout is in store_internal.h.
 */
#include "store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "little_endian.h"

#define DEFAULT_MAP_SIZE RS_STORE_DEFAULT_MAP_SIZE
#define MIN_FALLBACK_MAP ((size_t)1 << 30)
#define MAX_READERS      1024
#define FORMAT_KEY       "store/format"
#define FORMAT_MAGIC     "RSSTORE" /* 8 bytes with its NUL */
#define FORMAT_SIZE      16

/* ------------------------------------------------------------------------ */
/* Keys.                                                                      */

int rs_store_key(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, RS_STORE_KEY_MAX, fmt, ap);
    va_end(ap);
    return n; /* names are validated first, so keys always fit */
}

/* Parses the 20-digit version that follows a "variant/<name>/v/" prefix and
 * must be followed by '/'. */
static int parse_version(const MDB_val *k, size_t at, uint64_t *out)
{
    const char *s = k->mv_data;
    if (k->mv_size < at + 21 || s[at + 20] != '/') return -1;
    uint64_t v = 0;
    for (size_t i = at; i < at + 20; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (v == 0) return -1;
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The store handle.                                                          */

/* LMDB forbids opening one environment twice in a process (closing the
 * second descriptor would drop the first one's POSIX locks, and other
 * processes could then reclaim pages our readers still use). */
typedef struct open_dir {
    dev_t dev;
    ino_t ino;
    struct open_dir *next;
} open_dir;

static pthread_mutex_t open_dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static open_dir *open_dirs;

static int register_dir(dev_t dev, ino_t ino)
{
    pthread_mutex_lock(&open_dirs_lock);
    int rc = 0;
    for (open_dir *d = open_dirs; d; d = d->next)
        if (d->dev == dev && d->ino == ino) rc = -1;
    if (rc == 0) {
        open_dir *d = malloc(sizeof(*d));
        if (d) {
            *d = (open_dir){dev, ino, open_dirs};
            open_dirs = d;
        } else {
            rc = -2;
        }
    }
    pthread_mutex_unlock(&open_dirs_lock);
    return rc;
}

static void unregister_dir(dev_t dev, ino_t ino)
{
    pthread_mutex_lock(&open_dirs_lock);
    for (open_dir **p = &open_dirs; *p; p = &(*p)->next) {
        if ((*p)->dev == dev && (*p)->ino == ino) {
            open_dir *d = *p;
            *p = d->next;
            free(d);
            break;
        }
    }
    pthread_mutex_unlock(&open_dirs_lock);
}

int rs_store_mdb_fail(const rs_store *s, int rc, rs_error *err, const char *what)
{
    if (rc == MDB_MAP_FULL)
        return rs_fail(err,
                       "store %s is full while %s: its map size is %zu MiB; reopen it with a "
                       "larger map size",
                       s->dir, what, s->map_size >> 20);
    if (rc == MDB_READERS_FULL)
        return rs_fail(err, "store %s: too many open readers (%d) while %s", s->dir, MAX_READERS,
                       what);
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND)
        return rs_fail(err, "store %s is corrupted (%s) while %s", s->dir, mdb_strerror(rc), what);
    /* LMDB turns a short write (the usual sign of a full disk) into EIO. */
    struct statvfs fs;
    if ((rc == EIO || rc == ENOSPC || rc == EDQUOT || rc == EFBIG) && statvfs(s->dir, &fs) == 0 &&
        (rc == ENOSPC || (uint64_t)fs.f_bavail * fs.f_frsize < ((uint64_t)1 << 20)))
        return rs_fail_kind(err, RS_ERR_IO,
                            "store %s: no space left on its file system (%llu KiB free) while %s "
                            "(LMDB: %s)",
                            s->dir, (unsigned long long)fs.f_bavail * fs.f_frsize >> 10, what,
                            mdb_strerror(rc));
    return rs_fail(err, "store %s: %s while %s", s->dir, mdb_strerror(rc), what);
}

void rs_store_txn_done(rs_store *s)
{
    pthread_mutex_lock(&s->lock);
    s->active--;
    pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------------------ */
/* The file under the map.                                                    */

static int file_size(rs_store *s, struct stat *st, rs_error *err)
{
    if (fstat(s->fd, st) == 0) return 0;
    return rs_fail_kind(err, RS_ERR_IO, "store %s: cannot examine data.mdb: %s", s->dir,
                        strerror(errno));
}

/* *used: the bytes the last committed page reaches (0 when the file is too
 * short to read even the meta pages through the map); *size: the file's
 * size, read after the meta page. A writer grows the file before a meta
 * page names the new pages, so a size read after the meta covers it unless
 * the file shrank; read the other way round, a commit in between would look
 * like a truncation. */
static int measure_file(rs_store *s, uint64_t *size, uint64_t *used, rs_error *err)
{
    struct stat st;
    *used = 0;
    if (file_size(s, &st, err) != 0) return -1;
    *size = (uint64_t)st.st_size;
    MDB_envinfo info;
    if (*size < 2 * (uint64_t)s->psize || mdb_env_info(s->env, &info) != 0) return 0;
    *used = ((uint64_t)info.me_last_pgno + 1) * s->psize;
    if (file_size(s, &st, err) != 0) return -1;
    *size = (uint64_t)st.st_size;
    return 0;
}

int rs_store_check_pages(rs_store *s, rs_error *err)
{
    uint64_t size, used;
    if (measure_file(s, &size, &used, err) != 0) return -1;
    if (used && size >= used) return 0;
    return rs_fail_kind(err, RS_ERR_IO,
                        "store %s: data.mdb shrank to %" PRIu64 " bytes under the map (its pages "
                        "reach %" PRIu64 "); not reading it",
                        s->dir, size, used ? used : 2 * (uint64_t)s->psize);
}

int rs_store_file_holds(rs_store *store, uint64_t need, uint64_t *size)
{
    struct stat st;
    rs_error err;
    if (file_size(store, &st, &err) != 0) return 0;
    *size = (uint64_t)st.st_size;
    return *size >= need;
}

int rs_store_file_status(rs_store *store, rs_store_file *out, rs_error *err)
{
    struct stat open_st, path_st;
    if (measure_file(store, &out->size, &out->used, err) != 0 ||
        file_size(store, &open_st, err) != 0)
        return -1;
    out->state = RS_STORE_FILE_OK;
    char path[4096];
    snprintf(path, sizeof(path), "%s/data.mdb", store->dir);
    if (stat(path, &path_st) != 0) {
        if (errno != ENOENT)
            return rs_fail_kind(err, RS_ERR_IO, "store %s: cannot examine %s: %s", store->dir, path,
                                strerror(errno));
        out->state = RS_STORE_FILE_DELETED;
    } else if (path_st.st_dev != open_st.st_dev || path_st.st_ino != open_st.st_ino) {
        out->state = RS_STORE_FILE_REPLACED;
    }
    /* The one that can hurt: it is the mapped file that shrank. */
    if (!out->used || out->size < out->used) out->state = RS_STORE_FILE_TRUNCATED;
    return 0;
}

const char *rs_store_file_state_name(rs_store_file_state state)
{
    switch (state) {
    case RS_STORE_FILE_OK:
        return "ok";
    case RS_STORE_FILE_TRUNCATED:
        return "truncated";
    case RS_STORE_FILE_REPLACED:
        return "replaced";
    case RS_STORE_FILE_DELETED:
        return "deleted";
    }
    return "unknown";
}

/* Begins a transaction. If another process grew the map beyond ours, LMDB
 * answers MDB_MAP_RESIZED; the new size can only be adopted while this
 * process has no transaction, so that is done when we are alone. */
int rs_store_txn_begin(rs_store *s, unsigned flags, MDB_txn **txn, rs_error *err)
{
    if (rs_store_check_pages(s, err) != 0) return -1;
    pthread_mutex_lock(&s->lock);
    s->active++;
    pthread_mutex_unlock(&s->lock);
    int rc = mdb_txn_begin(s->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        pthread_mutex_lock(&s->lock);
        if (s->active == 1) {
            rc = mdb_env_set_mapsize(s->env, 0);
            MDB_envinfo info;
            if (rc == 0 && mdb_env_info(s->env, &info) == 0) s->map_size = info.me_mapsize;
        }
        pthread_mutex_unlock(&s->lock);
        if (rc == 0) rc = mdb_txn_begin(s->env, NULL, flags, txn);
        if (rc == MDB_MAP_RESIZED) {
            rs_store_txn_done(s);
            return rs_fail(err,
                           "store %s was grown beyond this process's map (%zu MiB) by another "
                           "process; close this process's snapshots or reopen with a larger "
                           "map size",
                           s->dir, s->map_size >> 20);
        }
    }
    if (rc != 0) {
        rs_store_txn_done(s);
        return rs_store_mdb_fail(s, rc, err, "starting a transaction");
    }
    return 0;
}

void rs_store_txn_abort(rs_store *s, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    rs_store_txn_done(s);
}

static int make_dirs(const char *dir, rs_error *err)
{
    size_t n = strlen(dir);
    char *path = rs_malloc(n + 1, 1, err);
    if (!path) return -1;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0775) != 0 && errno != EEXIST) {
            int e = errno;
            rs_fail(err, "cannot create store directory %s: %s", path, strerror(e));
            free(path);
            return -1;
        }
        path[i] = saved;
    }
    free(path);
    return 0;
}

int rs_store_get_u64(rs_store *s, MDB_txn *txn, const char *key, uint64_t *out, int *found,
                     rs_error *err)
{
    MDB_val k = rs_store_val(key, (int)strlen(key)), v;
    int rc = mdb_get(txn, s->dbi, &k, &v);
    *found = 0;
    *out = 0;
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rs_store_mdb_fail(s, rc, err, "reading a counter");
    if (v.mv_size != 8)
        return rs_fail(err, "store %s is corrupted: %s holds %zu bytes, expected 8", s->dir, key,
                       v.mv_size);
    *out = rs_get_le64(v.mv_data);
    *found = 1;
    return 0;
}

int rs_store_put_u64(rs_store *s, MDB_txn *txn, const char *key, uint64_t value, rs_error *err)
{
    uint8_t buf[8];
    rs_put_le64(buf, value);
    MDB_val k = rs_store_val(key, (int)strlen(key)), v = {8, buf};
    int rc = mdb_put(txn, s->dbi, &k, &v, 0);
    return rc ? rs_store_mdb_fail(s, rc, err, "writing a counter") : 0;
}

/* Checks the store/format record; writes it into an empty environment
 * opened with RS_STORE_CREATE. */
static int check_format(rs_store *s, int create, rs_error *err)
{
    MDB_txn *txn;
    if (rs_store_txn_begin(s, MDB_RDONLY, &txn, err) != 0) return -1;
    int rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
    if (rc == 0)
        rc = mdb_txn_commit(txn); /* keeps the handle */
    else
        mdb_txn_abort(txn);
    rs_store_txn_done(s);
    if (rc != 0) return rs_store_mdb_fail(s, rc, err, "opening the main database");
    if (rs_store_txn_begin(s, MDB_RDONLY, &txn, err) != 0) return -1;
    MDB_val k = rs_store_val(FORMAT_KEY, (int)strlen(FORMAT_KEY)), v;
    rc = mdb_get(txn, s->dbi, &k, &v);
    if (rc == 0) {
        const uint8_t *p = v.mv_data;
        int bad = v.mv_size != FORMAT_SIZE || memcmp(p, FORMAT_MAGIC, 8) != 0;
        uint32_t version = bad ? 0 : rs_get_le32(p + 8);
        rs_store_txn_abort(s, txn);
        if (bad)
            return rs_fail(err,
                           "store %s: the %s record is malformed (%zu bytes); not a recsys "
                           "store or corrupted",
                           s->dir, FORMAT_KEY, v.mv_size);
        if (version == 0 || version > RS_STORE_FORMAT_VERSION)
            return rs_fail(err,
                           "store %s has format version %u; this build reads version %d (written "
                           "by a newer recsys?)",
                           s->dir, version, RS_STORE_FORMAT_VERSION);
        return 0;
    }
    MDB_stat st;
    int rc2 = rc == MDB_NOTFOUND ? mdb_stat(txn, s->dbi, &st) : rc;
    rs_store_txn_abort(s, txn);
    if (rc2 != 0) return rs_store_mdb_fail(s, rc2, err, "reading the format record");
    if (st.ms_entries != 0)
        return rs_fail(err,
                       "%s holds an LMDB environment that is not a recsys store (no %s "
                       "record)",
                       s->dir, FORMAT_KEY);
    if (!create) return rs_fail(err, "no store at %s (empty environment)", s->dir);

    uint8_t rec[FORMAT_SIZE] = {0};
    memcpy(rec, FORMAT_MAGIC, 8);
    rs_put_le32(rec + 8, RS_STORE_FORMAT_VERSION);
    if (rs_store_txn_begin(s, 0, &txn, err) != 0) return -1;
    v = (MDB_val){FORMAT_SIZE, rec};
    rc = mdb_put(txn, s->dbi, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) { /* another process created it meanwhile */
        rs_store_txn_abort(s, txn);
        return check_format(s, 0, err);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        rs_store_txn_done(s);
    } else {
        rs_store_txn_abort(s, txn);
    }
    return rc ? rs_store_mdb_fail(s, rc, err, "creating the store") : 0;
}

/* Creates and opens s->env with s->map_size; on failure s->env is NULL. */
static int open_env(rs_store *s, int readonly)
{
    unsigned flags = MDB_NOTLS | (readonly ? MDB_RDONLY : 0) | (s->nolock ? MDB_NOLOCK : 0);
    int rc = mdb_env_create(&s->env);
    if (rc != 0) {
        s->env = NULL;
        return rc;
    }
    rc = mdb_env_set_maxreaders(s->env, MAX_READERS);
    if (rc == 0) rc = mdb_env_set_mapsize(s->env, s->map_size);
    if (rc == 0) rc = mdb_env_open(s->env, s->dir, flags, 0664);
    if (rc != 0) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return rc;
}

/* Whether this process may not write the store's lock file: the file
 * exists and is not writable, or it is missing and the directory is not. */
static int lock_not_writable(const char *dir)
{
    char lock[4096];
    if (snprintf(lock, sizeof(lock), "%s/lock.mdb", dir) >= (int)sizeof(lock)) return 0;
    if (access(lock, F_OK) == 0) return access(lock, W_OK) != 0;
    return access(dir, W_OK) != 0;
}

int rs_store_nolock(const rs_store *store)
{
    return store->nolock;
}

int rs_store_open(const char *dir, int flags, size_t map_size, rs_store **out, rs_error *err)
{
    *out = NULL;
    if (!dir || !*dir) return rs_fail(err, "store directory name is empty");
    int readonly = (flags & RS_STORE_READONLY) != 0, create = (flags & RS_STORE_CREATE) != 0;
    if (flags & ~(RS_STORE_READONLY | RS_STORE_CREATE))
        return rs_fail(err, "rs_store_open: unknown flags 0x%x", flags);
    if (readonly && create)
        return rs_fail(err, "store %s: cannot both create and open read-only", dir);
    if (create && make_dirs(dir, err) != 0) return -1;

    struct stat st;
    if (stat(dir, &st) != 0) return rs_fail(err, "no store at %s (%s)", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return rs_fail(err, "no store at %s (not a directory)", dir);
    if (!create) {
        char data[4096];
        snprintf(data, sizeof(data), "%s/data.mdb", dir);
        if (access(data, F_OK) != 0) return rs_fail(err, "no store at %s (no data.mdb)", dir);
    }
    int reg = register_dir(st.st_dev, st.st_ino);
    if (reg == -1)
        return rs_fail(err, "store %s is already open in this process; share that handle", dir);
    if (reg != 0) return rs_fail(err, "out of memory opening store %s", dir);

    rs_store *s = rs_calloc(1, sizeof(*s), err);
    if (!s) {
        unregister_dir(st.st_dev, st.st_ino);
        return -1;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->readonly = readonly;
    s->map_size = map_size ? map_size : DEFAULT_MAP_SIZE;
    pthread_mutex_init(&s->lock, NULL);
    s->dir = strdup(dir);
    int rc = s->dir ? open_env(s, readonly) : ENOMEM;
    /* The default map is only address space, but some environments cap it
     * (ulimit -v, valgrind): fall back to smaller maps before giving up. */
    while (!map_size && (rc == ENOMEM || rc == EINVAL) && s->map_size > MIN_FALLBACK_MAP) {
        s->map_size /= 2;
        rc = open_env(s, readonly);
    }
    /* A reader without write access to lock.mdb (a read-only mount, a
     * store owned by the publishing user) cannot take LMDB's reader table.
     * Read without it: safe as long as nothing writes this store while it is
     * open (see rs_store_nolock). */
    if (readonly && (rc == EACCES || rc == EROFS) && lock_not_writable(dir)) {
        s->nolock = 1;
        rc = open_env(s, readonly);
    }
    if (rc != 0) {
        if (rc == EACCES && s->nolock)
            rs_fail(err, "store %s: cannot read data.mdb: %s", dir, mdb_strerror(rc));
        else if (rc == MDB_INVALID)
            rs_fail(err, "store %s: data.mdb is not an LMDB file (corrupted?)", dir);
        else if (rc == MDB_VERSION_MISMATCH)
            rs_fail(err, "store %s was written by an incompatible LMDB version", dir);
        else
            rs_fail(err, "cannot open store %s (map size %zu MiB): %s", dir, s->map_size >> 20,
                    mdb_strerror(rc));
        rs_store_close(s);
        return -1;
    }
    /* The meta pages are read through the map: check they are there first. */
    struct stat fst;
    MDB_stat mst;
    long page = sysconf(_SC_PAGESIZE);
    if (mdb_env_get_fd(s->env, &s->fd) != 0 || fstat(s->fd, &fst) != 0 ||
        (uint64_t)fst.st_size < 2 * (uint64_t)(page > 0 ? page : 4096) ||
        mdb_env_stat(s->env, &mst) != 0) {
        rs_fail_kind(err, RS_ERR_IO, "store %s: data.mdb is shorter than its meta pages", dir);
        rs_store_close(s);
        return -1;
    }
    s->psize = mst.ms_psize;
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0) s->map_size = info.me_mapsize;
    /* Drop reader slots of processes that died, so their pages are freed. */
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    if (check_format(s, create, err) != 0) {
        rs_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void rs_store_close(rs_store *store)
{
    if (!store) return;
    if (store->env) mdb_env_close(store->env);
    unregister_dir(store->dev, store->ino);
    pthread_mutex_destroy(&store->lock);
    free(store->dir);
    free(store);
}

/* ------------------------------------------------------------------------ */
/* Versions of a variant.                                                    */

static int u64vec_push(rs_u64vec *vec, uint64_t x, rs_error *err)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 16;
        uint64_t *v = realloc(vec->v, cap * sizeof(*v));
        if (!v) return rs_fail(err, "out of memory listing versions");
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = x;
    return 0;
}

int rs_store_list_versions(rs_store *s, MDB_txn *txn, const char *variant, rs_u64vec *out,
                           rs_error *err)
{
    char prefix[RS_STORE_KEY_MAX], next[RS_STORE_KEY_MAX];
    int plen = rs_store_key(prefix, "variant/%s/v/", variant);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi, &cur);
    if (rc != 0) return rs_store_mdb_fail(s, rc, err, "listing versions");
    MDB_val k = rs_store_val(prefix, plen), v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && rs_store_has_prefix(&k, prefix, (size_t)plen)) {
        uint64_t version;
        if (parse_version(&k, (size_t)plen, &version) != 0) {
            mdb_cursor_close(cur);
            return rs_fail(err, "store %s is corrupted: malformed key '%.*s'", s->dir,
                           (int)RS_MIN(k.mv_size, 200), (const char *)k.mv_data);
        }
        if (u64vec_push(out, version, err) != 0) {
            mdb_cursor_close(cur);
            return -1;
        }
        /* "<prefix><digits>0" sorts right after every "<prefix><digits>/..." key. */
        int nlen = rs_store_key(next, "%s%020" PRIu64 "0", prefix, version);
        k = rs_store_val(next, nlen);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) return rs_store_mdb_fail(s, rc, err, "listing versions");
    return 0;
}
