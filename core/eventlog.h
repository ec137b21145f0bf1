/* eventlog.h - the events environment: feedback events (a user or session
 * saw, clicked or bought an item) appended durably to an LMDB environment
 * of their own, and read back in order.
 *
 * Owns the on-disk record format and the environment handle. One
 * environment is one directory, separate from the model store (the server
 * keeps its model store read-only and writes only here). Keys are 8-byte
 * big-endian sequence numbers, 1, 2, ... in append order (0 holds the format
 * record "RSEVENTS" + version); each value is one checksummed record
 * (proto/events.md):
 *
 *   0  u32  CRC-32C of bytes 4 .. end
 *   4  u8   format version (1)
 *   5  u8   flags: 1 the key is a session key (else a user id), 2 has a value
 *   6  u8   type length (1 .. RS_EVENT_TYPE_MAX)
 *   7  u8   request id length (0 .. 64)
 *   8  u16  key length (1 .. RS_EVENT_ID_MAX)
 *   10 u16  item length (1 .. RS_EVENT_ID_MAX)
 *   12 u32  0
 *   16 f64  timestamp (Unix seconds)
 *   24 f64  value (0 without one)
 *   32      key, item, type and request id bytes
 *
 * all little-endian. A record that fails its checksum or its bounds, a key
 * out of sequence or a data.mdb shorter than the pages LMDB uses is
 * reported as RS_ERR_CORRUPT, never returned as an event.
 *
 * Threads: appends are driven by one thread at a time (the server's group
 * commit writer); scans may run on any thread, also in other processes while
 * a writer appends (LMDB readers see the last commit).
 */
#ifndef RS_EVENTLOG_H
#define RS_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define RS_EVENT_ID_MAX     1024 /* longest user, session or item id */
#define RS_EVENT_TYPE_MAX   32   /* longest event type */
#define RS_EVENT_RID_MAX    64   /* longest request id */
#define RS_EVENT_HEADER     32   /* bytes before the strings */
#define RS_EVENTLOG_VERSION 1

/* One event; the strings are views (not NUL-terminated). */
typedef struct rs_event {
    int session; /* key is an anonymous session key, else a user id */
    const char *key;
    size_t key_len;
    const char *item;
    size_t item_len;
    const char *type;
    size_t type_len;
    int has_value;
    double value;
    double timestamp; /* Unix seconds */
    const char *request_id;
    size_t request_id_len; /* 0: none */
} rs_event;

/* Bytes of e's record. */
size_t rs_event_record_size(const rs_event *e);
/* Writes e's record (rs_event_record_size bytes) into out. The lengths must
 * be within the bounds above (the caller validated them). */
void rs_event_encode(const rs_event *e, uint8_t *out);
/* Checks a record (checksum, version, bounds) and fills out with views into
 * buf; RS_ERR_CORRUPT when it is damaged. */
int rs_event_decode(const uint8_t *buf, size_t len, rs_event *out, rs_error *err);

typedef struct rs_eventlog rs_eventlog;

enum { RS_EVENTLOG_READONLY = 1, RS_EVENTLOG_CREATE = 2 };

/* Opens (with RS_EVENTLOG_CREATE creates the directory and the format
 * record) the events environment in dir. map_size 0: 1 GiB. Refuses a
 * directory whose data.mdb is shorter than its pages or whose format record
 * is missing or another version. */
int rs_eventlog_open(const char *dir, int flags, size_t map_size, rs_eventlog **out, rs_error *err);
void rs_eventlog_close(rs_eventlog *log);
const char *rs_eventlog_dir(const rs_eventlog *log);

/* The highest sequence number stored (0 when empty). */
int rs_eventlog_last_seq(rs_eventlog *log, uint64_t *seq, rs_error *err);

/* Appends n events in one write transaction, committed and synced to disk
 * before it returns (LMDB's default durable commit); their sequence numbers
 * are *first, *first + 1, ... On failure nothing is appended. */
int rs_eventlog_append(rs_eventlog *log, const rs_event *events, size_t n, uint64_t *first,
                       rs_error *err);

/* Called for each event in order; returning -1 stops the scan (with err). */
typedef int (*rs_event_visit)(void *ctx, uint64_t seq, const rs_event *e, rs_error *err);

/* Visits every event with a sequence number above after, in order, each
 * record verified first (RS_ERR_CORRUPT stops the scan at a damaged one). */
int rs_eventlog_scan(rs_eventlog *log, uint64_t after, rs_event_visit visit, void *ctx,
                     rs_error *err);

#endif
