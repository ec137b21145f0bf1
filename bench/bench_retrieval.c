/* bench_retrieval.c - MIDX top-N retrieval against brute force on one thread.
 *
 *   bench_retrieval DIR [--k K] [--top N] [--budgets B1,B2,...] [--queries Q]
 *                   [--brute-queries Q] [--max-train M] [--iters I] [--seed S]
 *                   [--store STORE_DIR] [--exact 0|1]
 *
 * DIR holds items.f32, queries.f32 and meta.json as written by the shared
 * gen_vectors.py. Builds the index (all OpenBLAS threads), then answers the
 * queries on one thread: brute force (sgemv + top-N), MIDX exact (checked
 * against the brute-force result on every query: identical ids and scores)
 * and MIDX approximate at each budget (items examined per query), and
 * exact brute force through int8 codes (compact.h, checked the same way), with
 * recall@N against the exact result and the speed-up over brute force
 * measured in this run (brute force is timed before and after the MIDX
 * passes and averaged, since the machine may be shared).
 *
 * With --store, the index is published into an LMDB store there and the
 * queries run on the zero-copy view loaded back from it; a later run with
 * the same data and parameters loads it instead of rebuilding.
 * --exact 0 skips the exact pass (for profiling the approximate mode).
 */
#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_data.h"
#include "blas_kernel.h"
#include "compact.h"
#include "midx.h"
#include "midx_store.h"
#include "pq.h"
#include "store.h"

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* |a ∩ b| for two result lists (ids). */
static uint32_t overlap(const rs_scored *a, uint32_t na, const rs_scored *b, uint32_t nb)
{
    uint32_t hit = 0;
    for (uint32_t i = 0; i < na; i++)
        for (uint32_t j = 0; j < nb; j++)
            if (a[i].id == b[j].id) {
                hit++;
                break;
            }
    return hit;
}

typedef struct params {
    uint32_t k, top, nq_max, nbrute, max_train, iters;
    uint64_t seed;
    int run_exact;
    const char *budgets, *store;
} params;

static int parse_args(int argc, char **argv, params *p)
{
    *p = (params){.k = 1024,
                  .top = 100,
                  .nq_max = UINT32_MAX,
                  .nbrute = 200,
                  .iters = 12,
                  .seed = 1,
                  .run_exact = 1,
                  .budgets = "1000,2500,5000,10000,20000"};
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench: %s needs a value\n", a);
            return -1;
        }
        if (!strcmp(a, "--k"))
            p->k = (uint32_t)atoi(v);
        else if (!strcmp(a, "--top"))
            p->top = (uint32_t)atoi(v);
        else if (!strcmp(a, "--budgets"))
            p->budgets = v;
        else if (!strcmp(a, "--queries"))
            p->nq_max = (uint32_t)atoi(v);
        else if (!strcmp(a, "--brute-queries"))
            p->nbrute = (uint32_t)atoi(v);
        else if (!strcmp(a, "--max-train"))
            p->max_train = (uint32_t)atoi(v);
        else if (!strcmp(a, "--iters"))
            p->iters = (uint32_t)atoi(v);
        else if (!strcmp(a, "--seed"))
            p->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--store"))
            p->store = v;
        else if (!strcmp(a, "--exact"))
            p->run_exact = atoi(v);
        else {
            fprintf(stderr, "bench: unknown option %s\n", a);
            return -1;
        }
    }
    if (p->top == 0 || p->k == 0) {
        fprintf(stderr, "bench: --top and --k must be positive\n");
        return -1;
    }
    return 0;
}

/* Builds the index, or with a store loads a matching one (publishing it
 * first when missing). On return *snap is the open snapshot (or NULL) and
 * idx a view into the snapshot or into pq. */
static int get_index(const params *p, const float *items, uint32_t n, uint32_t d, rs_store **store,
                     rs_snapshot **snap, rs_pq *pq, rs_midx *idx)
{
    rs_error err;
    rs_pq_options po = rs_pq_defaults();
    po.k = p->k;
    po.kmeans.max_iter = p->iters;
    po.kmeans.max_train = p->max_train ? p->max_train : RS_MIN(n, 64 * p->k);
    po.kmeans.seed = p->seed;
    char variant[RS_NAME_MAX + 1];
    snprintf(variant, sizeof(variant), "bench-n%u-d%u-k%u-t%u-i%u-s%llu", n, d, p->k,
             po.kmeans.max_train, p->iters, (unsigned long long)p->seed);
    memset(pq, 0, sizeof(*pq));
    *store = NULL;
    *snap = NULL;
    if (p->store) {
        if (rs_store_open(p->store, RS_STORE_CREATE, 0, store, &err) != 0) goto fail;
        uint64_t cur = 0;
        if (rs_store_current(*store, variant, &cur, &err) != 0) goto fail;
        if (cur) {
            double t0 = rs_now();
            if (rs_snapshot_open(*store, variant, 0, 0, snap, &err) != 0 ||
                rs_midx_load(*snap, "midx", 0, idx, &err) != 0)
                goto fail;
            printf("index: loaded from store %s (variant %s) in %.2f s\n", p->store, variant,
                   rs_now() - t0);
            return 0;
        }
    }
    double rss0 = peak_rss_mb();
    double t0 = rs_now();
    if (rs_pq_build(items, n, d, &po, pq, &err) != 0) goto fail;
    double build_s = rs_now() - t0;
    if (rs_midx_from_pq(pq, idx, &err) != 0) goto fail;
    printf("index: K=%u per codebook (%u cells, %u non-empty, largest %u items), k-means on %u "
           "rows x %u iterations per half, built in %.1f s with %d BLAS threads\n",
           pq->k, pq->n_cells, idx->n_nonempty, idx->max_cell, po.kmeans.max_train, p->iters,
           build_s, openblas_get_num_threads());
    size_t bytes = rs_pq_bytes(pq);
    printf("memory: index %.1f MB = %.1f bytes/item (the %u-byte vector + ids, cell, residual "
           "norms; %.1f MB of per-cell tables); peak RSS %.0f MB before the build, %.0f MB "
           "after\n",
           bytes / 1e6, (double)bytes / n, 4 * d, (pq->n_cells + 1) * 16.0 / 1e6, rss0,
           peak_rss_mb());
    if (p->store) {
        rs_publish *pub;
        uint64_t version;
        char manifest[256];
        snprintf(manifest, sizeof(manifest), "{\"bench\":\"retrieval\",\"items\":%u,\"dim\":%u}", n,
                 d);
        t0 = rs_now();
        if (rs_publish_begin(*store, variant, &pub, &version, &err) != 0) goto fail;
        if (rs_midx_publish(pub, "midx", pq, &err) != 0) {
            rs_publish_abort(pub);
            goto fail;
        }
        if (rs_publish_commit(pub, manifest, 1, &err) != 0) goto fail;
        rs_midx_release(idx);
        rs_pq_free(pq);
        if (rs_snapshot_open(*store, variant, 0, 1, snap, &err) != 0 ||
            rs_midx_load(*snap, "midx", 1, idx, &err) != 0)
            goto fail;
        printf("index: published to %s and loaded back (verified) in %.1f s\n", p->store,
               rs_now() - t0);
    }
    return 0;
fail:
    fprintf(stderr, "bench: %s\n", err.msg);
    return -1;
}

/* Brute-force queries/s over the first nb queries (plain sgemv + top-N over
 * the original matrix). */
static double time_brute(const float *items, uint32_t n, uint32_t d, const float *queries,
                         uint32_t nb, uint32_t top, float *scores, rs_scored *res)
{
    rs_error err;
    double t0 = rs_now();
    for (uint32_t q = 0; q < nb; q++) {
        uint32_t got;
        rs_brute_topn(items, n, d, queries + (size_t)q * d, top, NULL, scores, res, &got, &err);
    }
    return nb / (rs_now() - t0);
}

/* Exact brute force through int8 codes (compact.h, with the head stage the
 * server's brute force uses) on every query, checked against the truth:
 * queries/s, float32 rescorings per query, mismatches, bytes per item. */
static int time_compact(const float *items, uint32_t n, uint32_t d, const float *queries,
                        uint32_t nq, uint32_t top, const rs_scored *truth, const uint32_t *ntruth,
                        float norm_bound, double *qps, double *rescored, uint32_t *mismatched,
                        double *bytes_per_item)
{
    rs_error err;
    rs_compact c;
    double t0 = rs_now();
    if (rs_compact_build(items, n, d, 1, &c, &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    printf("int8 codes: built in %.2f s (%.1f MB)\n", rs_now() - t0, rs_compact_bytes(&c) / 1e6);
    *bytes_per_item = (double)rs_compact_bytes(&c) / n;
    uint32_t *lb = malloc(sizeof(uint32_t) * n);
    void *p = malloc(rs_compact_scratch_bytes(&c));
    rs_scored *res = malloc(sizeof(rs_scored) * top);
    double sum = 0;
    *mismatched = 0;
    t0 = rs_now();
    for (uint32_t q = 0; q < nq; q++) {
        const float *u = queries + (size_t)q * d;
        double un = 0;
        for (uint32_t j = 0; j < d; j++) un += (double)u[j] * u[j];
        float margin = rs_midx_margin(d, sqrt(un), norm_bound);
        uint32_t got;
        rs_compact_stats st;
        if (rs_compact_topn(&c, items, u, margin, top, NULL, lb, p, res, &got, &st, &err) != 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return -1;
        }
        sum += st.rescored;
        const rs_scored *t = truth + (size_t)q * top;
        int same = got == ntruth[q];
        for (uint32_t j = 0; same && j < got; j++)
            same = res[j].id == t[j].id && res[j].score == t[j].score;
        *mismatched += !same;
    }
    *qps = nq / (rs_now() - t0);
    *rescored = sum / nq;
    free(res);
    free(p);
    free(lb);
    rs_compact_free(&c);
    return 0;
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    params p;
    if (argc < 2 || parse_args(argc, argv, &p) != 0) {
        fprintf(stderr,
                "usage: %s DIR [--k K] [--top N] [--budgets B1,B2,...] [--queries Q] "
                "[--brute-queries Q] [--max-train M] [--iters I] [--seed S] [--store DIR] "
                "[--exact 0|1]\n",
                argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    uint32_t n, d, nq;
    if (read_meta(dir, &n, &d, &nq) != 0) return 1;
    nq = RS_MIN(nq, p.nq_max);
    uint32_t nbrute = RS_MAX(1u, RS_MIN(p.nbrute, nq));
    uint32_t top = p.top;
    float *items = read_f32(dir, "items.f32", (size_t)n * d);
    float *queries = items ? read_f32(dir, "queries.f32", (size_t)nq * d) : NULL;
    if (!queries) return 1;

    uint32_t budgets[32], n_budgets = 0;
    for (const char *s = p.budgets; *s && n_budgets < 32;) {
        char *end;
        budgets[n_budgets++] = (uint32_t)strtoul(s, &end, 10);
        if (*end != ',') break;
        s = end + 1;
    }

    printf("data: %u items x %u dims, %u queries, top-%u (%s)\n", n, d, nq, top, dir);
    rs_store *store;
    rs_snapshot *snap;
    rs_pq pq;
    rs_midx idx;
    if (get_index(&p, items, n, d, &store, &snap, &pq, &idx) != 0) return 1;
    printf("memory: the search view adds %.1f MB = %.1f bytes/item (int8 codes %.1f, cell means, "
           "cell tables), beside the %u-byte float32 vector\n",
           rs_midx_view_bytes(&idx) / 1e6, (double)rs_midx_view_bytes(&idx) / n,
           (double)rs_compact_bytes(&idx.compact) / n, 4 * d);
    rs_error err;
    rs_midx_scratch *scr = NULL;
    if (rs_midx_scratch_new(&idx, &scr, &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }

    openblas_set_num_threads(1);
    rs_scored *truth = malloc(sizeof(rs_scored) * (size_t)nq * top);
    uint32_t *ntruth = malloc(sizeof(uint32_t) * nq);
    rs_scored *res = malloc(sizeof(rs_scored) * top);
    float *scores = malloc(sizeof(float) * n);

    double brute_before = time_brute(items, n, d, queries, nbrute, top, scores, res);

    /* Ground truth for every query (sgemv, then rescoring with the search
     * kernel of the candidates within rounding distance). */
    for (uint32_t q = 0; q < nq; q++) {
        rs_midx_query qq = {.u = queries + (size_t)q * d, .top_n = top};
        if (rs_midx_brute(&idx, scr, &qq, truth + (size_t)q * top, &ntruth[q], &err) != 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
    }

    struct row {
        char label[64];
        double qps, recall, walked, items, scored;
    } rows[33];
    uint32_t n_rows = 0, mismatched = 0;
    for (uint32_t b = p.run_exact ? 0 : 1; b <= n_budgets; b++) {
        uint64_t budget = b == 0 ? 0 : budgets[b - 1];
        double recall = 0, items_sum = 0, scored_sum = 0, walked_sum = 0;
        double t0 = rs_now();
        for (uint32_t q = 0; q < nq; q++) {
            rs_midx_query qq = {.u = queries + (size_t)q * d, .top_n = top, .budget = budget};
            uint32_t got;
            rs_midx_stats st;
            if (rs_midx_search(&idx, scr, &qq, res, &got, &st, &err) != 0) {
                fprintf(stderr, "bench: %s\n", err.msg);
                return 1;
            }
            const rs_scored *t = truth + (size_t)q * top;
            recall += ntruth[q] ? (double)overlap(res, got, t, ntruth[q]) / ntruth[q] : 1.0;
            items_sum += st.items;
            scored_sum += st.scored;
            walked_sum += st.cells;
            if (budget == 0) {
                int same = got == ntruth[q] && st.exact;
                for (uint32_t j = 0; same && j < got; j++)
                    same = res[j].id == t[j].id && res[j].score == t[j].score;
                mismatched += !same;
            }
        }
        struct row *r = &rows[n_rows++];
        r->qps = nq / (rs_now() - t0);
        r->recall = recall / nq;
        r->walked = walked_sum / nq;
        r->items = items_sum / nq;
        r->scored = scored_sum / nq;
        if (budget == 0)
            snprintf(r->label, sizeof(r->label), "MIDX exact");
        else
            snprintf(r->label, sizeof(r->label), "MIDX approx, budget %llu",
                     (unsigned long long)budget);
    }
    double compact_qps = 0, compact_rescored = 0, compact_bytes = 0;
    uint32_t compact_mismatched = 0;
    if (time_compact(items, n, d, queries, nq, top, truth, ntruth, idx.norm_bound, &compact_qps,
                     &compact_rescored, &compact_mismatched, &compact_bytes) != 0)
        return 1;
    double brute_after = time_brute(items, n, d, queries, nbrute, top, scores, res);
    double brute_qps = 0.5 * (brute_before + brute_after);

    printf("\none thread, %u queries, top-%u (brute force timed on %u queries before and after "
           "the MIDX runs: %.1f and %.1f q/s)\n",
           nq, top, nbrute, brute_before, brute_after);
    printf("%-28s %10s %10s %9s %12s %12s %12s\n", "method", "queries/s", "recall@N", "speed-up",
           "cells/query", "items/query", "scored/query");
    printf("%-28s %10.1f %10.3f %8.1fx %12s %12u %12u\n", "brute force (sgemv+top-N)", brute_qps,
           1.0, 1.0, "-", n, n);
    printf("%-28s %10.1f %10.3f %8.1fx %12s %12u %12.0f\n", "brute force, int8 codes first",
           compact_qps, compact_mismatched ? 0.0 : 1.0, compact_qps / brute_qps, "-", n,
           compact_rescored);
    for (uint32_t i = 0; i < n_rows; i++)
        printf("%-28s %10.1f %10.3f %8.1fx %12.0f %12.0f %12.0f\n", rows[i].label, rows[i].qps,
               rows[i].recall, rows[i].qps / brute_qps, rows[i].walked, rows[i].items,
               rows[i].scored);
    printf("int8 codes: %.0f bytes per item (codes, scale and error bound%s) against %u for "
           "float32; %s (%u of %u queries differ from brute force)\n",
           compact_bytes, d >= RS_COMPACT_HEAD_MIN_DIM ? ", the head stage" : "", 4 * d,
           compact_mismatched ? "FAILED" : "identical ids and scores on every query",
           compact_mismatched, nq);
    if (p.run_exact)
        printf("exact check: %s (%u of %u queries differ from brute force)\n",
               mismatched ? "FAILED" : "identical ids and scores on every query", mismatched, nq);

    rs_midx_scratch_free(scr);
    rs_midx_release(&idx);
    rs_pq_free(&pq);
    rs_snapshot_close(snap);
    rs_store_close(store);
    free(scores);
    free(res);
    free(ntruth);
    free(truth);
    free(queries);
    free(items);
    return mismatched || compact_mismatched ? 1 : 0;
}
