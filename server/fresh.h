/* fresh.h - fresh histories: each user's or session's positive events since
 * the model was trained, kept in memory so that a request can encode the
 * stored training history plus what the user did since (or, for an
 * anonymous session, only that).
 *
 * Owns a hash table from key (a user id or session key, one namespace) to
 * its latest events (item id, timestamp, sequence number), at most
 * max_items per key (the oldest go first) and at most max_keys keys (later
 * keys are not kept and are counted). The table is split in RS_FRESH_SHARDS
 * shards, each behind its own read-write lock: the request path takes one
 * shard's read lock for one copy, the events writer one shard's write lock
 * per event, so there is no global lock. Memory: about 64 bytes per key plus
 * 32 bytes and the item id per kept event.
 */
#ifndef RS_FRESH_H
#define RS_FRESH_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "request.h"

#define RS_FRESH_SHARDS 64

typedef struct rs_fresh rs_fresh;

int rs_fresh_create(uint32_t max_items, size_t max_keys, rs_fresh **out, rs_error *err);
void rs_fresh_free(rs_fresh *f);

/* Adds an event of key (events arrive in sequence order). */
int rs_fresh_add(rs_fresh *f, const char *key, size_t key_len, const char *item, size_t item_len,
                 double timestamp, uint64_t seq, rs_error *err);

/* The caller's growing buffers for rs_fresh_get. */
typedef struct rs_fresh_buf {
    rs_id *ids;
    size_t ids_cap;
    char *bytes;
    size_t bytes_cap;
} rs_fresh_buf;

void rs_fresh_buf_free(rs_fresh_buf *b);

/* Copies key's item ids with a sequence number above after and a timestamp
 * at or after since into buf (b->ids[0..*n), pointing into b->bytes, each
 * NUL-terminated), oldest first. *n is 0 for an unknown key. */
int rs_fresh_get(rs_fresh *f, const char *key, size_t key_len, uint64_t after, double since,
                 rs_fresh_buf *b, uint32_t *n, rs_error *err);

/* Keys kept, events kept, keys refused because the table was full. */
void rs_fresh_counts(rs_fresh *f, uint64_t *keys, uint64_t *events, uint64_t *refused);

#endif
