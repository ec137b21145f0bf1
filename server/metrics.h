/* metrics.h - request counters and latency histograms in Prometheus text.
 *
 * Owns one block of counters per recording thread. A thread's first record
 * allocates its block and pushes it onto a lock-free list; afterwards every
 * record writes only that thread's block (single writer, relaxed atomics),
 * so the request path takes no lock and shares no cache line. A scrape sums
 * all blocks. Series are labelled by route (names given at creation), HTTP
 * status and variant slot (0 .. RS_METRICS_MAX_VARIANTS-1, or -1 for a
 * request that never reached a model). Blocks live until rs_metrics_free(),
 * which must run after every recording thread has stopped.
 */
#ifndef RS_METRICS_H
#define RS_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"

#define RS_METRICS_MAX_VARIANTS 32
#define RS_METRICS_MAX_ROUTES   16

typedef struct rs_metrics rs_metrics;

/* route_names (n_routes of them, at most RS_METRICS_MAX_ROUTES) are label
 * values; the array is copied, the strings are borrowed and must outlive the
 * metrics. The last route is where out-of-range route numbers are counted. */
int rs_metrics_create(const char *const *route_names, int n_routes, rs_metrics **out,
                      rs_error *err);
void rs_metrics_free(rs_metrics *m);

/* Names a variant slot for the variant label. A slot's name is set once,
 * before any request is recorded against it; later calls are ignored. */
void rs_metrics_name_variant(rs_metrics *m, int slot, const char *name);

/* Records one finished request. Out-of-range route or variant values are
 * clamped to the last route and to "no variant". */
void rs_metrics_request(rs_metrics *m, int route, int variant, int status, double seconds);

/* Records retrieval work for a variant: items whose score was computed, and
 * whether the popularity fallback answered. */
void rs_metrics_retrieval(rs_metrics *m, int variant, uint64_t items_scored, int fallback,
                          uint64_t unknown_items);

/* Writes every non-zero series in Prometheus text exposition format. */
void rs_metrics_render(rs_metrics *m, FILE *out);

/* Totals over all threads, for tests and logs. */
uint64_t rs_metrics_count(rs_metrics *m, int route, int variant, int status);
uint64_t rs_metrics_items_scored(rs_metrics *m, int variant);

#endif
