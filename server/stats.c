/* stats.c - per-thread counter blocks summed at scrape time (see stats.h). */
#include "stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* Upper bounds of the latency buckets, in seconds; +Inf is the count. */
static const double bucket_le[] = {0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                   0.025,   0.05,   0.1,   0.25,   0.5,   1.0};
#define N_BUCKETS ((int)(sizeof(bucket_le) / sizeof(bucket_le[0])))

/* Status codes that get their own label value; anything else is "other". */
static const int known_status[] = {200, 400, 401, 403, 404, 405, 408, 413,
                                   414, 415, 422, 431, 500, 503, 505};
#define N_STATUS ((int)(sizeof(known_status) / sizeof(known_status[0])) + 1)

#define N_VARIANTS (RS_STATS_MAX_VARIANTS + 1) /* slot 0 = no variant */

typedef _Atomic uint64_t counter;

/* One (route, status, variant) series: count, latency sum, bucket counts
 * (not cumulative; the scrape accumulates). */
typedef struct series {
    counter count;
    counter sum_ns;
    counter bucket[N_BUCKETS];
} series;

typedef struct variant_counters {
    counter items_scored;
    counter fallbacks;
    counter unknown_items;
} variant_counters;

typedef struct block {
    struct block *next;
    pthread_t owner;
    variant_counters per_variant[N_VARIANTS];
    series series[]; /* n_routes * N_STATUS * N_VARIANTS */
} block;

struct rs_stats {
    uint64_t id; /* distinguishes instances in the thread-local cache */
    int n_routes;
    const char *route_names[RS_STATS_MAX_ROUTES];
    _Atomic(block *) blocks;
    _Atomic int named[RS_STATS_MAX_VARIANTS];
    char variant_name[RS_STATS_MAX_VARIANTS][RS_NAME_MAX + 1];
};

static _Atomic uint64_t next_id = 1;

/* The calling thread's block for the metrics instance it last recorded to. */
static _Thread_local uint64_t tl_owner_id;
static _Thread_local block *tl_block;

int rs_stats_create(const char *const *route_names, int n_routes, rs_stats **out, rs_error *err)
{
    if (n_routes < 1 || n_routes > RS_STATS_MAX_ROUTES)
        return rs_fail(err, "metrics: %d routes (expected 1..%d)", n_routes, RS_STATS_MAX_ROUTES);
    rs_stats *m = rs_calloc(1, sizeof(*m), err);
    if (!m) return -1;
    m->id = atomic_fetch_add(&next_id, 1);
    m->n_routes = n_routes;
    for (int i = 0; i < n_routes; i++) m->route_names[i] = route_names[i];
    *out = m;
    return 0;
}

void rs_stats_free(rs_stats *m)
{
    if (!m) return;
    block *b = atomic_load(&m->blocks);
    while (b) {
        block *next = b->next;
        free(b);
        b = next;
    }
    free(m);
}

void rs_stats_name_variant(rs_stats *m, int slot, const char *name)
{
    if (slot < 0 || slot >= RS_STATS_MAX_VARIANTS || atomic_load(&m->named[slot])) return;
    snprintf(m->variant_name[slot], sizeof(m->variant_name[slot]), "%s", name);
    atomic_store_explicit(&m->named[slot], 1, memory_order_release);
}

static size_t n_series(const rs_stats *m)
{
    return (size_t)m->n_routes * N_STATUS * N_VARIANTS;
}

/* Finds or creates this thread's block. Creation happens once per thread:
 * the block is pushed with a CAS, never removed until rs_stats_free. */
static block *my_block(rs_stats *m)
{
    if (tl_owner_id == m->id) return tl_block;
    pthread_t self = pthread_self();
    block *b;
    for (b = atomic_load(&m->blocks); b; b = b->next)
        if (pthread_equal(b->owner, self)) break;
    if (!b) {
        /* Large and mostly untouched: calloc maps zero pages lazily. */
        b = calloc(1, sizeof(block) + n_series(m) * sizeof(series));
        if (!b) return NULL;
        b->owner = self;
        block *head = atomic_load(&m->blocks);
        do {
            b->next = head;
        } while (!atomic_compare_exchange_weak(&m->blocks, &head, b));
    }
    tl_owner_id = m->id;
    tl_block = b;
    return b;
}

/* Single-writer increment: a plain load and store, atomic only so that a
 * concurrent scrape reads a whole value. */
static inline void bump(counter *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static int status_index(int status)
{
    for (int i = 0; i < N_STATUS - 1; i++)
        if (known_status[i] == status) return i;
    return N_STATUS - 1;
}

static int variant_index(int variant)
{
    return (variant < 0 || variant >= RS_STATS_MAX_VARIANTS) ? 0 : variant + 1;
}

static size_t series_index(const rs_stats *m, int route, int status_idx, int variant_idx)
{
    return ((size_t)route * N_STATUS + (size_t)status_idx) * N_VARIANTS + (size_t)variant_idx;
}

void rs_stats_request(rs_stats *m, int route, int variant, int status, double seconds)
{
    block *b = my_block(m);
    if (!b) return;
    if (route < 0 || route >= m->n_routes) route = m->n_routes - 1;
    series *s = &b->series[series_index(m, route, status_index(status), variant_index(variant))];
    bump(&s->count, 1);
    if (seconds < 0) seconds = 0;
    bump(&s->sum_ns, (uint64_t)(seconds * 1e9));
    for (int i = 0; i < N_BUCKETS; i++) {
        if (seconds <= bucket_le[i]) {
            bump(&s->bucket[i], 1);
            break;
        }
    }
}

void rs_stats_retrieval(rs_stats *m, int variant, uint64_t items_scored, int fallback,
                        uint64_t unknown_items)
{
    block *b = my_block(m);
    if (!b) return;
    variant_counters *v = &b->per_variant[variant_index(variant)];
    if (items_scored) bump(&v->items_scored, items_scored);
    if (fallback) bump(&v->fallbacks, 1);
    if (unknown_items) bump(&v->unknown_items, unknown_items);
}

static uint64_t load(counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Sums one series over all blocks into out. */
static void sum_series(rs_stats *m, size_t idx, uint64_t *count, uint64_t *sum_ns,
                       uint64_t *buckets)
{
    *count = *sum_ns = 0;
    memset(buckets, 0, sizeof(uint64_t) * N_BUCKETS);
    for (block *b = atomic_load(&m->blocks); b; b = b->next) {
        series *s = &b->series[idx];
        *count += load(&s->count);
        *sum_ns += load(&s->sum_ns);
        for (int i = 0; i < N_BUCKETS; i++) buckets[i] += load(&s->bucket[i]);
    }
}

static const char *variant_label(rs_stats *m, int vi)
{
    if (vi == 0) return "";
    if (!atomic_load_explicit(&m->named[vi - 1], memory_order_acquire)) return "?";
    return m->variant_name[vi - 1];
}

static void status_label(int si, char *buf, size_t cap)
{
    if (si == N_STATUS - 1)
        snprintf(buf, cap, "other");
    else
        snprintf(buf, cap, "%d", known_status[si]);
}

/* Label values here are route patterns and variant names ([A-Za-z0-9_.-]);
 * escape anyway so a future name cannot break the exposition format. */
static void put_label(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', out);
        if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

static void put_labels(FILE *out, rs_stats *m, int route, int si, int vi)
{
    char status[16];
    status_label(si, status, sizeof(status));
    fputs("route=\"", out);
    put_label(out, m->route_names[route]);
    fprintf(out, "\",status=\"%s\",variant=\"", status);
    put_label(out, variant_label(m, vi));
    fputc('"', out);
}

void rs_stats_render(rs_stats *m, FILE *out)
{
    uint64_t count, sum_ns, buckets[N_BUCKETS];
    fputs("# HELP recsys_http_requests_total HTTP requests answered, by route, status and "
          "variant.\n# TYPE recsys_http_requests_total counter\n",
          out);
    for (int r = 0; r < m->n_routes; r++)
        for (int si = 0; si < N_STATUS; si++)
            for (int vi = 0; vi < N_VARIANTS; vi++) {
                sum_series(m, series_index(m, r, si, vi), &count, &sum_ns, buckets);
                if (!count) continue;
                fputs("recsys_http_requests_total{", out);
                put_labels(out, m, r, si, vi);
                fprintf(out, "} %llu\n", (unsigned long long)count);
            }
    fputs("# HELP recsys_http_request_duration_seconds Time from request headers to queued "
          "response.\n# TYPE recsys_http_request_duration_seconds histogram\n",
          out);
    for (int r = 0; r < m->n_routes; r++)
        for (int si = 0; si < N_STATUS; si++)
            for (int vi = 0; vi < N_VARIANTS; vi++) {
                sum_series(m, series_index(m, r, si, vi), &count, &sum_ns, buckets);
                if (!count) continue;
                uint64_t cumulative = 0;
                for (int i = 0; i <= N_BUCKETS; i++) {
                    cumulative = i < N_BUCKETS ? cumulative + buckets[i] : count;
                    fputs("recsys_http_request_duration_seconds_bucket{", out);
                    put_labels(out, m, r, si, vi);
                    if (i < N_BUCKETS)
                        fprintf(out, ",le=\"%g\"", bucket_le[i]);
                    else
                        fputs(",le=\"+Inf\"", out);
                    fprintf(out, "} %llu\n", (unsigned long long)cumulative);
                }
                fputs("recsys_http_request_duration_seconds_sum{", out);
                put_labels(out, m, r, si, vi);
                fprintf(out, "} %.9f\n", (double)sum_ns * 1e-9);
                fputs("recsys_http_request_duration_seconds_count{", out);
                put_labels(out, m, r, si, vi);
                fprintf(out, "} %llu\n", (unsigned long long)count);
            }

    static const struct {
        const char *name, *help;
        size_t offset;
    } per_variant[] = {
        {"recsys_retrieval_items_scored_total", "Items whose score was computed by retrieval.",
         offsetof(variant_counters, items_scored)},
        {"recsys_popularity_fallback_total",
         "Recommendations answered by the popularity fallback (unknown user, empty history).",
         offsetof(variant_counters, fallbacks)},
        {"recsys_unknown_items_total", "Unknown item ids skipped in request histories.",
         offsetof(variant_counters, unknown_items)},
    };
    for (size_t k = 0; k < sizeof(per_variant) / sizeof(per_variant[0]); k++) {
        fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", per_variant[k].name, per_variant[k].help,
                per_variant[k].name);
        for (int vi = 1; vi < N_VARIANTS; vi++) {
            uint64_t total = 0;
            for (block *b = atomic_load(&m->blocks); b; b = b->next)
                total += load((counter *)((char *)&b->per_variant[vi] + per_variant[k].offset));
            if (!atomic_load_explicit(&m->named[vi - 1], memory_order_acquire) && !total) continue;
            fprintf(out, "%s{variant=\"", per_variant[k].name);
            put_label(out, variant_label(m, vi));
            fprintf(out, "\"} %llu\n", (unsigned long long)total);
        }
    }
}

uint64_t rs_stats_count(rs_stats *m, int route, int variant, int status)
{
    uint64_t count, sum_ns, buckets[N_BUCKETS];
    if (route < 0 || route >= m->n_routes) return 0;
    sum_series(m, series_index(m, route, status_index(status), variant_index(variant)), &count,
               &sum_ns, buckets);
    return count;
}

uint64_t rs_stats_items_scored(rs_stats *m, int variant)
{
    uint64_t total = 0;
    for (block *b = atomic_load(&m->blocks); b; b = b->next)
        total += load(&b->per_variant[variant_index(variant)].items_scored);
    return total;
}
