/* bench_cooccur.c - build figures of SinkhornCF's cost matrix and of its
 * per-user loss on a real training file.
 *
 *   bench_cooccur TRAIN [--neighbours N (200)] [--shrink S (50)]
 *                 [--loss-users N (0)] [--k K (200)] [--iterations L (5)]
 *
 * Loads TRAIN with the trainer's loader (no split), builds the shrunk-cosine
 * neighbours (trainer/cooccur.h) and prints the build time, the bytes kept,
 * the work done and what truncation dropped, then, per neighbour rank r in
 * {1, 10, 50, 100, 200, 500} (up to N), the median over items of the r-th
 * best S: how much similarity the ranks beyond a smaller N would still
 * carry. With --loss-users it also runs the accelerated Sinkhorn loss and
 * gradient (trainer/sinkhorn.h) for that many users on stand-in logits
 * (log popularity plus N(0, 1) noise; a trained decoder's are not at hand
 * here) and prints the mean time per user and the two loss terms. Times
 * are given as wall clock and as CPU time (process CPU for the build, which
 * runs on every OpenMP thread; thread CPU for the loss, which runs on one):
 * on a shared machine only the latter mean much. Peak memory: run it under
 * /usr/bin/time -v.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "blas_kernel.h"
#include "common.h"
#include "cooccur.h"
#include "dataset.h"
#include "rng.h"
#include "sinkhorn.h"

typedef struct config {
    const char *train;
    rs_cooccur_options cooccur;
    rs_sinkhorn_options sinkhorn;
    uint32_t loss_users;
} config;

static int parse_args(int argc, char **argv, config *c)
{
    if (argc < 2 || argv[1][0] == '-') return -1;
    c->train = argv[1];
    rs_cooccur_options_default(&c->cooccur);
    rs_sinkhorn_options_default(&c->sinkhorn);
    c->loss_users = 0;
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return -1;
        long n = strtol(v, NULL, 10);
        if (!strcmp(a, "--neighbours") && n > 0)
            c->cooccur.neighbours = (uint32_t)n;
        else if (!strcmp(a, "--shrink"))
            c->cooccur.shrink = strtod(v, NULL);
        else if (!strcmp(a, "--loss-users") && n >= 0)
            c->loss_users = (uint32_t)n;
        else if (!strcmp(a, "--k") && n > 0)
            c->sinkhorn.k = (uint32_t)n;
        else if (!strcmp(a, "--iterations") && n > 0)
            c->sinkhorn.iterations = (int)n;
        else
            return -1;
    }
    return 0;
}

static double process_cpu_seconds(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0.0;
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + (double)u.ru_stime.tv_sec +
           u.ru_stime.tv_usec * 1e-6;
}

static double peak_rss_mb(void)
{
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_maxrss / 1024.0 : 0.0;
}

static double thread_cpu_seconds(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0) return 0.0;
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Median over items (that have at least r neighbours) of the r-th best S. */
static void print_rank_profile(const rs_cooccur *c)
{
    static const uint32_t ranks[] = {1, 10, 50, 100, 200, 500};
    float *row = malloc(c->neighbours * sizeof(float));
    float *at_rank = malloc((size_t)c->n_items * sizeof(float));
    if (!row || !at_rank) {
        free(row);
        free(at_rank);
        return;
    }
    for (size_t r = 0; r < sizeof(ranks) / sizeof(ranks[0]) && ranks[r] <= c->neighbours; r++) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < c->n_items; i++) {
            uint64_t len = c->indptr[i + 1] - c->indptr[i];
            if (len < ranks[r]) continue;
            memcpy(row, c->similarity + c->indptr[i], len * sizeof(float));
            qsort(row, len, sizeof(float), by_value_desc);
            at_rank[n++] = row[ranks[r] - 1];
        }
        qsort(at_rank, n, sizeof(float), by_value_desc);
        printf("neighbour rank %4u: median S %.4f over %u items\n", ranks[r],
               n ? at_rank[n / 2] : 0.0f, n);
    }
    free(row);
    free(at_rank);
}

static uint32_t longest_row(const rs_csr *m)
{
    uint32_t longest = 0;
    for (uint32_t u = 0; u < m->n_rows; u++) longest = RS_MAX(longest, rs_csr_row_len(m, u));
    return longest;
}

/* The loss on stand-in logits for the first `users` users with items. */
static int run_loss(const config *cfg, const rs_dataset *d, const rs_cooccur *cost, rs_error *err)
{
    const rs_csr *train = &d->train;
    uint32_t n = train->n_cols;
    rs_sinkhorn_workspace *ws =
        rs_sinkhorn_workspace_create(&cfg->sinkhorn, n, longest_row(train), err);
    float *logits = malloc(n * sizeof(float)), *grad = malloc(n * sizeof(float));
    if (!ws || !logits || !grad) {
        rs_sinkhorn_workspace_free(ws);
        free(logits);
        free(grad);
        return ws ? rs_fail(err, "out of memory") : -1;
    }
    rs_rng rng;
    rs_rng_seed(&rng, 1);
    double seconds = 0.0, cpu = 0.0, transport = 0.0, concentration = 0.0, mass = 0.0,
           history = 0.0;
    uint32_t done = 0;
    int rc = 0;
    for (uint32_t u = 0; u < train->n_rows && done < cfg->loss_users && rc == 0; u++) {
        uint32_t len = rs_csr_row_len(train, u);
        if (len == 0) continue;
        for (uint32_t i = 0; i < n; i++)
            logits[i] = (float)(log(1.0 + d->popularity[i]) + rs_rng_normal(&rng));
        rs_sinkhorn_parts parts;
        double loss, start = rs_now(), cpu_start = thread_cpu_seconds();
        rc = rs_sinkhorn_loss_float(ws, cost, logits, train->indices + train->indptr[u], len, &loss,
                                    grad, &parts, err);
        seconds += rs_now() - start;
        cpu += thread_cpu_seconds() - cpu_start;
        transport += parts.transport;
        concentration += parts.concentration;
        mass += parts.topk_mass;
        history += len;
        done++;
    }
    if (rc == 0 && done > 0)
        printf("loss: %u users (mean history %.1f, k %u, L %d): %.3f ms per user (CPU %.3f ms); "
               "mean L1 %.4f, L2 %.1f, top-k mass %.3f; workspace %zu bytes\n",
               done, history / done, cfg->sinkhorn.k, cfg->sinkhorn.iterations,
               1e3 * seconds / done, 1e3 * cpu / done, transport / done, concentration / done,
               mass / done, rs_sinkhorn_workspace_bytes(ws));
    rs_sinkhorn_workspace_free(ws);
    free(logits);
    free(grad);
    return rc;
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    config cfg;
    if (parse_args(argc, argv, &cfg) != 0) {
        fprintf(stderr,
                "usage: %s TRAIN [--neighbours N] [--shrink S] [--loss-users N] [--k K] "
                "[--iterations L]\n",
                argv[0]);
        return 2;
    }
    rs_data_options o;
    rs_data_options_default(&o);
    o.train_path = cfg.train;
    rs_dataset d;
    rs_cooccur c;
    rs_error err;
    if (rs_dataset_load(&o, &d, &err) != 0) {
        fprintf(stderr, "bench_cooccur: %s\n", err.msg);
        return 1;
    }
    double cpu_start = process_cpu_seconds(), rss_before = peak_rss_mb();
    if (rs_cooccur_build(&d.train, &cfg.cooccur, &c, &err) != 0) {
        fprintf(stderr, "bench_cooccur: %s\n", err.msg);
        rs_dataset_free(&d);
        return 1;
    }
    printf("data: %u users, %u items, %llu interactions\n", d.train.n_rows, d.train.n_cols,
           (unsigned long long)rs_csr_nnz(&d.train));
    double build_cpu = process_cpu_seconds() - cpu_start;
    printf("cooccur: neighbours %u, shrink %g: build %.2f s (CPU %.2f s), %llu pairs kept, %zu "
           "bytes (%.1f MB), %llu pair visits\n",
           c.neighbours, c.shrink, c.build_seconds, build_cpu,
           (unsigned long long)c.indptr[c.n_items], rs_cooccur_bytes(&c),
           rs_cooccur_bytes(&c) / 1e6, (unsigned long long)c.pair_visits);
    printf("peak RSS: %.1f MB after loading, %.1f MB after the build\n", rss_before, peak_rss_mb());
    printf("dropped: %llu co-rated pairs beyond the neighbours, largest dropped S %.4f\n",
           (unsigned long long)c.pairs_dropped, c.dropped_max);
    print_rank_profile(&c);
    int rc = cfg.loss_users ? run_loss(&cfg, &d, &c, &err) : 0;
    if (rc != 0) fprintf(stderr, "bench_cooccur: %s\n", err.msg);
    rs_cooccur_free(&c);
    rs_dataset_free(&d);
    return rc ? 1 : 0;
}
