/* train.c - training speed of FastVAE: seconds per epoch with the full
 * softmax against each sampler (uniform, pop, midx-uni, midx-pop) on
 * synthetic catalogues of growing size, with the same users and history
 * lengths, plus the sampling cost per user.
 *
 *   build/bench/train [--users N] [--history N] [--items M,M,...]
 *                     [--samplers a,b,...] [--samples T] [--codewords K]
 *                     [--budget SECONDS] [--seed S]
 *
 * Data: generated in memory. Items fall in clusters (item i in cluster
 * i mod C, C = M / 100); within a cluster and over the whole catalogue,
 * popularity is long-tailed (log-uniform ranks). Each user has 1-3 clusters
 * and draws 80% of the history from them, the rest from the whole
 * catalogue; history lengths are 5 + geometric (mean `--history`).
 *
 * Timing: one untimed warm-up step per model, then an epoch: the sampler
 * rebuild (begin_epoch) and the steps over all users. When the steps pass
 * the time budget, the epoch is extrapolated from the steps done
 * (rebuild + mean step time x steps per epoch) and marked with '*'.
 * "sample us/user" is prepare + draw time summed over threads per user.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_kernel.h"
#include "fastvae.h"

typedef struct bench_options {
    uint32_t users, history, samples, codewords;
    uint32_t items[8];
    int n_items;
    const char *samplers[8];
    int n_samplers;
    double budget;
    uint64_t seed;
} bench_options;

/* Log-uniform rank in [0, n): P(rank < r) = log(1 + r) / log(1 + n). */
static uint32_t long_tail(rs_rng *rng, uint32_t n)
{
    double x = exp(rs_rng_uniform(rng) * log(1.0 + n)) - 1.0;
    uint32_t r = (uint32_t)x;
    return r < n ? r : n - 1;
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : (x > y);
}

/* The synthetic interaction matrix (users x M) and its item counts. */
static int generate(const bench_options *o, uint32_t M, rs_csr *m, float **counts)
{
    uint32_t U = o->users, C = M / 100 ? M / 100 : 1, per_cluster = (M + C - 1) / C;
    rs_rng rng;
    rs_rng_seed(&rng, o->seed);
    uint64_t cap = (uint64_t)U * (o->history + 8) + 1024, nnz = 0;
    *m = (rs_csr){0}; /* values NULL: binary */
    m->n_rows = U, m->n_cols = M;
    m->indptr = malloc((U + 1) * sizeof(uint64_t));
    m->indices = malloc(cap * sizeof(uint32_t));
    *counts = calloc(M, sizeof(float));
    if (!m->indptr || !m->indices || !*counts) return -1;
    m->indptr[0] = 0;
    double p_stop = 1.0 / (1.0 + (o->history > 5 ? o->history - 5.0 : 0.5));
    for (uint32_t u = 0; u < U; u++) {
        uint32_t len = 5;
        while (rs_rng_uniform(&rng) >= p_stop && len < 2000) len++;
        uint32_t tastes[3], n_tastes = 1 + (uint32_t)rs_rng_below(&rng, 3);
        for (uint32_t t = 0; t < n_tastes; t++) tastes[t] = (uint32_t)rs_rng_below(&rng, C);
        if (nnz + len > cap) {
            cap = (nnz + len) * 2;
            uint32_t *p = realloc(m->indices, cap * sizeof(uint32_t));
            if (!p) return -1;
            m->indices = p;
        }
        uint32_t *row = m->indices + nnz;
        for (uint32_t k = 0; k < len; k++) {
            uint32_t item;
            do {
                if (rs_rng_uniform(&rng) < 0.8) {
                    uint32_t c = tastes[rs_rng_below(&rng, n_tastes)];
                    item = c + C * long_tail(&rng, per_cluster);
                } else {
                    item = long_tail(&rng, M);
                }
            } while (item >= M);
            row[k] = item;
        }
        qsort(row, len, sizeof(uint32_t), compare_u32);
        uint32_t n = 0;
        for (uint32_t k = 0; k < len; k++)
            if (n == 0 || row[k] != row[n - 1]) row[n++] = row[k];
        for (uint32_t k = 0; k < n; k++) (*counts)[row[k]] += 1.0f;
        nnz += n;
        m->indptr[u + 1] = nnz;
    }
    return 0;
}

typedef struct result {
    double epoch_seconds, rebuild_seconds, sample_us;
    uint32_t steps_timed, steps;
    int extrapolated;
} result;

static int time_epoch(const bench_options *o, const char *sampler, const rs_csr *m,
                      const float *counts, result *res, rs_error *err)
{
    rs_fastvae_options fo;
    rs_fastvae_options_default(&fo);
    fo.samples = o->samples;
    fo.codewords = o->codewords;
    fo.seed = o->seed;
    if (rs_fastvae_sampler_parse(sampler, &fo, err) != 0) return -1;
    rs_train_model model;
    if (rs_fastvae_create(&fo, m->n_cols, counts, &model, err) != 0) return -1;
    uint32_t U = m->n_rows, B = (uint32_t)fo.batch_size;
    uint32_t *order = malloc(U * sizeof(uint32_t));
    int rc = -1;
    if (!order) {
        rs_fail(err, "out of memory");
        goto done;
    }
    for (uint32_t u = 0; u < U; u++) order[u] = u;
    rs_rng rng, epoch_rng;
    rs_rng_seed(&rng, o->seed);
    rs_rng_split(&rng, 1, &epoch_rng);
    rs_rng_shuffle_u32(&epoch_rng, order, U);
    rs_step_stats stats;
    /* Warm-up: first touches of the buffers, sampler built once. */
    rs_train_batch warm = {m, order, (int)RS_MIN(B, U), 0.0f, &epoch_rng};
    if (model.train_batch(model.self, &warm, &stats, err) != 0) goto done;
    rs_fastvae_timing t0, t1;
    rs_fastvae_get_timing(rs_fastvae_of(&model), &t0);
    double start = rs_now();
    if (model.begin_epoch(model.self, 1, &epoch_rng, err) != 0) goto done;
    double rebuilt = rs_now();
    res->steps = (U + B - 1) / B;
    res->steps_timed = 0;
    for (uint32_t b = 0; b < U; b += B) {
        rs_train_batch batch = {m, order + b, (int)RS_MIN(B, U - b), 0.0f, &epoch_rng};
        if (model.train_batch(model.self, &batch, &stats, err) != 0) goto done;
        res->steps_timed++;
        if (rs_now() - rebuilt > o->budget && res->steps_timed >= 2) break;
    }
    double end = rs_now();
    rs_fastvae_get_timing(rs_fastvae_of(&model), &t1);
    res->rebuild_seconds = rebuilt - start;
    res->extrapolated = res->steps_timed < res->steps;
    res->epoch_seconds =
        res->rebuild_seconds + (end - rebuilt) / res->steps_timed * (double)res->steps;
    uint64_t users = t1.sampled_users - t0.sampled_users;
    res->sample_us = users ? (t1.sample_seconds - t0.sample_seconds) / (double)users * 1e6 : 0.0;
    rc = 0;
done:
    free(order);
    model.free(model.self);
    return rc;
}

static int parse_list(char *s, const char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) out[n++] = tok;
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: train [--users N] [--history N] [--items M,M,...] [--samplers "
                    "a,b,...]\n             [--samples T] [--codewords K] [--budget S] [--seed "
                    "S]\n");
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    bench_options o = {.users = 20000,
                       .history = 30,
                       .samples = 200,
                       .codewords = 16,
                       .items = {10000, 100000, 1000000},
                       .n_items = 3,
                       .samplers = {"full", "uniform", "pop", "midx-uni", "midx-pop"},
                       .n_samplers = 5,
                       .budget = 30.0,
                       .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        char *v = argv[++i];
        if (!strcmp(a, "--users"))
            o.users = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--history"))
            o.history = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--samples"))
            o.samples = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--codewords"))
            o.codewords = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--budget"))
            o.budget = strtod(v, NULL);
        else if (!strcmp(a, "--seed"))
            o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--samplers"))
            o.n_samplers = parse_list(v, o.samplers, 8);
        else if (!strcmp(a, "--items")) {
            const char *parts[8];
            o.n_items = parse_list(v, parts, 8);
            for (int k = 0; k < o.n_items; k++) o.items[k] = (uint32_t)strtoul(parts[k], NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    if (o.users == 0 || o.history == 0 || o.samples == 0 || o.n_items == 0) {
        usage();
        return 2;
    }
    printf("FastVAE training speed: %u users, mean history ~%u, H 200, L 32, batch 256, "
           "T %u samples, K %u, %d threads\n",
           o.users, o.history, o.samples, o.codewords, omp_get_max_threads());
    printf("epoch s = sampler rebuild + all steps; '*' = extrapolated from the steps timed "
           "within %.0f s\n\n",
           o.budget);
    printf("%9s  %-9s %11s %11s %9s %14s %9s\n", "items", "sampler", "epoch s", "steps", "rebuild",
           "sample us/user", "speed-up");
    int rc = 0;
    for (int k = 0; k < o.n_items && rc == 0; k++) {
        rs_csr m;
        float *counts = NULL;
        memset(&m, 0, sizeof(m));
        if (generate(&o, o.items[k], &m, &counts) != 0) {
            fprintf(stderr, "train: out of memory generating %u items\n", o.items[k]);
            return 1;
        }
        double full = 0.0;
        for (int s = 0; s < o.n_samplers; s++) {
            result r;
            rs_error err;
            if (time_epoch(&o, o.samplers[s], &m, counts, &r, &err) != 0) {
                fprintf(stderr, "train: %u items, %s: %s\n", o.items[k], o.samplers[s], err.msg);
                rc = 1;
                break;
            }
            if (!strcmp(o.samplers[s], "full")) full = r.epoch_seconds;
            char steps[32], speed[32] = "-", sample[32] = "-";
            snprintf(steps, sizeof(steps), "%u/%u", r.steps_timed, r.steps);
            if (full > 0.0 && strcmp(o.samplers[s], "full"))
                snprintf(speed, sizeof(speed), "%.1fx", full / r.epoch_seconds);
            if (r.sample_us > 0.0) snprintf(sample, sizeof(sample), "%.1f", r.sample_us);
            printf("%9u  %-9s %10.2f%s %11s %9.2f %14s %9s\n", o.items[k], o.samplers[s],
                   r.epoch_seconds, r.extrapolated ? "*" : " ", steps, r.rebuild_seconds, sample,
                   speed);
            fflush(stdout);
        }
        free(m.indptr), free(m.indices), free(counts);
    }
    return rc;
}
