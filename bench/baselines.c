/* baselines.c - quality of the EASE and iALS baselines on a train/test split,
 * hyperparameters chosen on the trainer's validation carve-out.
 *
 *   build/bench/baselines DIR [--ease-reg L1,L2,...] [--ease-topk K1,K2,...]
 *                         [--ease-float 0|1] [--factors K1,...] [--ials-reg R1,...]
 *                         [--alpha0 A1,...] [--nu N] [--epochs E] [--skip-ease]
 *                         [--skip-ials] [--test-only] [--seed S]
 *
 * DIR holds train.tsv and test.tsv (../shared/data/ml100k, ml10m). The data
 * are loaded as rectrain loads them (core/dataset.h, explicit test file, a
 * validation carve-out of min(5000, 10%) of the users, 20% of their items).
 * Every grid point is fitted on the training rows and scored on the
 * validation items (input and exclusion: the training rows); the point
 * with the best validation NDCG@50 is refitted on train + validation (the
 * full train.tsv) and scored on test.tsv (input and exclusion: the user's
 * whole known history), with trainer/evaluate.c's rs_evaluate and the
 * metric set of core/metrics.h. Dense EASE is also refitted at λ = 500
 * (the reference in the data README) and, with --ease-float 1, in float;
 * sparse EASE keeps the top-k of each row of the refitted dense B, by value
 * and by magnitude (|w|). --test-only fits iALS once, at the first value of
 * each grid, on train + validation and scores test (no selection).
 *
 * Seconds are wall-clock on a shared machine: rough.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_kernel.h"
#include "dataset.h"
#include "ease.h"
#include "evaluate.h"
#include "ials.h"

#define MAX_GRID 16

typedef struct grid {
    int n;
    double v[MAX_GRID];
} grid;

typedef struct bench_options {
    const char *dir;
    grid ease_reg, ease_topk, factors, ials_reg, alpha0;
    double nu;
    int epochs, ease_float, skip_ease, skip_ials, test_only;
    uint64_t seed;
} bench_options;

static int parse_grid(const char *s, grid *g)
{
    g->n = 0;
    while (*s && g->n < MAX_GRID) {
        char *end;
        g->v[g->n++] = strtod(s, &end);
        if (end == s) return -1;
        s = *end == ',' ? end + 1 : end;
    }
    return *s ? -1 : 0;
}

/* The evaluation adapters: rs_evaluate only calls score(). */
typedef struct ease_view {
    const rs_ease *dense;
    const rs_ease_sparse *sparse;
} ease_view;

static int ease_view_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                           float *scores, rs_error *err)
{
    const ease_view *v = self;
    uint32_t M = input->n_cols;
#pragma omp parallel for schedule(dynamic, 4)
    for (int r = 0; r < size; r++) {
        const uint32_t *h = input->indices + input->indptr[users[r]];
        uint32_t n = rs_csr_row_len(input, users[r]);
        if (v->dense)
            rs_ease_score(v->dense, h, n, scores + (size_t)r * M);
        else
            rs_ease_sparse_score(v->sparse, h, n, scores + (size_t)r * M);
    }
    return 0;
}

/* A known user's stored factor is, by rs_ials_fit's final user half-step,
 * the fold-in of that user's row of the matrix it was fitted on - which is
 * the input matrix here - so scores are W_batch Hᵀ. */
static int ials_view_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                           float *scores, rs_error *err)
{
    const rs_ials *m = self;
    float *w = rs_aligned_alloc((size_t)size * m->k, sizeof(float), err);
    if (!w) return -1;
    for (int r = 0; r < size; r++)
        memcpy(w + (size_t)r * m->k, m->user_factors + (size_t)users[r] * m->k,
               sizeof(float) * m->k);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, size, (int)m->n_items, (int)m->k, 1.0f, w,
                (int)m->k, m->item_factors, (int)m->k, 0.0f, scores, (int)m->n_items);
    free(w);
    return 0;
}

typedef struct split_view {
    const rs_csr *input, *targets;
    const char *name;
} split_view;

static int measure(const char *label, void *self,
                   int (*score)(void *, const rs_csr *, const uint32_t *, int, float *, rs_error *),
                   uint32_t n_items, const split_view *s, double fit_seconds, double *ndcg50)
{
    rs_train_model model = {
        .family = label, .self = self, .batch_capacity = 256, .n_items = n_items, .score = score};
    rs_metric_set set;
    rs_metric_set_default(&set);
    rs_eval_result r;
    rs_error err;
    double t0 = rs_now();
    if (rs_evaluate(&model, s->input, s->input, s->targets, &set, &r, &err) != 0) {
        fprintf(stderr, "baselines: %s: %s\n", label, err.msg);
        return -1;
    }
    printf("%-36s %-5s %6u", label, s->name, r.n_users);
    for (int i = 0; i < set.n; i++) printf("  %.4f", r.values[i]);
    printf("  (±%.4f)  %7.1f %6.1f\n", r.std_error[2], fit_seconds, rs_now() - t0);
    fflush(stdout);
    if (ndcg50) *ndcg50 = r.values[2]; /* recall@20, recall@50, ndcg@50, ndcg@100 */
    return 0;
}

static void header(void)
{
    printf("%-36s %-5s %6s  %-6s  %-6s  %-6s  %-6s  %-9s  %7s %6s\n", "model", "split", "users",
           "R@20", "R@50", "N@50", "N@100", "(SE N@50)", "fit s", "eval s");
}

/* Dense EASE at λ: fit on `fit`, measure on s. Keeps the model when out. */
static int ease_point(const rs_csr *fit, double reg, rs_ease_precision precision,
                      const split_view *s, double *ndcg50, rs_ease *keep)
{
    rs_ease_options o;
    rs_ease_options_default(&o);
    o.reg = reg;
    o.precision = precision;
    rs_ease m;
    rs_error err;
    double t0 = rs_now();
    if (rs_ease_fit(fit, &o, &m, &err) != 0) {
        fprintf(stderr, "baselines: %s\n", err.msg);
        return -1;
    }
    double seconds = rs_now() - t0;
    char label[64];
    snprintf(label, sizeof(label), "ease%s reg=%g", precision == RS_EASE_FLOAT ? "-f32" : "", reg);
    ease_view v = {&m, NULL};
    int rc = measure(label, &v, ease_view_score, m.n_items, s, seconds, ndcg50);
    if (rc == 0 && keep)
        *keep = m;
    else
        rs_ease_free(&m);
    return rc;
}

static int run_ease(const bench_options *o, const rs_dataset *d, const split_view *valid,
                    const split_view *test)
{
    double best = -1, best_reg = 0, value;
    for (int g = 0; g < o->ease_reg.n; g++) {
        if (ease_point(&d->train, o->ease_reg.v[g], RS_EASE_DOUBLE, valid, &value, NULL) != 0)
            return -1;
        if (value > best) best = value, best_reg = o->ease_reg.v[g];
    }
    printf("# ease: chosen reg=%g on validation NDCG@50 %.4f\n", best_reg, best);
    rs_ease dense;
    if (ease_point(&d->known, best_reg, RS_EASE_DOUBLE, test, NULL, &dense) != 0) return -1;
    if (best_reg != 500 && ease_point(&d->known, 500, RS_EASE_DOUBLE, test, NULL, NULL) != 0)
        return -1;
    if (o->ease_float && ease_point(&d->known, best_reg, RS_EASE_FLOAT, test, NULL, NULL) != 0)
        return -1;
    int rc = 0;
    for (int g = 0; rc == 0 && g < 2 * o->ease_topk.n; g++) {
        rs_ease_sparse s;
        rs_error err;
        double t0 = rs_now();
        rs_ease_keep keep = g % 2 ? RS_EASE_KEEP_MAGNITUDE : RS_EASE_KEEP_LARGEST;
        if (rs_ease_sparsify(&dense, (uint32_t)o->ease_topk.v[g / 2], keep, &s, &err) != 0) {
            fprintf(stderr, "baselines: %s\n", err.msg);
            rc = -1;
            break;
        }
        char label[64];
        snprintf(label, sizeof(label), "ease-sparse reg=%g topk=%u%s", best_reg, s.k,
                 keep == RS_EASE_KEEP_MAGNITUDE ? " |w|" : "");
        ease_view v = {NULL, &s};
        rc = measure(label, &v, ease_view_score, s.n_items, test, rs_now() - t0, NULL);
        rs_ease_sparse_free(&s);
    }
    rs_ease_free(&dense);
    return rc;
}

static void ials_progress(void *ctx, int epoch, const rs_ials *m)
{
    fprintf(stderr, "  epoch %d\n", epoch);
}

static int ials_point(const bench_options *o, const rs_csr *fit, uint32_t k, double reg,
                      double alpha0, const split_view *s, double *ndcg50)
{
    rs_ials_options io;
    rs_ials_options_default(&io);
    io.factors = k;
    io.reg = (float)reg;
    io.unobserved_weight = (float)alpha0;
    io.reg_exponent = (float)o->nu;
    io.epochs = o->epochs;
    io.seed = o->seed;
    rs_ials m;
    rs_error err;
    double t0 = rs_now();
    if (rs_ials_fit(fit, &io, ials_progress, NULL, &m, &err) != 0) {
        fprintf(stderr, "baselines: %s\n", err.msg);
        return -1;
    }
    double seconds = rs_now() - t0;
    char label[64];
    snprintf(label, sizeof(label), "ials k=%u reg=%g a0=%g nu=%g e=%d", k, reg, alpha0, o->nu,
             o->epochs);
    int rc = measure(label, &m, ials_view_score, m.n_items, s, seconds, ndcg50);
    rs_ials_free(&m);
    return rc;
}

static int run_ials(const bench_options *o, const rs_dataset *d, const split_view *valid,
                    const split_view *test)
{
    double best = -1, value, chosen[3] = {o->factors.v[0], o->ials_reg.v[0], o->alpha0.v[0]};
    for (int a = 0; !o->test_only && a < o->factors.n; a++)
        for (int b = 0; b < o->ials_reg.n; b++)
            for (int c = 0; c < o->alpha0.n; c++) {
                double point[3] = {o->factors.v[a], o->ials_reg.v[b], o->alpha0.v[c]};
                if (ials_point(o, &d->train, (uint32_t)point[0], point[1], point[2], valid,
                               &value) != 0)
                    return -1;
                if (value > best) best = value, memcpy(chosen, point, sizeof(point));
            }
    if (o->test_only)
        printf("# ials: k=%g reg=%g a0=%g given (--test-only, no validation)\n", chosen[0],
               chosen[1], chosen[2]);
    else
        printf("# ials: chosen k=%g reg=%g a0=%g on validation NDCG@50 %.4f\n", chosen[0],
               chosen[1], chosen[2], best);
    return ials_point(o, &d->known, (uint32_t)chosen[0], chosen[1], chosen[2], test, NULL);
}

static int parse_args(int argc, char **argv, bench_options *o)
{
    memset(o, 0, sizeof(*o));
    parse_grid("100,200,500,1000,2000", &o->ease_reg);
    parse_grid("50,100,200", &o->ease_topk);
    parse_grid("64", &o->factors);
    parse_grid("0.001,0.003,0.01", &o->ials_reg);
    parse_grid("0.1", &o->alpha0);
    o->nu = 1.0;
    o->epochs = 16;
    o->ease_float = 1;
    o->seed = 2026;
    for (int a = 1; a < argc; a++) {
        const char *opt = argv[a], *arg = a + 1 < argc ? argv[a + 1] : NULL;
        int bad = 0, takes = 1;
        if (!strcmp(opt, "--skip-ease"))
            o->skip_ease = 1, takes = 0;
        else if (!strcmp(opt, "--skip-ials"))
            o->skip_ials = 1, takes = 0;
        else if (!strcmp(opt, "--test-only"))
            o->test_only = 1, takes = 0;
        else if (opt[0] != '-' && !o->dir)
            o->dir = opt, takes = 0;
        else if (!arg)
            bad = 1;
        else if (!strcmp(opt, "--ease-reg"))
            bad = parse_grid(arg, &o->ease_reg);
        else if (!strcmp(opt, "--ease-topk"))
            bad = parse_grid(arg, &o->ease_topk);
        else if (!strcmp(opt, "--ease-float"))
            o->ease_float = atoi(arg);
        else if (!strcmp(opt, "--factors"))
            bad = parse_grid(arg, &o->factors);
        else if (!strcmp(opt, "--ials-reg"))
            bad = parse_grid(arg, &o->ials_reg);
        else if (!strcmp(opt, "--alpha0"))
            bad = parse_grid(arg, &o->alpha0);
        else if (!strcmp(opt, "--nu"))
            o->nu = atof(arg);
        else if (!strcmp(opt, "--epochs"))
            o->epochs = atoi(arg);
        else if (!strcmp(opt, "--seed"))
            o->seed = strtoull(arg, NULL, 10);
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "baselines: bad option %s (see the header of bench/baselines.c)\n",
                    opt);
            return -1;
        }
        a += takes;
    }
    if (!o->dir) fprintf(stderr, "usage: baselines DIR [options]\n");
    return o->dir ? 0 : -1;
}

static int load(const bench_options *o, rs_dataset *d)
{
    char train[4096], test[4096];
    snprintf(train, sizeof(train), "%s/train.tsv", o->dir);
    snprintf(test, sizeof(test), "%s/test.tsv", o->dir);
    rs_data_options opt;
    rs_data_options_default(&opt);
    opt.train_path = train;
    opt.test_path = test;
    opt.split = RS_SPLIT_FILE;
    opt.seed = o->seed;
    rs_error err;
    if (rs_dataset_load(&opt, d, &err) != 0) goto fail;
    opt.valid_users = RS_MIN(5000u, d->report.n_users / 10); /* as rectrain chooses */
    rs_dataset_free(d);
    if (rs_dataset_load(&opt, d, &err) != 0) goto fail;
    rs_data_report_print(&d->report, stderr);
    return 0;
fail:
    fprintf(stderr, "baselines: %s\n", err.msg);
    return -1;
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    bench_options o;
    if (parse_args(argc, argv, &o) != 0) return 2;
    rs_dataset d;
    if (load(&o, &d) != 0) return 1;
    split_view valid = {&d.train, &d.valid, "valid"}, test = {&d.test_input, &d.test, "test"};
    printf("# %s: %u users, %u items, %d threads\n", o.dir, d.report.n_users, d.report.n_items,
           omp_get_max_threads());
    header();
    int rc = 0;
    if (!o.skip_ease) rc = run_ease(&o, &d, &valid, &test);
    if (rc == 0 && !o.skip_ials) rc = run_ials(&o, &d, &valid, &test);
    rs_dataset_free(&d);
    return rc == 0 ? 0 : 1;
}
