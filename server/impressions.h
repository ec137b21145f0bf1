/* impressions.h - what the server served under each request id, for a
 * bounded window, so that a later event naming the id can be attributed.
 *
 * Owns a fixed table allocated once: capacity entries in buckets of
 * RS_IMPRESSION_WAYS, a request id hashing to one bucket. A new impression
 * takes its bucket's free or oldest entry, so the table remembers about the
 * last `capacity` answers (fewer when ids crowd into one bucket) and never
 * one older than ttl seconds. Each entry keeps the request id, the
 * experiment and arm that served (or -1), a hash of the A/B key, and the
 * 64-bit hashes of at most max_items of the listed item ids: 8 x max_items
 * + RS_IMPRESSION_FIXED bytes per entry (rs_impressions_entry_bytes).
 *
 * Threads: any number record and look up at once. Each bucket has its own
 * spin lock (an atomic flag held for one copy of an entry), so there is no
 * global lock; record and find copy, nothing points into the table.
 */
#ifndef RS_IMPRESSIONS_H
#define RS_IMPRESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "http.h"

#define RS_IMPRESSION_WAYS  4
#define RS_IMPRESSION_FIXED 96

typedef struct rs_impressions rs_impressions;

/* What an impression holds; items points to the caller's array. */
typedef struct rs_impression {
    int experiment, arm; /* -1: no experiment chose the variant */
    uint64_t key_hash;   /* rs_id_hash of the A/B key (0: none) */
    double time;         /* Unix seconds when it was served */
    uint32_t n_items;    /* hashes stored (at most max_items) */
    uint64_t *items;
} rs_impression;

/* capacity is rounded up to a power of two times the ways (at least one
 * bucket); ttl in seconds. */
int rs_impressions_create(size_t capacity, double ttl, uint32_t max_items, rs_impressions **out,
                          rs_error *err);
void rs_impressions_free(rs_impressions *imp);

size_t rs_impressions_capacity(const rs_impressions *imp);
uint32_t rs_impressions_max_items(const rs_impressions *imp);
size_t rs_impressions_entry_bytes(const rs_impressions *imp);

/* Remembers what request id rid (1..RS_REQUEST_ID_MAX bytes) served at
 * Unix time now; item hashes beyond max_items are not kept. A second
 * impression under the same id replaces the first. */
void rs_impressions_record(rs_impressions *imp, const char *rid, size_t rid_len,
                           const rs_impression *what, const uint64_t *items, uint32_t n_items,
                           double now);

/* 1 and *out (out->items must hold max_items) when rid was served within
 * ttl of now and is still remembered; else 0. */
int rs_impressions_find(rs_impressions *imp, const char *rid, size_t rid_len, double now,
                        rs_impression *out);

/* Counters since start: recorded, found, not found (expired or evicted). */
void rs_impressions_counts(const rs_impressions *imp, uint64_t *recorded, uint64_t *found,
                           uint64_t *missed);

/* FNV-1a 64 of an id, the hash every feedback table uses (never 0). */
uint64_t rs_id_hash(const char *s, size_t len);

#endif
