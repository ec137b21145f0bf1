/* eventlog.c - the events environment: record format, durable appends and
 * verified scans (see eventlog.h and proto/events.md). */
#include "eventlog.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "little_endian.h"

#define DEFAULT_MAP_SIZE ((size_t)1 << 30)
#define FORMAT_MAGIC     "RSEVENTS"
#define FORMAT_SIZE      12 /* the magic, then u32 version */

struct rs_eventlog {
    MDB_env *env;
    MDB_dbi dbi;
    char *dir;
    int readonly;
};

/* ---- records ---- */

size_t rs_event_record_size(const rs_event *e)
{
    return RS_EVENT_HEADER + e->key_len + e->item_len + e->type_len + e->request_id_len;
}

static void put_f64(uint8_t *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    rs_put_le64(p, bits);
}

static double get_f64(const uint8_t *p)
{
    uint64_t bits = rs_get_le64(p);
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

void rs_event_encode(const rs_event *e, uint8_t *out)
{
    out[4] = RS_EVENTLOG_VERSION;
    out[5] = (uint8_t)((e->session ? 1 : 0) | (e->has_value ? 2 : 0));
    out[6] = (uint8_t)e->type_len;
    out[7] = (uint8_t)e->request_id_len;
    rs_put_le16(out + 8, (uint16_t)e->key_len);
    rs_put_le16(out + 10, (uint16_t)e->item_len);
    rs_put_le32(out + 12, 0);
    put_f64(out + 16, e->timestamp);
    put_f64(out + 24, e->has_value ? e->value : 0.0);
    uint8_t *p = out + RS_EVENT_HEADER;
    memcpy(p, e->key, e->key_len);
    p += e->key_len;
    memcpy(p, e->item, e->item_len);
    p += e->item_len;
    memcpy(p, e->type, e->type_len);
    p += e->type_len;
    if (e->request_id_len) memcpy(p, e->request_id, e->request_id_len);
    size_t len = rs_event_record_size(e);
    rs_put_le32(out, rs_crc32c(0, out + 4, len - 4));
}

int rs_event_decode(const uint8_t *buf, size_t len, rs_event *out, rs_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len < RS_EVENT_HEADER)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "a %zu-byte record is shorter than its header",
                            len);
    if (rs_get_le32(buf) != rs_crc32c(0, buf + 4, len - 4))
        return rs_fail_kind(err, RS_ERR_CORRUPT, "the record fails its checksum");
    if (buf[4] != RS_EVENTLOG_VERSION)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "record format version %u (expected %d)", buf[4],
                            RS_EVENTLOG_VERSION);
    size_t key_len = rs_get_le16(buf + 8), item_len = rs_get_le16(buf + 10);
    size_t type_len = buf[6], rid_len = buf[7];
    if (!key_len || key_len > RS_EVENT_ID_MAX || !item_len || item_len > RS_EVENT_ID_MAX ||
        !type_len || type_len > RS_EVENT_TYPE_MAX || rid_len > RS_EVENT_RID_MAX ||
        RS_EVENT_HEADER + key_len + item_len + type_len + rid_len != len)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "the record's lengths do not add up");
    const char *p = (const char *)buf + RS_EVENT_HEADER;
    out->session = buf[5] & 1;
    out->has_value = (buf[5] & 2) != 0;
    out->timestamp = get_f64(buf + 16);
    out->value = get_f64(buf + 24);
    out->key = p, out->key_len = key_len;
    out->item = p + key_len, out->item_len = item_len;
    out->type = p + key_len + item_len, out->type_len = type_len;
    out->request_id = rid_len ? p + key_len + item_len + type_len : NULL;
    out->request_id_len = rid_len;
    return 0;
}

/* ---- the environment ---- */

static void key_of(uint64_t seq, uint8_t out[8])
{
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(seq >> (56 - 8 * i));
}

static uint64_t seq_of(const MDB_val *k)
{
    const uint8_t *p = k->mv_data;
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++) seq = (seq << 8) | p[i];
    return seq;
}

static int mdb_fail(rs_eventlog *log, int rc, rs_error *err, const char *what)
{
    return rs_fail_kind(err,
                        rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ? RS_ERR_CORRUPT : RS_ERR_IO,
                        "events %s: %s: %s", log->dir, what, mdb_strerror(rc));
}

/* The file must hold every page LMDB's last commit names: reading a page
 * past its end through the map would raise SIGBUS. */
static int check_pages(rs_eventlog *log, rs_error *err)
{
    int fd;
    struct stat st;
    MDB_stat mst;
    MDB_envinfo info;
    if (mdb_env_get_fd(log->env, &fd) != 0 || fstat(fd, &st) != 0 ||
        mdb_env_stat(log->env, &mst) != 0 || mdb_env_info(log->env, &info) != 0)
        return rs_fail_kind(err, RS_ERR_IO, "events %s: cannot examine data.mdb", log->dir);
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * mst.ms_psize;
    if ((uint64_t)st.st_size < used || (uint64_t)st.st_size < 2 * (uint64_t)mst.ms_psize)
        return rs_fail_kind(err, RS_ERR_CORRUPT,
                            "events %s: data.mdb is %lld bytes but its pages reach %" PRIu64
                            " (truncated); not reading it",
                            log->dir, (long long)st.st_size, used);
    return 0;
}

/* Checks (and on creation writes) the format record under key 0. */
static int check_format(rs_eventlog *log, int create, rs_error *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, log->readonly ? MDB_RDONLY : 0, &txn);
    if (rc != 0) return mdb_fail(log, rc, err, "starting a transaction");
    rc = mdb_dbi_open(txn, NULL, 0, &log->dbi);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return mdb_fail(log, rc, err, "opening the database");
    }
    uint8_t k[8];
    key_of(0, k);
    MDB_val key = {8, k}, val;
    rc = mdb_get(txn, log->dbi, &key, &val);
    if (rc == MDB_NOTFOUND && create && !log->readonly) {
        uint8_t rec[FORMAT_SIZE];
        memcpy(rec, FORMAT_MAGIC, 8);
        rs_put_le32(rec + 8, RS_EVENTLOG_VERSION);
        val = (MDB_val){FORMAT_SIZE, rec};
        rc = mdb_put(txn, log->dbi, &key, &val, 0);
        if (rc == 0) return (rc = mdb_txn_commit(txn)) ? mdb_fail(log, rc, err, "creating") : 0;
        mdb_txn_abort(txn);
        return mdb_fail(log, rc, err, "writing the format record");
    }
    int ok = rc == 0 && val.mv_size == FORMAT_SIZE && !memcmp(val.mv_data, FORMAT_MAGIC, 8);
    uint32_t version = ok ? rs_get_le32((const uint8_t *)val.mv_data + 8) : 0;
    mdb_txn_abort(txn);
    if (rc != 0 && rc != MDB_NOTFOUND) return mdb_fail(log, rc, err, "reading the format record");
    if (!ok)
        return rs_fail_kind(err, RS_ERR_CORRUPT,
                            "events %s: not an events environment (no format record)", log->dir);
    if (version != RS_EVENTLOG_VERSION)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "events %s: format version %u, expected %d",
                            log->dir, version, RS_EVENTLOG_VERSION);
    return 0;
}

int rs_eventlog_open(const char *dir, int flags, size_t map_size, rs_eventlog **out, rs_error *err)
{
    *out = NULL;
    int readonly = (flags & RS_EVENTLOG_READONLY) != 0, create = (flags & RS_EVENTLOG_CREATE) != 0;
    if (!dir || !*dir) return rs_fail(err, "the events directory name is empty");
    if (readonly && create) return rs_fail(err, "events %s: cannot create read-only", dir);
    if (create && mkdir(dir, 0775) != 0 && errno != EEXIST)
        return rs_fail_kind(err, RS_ERR_IO, "events %s: cannot create it: %s", dir,
                            strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return rs_fail_kind(err, RS_ERR_NOT_FOUND, "events %s: no such directory", dir);
    char data[4096];
    snprintf(data, sizeof(data), "%s/data.mdb", dir);
    if (!create && access(data, F_OK) != 0)
        return rs_fail_kind(err, RS_ERR_NOT_FOUND,
                            "events %s: no data.mdb (not an events "
                            "environment)",
                            dir);
    rs_eventlog *log = rs_calloc(1, sizeof(*log), err);
    if (!log) return -1;
    log->readonly = readonly;
    if (!(log->dir = strdup(dir))) {
        free(log);
        return rs_fail_kind(err, RS_ERR_NO_MEMORY, "out of memory");
    }
    int rc = mdb_env_create(&log->env);
    if (rc == 0) rc = mdb_env_set_mapsize(log->env, map_size ? map_size : DEFAULT_MAP_SIZE);
    if (rc == 0) rc = mdb_env_set_maxreaders(log->env, 126);
    if (rc == 0) rc = mdb_env_open(log->env, dir, MDB_NOTLS | (readonly ? MDB_RDONLY : 0), 0664);
    if (rc != 0) {
        if (rc == MDB_INVALID)
            rs_fail_kind(err, RS_ERR_CORRUPT, "events %s: data.mdb is not an LMDB file", dir);
        else
            mdb_fail(log, rc, err, "opening");
        rs_eventlog_close(log);
        return -1;
    }
    int dead;
    mdb_reader_check(log->env, &dead);
    if (check_pages(log, err) != 0 || check_format(log, create, err) != 0) {
        rs_eventlog_close(log);
        return -1;
    }
    *out = log;
    return 0;
}

void rs_eventlog_close(rs_eventlog *log)
{
    if (!log) return;
    if (log->env) mdb_env_close(log->env);
    free(log->dir);
    free(log);
}

const char *rs_eventlog_dir(const rs_eventlog *log)
{
    return log->dir;
}

/* The last key of txn's database (0 when only the format record is there). */
static int last_seq_in(rs_eventlog *log, MDB_txn *txn, uint64_t *seq, rs_error *err)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, log->dbi, &cur);
    if (rc != 0) return mdb_fail(log, rc, err, "opening a cursor");
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    mdb_cursor_close(cur);
    *seq = 0;
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return mdb_fail(log, rc, err, "reading the last event");
    if (k.mv_size != 8)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "events %s: a key of %zu bytes", log->dir,
                            k.mv_size);
    *seq = seq_of(&k);
    return 0;
}

int rs_eventlog_last_seq(rs_eventlog *log, uint64_t *seq, rs_error *err)
{
    if (check_pages(log, err) != 0) return -1;
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) return mdb_fail(log, rc, err, "starting a transaction");
    int r = last_seq_in(log, txn, seq, err);
    mdb_txn_abort(txn);
    return r;
}

int rs_eventlog_append(rs_eventlog *log, const rs_event *events, size_t n, uint64_t *first,
                       rs_error *err)
{
    if (log->readonly) return rs_fail(err, "events %s: opened read-only", log->dir);
    if (check_pages(log, err) != 0) return -1;
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
    if (rc != 0) return mdb_fail(log, rc, err, "starting a write transaction");
    uint64_t seq;
    if (last_seq_in(log, txn, &seq, err) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    *first = seq + 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t k[8];
        key_of(seq + 1 + i, k);
        MDB_val key = {8, k}, val = {rs_event_record_size(&events[i]), NULL};
        /* Keys only grow: MDB_APPEND fills pages densely. */
        rc = mdb_put(txn, log->dbi, &key, &val, MDB_APPEND | MDB_RESERVE);
        if (rc != 0) {
            mdb_txn_abort(txn);
            return mdb_fail(log, rc, err,
                            rc == MDB_MAP_FULL ? "appending (the map is full: raise "
                                                 "--events-map-size)"
                                               : "appending");
        }
        rs_event_encode(&events[i], val.mv_data);
    }
    rc = mdb_txn_commit(txn); /* writes and fsyncs (no MDB_NOSYNC) */
    return rc ? mdb_fail(log, rc, err, "committing") : 0;
}

int rs_eventlog_scan(rs_eventlog *log, uint64_t after, rs_event_visit visit, void *ctx,
                     rs_error *err)
{
    if (check_pages(log, err) != 0) return -1;
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) return mdb_fail(log, rc, err, "starting a transaction");
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, log->dbi, &cur);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return mdb_fail(log, rc, err, "opening a cursor");
    }
    uint8_t k0[8];
    key_of(after + 1, k0);
    MDB_val k = {8, k0}, v;
    int result = 0, first = 1;
    uint64_t expect = after + 1;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rs_event e;
        uint64_t seq = k.mv_size == 8 ? seq_of(&k) : 0;
        if (k.mv_size != 8 || (seq != expect && !first)) {
            result = rs_fail_kind(err, RS_ERR_CORRUPT,
                                  "events %s: event %" PRIu64 " is missing (next key %" PRIu64 ")",
                                  log->dir, expect, seq);
            break;
        }
        if (rs_event_decode(v.mv_data, v.mv_size, &e, err) != 0) {
            rs_error_prefix(err, "events %s: event %" PRIu64, log->dir, seq);
            result = -1;
            break;
        }
        expect = seq + 1;
        first = 0;
        if (visit(ctx, seq, &e, err) != 0) {
            result = -1;
            break;
        }
    }
    if (result == 0 && rc != 0 && rc != MDB_NOTFOUND) result = mdb_fail(log, rc, err, "scanning");
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return result;
}
