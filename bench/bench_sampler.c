/* bench_sampler.c - cost of the negative samplers per user and of the
 * per-epoch index rebuild.
 *
 *   bench_sampler [--sizes 10000,100000,1000000] [--dim 200] [--k 16]
 *                 [--draws 200] [--users 2000] [--exact-users 20] [--seed 1]
 *
 * For each catalogue size M: synthetic clustered item vectors (M x dim) and
 * Zipf-like counts; for each sampler kind one rebuild (k-means on both halves
 * + per-cell tables; timed), then `users` random user vectors, each
 * prepared and sampled `draws` times, plus log Q of 20 "positives" (timed per
 * user, one thread, thread CPU time; rebuild in wall time with OpenBLAS's
 * threads, and in CPU time of the whole process). midx-exact costs O(M dim) per user and runs on
 * `exact-users` users only (0 skips it). Prints one table row per (M, kind).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "blas_kernel.h"
#include "common.h"
#include "rng.h"
#include "sampler.h"

typedef struct config {
    uint32_t sizes[8];
    int n_sizes;
    uint32_t dim, k, draws, users, exact_users;
    uint64_t seed;
} config;

static int parse_sizes(const char *s, config *c)
{
    c->n_sizes = 0;
    while (*s && c->n_sizes < 8) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v == 0 || v > 50000000) return -1;
        c->sizes[c->n_sizes++] = (uint32_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return c->n_sizes ? 0 : -1;
}

static int parse_args(int argc, char **argv, config *c)
{
    *c = (config){.sizes = {10000, 100000, 1000000},
                  .n_sizes = 3,
                  .dim = 200,
                  .k = 16,
                  .draws = 200,
                  .users = 2000,
                  .exact_users = 20,
                  .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) goto usage;
        unsigned long n = strtoul(v, NULL, 10);
        if (strcmp(a, "--sizes") == 0) {
            if (parse_sizes(v, c) != 0) goto usage;
        } else if (strcmp(a, "--dim") == 0 && n >= 2 && n <= 4096)
            c->dim = (uint32_t)n;
        else if (strcmp(a, "--k") == 0 && n >= 1 && n <= 4096)
            c->k = (uint32_t)n;
        else if (strcmp(a, "--draws") == 0 && n <= 1000000)
            c->draws = (uint32_t)n;
        else if (strcmp(a, "--users") == 0 && n >= 1 && n <= 10000000)
            c->users = (uint32_t)n;
        else if (strcmp(a, "--exact-users") == 0 && n <= 100000)
            c->exact_users = (uint32_t)n;
        else if (strcmp(a, "--seed") == 0)
            c->seed = n;
        else
            goto usage;
        i++;
    }
    return 0;
usage:
    fprintf(stderr, "usage: bench_sampler [--sizes M1,M2,..] [--dim D] [--k K] [--draws T] "
                    "[--users U] [--exact-users U] [--seed S]\n");
    return -1;
}

/* CPU time of the calling thread: per-user costs are measured with it so
 * that other processes on a shared machine inflate them less than wall
 * time would. */
static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (all threads, user + system): the rebuild's
 * work including OpenBLAS's threads and the kernel's page clearing. */
static double process_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* Mean cost of one thread_cpu() reading, subtracted from each interval. */
static double timer_overhead(void)
{
    double t0 = thread_cpu(), t = t0;
    for (int i = 0; i < 1000; i++) t = thread_cpu();
    return (t - t0) / 1000.0;
}

/* Item vectors around 64 centres with a per-item norm spread (roughly like
 * trained embeddings), and Zipf-like counts (some zero). */
static void make_items(float *q, float *counts, uint32_t M, uint32_t D, rs_rng *rng)
{
    enum { C = 64 };
    float *centre = malloc(sizeof(float) * C * D);
    for (uint32_t j = 0; j < C * D; j++) centre[j] = (float)(0.15 * rs_rng_normal(rng));
    for (uint32_t i = 0; i < M; i++) {
        const float *c = centre + (size_t)rs_rng_below(rng, C) * D;
        float scale = (float)(0.5 + rs_rng_uniform(rng));
        float *row = q + (size_t)i * D;
        for (uint32_t j = 0; j < D; j++)
            row[j] = scale * (c[j] + 0.1f * (rs_rng_uniform_f(rng) - 0.5f));
        double u = rs_rng_uniform(rng);
        counts[i] = (float)floor(1000.0 * u * u * u * u);
    }
    free(centre);
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    config cfg;
    if (parse_args(argc, argv, &cfg) != 0) return 2;
    const rs_sampler_kind kinds[] = {RS_SAMPLER_UNIFORM, RS_SAMPLER_POP, RS_SAMPLER_MIDX_UNI,
                                     RS_SAMPLER_MIDX_POP, RS_SAMPLER_MIDX_EXACT};
    printf("# sampler cost: D=%u K=%u T=%u draws/user, %u users (%u for midx-exact), one "
           "thread per user\n# per-user times: thread CPU time, less %.2f us timer cost per "
           "reading; draw_us includes 20 log Q look-ups\n",
           cfg.dim, cfg.k, cfg.draws, cfg.users, cfg.exact_users, 1e6 * timer_overhead());
    printf("%-9s %-11s %10s %10s %10s %12s %12s %10s\n", "M", "sampler", "rebuild_s", "rb_cpu_s",
           "index_MB", "prepare_us", "draw_us", "user_us");
    rs_error err;
    int rc = 0;
    uint32_t *items = malloc(sizeof(uint32_t) * (cfg.draws + 1));
    float *log_q = malloc(sizeof(float) * (cfg.draws + 1));
    float *z = malloc(sizeof(float) * cfg.dim);
    rs_sampler_user *user = rs_sampler_user_new(&err);
    double tick = timer_overhead();
    for (int si = 0; si < cfg.n_sizes && rc == 0; si++) {
        uint32_t M = cfg.sizes[si], D = cfg.dim;
        rs_rng rng;
        rs_rng_seed(&rng, cfg.seed + M);
        float *q = rs_malloc((size_t)M * D, sizeof(float), &err);
        float *counts = rs_malloc(M, sizeof(float), &err);
        if (!q || !counts) {
            fprintf(stderr, "bench_sampler: %s\n", err.msg);
            free(q);
            free(counts);
            rc = 1;
            break;
        }
        make_items(q, counts, M, D, &rng);
        for (size_t ki = 0; ki < sizeof(kinds) / sizeof(kinds[0]); ki++) {
            rs_sampler_kind kind = kinds[ki];
            uint32_t users = kind == RS_SAMPLER_MIDX_EXACT ? cfg.exact_users : cfg.users;
            if (users == 0) continue;
            rs_sampler_options o = rs_sampler_defaults();
            o.k = cfg.k;
            rs_sampler *s = rs_sampler_new(kind, &o, &err);
            double t0 = rs_now(), cpu0 = process_cpu();
            if (!s || rs_sampler_rebuild(s, q, M, D, counts, &rng, &err) != 0) {
                fprintf(stderr, "bench_sampler: %s\n", err.msg);
                rs_sampler_free(s);
                rc = 1;
                break;
            }
            double rebuild = rs_now() - t0, rebuild_cpu = process_cpu() - cpu0;
            double prep = 0.0, draw = 0.0, sink = 0.0;
            for (uint32_t u = 0; u < users; u++) {
                rs_rng ur;
                rs_rng_split(&rng, u, &ur);
                for (uint32_t j = 0; j < D; j++) z[j] = (float)(0.5 * rs_rng_normal(&ur));
                double a = thread_cpu();
                if (rs_sampler_prepare(s, z, user, &err) != 0) {
                    fprintf(stderr, "bench_sampler: %s\n", err.msg);
                    rc = 1;
                    break;
                }
                double b = thread_cpu();
                rs_sampler_draw(s, user, cfg.draws, &ur, items, log_q, &err);
                /* The positives' log Q, as the trainer needs them. */
                for (uint32_t p = 0; p < 20; p++)
                    sink += rs_sampler_log_q(s, user, (uint32_t)((p * 7919u) % M));
                double c = thread_cpu();
                prep += RS_MAX(0.0, b - a - tick);
                draw += RS_MAX(0.0, c - b - tick);
                if (cfg.draws) sink += log_q[0];
            }
            printf("%-9u %-11s %10.3f %10.3f %10.1f %12.2f %12.2f %10.2f\n", M,
                   rs_sampler_kind_name(kind), rebuild, rebuild_cpu,
                   rs_sampler_bytes(s) / 1048576.0, 1e6 * prep / users, 1e6 * draw / users,
                   1e6 * (prep + draw) / users);
            fflush(stdout);
            if (sink == 12345.678) printf(" "); /* keep the work observable */
            rs_sampler_free(s);
        }
        free(q);
        free(counts);
    }
    rs_sampler_user_free(user);
    free(items);
    free(log_q);
    free(z);
    return rc;
}
