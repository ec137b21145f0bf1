/* bench_sinkhorn.c - SinkhornCF's per-batch loss against the Mult-VAE
 * softmax loss it extends, on the same logits, in the same run.
 *
 *   bench_sinkhorn [TRAIN] [--batches N (24)] [--batch B (500)] [--seed S (1)]
 *
 * TRAIN defaults to ../shared/data/ml10m/train.tsv; when that is absent the
 * bench makes synthetic data of its shape (8,530 items, 60,655 users,
 * histories log-normal around 28 items, up to 848, items drawn by a skewed
 * popularity). It builds the item-item cost (trainer/cooccur.h), then for
 * N batches of B consecutive users (spread over all users) with stand-in
 * logits (log popularity + N(0, 1)) it times, one after the other on the
 * same logits:
 *
 *   (a) softmax  the Mult-VAE loss and gradient (core/layers.h rs_softmax_nll)
 *   (b) old      the Sinkhorn loss as the trainer ran it before the float
 *                path: each row converted to double, the double reference
 *                rs_sinkhorn_loss (log domain, full top-k heap), the
 *                gradient converted back, rows in order in chunks of 4
 *   (c) new      rs_sinkhorn_batch_loss, the path training runs
 *
 * and prints per batch the wall milliseconds, then the medians, the sums
 * and the ratios, and how far (c) is from (b): the largest relative loss
 * difference and the largest gradient difference relative to the row's
 * largest gradient entry. Wall clock on a shared machine is noisy: the
 * three are interleaved per batch so that load hits them alike, and the
 * medians of the per-batch ratios are the figures to read.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas_kernel.h"
#include "common.h"
#include "cooccur.h"
#include "dataset.h"
#include "layers.h"
#include "rng.h"
#include "sinkhorn.h"

#define DEFAULT_TRAIN "../shared/data/ml10m/train.tsv"

typedef struct config {
    const char *train;
    int batches, batch;
    uint64_t seed;
} config;

static int parse_args(int argc, char **argv, config *c)
{
    c->train = NULL;
    c->batches = 24;
    c->batch = 500;
    c->seed = 1;
    int i = 1;
    if (i < argc && argv[i][0] != '-') c->train = argv[i++];
    for (; i < argc; i += 2) {
        if (i + 1 >= argc) return -1;
        long n = strtol(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--batches") && n > 0)
            c->batches = (int)n;
        else if (!strcmp(argv[i], "--batch") && n > 0)
            c->batch = (int)n;
        else if (!strcmp(argv[i], "--seed") && n >= 0)
            c->seed = (uint64_t)n;
        else
            return -1;
    }
    return 0;
}

/* --- synthetic data of ml10m's shape --- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int synthetic(uint64_t seed, rs_csr *m, float *popularity, rs_error *err)
{
    enum { USERS = 60655, ITEMS = 8530, LONGEST = 848 };
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    *m = (rs_csr){0}; /* values NULL: binary */
    m->n_rows = USERS;
    m->n_cols = ITEMS;
    m->indptr = rs_malloc(USERS + 1, sizeof(uint64_t), err);
    uint32_t *len = rs_malloc(USERS, sizeof(uint32_t), err);
    uint8_t *taken = rs_calloc(ITEMS, 1, err);
    if (!m->indptr || !len || !taken) goto fail;
    m->indptr[0] = 0;
    for (uint32_t u = 0; u < USERS; u++) {
        double l = floor(exp(2.8 + rs_rng_normal(&rng)));
        len[u] = (uint32_t)RS_MIN(RS_MAX(l, 1.0), (double)LONGEST);
        m->indptr[u + 1] = m->indptr[u] + len[u];
    }
    if (!(m->indices = rs_malloc(m->indptr[USERS], sizeof(uint32_t), err))) goto fail;
    for (uint32_t u = 0; u < USERS; u++) {
        uint32_t *row = m->indices + m->indptr[u];
        for (uint32_t t = 0; t < len[u];) {
            double x = rs_rng_uniform(&rng);
            uint32_t item = (uint32_t)(ITEMS * x * x * x); /* skewed to small ids */
            if (item >= ITEMS || taken[item]) continue;
            taken[item] = 1;
            row[t++] = item;
        }
        for (uint32_t t = 0; t < len[u]; t++) taken[row[t]] = 0;
        qsort(row, len[u], sizeof(uint32_t), cmp_u32);
    }
    for (uint32_t i = 0; i < ITEMS; i++) popularity[i] = 0.0f;
    for (uint64_t e = 0; e < m->indptr[USERS]; e++) popularity[m->indices[e]] += 1.0f;
    free(len);
    free(taken);
    return 0;
fail:
    free(len);
    free(taken);
    rs_csr_free(m);
    return -1;
}

/* --- (b): the loss as the trainer ran it before the float path --- */

typedef struct old_path {
    int threads;
    rs_sinkhorn_workspace **ws;
    double **logits, **grad, *row_loss;
    int *failed;
} old_path;

static void old_path_free(old_path *o)
{
    for (int t = 0; o->ws && t < o->threads; t++) {
        rs_sinkhorn_workspace_free(o->ws[t]);
        free(o->logits[t]);
        free(o->grad[t]);
    }
    free(o->ws);
    free(o->logits);
    free(o->grad);
    free(o->row_loss);
    free(o->failed);
}

static int old_path_create(old_path *o, const rs_sinkhorn_options *so, uint32_t n, uint32_t longest,
                           int rows, rs_error *err)
{
    memset(o, 0, sizeof(*o));
    o->threads = omp_get_max_threads();
    o->ws = rs_calloc((size_t)o->threads, sizeof(*o->ws), err);
    o->logits = rs_calloc((size_t)o->threads, sizeof(double *), err);
    o->grad = rs_calloc((size_t)o->threads, sizeof(double *), err);
    o->row_loss = rs_malloc((size_t)rows, sizeof(double), err);
    o->failed = rs_malloc((size_t)rows, sizeof(int), err);
    if (!o->ws || !o->logits || !o->grad || !o->row_loss || !o->failed) return -1;
    for (int t = 0; t < o->threads; t++) {
        o->ws[t] = rs_sinkhorn_workspace_create(so, n, longest, err);
        o->logits[t] = rs_malloc(n, sizeof(double), err);
        o->grad[t] = rs_malloc(n, sizeof(double), err);
        if (!o->ws[t] || !o->logits[t] || !o->grad[t]) return -1;
    }
    return 0;
}

static int old_path_loss(old_path *o, const rs_cooccur *cost, float *dlogits, const float *logits,
                         const rs_sparse_batch *T, uint32_t n, float scale, double *loss)
{
    int rows = (int)T->n_rows;
#pragma omp parallel for schedule(dynamic, 4)
    for (int r = 0; r < rows; r++) {
        int t = omp_get_thread_num();
        const float *z = logits + (size_t)r * n;
        float *g = dlogits + (size_t)r * n;
        for (uint32_t m = 0; m < n; m++) o->logits[t][m] = z[m];
        rs_error e;
        uint64_t start = T->indptr[r];
        o->failed[r] = rs_sinkhorn_loss(o->ws[t], cost, o->logits[t], T->indices + start,
                                        (uint32_t)(T->indptr[r + 1] - start), &o->row_loss[r],
                                        o->grad[t], NULL, &e);
        for (uint32_t m = 0; m < n; m++) g[m] = (float)o->grad[t][m];
        for (uint32_t m = 0; m < n; m++) g[m] *= scale;
    }
    *loss = 0.0;
    for (int r = 0; r < rows; r++) {
        if (o->failed[r]) return -1;
        *loss += o->row_loss[r];
    }
    return 0;
}

/* --- the run --- */

typedef struct timings {
    double *softmax, *old, *fresh; /* per batch, seconds */
    double loss_diff, grad_diff;   /* (c) against (b), see the header */
} timings;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n, double *scratch)
{
    memcpy(scratch, v, (size_t)n * sizeof(double));
    qsort(scratch, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? scratch[n / 2] : 0.5 * (scratch[n / 2 - 1] + scratch[n / 2]);
}

/* Largest |a - b| / max |b| over the rows of two gradients. */
static double grad_difference(const float *a, const float *b, int rows, uint32_t n)
{
    double worst = 0.0;
    for (int r = 0; r < rows; r++) {
        double diff = 0.0, size = 0.0;
        for (uint32_t m = 0; m < n; m++) {
            size_t e = (size_t)r * n + m;
            diff = fmax(diff, fabs((double)a[e] - b[e]));
            size = fmax(size, fabs((double)b[e]));
        }
        if (size > 0.0) worst = fmax(worst, diff / size);
    }
    return worst;
}

static void stand_in_logits(rs_rng *rng, const float *popularity, uint32_t n, int rows, float *z)
{
    for (size_t e = 0; e < (size_t)rows * n; e++)
        z[e] = (float)(log(1.0 + popularity[e % n]) + rs_rng_normal(rng));
}

typedef struct buffers {
    float *logits, *out_softmax, *out_old, *out_new;
} buffers;

static int time_batch(const config *cfg, const rs_csr *train, const rs_cooccur *cost,
                      rs_sinkhorn_batch *batch, old_path *old, const buffers *buf, uint32_t first,
                      int b, timings *tm, rs_error *err)
{
    uint32_t n = train->n_cols;
    int rows = (int)RS_MIN((uint32_t)cfg->batch, train->n_rows - first);
    rs_sparse_batch T = {(uint32_t)rows, train->indptr + first, train->indices, NULL};
    float scale = 1.0f / (float)rows;
    double start = rs_now(), loss_old, loss_new;
    rs_softmax_nll(buf->out_softmax, buf->logits, &T, (int)n, scale);
    tm->softmax[b] = rs_now() - start;
    start = rs_now();
    if (old_path_loss(old, cost, buf->out_old, buf->logits, &T, n, scale, &loss_old) != 0)
        return rs_fail(err, "the reference loss failed");
    tm->old[b] = rs_now() - start;
    start = rs_now();
    if (rs_sinkhorn_batch_loss(batch, cost, buf->out_new, buf->logits, &T, scale, &loss_new, NULL,
                               err) != 0)
        return -1;
    tm->fresh[b] = rs_now() - start;
    tm->loss_diff = fmax(tm->loss_diff, fabs(loss_new - loss_old) / fabs(loss_old));
    tm->grad_diff = fmax(tm->grad_diff, grad_difference(buf->out_new, buf->out_old, rows, n));
    printf("batch %2d (users %6u..): softmax %7.2f ms  old %7.2f ms  new %7.2f ms  "
           "new/softmax %5.2f  old/new %5.2f\n",
           b, first, 1e3 * tm->softmax[b], 1e3 * tm->old[b], 1e3 * tm->fresh[b],
           tm->fresh[b] / tm->softmax[b], tm->old[b] / tm->fresh[b]);
    return 0;
}

static void report(const timings *tm, int n)
{
    double *scratch = malloc((size_t)n * 3 * sizeof(double)), *ratio = scratch + n;
    double *ratio_old = ratio + n, sums[3] = {0};
    if (!scratch) return;
    for (int b = 0; b < n; b++) {
        sums[0] += tm->softmax[b];
        sums[1] += tm->old[b];
        sums[2] += tm->fresh[b];
        ratio[b] = tm->fresh[b] / tm->softmax[b];
        ratio_old[b] = tm->old[b] / tm->fresh[b];
    }
    double r_new = median(ratio, n, scratch), r_old = median(ratio_old, n, scratch);
    printf("median per batch: softmax %.2f ms  old %.2f ms  new %.2f ms\n",
           1e3 * median(tm->softmax, n, scratch), 1e3 * median(tm->old, n, scratch),
           1e3 * median(tm->fresh, n, scratch));
    printf("sum over %d batches: softmax %.3f s  old %.3f s  new %.3f s\n", n, sums[0], sums[1],
           sums[2]);
    printf("ratios (median of per-batch): new/softmax %.2f  old/softmax %.2f  old/new %.2f\n",
           r_new, r_new * r_old, r_old);
    printf("ratios (of sums): new/softmax %.2f  old/softmax %.2f  old/new %.2f\n",
           sums[2] / sums[0], sums[1] / sums[0], sums[1] / sums[2]);
    printf("new against old: loss relative difference %.2e, gradient difference %.2e of the "
           "row's largest entry\n",
           tm->loss_diff, tm->grad_diff);
    free(scratch);
}

static uint32_t longest_row(const rs_csr *m)
{
    uint32_t longest = 0;
    for (uint32_t u = 0; u < m->n_rows; u++) longest = RS_MAX(longest, rs_csr_row_len(m, u));
    return longest;
}

static int run(const config *cfg, const rs_csr *train, const float *popularity, rs_error *err)
{
    rs_cooccur cost;
    rs_cooccur_options co;
    rs_cooccur_options_default(&co);
    if (rs_cooccur_build(train, &co, &cost, err) != 0) return -1;
    printf("cost: %u items, %u neighbours, built in %.1f s\n", cost.n_items, cost.neighbours,
           cost.build_seconds);
    rs_sinkhorn_options so;
    rs_sinkhorn_options_default(&so);
    uint32_t n = train->n_cols, longest = longest_row(train);
    size_t cells = (size_t)cfg->batch * n;
    rs_sinkhorn_batch *batch = rs_sinkhorn_batch_create(&so, n, longest, cfg->batch, err);
    old_path old;
    int rc = old_path_create(&old, &so, n, longest, cfg->batch, err);
    buffers buf = {malloc(cells * sizeof(float)), malloc(cells * sizeof(float)),
                   malloc(cells * sizeof(float)), malloc(cells * sizeof(float))};
    timings tm = {calloc((size_t)cfg->batches, sizeof(double)),
                  calloc((size_t)cfg->batches, sizeof(double)),
                  calloc((size_t)cfg->batches, sizeof(double)), 0.0, 0.0};
    if (!batch || rc != 0 || !buf.logits || !buf.out_softmax || !buf.out_old || !buf.out_new ||
        !tm.softmax || !tm.old || !tm.fresh)
        rc = batch && rc == 0 ? rs_fail(err, "out of memory") : -1;
    printf("%d threads, batches of %d users, k %u, L %d, eps %g, longest history %u\n",
           omp_get_max_threads(), cfg->batch, so.k, so.iterations, so.epsilon, longest);
    rs_rng rng;
    rs_rng_seed(&rng, cfg->seed);
    uint32_t spacing = train->n_rows / (uint32_t)cfg->batches;
    int done = 0;
    for (int b = 0; rc == 0 && b < cfg->batches && (uint32_t)b * spacing < train->n_rows; b++) {
        stand_in_logits(&rng, popularity, n, cfg->batch, buf.logits);
        rc = time_batch(cfg, train, &cost, batch, &old, &buf, (uint32_t)b * spacing, b, &tm, err);
        done += rc == 0;
    }
    if (rc == 0 && done > 0) report(&tm, done);
    free(tm.softmax);
    free(tm.old);
    free(tm.fresh);
    free(buf.logits);
    free(buf.out_softmax);
    free(buf.out_old);
    free(buf.out_new);
    old_path_free(&old);
    rs_sinkhorn_batch_free(batch);
    rs_cooccur_free(&cost);
    return rc;
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    config cfg;
    if (parse_args(argc, argv, &cfg) != 0) {
        fprintf(stderr, "usage: %s [TRAIN] [--batches N] [--batch B] [--seed S]\n", argv[0]);
        return 2;
    }
    const char *path = cfg.train ? cfg.train : DEFAULT_TRAIN;
    rs_error err;
    rs_dataset d;
    memset(&d, 0, sizeof(d));
    int rc;
    if (cfg.train || access(path, R_OK) == 0) {
        rs_data_options o;
        rs_data_options_default(&o);
        o.train_path = path;
        if (rs_dataset_load(&o, &d, &err) != 0) {
            fprintf(stderr, "bench_sinkhorn: %s\n", err.msg);
            return 1;
        }
        printf("data: %s: %u users, %u items\n", path, d.train.n_rows, d.train.n_cols);
        rc = run(&cfg, &d.train, d.popularity, &err);
        rs_dataset_free(&d);
    } else {
        rs_csr m = {0};
        static float popularity[8530];
        printf("data: %s absent, synthetic data of its shape\n", path);
        rc = synthetic(cfg.seed, &m, popularity, &err);
        if (rc == 0) rc = run(&cfg, &m, popularity, &err);
        rs_csr_free(&m);
    }
    if (rc != 0) fprintf(stderr, "bench_sinkhorn: %s\n", err.msg);
    return rc ? 1 : 0;
}
