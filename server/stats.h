/* stats.h - request counters and latency histograms in Prometheus text.
 *
 * Owns one block of counters per recording thread. A thread's first record
 * allocates its block and pushes it onto a lock-free list; afterwards every
 * record writes only that thread's block (single writer, relaxed atomics),
 * so the request path takes no lock and shares no cache line. A scrape sums
 * all blocks. Series are labelled by route (names given at creation), HTTP
 * status and variant slot (0 .. RS_STATS_MAX_VARIANTS-1, or -1 for a
 * request that never reached a model). Blocks live until rs_stats_free(),
 * which must run after every recording thread has stopped.
 */
#ifndef RS_STATS_H
#define RS_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"

#define RS_STATS_MAX_VARIANTS 32
#define RS_STATS_MAX_ROUTES   24

typedef struct rs_stats rs_stats;

/* route_names (n_routes of them, at most RS_STATS_MAX_ROUTES) are label
 * values; the array is copied, the strings are borrowed and must outlive the
 * metrics. The last route is where out-of-range route numbers are counted. */
int rs_stats_create(const char *const *route_names, int n_routes, rs_stats **out, rs_error *err);
void rs_stats_free(rs_stats *m);

/* Names a variant slot for the variant label. A slot's name is set once,
 * before any request is recorded against it; later calls are ignored. */
void rs_stats_name_variant(rs_stats *m, int slot, const char *name);

/* Records one finished request. Out-of-range route or variant values are
 * clamped to the last route and to "no variant". */
void rs_stats_request(rs_stats *m, int route, int variant, int status, double seconds);

/* Records retrieval work for a variant: items whose score was computed, and
 * whether the popularity fallback answered. */
void rs_stats_retrieval(rs_stats *m, int variant, uint64_t items_scored, int fallback,
                        uint64_t unknown_items);

/* Writes every non-zero series in Prometheus text exposition format. */
void rs_stats_render(rs_stats *m, FILE *out);

/* Totals over all threads, for tests and logs. */
uint64_t rs_stats_count(rs_stats *m, int route, int variant, int status);
uint64_t rs_stats_items_scored(rs_stats *m, int variant);

#endif
