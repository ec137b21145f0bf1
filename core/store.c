/* store.c - the LMDB snapshot store (see store.h; the on-disk layout, its
 * invariants and why publishing is crash-safe are in proto/snapshot.md).
 *
 * Everything lives in LMDB's main (unnamed) database under text keys:
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
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define RS_HAVE_X86_CRC 1
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensor payloads are stored as raw little-endian bytes: little-endian hosts only"
#endif

#define DEFAULT_MAP_SIZE ((size_t)64 << 30)
#define MIN_FALLBACK_MAP ((size_t)1 << 30)
#define MAX_READERS      1024
#define KEY_MAX          256
#define FORMAT_KEY       "store/format"
#define FORMAT_MAGIC     "RSSTORE" /* 8 bytes with its NUL */
#define FORMAT_SIZE      16
#define TENSOR_MAGIC     "RSTN" /* 4 bytes, no NUL */
#define PAYLOAD_ALIGN    16     /* views are at least this aligned */
#define PAUSE_ENV        "RECSYS_TEST_PAUSE_BEFORE_COMMIT"

/* ------------------------------------------------------------------------ */
/* Little-endian field access (header fields never rely on host layout).    */

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ------------------------------------------------------------------------ */
/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).                   */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[0][i] = c;
    }
    /* Slicing-by-8: table t advances a byte through t further zero bytes. */
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t rs_crc32c_portable(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
            crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
            crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
            crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#ifdef RS_HAVE_X86_CRC
/* The crc32 instruction has a latency of 3 cycles and a throughput of one
 * per cycle, so three independent streams keep it busy. The streams are
 * combined by shifting the first two across the bytes that follow them,
 * which is a multiplication by x^(8*len) mod P done with precomputed
 * zero-run operators. */
#define HW_BLOCK 4096 /* bytes per stream per round */

static uint32_t shift_table[4][256]; /* crc over HW_BLOCK zero bytes, 4 slices */
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

/* GF(2) 32x32 matrix times vector: mat[i] is the image of bit i. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (int i = 0; vec; i++, vec >>= 1)
        if (vec & 1) sum ^= mat[i];
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
    for (int i = 0; i < 32; i++) square[i] = gf2_times(mat, mat[i]);
}

/* Operator that advances a raw (non-inverted) CRC register over len zero
 * bytes; len is a power of two here. */
static void zeros_operator(uint32_t *op, size_t len)
{
    uint32_t odd[32], even[32];
    odd[0] = 0x82F63B78u; /* one zero bit */
    for (int i = 1; i < 32; i++) odd[i] = 1u << (i - 1);
    gf2_square(even, odd); /* two bits */
    gf2_square(odd, even); /* four bits */
    /* odd = one zero nibble; square up to len bytes (len * 8 bits). */
    size_t bits = 4;
    uint32_t *cur = odd, *other = even;
    while (bits < len * 8) {
        gf2_square(other, cur);
        uint32_t *t = cur;
        cur = other;
        other = t;
        bits *= 2;
    }
    memcpy(op, cur, sizeof(odd));
}

static void shift_init(void)
{
    uint32_t op[32];
    zeros_operator(op, HW_BLOCK);
    for (int s = 0; s < 4; s++)
        for (uint32_t b = 0; b < 256; b++) shift_table[s][b] = gf2_times(op, b << (8 * s));
}

static uint32_t shift_block(uint32_t crc)
{
    return shift_table[0][crc & 0xff] ^ shift_table[1][(crc >> 8) & 0xff] ^
           shift_table[2][(crc >> 16) & 0xff] ^ shift_table[3][crc >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                            size_t n)
{
    uint64_t c0 = (uint32_t)~crc;
    while (n && ((uintptr_t)p & 7)) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        n--;
    }
    if (n >= 3 * HW_BLOCK) pthread_once(&shift_once, shift_init);
    while (n >= 3 * HW_BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *p1 = p + HW_BLOCK, *p2 = p + 2 * HW_BLOCK;
        for (size_t i = 0; i < HW_BLOCK; i += 8) {
            uint64_t w0, w1, w2;
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p1 + i, 8);
            memcpy(&w2, p2 + i, 8);
            c0 = _mm_crc32_u64(c0, w0);
            c1 = _mm_crc32_u64(c1, w1);
            c2 = _mm_crc32_u64(c2, w2);
        }
        /* Registers are linear: crc(A|B) = shift(crc(A), |B|) ^ crc0(B). */
        c0 = shift_block(shift_block((uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
        p += 3 * HW_BLOCK;
        n -= 3 * HW_BLOCK;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c0 = _mm_crc32_u64(c0, w);
        p += 8;
        n -= 8;
    }
    while (n--) c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return ~(uint32_t)c0;
}
#endif

uint32_t rs_crc32c(uint32_t crc, const void *data, size_t n)
{
#ifdef RS_HAVE_X86_CRC
    if (__builtin_cpu_supports("sse4.2")) return crc32c_hw(crc, data, n);
#endif
    return rs_crc32c_portable(crc, data, n);
}

/* ------------------------------------------------------------------------ */
/* Names, dtypes and keys.                                                   */

size_t rs_dtype_size(rs_dtype dtype)
{
    switch (dtype) {
    case RS_F32:
    case RS_I32:
    case RS_U32:
        return 4;
    case RS_F64:
    case RS_I64:
    case RS_U64:
        return 8;
    case RS_U8:
        return 1;
    }
    return 0;
}

const char *rs_dtype_name(rs_dtype dtype)
{
    switch (dtype) {
    case RS_F32:
        return "f32";
    case RS_F64:
        return "f64";
    case RS_I32:
        return "i32";
    case RS_U32:
        return "u32";
    case RS_I64:
        return "i64";
    case RS_U64:
        return "u64";
    case RS_U8:
        return "u8";
    }
    return "invalid";
}

static int name_char_ok(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '.' || ch == '-';
}

/* Length of the valid name in bytes [p, p+n), or 0 when not a valid name. */
static size_t name_len_ok(const char *p, size_t n)
{
    if (n == 0 || n > RS_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char_ok((unsigned char)p[i])) return 0;
    return n;
}

int rs_store_check_name(const char *what, const char *name, rs_error *err)
{
    if (!name) return rs_fail(err, "%s name is missing", what);
    size_t n = strnlen(name, RS_NAME_MAX + 1);
    if (n == 0) return rs_fail(err, "%s name is empty", what);
    if (n > RS_NAME_MAX)
        return rs_fail(err, "%s name '%.20s...' is longer than %d bytes", what, name, RS_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (!name_char_ok((unsigned char)name[i]))
            return rs_fail(err,
                           "%s name '%s' has character 0x%02x at %zu; allowed: A-Z a-z 0-9 _ . -",
                           what, name, (unsigned char)name[i], i);
    return 0;
}

static int key_printf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int key_printf(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, KEY_MAX, fmt, ap);
    va_end(ap);
    return n; /* names are validated first, so keys always fit */
}

static MDB_val kv(const char *s, int n)
{
    return (MDB_val){.mv_size = (size_t)n, .mv_data = (void *)s};
}

static int has_prefix(const MDB_val *k, const char *prefix, size_t n)
{
    return k->mv_size >= n && memcmp(k->mv_data, prefix, n) == 0;
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

struct rs_store {
    MDB_env *env;
    MDB_dbi dbi;
    int readonly;
    char *dir;
    size_t map_size;
    dev_t dev;
    ino_t ino;
    pthread_mutex_t lock; /* guards active and map size adoption */
    uint64_t active;      /* transactions of this handle alive or starting */
};

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

static int mdb_fail(const rs_store *s, int rc, rs_error *err, const char *what)
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
    return rs_fail(err, "store %s: %s while %s", s->dir, mdb_strerror(rc), what);
}

static void txn_done(rs_store *s)
{
    pthread_mutex_lock(&s->lock);
    s->active--;
    pthread_mutex_unlock(&s->lock);
}

/* Begins a transaction. If another process grew the map beyond ours, LMDB
 * answers MDB_MAP_RESIZED; the new size can only be adopted while this
 * process has no transaction, so that is done when we are alone. */
static int txn_begin(rs_store *s, unsigned flags, MDB_txn **txn, rs_error *err)
{
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
            txn_done(s);
            return rs_fail(err,
                           "store %s was grown beyond this process's map (%zu MiB) by another "
                           "process; close this process's snapshots or reopen with a larger "
                           "map size",
                           s->dir, s->map_size >> 20);
        }
    }
    if (rc != 0) {
        txn_done(s);
        return mdb_fail(s, rc, err, "starting a transaction");
    }
    return 0;
}

static void txn_abort(rs_store *s, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    txn_done(s);
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

static int get_u64(rs_store *s, MDB_txn *txn, const char *key, uint64_t *out, int *found,
                   rs_error *err)
{
    MDB_val k = kv(key, (int)strlen(key)), v;
    int rc = mdb_get(txn, s->dbi, &k, &v);
    *found = 0;
    *out = 0;
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return mdb_fail(s, rc, err, "reading a counter");
    if (v.mv_size != 8)
        return rs_fail(err, "store %s is corrupted: %s holds %zu bytes, expected 8", s->dir, key,
                       v.mv_size);
    *out = get_le64(v.mv_data);
    *found = 1;
    return 0;
}

static int put_u64(rs_store *s, MDB_txn *txn, const char *key, uint64_t value, rs_error *err)
{
    uint8_t buf[8];
    put_le64(buf, value);
    MDB_val k = kv(key, (int)strlen(key)), v = {8, buf};
    int rc = mdb_put(txn, s->dbi, &k, &v, 0);
    return rc ? mdb_fail(s, rc, err, "writing a counter") : 0;
}

/* Checks the store/format record; writes it into an empty environment
 * opened with RS_STORE_CREATE. */
static int check_format(rs_store *s, int create, rs_error *err)
{
    MDB_txn *txn;
    if (txn_begin(s, MDB_RDONLY, &txn, err) != 0) return -1;
    int rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
    if (rc == 0)
        rc = mdb_txn_commit(txn); /* keeps the handle */
    else
        mdb_txn_abort(txn);
    txn_done(s);
    if (rc != 0) return mdb_fail(s, rc, err, "opening the main database");
    if (txn_begin(s, MDB_RDONLY, &txn, err) != 0) return -1;
    MDB_val k = kv(FORMAT_KEY, (int)strlen(FORMAT_KEY)), v;
    rc = mdb_get(txn, s->dbi, &k, &v);
    if (rc == 0) {
        const uint8_t *p = v.mv_data;
        int bad = v.mv_size != FORMAT_SIZE || memcmp(p, FORMAT_MAGIC, 8) != 0;
        uint32_t version = bad ? 0 : get_le32(p + 8);
        txn_abort(s, txn);
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
    txn_abort(s, txn);
    if (rc2 != 0) return mdb_fail(s, rc2, err, "reading the format record");
    if (st.ms_entries != 0)
        return rs_fail(err,
                       "%s holds an LMDB environment that is not a recsys store (no %s "
                       "record)",
                       s->dir, FORMAT_KEY);
    if (!create) return rs_fail(err, "no store at %s (empty environment)", s->dir);

    uint8_t rec[FORMAT_SIZE] = {0};
    memcpy(rec, FORMAT_MAGIC, 8);
    put_le32(rec + 8, RS_STORE_FORMAT_VERSION);
    if (txn_begin(s, 0, &txn, err) != 0) return -1;
    v = (MDB_val){FORMAT_SIZE, rec};
    rc = mdb_put(txn, s->dbi, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) { /* another process created it meanwhile */
        txn_abort(s, txn);
        return check_format(s, 0, err);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn_done(s);
    } else {
        txn_abort(s, txn);
    }
    return rc ? mdb_fail(s, rc, err, "creating the store") : 0;
}

/* Creates and opens s->env with s->map_size; on failure s->env is NULL. */
static int open_env(rs_store *s, int readonly)
{
    int rc = mdb_env_create(&s->env);
    if (rc != 0) {
        s->env = NULL;
        return rc;
    }
    rc = mdb_env_set_maxreaders(s->env, MAX_READERS);
    if (rc == 0) rc = mdb_env_set_mapsize(s->env, s->map_size);
    if (rc == 0) rc = mdb_env_open(s->env, s->dir, MDB_NOTLS | (readonly ? MDB_RDONLY : 0), 0664);
    if (rc != 0) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return rc;
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
    if (rc != 0) {
        if (rc == MDB_INVALID)
            rs_fail(err, "store %s: data.mdb is not an LMDB file (corrupted?)", dir);
        else if (rc == MDB_VERSION_MISMATCH)
            rs_fail(err, "store %s was written by an incompatible LMDB version", dir);
        else
            rs_fail(err, "cannot open store %s (map size %zu MiB): %s", dir, s->map_size >> 20,
                    mdb_strerror(rc));
        rs_store_close(s);
        return -1;
    }
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

typedef struct u64vec {
    uint64_t *v;
    size_t n, cap;
} u64vec;

static int u64vec_push(u64vec *vec, uint64_t x, rs_error *err)
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

/* Ascending version numbers of variant, one cursor seek per version. */
static int list_versions(rs_store *s, MDB_txn *txn, const char *variant, u64vec *out, rs_error *err)
{
    char prefix[KEY_MAX], next[KEY_MAX];
    int plen = key_printf(prefix, "variant/%s/v/", variant);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi, &cur);
    if (rc != 0) return mdb_fail(s, rc, err, "listing versions");
    MDB_val k = kv(prefix, plen), v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && has_prefix(&k, prefix, (size_t)plen)) {
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
        int nlen = key_printf(next, "%s%020" PRIu64 "0", prefix, version);
        k = kv(next, nlen);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) return mdb_fail(s, rc, err, "listing versions");
    return 0;
}

/* Deletes every key under prefix. */
static int delete_prefix(rs_store *s, MDB_txn *txn, const char *prefix, rs_error *err)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi, &cur);
    if (rc != 0) return mdb_fail(s, rc, err, "deleting an old version");
    size_t plen = strlen(prefix);
    for (;;) {
        MDB_val k = kv(prefix, (int)plen), v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc != 0 || !has_prefix(&k, prefix, plen)) break;
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0) break;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) return mdb_fail(s, rc, err, "deleting an old version");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Tensor values.                                                             */

/* Header layout (little-endian), see proto/snapshot.md:
 *   0 magic "RSTN" | 4 u16 version | 6 u16 header length | 8 u8 dtype |
 *   9 u8 ndim | 10 u16 reserved | 12 u32 payload CRC-32C | 16 u64 shape[4] |
 *   48 u64 payload bytes | 56 u32 header CRC-32C of bytes 0..55 | 60 u32 reserved */

/* Checks dtype, ndim and shape; *bytes receives the payload size. */
static int check_shape(rs_dtype dtype, uint32_t ndim, const uint64_t *shape, uint64_t *count,
                       uint64_t *bytes, rs_error *err)
{
    size_t esize = rs_dtype_size(dtype);
    if (esize == 0) return rs_fail(err, "unknown dtype %d", (int)dtype);
    if (ndim < 1 || ndim > RS_TENSOR_MAXDIM)
        return rs_fail(err, "ndim %u is outside 1..%d", ndim, RS_TENSOR_MAXDIM);
    uint64_t c = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        if (shape[i] != 0 && c > UINT64_MAX / shape[i])
            return rs_fail(err, "shape overflows 64 bits at dimension %u", i);
        c *= shape[i];
    }
    if (c > (UINT64_MAX - RS_TENSOR_HEADER_SIZE) / esize || c * esize > SIZE_MAX - 64)
        return rs_fail(err, "tensor of %" PRIu64 " elements is too large", c);
    *count = c;
    *bytes = c * esize;
    return 0;
}

static void encode_header(uint8_t *h, rs_dtype dtype, uint32_t ndim, const uint64_t *shape,
                          uint64_t bytes, uint32_t payload_crc)
{
    memset(h, 0, RS_TENSOR_HEADER_SIZE);
    memcpy(h, TENSOR_MAGIC, 4);
    put_le16(h + 4, RS_TENSOR_FORMAT_VERSION);
    put_le16(h + 6, RS_TENSOR_HEADER_SIZE);
    h[8] = (uint8_t)dtype;
    h[9] = (uint8_t)ndim;
    put_le32(h + 12, payload_crc);
    for (uint32_t i = 0; i < ndim; i++) put_le64(h + 16 + 8 * i, shape[i]);
    put_le64(h + 48, bytes);
    put_le32(h + 56, rs_crc32c(0, h, 56));
}

/* Decodes and validates; *crc receives the stored payload checksum. */
static int decode_tensor(const void *value, size_t size, int verify, rs_tensor_view *out,
                         uint32_t *crc, rs_error *err)
{
    const uint8_t *h = value;
    if (size < RS_TENSOR_HEADER_SIZE)
        return rs_fail(err, "value of %zu bytes is shorter than the %d-byte tensor header", size,
                       RS_TENSOR_HEADER_SIZE);
    if (memcmp(h, TENSOR_MAGIC, 4) != 0)
        return rs_fail(err, "bad tensor magic %02x %02x %02x %02x (expected \"%s\")", h[0], h[1],
                       h[2], h[3], TENSOR_MAGIC);
    uint16_t version = get_le16(h + 4), hlen = get_le16(h + 6);
    if (version != RS_TENSOR_FORMAT_VERSION)
        return rs_fail(err, "tensor format version %u is not supported (this build reads %d)",
                       version, RS_TENSOR_FORMAT_VERSION);
    if (hlen != RS_TENSOR_HEADER_SIZE)
        return rs_fail(err, "tensor header length %u, expected %d", hlen, RS_TENSOR_HEADER_SIZE);
    uint32_t hcrc = rs_crc32c(0, h, 56), stored_hcrc = get_le32(h + 56);
    if (hcrc != stored_hcrc)
        return rs_fail(err, "tensor header checksum mismatch (stored 0x%08x, computed 0x%08x)",
                       stored_hcrc, hcrc);
    rs_dtype dtype = (rs_dtype)h[8];
    uint32_t ndim = h[9];
    uint64_t shape[RS_TENSOR_MAXDIM];
    for (int i = 0; i < RS_TENSOR_MAXDIM; i++) shape[i] = get_le64(h + 16 + 8 * i);
    if (get_le16(h + 10) != 0 || get_le32(h + 60) != 0)
        return rs_fail(err, "tensor header reserved fields are not zero");
    uint64_t count, bytes;
    if (check_shape(dtype, ndim, shape, &count, &bytes, err) != 0)
        return rs_error_prefix(err, "bad tensor header");
    for (uint32_t i = ndim; i < RS_TENSOR_MAXDIM; i++)
        if (shape[i] != 0)
            return rs_fail(err, "bad tensor header: unused dimension %u is %" PRIu64 ", not 0", i,
                           shape[i]);
    uint64_t stored_bytes = get_le64(h + 48);
    if (stored_bytes != bytes)
        return rs_fail(
            err, "bad tensor header: payload length %" PRIu64 " but shape x %s size is %" PRIu64,
            stored_bytes, rs_dtype_name(dtype), bytes);
    if (size - RS_TENSOR_HEADER_SIZE != bytes)
        return rs_fail(err, "tensor value holds %zu payload bytes, header says %" PRIu64,
                       size - RS_TENSOR_HEADER_SIZE, bytes);
    *crc = get_le32(h + 12);
    if (verify) {
        uint32_t got = rs_crc32c(0, h + RS_TENSOR_HEADER_SIZE, (size_t)bytes);
        if (got != *crc)
            return rs_fail(err, "payload checksum mismatch (stored 0x%08x, computed 0x%08x)", *crc,
                           got);
    }
    memset(out, 0, sizeof(*out));
    out->dtype = dtype;
    out->ndim = ndim;
    memcpy(out->shape, shape, sizeof(shape));
    out->count = count;
    out->data = h + RS_TENSOR_HEADER_SIZE;
    return 0;
}

int rs_tensor_decode(const void *value, size_t size, int verify, rs_tensor_view *out, rs_error *err)
{
    uint32_t crc;
    return decode_tensor(value, size, verify, out, &crc, err);
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
    if (abort_txn) txn_abort(pub->store, pub->txn);
    free(pub);
}

static int publish_fail(rs_publish *pub, int rc, rs_error *err, const char *what)
{
    mdb_fail(pub->store, rc, err, what);
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
    if (txn_begin(store, 0, &pub->txn, err) != 0) {
        free(pub);
        return -1;
    }
    char key[KEY_MAX];
    key_printf(key, "variant/%s/next", variant);
    uint64_t next = 0;
    int found = 0;
    u64vec versions = {0};
    if (get_u64(store, pub->txn, key, &next, &found, err) != 0 ||
        list_versions(store, pub->txn, variant, &versions, err) != 0) {
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
 * and then calls seal_tensor. */
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
    if (!shape || check_shape(dtype, ndim, shape, &count, bytes, err) != 0)
        return rs_error_prefix(err, "publish variant '%s' version %" PRIu64 " tensor '%s'",
                               pub->variant, pub->version, name);
    char key[KEY_MAX];
    int klen =
        key_printf(key, "variant/%s/v/%020" PRIu64 "/t/%s", pub->variant, pub->version, name);
    MDB_val k = kv(key, klen), v = {(size_t)(*bytes + RS_TENSOR_HEADER_SIZE), NULL};
    int rc = mdb_put(pub->txn, pub->store->dbi, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return rs_fail(err, "publish variant '%s' version %" PRIu64 ": tensor '%s' written twice",
                       pub->variant, pub->version, name);
    if (rc != 0) {
        char what[KEY_MAX];
        snprintf(what, sizeof(what), "writing tensor '%s'", name);
        return publish_fail(pub, rc, err, what);
    }
    *value = v.mv_data;
    return 0;
}

static void seal_tensor(uint8_t *value, rs_dtype dtype, uint32_t ndim, const uint64_t *shape,
                        uint64_t bytes)
{
    uint32_t crc = rs_crc32c(0, value + RS_TENSOR_HEADER_SIZE, (size_t)bytes);
    encode_header(value, dtype, ndim, shape, bytes, crc);
}

int rs_publish_tensor(rs_publish *pub, const char *name, rs_dtype dtype, uint32_t ndim,
                      const uint64_t *shape, const void *data, rs_error *err)
{
    uint8_t *value;
    uint64_t count, bytes;
    if (!data && shape && check_shape(dtype, ndim, shape, &count, &bytes, NULL) == 0 && bytes)
        return rs_fail(err, "publish variant '%s' version %" PRIu64 ": tensor '%s' has no data",
                       pub->variant, pub->version, name ? name : "(null)");
    if (reserve_tensor(pub, name, dtype, ndim, shape, &value, &bytes, err) != 0) return -1;
    if (bytes) memcpy(value + RS_TENSOR_HEADER_SIZE, data, (size_t)bytes);
    seal_tensor(value, dtype, ndim, shape, bytes);
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
    put_le64(p, 0);
    for (uint64_t i = 0; i < n; i++) {
        off += strlen(strings[i]);
        put_le64(p + 8 * (i + 1), off);
    }
    seal_tensor(value, RS_U64, 1, &shape, bytes);

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
    seal_tensor(value, RS_U8, 1, &shape, bytes);
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

static int apply_retention(rs_publish *pub, uint32_t keep_last, rs_error *err)
{
    if (keep_last == 0) return 0;
    u64vec versions = {0};
    if (list_versions(pub->store, pub->txn, pub->variant, &versions, err) != 0) {
        free(versions.v);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i + keep_last < versions.n; i++) {
        if (versions.v[i] == pub->version) continue; /* never the current one */
        char prefix[KEY_MAX];
        key_printf(prefix, "variant/%s/v/%020" PRIu64 "/", pub->variant, versions.v[i]);
        rc = delete_prefix(pub->store, pub->txn, prefix, err);
    }
    free(versions.v);
    if (rc != 0) pub->failed = 1;
    return rc;
}

int rs_publish_commit(rs_publish *pub, const char *manifest_json, uint32_t keep_last, rs_error *err)
{
    rs_store *s = pub->store;
    int rc = -1;
    char key[KEY_MAX];
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
    int klen = key_printf(key, "variant/%s/v/%020" PRIu64 "/manifest", pub->variant, pub->version);
    MDB_val k = kv(key, klen), v = {strlen(manifest_json), (void *)manifest_json};
    int mrc = mdb_put(pub->txn, s->dbi, &k, &v, MDB_NOOVERWRITE);
    if (mrc != 0) {
        publish_fail(pub, mrc, err, "writing the manifest");
        goto fail;
    }
    key_printf(key, "variant/%s/current", pub->variant);
    if (put_u64(s, pub->txn, key, pub->version, err) != 0) goto fail_prefix;
    key_printf(key, "variant/%s/next", pub->variant);
    if (put_u64(s, pub->txn, key, pub->version + 1, err) != 0) goto fail_prefix;
    if (apply_retention(pub, keep_last, err) != 0) goto fail_prefix;
    pause_before_commit();
    mrc = mdb_txn_commit(pub->txn);
    txn_done(s);
    if (mrc != 0) {
        mdb_fail(s, mrc, err, "committing");
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

/* ------------------------------------------------------------------------ */
/* Current version and listing.                                               */

int rs_store_current(rs_store *store, const char *variant, uint64_t *version, rs_error *err)
{
    *version = 0;
    if (rs_store_check_name("variant", variant, err) != 0) return -1;
    MDB_txn *txn;
    if (txn_begin(store, MDB_RDONLY, &txn, err) != 0) return -1;
    char key[KEY_MAX];
    key_printf(key, "variant/%s/current", variant);
    int found;
    int rc = get_u64(store, txn, key, version, &found, err);
    txn_abort(store, txn);
    return rc;
}

static int read_manifest(rs_store *s, MDB_txn *txn, const char *variant, uint64_t version,
                         char **out, int *found, rs_error *err)
{
    char key[KEY_MAX];
    int klen = key_printf(key, "variant/%s/v/%020" PRIu64 "/manifest", variant, version);
    MDB_val k = kv(key, klen), v;
    *out = NULL;
    *found = 0;
    int rc = mdb_get(txn, s->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return mdb_fail(s, rc, err, "reading a manifest");
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
    char key[KEY_MAX];
    key_printf(key, "variant/%s/current", info->name);
    int found;
    if (get_u64(s, txn, key, &info->current, &found, err) != 0) return -1;
    u64vec versions = {0};
    if (list_versions(s, txn, info->name, &versions, err) != 0) {
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
    if (txn_begin(store, MDB_RDONLY, &txn, err) != 0) return -1;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, store->dbi, &cur);
    if (rc != 0) {
        txn_abort(store, txn);
        return mdb_fail(store, rc, err, "listing the store");
    }
    rs_variant_info *list = NULL;
    uint32_t n = 0, cap = 0;
    static const char PREFIX[] = "variant/";
    const size_t plen = sizeof(PREFIX) - 1;
    MDB_val k = kv(PREFIX, (int)plen), v;
    int failed = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (!failed && rc == 0 && has_prefix(&k, PREFIX, plen)) {
        const char *name = (const char *)k.mv_data + plen;
        const char *slash = memchr(name, '/', k.mv_size - plen);
        size_t len = slash ? name_len_ok(name, (size_t)(slash - name)) : 0;
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
        char next[KEY_MAX];
        int nlen = key_printf(next, "variant/%s0", info->name);
        k = kv(next, nlen);
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    txn_abort(store, txn);
    if (!failed && rc != 0 && rc != MDB_NOTFOUND) {
        mdb_fail(store, rc, err, "listing the store");
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

/* Reads every tensor of the version into snap->entries. */
static int load_entries(rs_snapshot *snap, int verify, rs_error *err)
{
    rs_store *s = snap->store;
    char prefix[KEY_MAX];
    int plen = key_printf(prefix, "variant/%s/v/%020" PRIu64 "/t/", snap->variant, snap->version);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(snap->txn, s->dbi, &cur);
    if (rc != 0) return mdb_fail(s, rc, err, "reading tensors");
    uint32_t cap = 0;
    MDB_val k = kv(prefix, plen), v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && has_prefix(&k, prefix, (size_t)plen)) {
        const char *name = (const char *)k.mv_data + plen;
        size_t len = name_len_ok(name, k.mv_size - (size_t)plen);
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
        if (decode_tensor(v.mv_data, v.mv_size, verify, &e->view, &e->crc, err) != 0) {
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
    if (rc != 0 && rc != MDB_NOTFOUND) return mdb_fail(s, rc, err, "reading tensors");
    /* Key order is byte order, which strcmp agrees with for valid names. */
    qsort(snap->entries, snap->n_entries, sizeof(entry), by_entry_name);
    return check_string_tables(snap, err);
}

/* Explains why a version cannot be found. */
static int missing_version(rs_store *s, MDB_txn *txn, const char *variant, uint64_t version,
                           rs_error *err)
{
    char key[KEY_MAX];
    key_printf(key, "variant/%s/current", variant);
    uint64_t current = 0;
    int found = 0;
    if (get_u64(s, txn, key, &current, &found, err) != 0) return -1;
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
    if (txn_begin(store, MDB_RDONLY, &snap->txn, err) != 0) {
        free(snap);
        return -1;
    }
    int found = 0;
    if (version == 0) {
        char key[KEY_MAX];
        key_printf(key, "variant/%s/current", variant);
        if (get_u64(store, snap->txn, key, &version, &found, err) != 0) goto fail;
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
    if (snap->txn) txn_abort(snap->store, snap->txn);
    free(snap);
}

uint64_t rs_snapshot_version(const rs_snapshot *snap)
{
    return snap->version;
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
