/* bench_retrieval.c - MIDX top-N retrieval against brute force on one thread.
 *
 *   bench_retrieval DIR [--k K] [--top N] [--budgets B1,B2,...] [--queries Q]
 *                   [--brute-queries Q] [--max-train M] [--iters I] [--seed S]
 *
 * DIR holds items.f32, queries.f32 and meta.json as written by the shared
 * gen_vectors.py. Builds the index (all OpenBLAS threads), then answers the
 * queries on one thread: brute force (sgemv + top-N), MIDX exact (checked
 * against the brute-force result on every query) and MIDX approximate at each
 * budget (items examined per query), with recall@N against the exact result
 * and the speed-up over brute force measured in this run.
 */
#include <cblas.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "midx.h"
#include "pq.h"

static float *read_f32(const char *dir, const char *name, size_t count)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench: cannot open %s\n", path);
        return NULL;
    }
    rs_error err;
    float *buf = rs_aligned_alloc(count, sizeof(float), &err);
    if (!buf || fread(buf, sizeof(float), count, f) != count) {
        fprintf(stderr, "bench: %s: expected %zu floats\n", path, count);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s DIR [--k K] [--top N] [--budgets B1,B2,...] [--queries Q] "
                "[--brute-queries Q] [--max-train M] [--iters I] [--seed S]\n",
                argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    uint32_t k = 1024, top = 100, nq_max = UINT32_MAX, nbrute = 200, max_train = 0, iters = 12;
    uint64_t seed = 1;
    const char *budgets_arg = "2000,4000,8000,16000,32000";
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--k"))
            k = (uint32_t)atoi(v);
        else if (!strcmp(a, "--top"))
            top = (uint32_t)atoi(v);
        else if (!strcmp(a, "--budgets"))
            budgets_arg = v;
        else if (!strcmp(a, "--queries"))
            nq_max = (uint32_t)atoi(v);
        else if (!strcmp(a, "--brute-queries"))
            nbrute = (uint32_t)atoi(v);
        else if (!strcmp(a, "--max-train"))
            max_train = (uint32_t)atoi(v);
        else if (!strcmp(a, "--iters"))
            iters = (uint32_t)atoi(v);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else {
            fprintf(stderr, "bench: unknown option %s\n", a);
            return 2;
        }
    }

    char path[4096];
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    json_error_t jerr;
    json_t *meta = json_load_file(path, 0, &jerr);
    if (!meta) {
        fprintf(stderr, "bench: %s: %s\n", path, jerr.text);
        return 1;
    }
    uint32_t n = (uint32_t)json_integer_value(json_object_get(meta, "items"));
    uint32_t d = (uint32_t)json_integer_value(json_object_get(meta, "dim"));
    uint32_t nq = (uint32_t)json_integer_value(json_object_get(meta, "queries"));
    json_decref(meta);
    if (n == 0 || d < 2 || nq == 0) {
        fprintf(stderr, "bench: %s lacks items/dim/queries\n", path);
        return 1;
    }
    nq = RS_MIN(nq, nq_max);
    nbrute = RS_MIN(nbrute, nq);
    float *items = read_f32(dir, "items.f32", (size_t)n * d);
    float *queries = items ? read_f32(dir, "queries.f32", (size_t)nq * d) : NULL;
    if (!queries) return 1;

    uint32_t budgets[32], n_budgets = 0;
    for (const char *p = budgets_arg; *p && n_budgets < 32;) {
        budgets[n_budgets++] = (uint32_t)strtoul(p, (char **)&p, 10);
        if (*p == ',')
            p++;
        else
            break;
    }

    printf("data: %u items x %u dims, %u queries, top-%u (%s)\n", n, d, nq, top, dir);
    rs_error err;
    rs_pq pq;
    rs_pq_options po = rs_pq_defaults();
    po.k = k;
    po.kmeans.max_iter = iters;
    po.kmeans.max_train = max_train ? max_train : RS_MIN(n, 64 * k);
    po.kmeans.seed = seed;
    double rss0 = peak_rss_mb();
    double t0 = rs_now();
    if (rs_pq_build(items, n, d, &po, &pq, &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    double build_s = rs_now() - t0;
    rs_midx idx;
    rs_midx_scratch *scr = NULL;
    if (rs_midx_from_pq(&pq, &idx, &err) != 0 || rs_midx_scratch_new(&idx, &scr, &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    uint32_t nonempty = 0;
    for (uint32_t c = 0; c < idx.n_cells; c++) nonempty += idx.offsets[c + 1] > idx.offsets[c];
    printf("index: K=%u per codebook (%u cells, %u non-empty, largest %u items), k-means on %u "
           "rows x %u iterations, built in %.1f s with %d BLAS threads\n",
           pq.k, pq.n_cells, nonempty, idx.max_cell, po.kmeans.max_train, iters, build_s,
           openblas_get_num_threads());
    printf("memory: index %.1f MB (%.1f bytes/item incl. the %u-byte vector; cells %.1f MB), "
           "peak RSS %.0f MB -> %.0f MB during build\n",
           rs_pq_bytes(&pq) / 1e6, (double)rs_pq_bytes(&pq) / n, 4 * d, pq.n_cells * 16.0 / 1e6,
           rss0, peak_rss_mb());

    openblas_set_num_threads(1);
    rs_scored *truth = malloc(sizeof(rs_scored) * (size_t)nq * top);
    uint32_t *ntruth = malloc(sizeof(uint32_t) * nq);
    rs_scored *res = malloc(sizeof(rs_scored) * top);
    float *scores = malloc(sizeof(float) * n);

    /* Brute force timing: plain sgemv + top-N over the original matrix. */
    t0 = rs_now();
    uint32_t plain_agree = 0;
    for (uint32_t q = 0; q < nbrute; q++) {
        uint32_t got;
        rs_brute_topn(items, n, d, queries + (size_t)q * d, top, NULL, scores, res, &got, &err);
        plain_agree += got;
        (void)plain_agree;
    }
    double brute_qps = nbrute / (rs_now() - t0);

    /* Ground truth for every query (sgemv + rescoring with the search kernel). */
    for (uint32_t q = 0; q < nq; q++) {
        rs_midx_query qq = {.u = queries + (size_t)q * d, .top_n = top};
        if (rs_midx_brute(&idx, scr, &qq, truth + (size_t)q * top, &ntruth[q], &err) != 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
    }

    printf("\none thread, %u queries (brute force timed on %u)\n", nq, nbrute);
    printf("%-28s %10s %10s %9s %12s %12s %12s\n", "method", "queries/s", "recall@N", "speed-up",
           "cells/query", "items/query", "scored/query");
    printf("%-28s %10.1f %10.3f %8.1fx %12s %12u %12u\n", "brute force (sgemv+top-N)", brute_qps,
           1.0, 1.0, "-", n, n);

    int exact_ok = 1;
    for (uint32_t b = 0; b <= n_budgets; b++) {
        uint64_t budget = b == 0 ? 0 : budgets[b - 1];
        double hits = 0, wanted = 0, items_sum = 0, scored_sum = 0, walked_sum = 0;
        uint32_t mismatched = 0;
        t0 = rs_now();
        for (uint32_t q = 0; q < nq; q++) {
            rs_midx_query qq = {.u = queries + (size_t)q * d, .top_n = top, .budget = budget};
            uint32_t got;
            rs_midx_stats st;
            rs_midx_search(&idx, scr, &qq, res, &got, &st, &err);
            const rs_scored *t = truth + (size_t)q * top;
            uint32_t h = overlap(res, got, t, ntruth[q]);
            hits += h;
            wanted += ntruth[q];
            items_sum += st.items;
            scored_sum += st.scored;
            walked_sum += st.walked;
            if (budget == 0) {
                int same = got == ntruth[q];
                for (uint32_t j = 0; same && j < got; j++)
                    same = res[j].id == t[j].id && res[j].score == t[j].score;
                mismatched += !same;
            }
        }
        double qps = nq / (rs_now() - t0);
        char label[64];
        if (budget == 0)
            snprintf(label, sizeof(label), "MIDX exact");
        else
            snprintf(label, sizeof(label), "MIDX approx, budget %llu", (unsigned long long)budget);
        printf("%-28s %10.1f %10.3f %8.1fx %12.0f %12.0f %12.0f\n", label, qps, hits / wanted,
               qps / brute_qps, walked_sum / nq, items_sum / nq, scored_sum / nq);
        if (budget == 0 && mismatched) exact_ok = 0;
        if (budget == 0)
            printf("  exact check: %s (%u of %u queries differ from brute force)\n",
                   mismatched ? "FAILED" : "identical ids and scores on every query", mismatched,
                   nq);
    }
    rs_midx_scratch_free(scr);
    rs_midx_release(&idx);
    rs_pq_free(&pq);
    free(scores);
    free(res);
    free(ntruth);
    free(truth);
    free(queries);
    free(items);
    return exact_ok ? 0 : 1;
}
