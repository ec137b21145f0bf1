/* test_sinkhorn.c - the accelerated Sinkhorn loss: the log-domain plan
 * against a plain double-precision Sinkhorn, marginal convergence, the
 * top-k, and the gradient through the unrolled iterations against central
 * finite differences (the loss is computed in double throughout, so the
 * differences are accurate to ~1e-9). */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cooccur.h"
#include "rng.h"
#include "sinkhorn.h"
#include "test_support.h"
#include "topk.h"

static rs_sinkhorn_workspace *workspace(int iterations, double epsilon, uint32_t k,
                                        uint32_t n_items, uint32_t max_history)
{
    rs_sinkhorn_options o;
    rs_sinkhorn_options_default(&o);
    o.iterations = iterations;
    o.epsilon = epsilon;
    o.k = k;
    rs_error err;
    rs_sinkhorn_workspace *ws = rs_sinkhorn_workspace_create(&o, n_items, max_history, &err);
    ck_assert_msg(ws != NULL, "%s", err.msg);
    return ws;
}

/* The textbook iteration in the plain domain: b = 1; L times a = mu / (K b),
 * b = nu / (K^T a); P = diag(a) K diag(b). Fine in double for these sizes. */
static void reference_plan(const double *cost, uint32_t n, uint32_t m, const double *mu,
                           const double *nu, int iterations, double epsilon, double *plan)
{
    double a[64], b[64];
    for (uint32_t j = 0; j < m; j++) b[j] = 1.0;
    for (int l = 0; l < iterations; l++) {
        for (uint32_t i = 0; i < n; i++) {
            double s = 0.0;
            for (uint32_t j = 0; j < m; j++) s += exp(-cost[i * m + j] / epsilon) * b[j];
            a[i] = mu[i] / s;
        }
        for (uint32_t j = 0; j < m; j++) {
            double s = 0.0;
            for (uint32_t i = 0; i < n; i++) s += exp(-cost[i * m + j] / epsilon) * a[i];
            b[j] = nu[j] / s;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < m; j++)
            plan[i * m + j] = a[i] * exp(-cost[i * m + j] / epsilon) * b[j];
}

/* Random problem: costs in [0, 1], positive marginals of the given masses. */
static void random_problem(rs_rng *rng, uint32_t n, uint32_t m, double mass_nu, double *cost,
                           double *mu, double *nu)
{
    double smu = 0.0, snu = 0.0;
    for (uint32_t e = 0; e < n * m; e++) cost[e] = rs_rng_uniform(rng);
    for (uint32_t i = 0; i < n; i++) smu += mu[i] = 0.1 + rs_rng_uniform(rng);
    for (uint32_t j = 0; j < m; j++) snu += nu[j] = 0.1 + rs_rng_uniform(rng);
    for (uint32_t i = 0; i < n; i++) mu[i] /= smu;
    for (uint32_t j = 0; j < m; j++) nu[j] *= mass_nu / snu;
}

/* sum_i |row_i - want_i| and sum_j |col_j - nu_j| of a plan. */
static void marginal_errors(const double *plan, uint32_t n, uint32_t m, const double *want_rows,
                            const double *nu, double *row_error, double *col_error)
{
    *row_error = *col_error = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        double s = 0.0;
        for (uint32_t j = 0; j < m; j++) s += plan[i * m + j];
        *row_error += fabs(s - want_rows[i]);
    }
    for (uint32_t j = 0; j < m; j++) {
        double s = 0.0;
        for (uint32_t i = 0; i < n; i++) s += plan[i * m + j];
        *col_error += fabs(s - nu[j]);
    }
}

/* Runs the workspace's plan and checks it against the reference. */
static void plan_and_compare(int iterations, double epsilon, const double *cost, uint32_t n,
                             uint32_t m, const double *mu, const double *nu, double *plan)
{
    double log_mu[64], log_nu[64], want[64 * 64], transport, want_transport = 0.0;
    for (uint32_t i = 0; i < n; i++) log_mu[i] = log(mu[i]);
    for (uint32_t j = 0; j < m; j++) log_nu[j] = log(nu[j]);
    rs_sinkhorn_workspace *ws = workspace(iterations, epsilon, m, 1000, n);
    rs_error err;
    ck_assert_msg(rs_sinkhorn_plan(ws, cost, n, m, log_mu, log_nu, plan, &transport, &err) == 0,
                  "%s", err.msg);
    reference_plan(cost, n, m, mu, nu, iterations, epsilon, want);
    for (uint32_t e = 0; e < n * m; e++) {
        ck_assert_msg(fabs(plan[e] - want[e]) <= 1e-12 * fmax(want[e], 1e-3),
                      "L=%d eps=%g: P[%u] = %.17g, reference %.17g", iterations, epsilon, e,
                      plan[e], want[e]);
        want_transport += cost[e] * want[e];
    }
    ck_assert(fabs(transport - want_transport) < 1e-12);
    rs_sinkhorn_workspace_free(ws);
}

START_TEST(test_plan_marginals_converge)
{
    static const int iterations[] = {1, 2, 4, 8, 16, 32, 64};
    static const double epsilons[] = {1.0, 0.3, 0.1};
    enum { N = 9, M = 13 };
    rs_rng rng;
    rs_rng_seed(&rng, 17);
    double cost[N * M], mu[N], nu[M], plan[N * M];
    for (int e = 0; e < 3; e++) {
        random_problem(&rng, N, M, 1.0, cost, mu, nu);
        double previous = INFINITY, first = 0.0, row_error = 0.0, col_error;
        for (int t = 0; t < 7; t++) {
            plan_and_compare(iterations[t], epsilons[e], cost, N, M, mu, nu, plan);
            marginal_errors(plan, N, M, mu, nu, &row_error, &col_error);
            /* the iteration ends on a column update: columns are exact */
            ck_assert_msg(col_error < 1e-14, "column error %g", col_error);
            ck_assert_msg(row_error <= previous * (1 + 1e-9) + 1e-15,
                          "eps %g: row error grew from %g to %g at L=%d", epsilons[e], previous,
                          row_error, iterations[t]);
            if (t == 0) first = row_error;
            previous = row_error;
        }
        ck_assert_msg(first > 1e-4, "L=1 already converged (%g): the test shows nothing", first);
        ck_assert_msg(row_error < 1e-10, "eps %g: row error %g after 64 iterations", epsilons[e],
                      row_error);
    }
}
END_TEST

/* Algorithm 1's unbalanced case (nu = x^[Ik] of mass s < 1): columns are
 * nu, and the rows converge to s * mu, not to mu. */
START_TEST(test_unbalanced_rows_converge_to_scaled_mu)
{
    enum { N = 6, M = 10 };
    rs_rng rng;
    rs_rng_seed(&rng, 23);
    double cost[N * M], mu[N], nu[M], plan[N * M], scaled[N];
    random_problem(&rng, N, M, 0.37, cost, mu, nu);
    for (uint32_t i = 0; i < N; i++) scaled[i] = 0.37 * mu[i];
    double row_error, col_error;
    plan_and_compare(64, 1.0, cost, N, M, mu, nu, plan);
    marginal_errors(plan, N, M, scaled, nu, &row_error, &col_error);
    ck_assert(col_error < 1e-14);
    ck_assert_msg(row_error < 1e-10, "rows vs s * mu: %g", row_error);
}
END_TEST

/* Very uneven marginals (log nu down to -600: nu itself underflows double)
 * stay finite in the log domain. */
START_TEST(test_tiny_marginals_stay_finite)
{
    enum { N = 4, M = 6 };
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    double cost[N * M], log_mu[N], log_nu[M], plan[N * M], transport;
    for (uint32_t e = 0; e < N * M; e++) cost[e] = rs_rng_uniform(&rng);
    for (uint32_t i = 0; i < N; i++) log_mu[i] = -log((double)N);
    for (uint32_t j = 0; j < M; j++) log_nu[j] = j < 2 ? log(0.5) : -120.0 * (double)j;
    rs_sinkhorn_workspace *ws = workspace(5, 0.05, M, 100, N);
    rs_error err;
    ck_assert(rs_sinkhorn_plan(ws, cost, N, M, log_mu, log_nu, plan, &transport, &err) == 0);
    for (uint32_t e = 0; e < N * M; e++) ck_assert(isfinite(plan[e]) && plan[e] >= 0.0);
    ck_assert(isfinite(transport));
    rs_sinkhorn_workspace_free(ws);
}
END_TEST

/* --- the user's loss --- */

typedef struct fixture {
    char dir[256];
    rs_dataset data;
    rs_cooccur cost;
} fixture;

static void fixture_open(fixture *f)
{
    test_two_group_dataset("sinkhorn", f->dir, sizeof(f->dir), &f->data);
    rs_cooccur_options o;
    rs_cooccur_options_default(&o);
    o.neighbours = 10; /* fewer than the items: some pairs read as cost 1 */
    o.shrink = 5.0;
    rs_error err;
    ck_assert_msg(rs_cooccur_build(&f->data.train, &o, &f->cost, &err) == 0, "%s", err.msg);
}

static void fixture_close(fixture *f)
{
    rs_cooccur_free(&f->cost);
    rs_dataset_free(&f->data);
    char path[512];
    snprintf(path, sizeof(path), "%s/train.tsv", f->dir);
    unlink(path);
    rmdir(f->dir);
}

/* Logits with gaps of at least 0.05 between any two, so that a finite
 * difference step never reorders the top-k. */
static void spaced_logits(rs_rng *rng, uint32_t n, double *z)
{
    uint32_t order[256];
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    rs_rng_shuffle_u32(rng, order, n);
    for (uint32_t i = 0; i < n; i++) z[order[i]] = 0.15 * i + 0.1 * rs_rng_uniform(rng) - 2.0;
}

/* L2's gradient from its closed form, to separate L1's in the check. */
static void concentration_gradient(const double *z, uint32_t n, const uint32_t *history,
                                   uint32_t n_history, double alpha, double *grad)
{
    double m = -INFINITY, sum = 0.0;
    for (uint32_t i = 0; i < n; i++) m = fmax(m, z[i]);
    for (uint32_t i = 0; i < n; i++) sum += exp(z[i] - m);
    double weight = n_history + alpha * (n - n_history);
    for (uint32_t i = 0; i < n; i++) grad[i] = weight * exp(z[i] - m) / sum - alpha;
    for (uint32_t t = 0; t < n_history; t++) grad[history[t]] -= 1.0 - alpha;
}

static void check_gradient(fixture *f, const rs_sinkhorn_options *o, uint32_t user, uint64_t seed)
{
    uint32_t n = f->data.train.n_cols;
    const uint32_t *history = f->data.train.indices + f->data.train.indptr[user];
    uint32_t n_history = rs_csr_row_len(&f->data.train, user);
    rs_error err;
    rs_sinkhorn_workspace *ws = rs_sinkhorn_workspace_create(o, n, n_history, &err);
    ck_assert_msg(ws != NULL, "%s", err.msg);
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    double z[256], grad[256], scratch[256], l2_grad[256], loss;
    rs_sinkhorn_parts parts;
    spaced_logits(&rng, n, z);
    ck_assert(rs_sinkhorn_loss(ws, &f->cost, z, history, n_history, &loss, grad, &parts, &err) ==
              0);
    ck_assert(parts.transport > 1e-3); /* the transport term is really there */
    concentration_gradient(z, n, history, n_history, o->alpha, l2_grad);
    const double h = 1e-5;
    double l1_grad_norm = 0.0;
    for (uint32_t m = 0; m < n; m++) {
        double saved = z[m], up, down;
        rs_sinkhorn_parts pu, pd;
        z[m] = saved + h;
        ck_assert(rs_sinkhorn_loss(ws, &f->cost, z, history, n_history, &up, scratch, &pu, &err) ==
                  0);
        z[m] = saved - h;
        ck_assert(
            rs_sinkhorn_loss(ws, &f->cost, z, history, n_history, &down, scratch, &pd, &err) == 0);
        z[m] = saved;
        double fd = (up - down) / (2 * h);
        ck_assert_msg(fabs(fd - grad[m]) < 1e-7 * fmax(1.0, fabs(fd)),
                      "d loss / d z[%u]: analytic %.12g, finite difference %.12g", m, grad[m], fd);
        /* the transport term alone, through the iterations (parts
         * report L1 itself, the loss and its gradient w L1) */
        double w = o->transport_weight;
        double fd_transport = w * (pu.transport - pd.transport) / (2 * h);
        double analytic_transport = grad[m] - l2_grad[m];
        ck_assert_msg(fabs(fd_transport - analytic_transport) < 1e-8 * fmax(1.0, w),
                      "d L1 / d z[%u]: analytic %.12g, finite difference %.12g (L=%d eps=%g)", m,
                      analytic_transport, fd_transport, o->iterations, o->epsilon);
        l1_grad_norm += fabs(analytic_transport);
    }
    ck_assert_msg(l1_grad_norm > 1e-4, "L1's gradient is zero: the check shows nothing");
    rs_sinkhorn_workspace_free(ws);
}

START_TEST(test_gradient_matches_finite_differences)
{
    fixture f;
    fixture_open(&f);
    rs_sinkhorn_options o;
    rs_sinkhorn_options_default(&o);
    o.k = 8;
    static const int iterations[] = {1, 5, 20, 5};
    static const double epsilons[] = {1.0, 0.1, 0.03, 1.0};
    static const double alphas[] = {0.03, 0.3, 0.0, 0.03};
    static const double weights[] = {1.0, 1.0, 1.0, 300.0};
    for (int renormalise = 0; renormalise <= 1; renormalise++)
        for (int t = 0; t < 4; t++) {
            o.renormalise_topk = renormalise;
            o.iterations = iterations[t];
            o.epsilon = epsilons[t];
            o.alpha = alphas[t];
            o.transport_weight = weights[t];
            check_gradient(&f, &o, (uint32_t)(3 + 7 * t), 90 + t);
        }
    fixture_close(&f);
}
END_TEST

static int by_score_desc(const void *a, const void *b)
{
    const rs_scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* Ik is the true top-k of the logits (a full sort; ties to the smaller
 * id), whatever the history. */
START_TEST(test_topk_is_the_true_topk)
{
    enum { N = 700 };
    rs_rng rng;
    rs_rng_seed(&rng, 31);
    rs_cooccur_options co;
    rs_cooccur_options_default(&co);
    rs_csr empty = {.n_rows = 0, .n_cols = N};
    uint64_t zero = 0;
    empty.indptr = &zero;
    rs_cooccur cost;
    rs_error err;
    ck_assert(rs_cooccur_build(&empty, &co, &cost, &err) == 0);
    double z[N], grad[N], loss;
    rs_scored all[N];
    for (int trial = 0; trial < 10; trial++) {
        uint32_t k = 1 + (uint32_t)rs_rng_below(&rng, 150);
        rs_sinkhorn_workspace *ws = workspace(3, 1.0, k, N, 4);
        for (uint32_t i = 0; i < N; i++) {
            z[i] = (double)rs_rng_below(&rng, 200) / 9.0 - 10.0; /* many ties */
            all[i] = (rs_scored){(float)z[i], i};
        }
        qsort(all, N, sizeof(all[0]), by_score_desc);
        uint32_t history[4] = {5, 17, 333, 600};
        ck_assert(rs_sinkhorn_loss(ws, &cost, z, history, 4, &loss, grad, NULL, &err) == 0);
        const uint32_t *top;
        ck_assert_uint_eq(rs_sinkhorn_last_topk(ws, &top), k);
        for (uint32_t c = 0; c < k; c++) ck_assert_uint_eq(top[c], all[c].id);
        rs_sinkhorn_workspace_free(ws);
    }
    rs_cooccur_free(&cost);
}
END_TEST

/* The float path's top-k (a sampled threshold pre-filters the items when
 * there are many) is the true top-k too, with ties, and when the sample
 * is adversarial: the largest logits exactly on the sample's stride, so
 * that too few items pass the threshold and it must scan them all. */
START_TEST(test_float_topk_is_the_true_topk)
{
    enum { N = 6000 };
    rs_rng rng;
    rs_rng_seed(&rng, 32);
    rs_cooccur_options co;
    rs_cooccur_options_default(&co);
    rs_csr empty = {.n_rows = 0, .n_cols = N};
    uint64_t zero = 0;
    empty.indptr = &zero;
    rs_cooccur cost;
    rs_error err;
    ck_assert(rs_cooccur_build(&empty, &co, &cost, &err) == 0);
    static float z[N], grad[N];
    static rs_scored all[N];
    double loss;
    for (int trial = 0; trial < 12; trial++) {
        uint32_t k = trial < 4 ? 200 : 1 + (uint32_t)rs_rng_below(&rng, 300);
        rs_sinkhorn_workspace *ws = workspace(3, 1.0, k, N, 4);
        for (uint32_t i = 0; i < N; i++) {
            z[i] = trial % 2 ? (float)rs_rng_below(&rng, 300) / 7.0f - 10.0f /* ties */
                             : (float)rs_rng_normal(&rng);
            if (trial % 4 == 3 && i % (N / 512) == 0) z[i] += 100.0f; /* the sampled ones */
            all[i] = (rs_scored){z[i], i};
        }
        qsort(all, N, sizeof(all[0]), by_score_desc);
        uint32_t history[4] = {5, 17, 333, 600};
        ck_assert(rs_sinkhorn_loss_float(ws, &cost, z, history, 4, &loss, grad, NULL, &err) == 0);
        const uint32_t *top;
        ck_assert_uint_eq(rs_sinkhorn_last_topk(ws, &top), k);
        for (uint32_t c = 0; c < k; c++) ck_assert_uint_eq(top[c], all[c].id);
        rs_sinkhorn_workspace_free(ws);
    }
    rs_cooccur_free(&cost);
}
END_TEST

/* Logits whose top-k spread past the plain-domain core's range take the
 * double reference: the same loss as rs_sinkhorn_loss on them. */
START_TEST(test_float_path_wide_logits)
{
    fixture f;
    fixture_open(&f);
    uint32_t n = f.data.train.n_cols, user = 11;
    const uint32_t *history = f.data.train.indices + f.data.train.indptr[user];
    uint32_t n_history = rs_csr_row_len(&f.data.train, user);
    rs_sinkhorn_workspace *ws = workspace(5, 1.0, 8, n, 30);
    double z[256], g[256], loss, loss_float;
    float zf[256], gf[256];
    for (uint32_t m = 0; m < n; m++) z[m] = zf[m] = (float)(-(double)(m % 7));
    z[0] = zf[0] = 600.0f; /* the top-8 span 600 */
    rs_error err;
    ck_assert(rs_sinkhorn_loss(ws, &f.cost, z, history, n_history, &loss, g, NULL, &err) == 0);
    ck_assert(rs_sinkhorn_loss_float(ws, &f.cost, zf, history, n_history, &loss_float, gf, NULL,
                                     &err) == 0);
    ck_assert(loss_float == loss);
    for (uint32_t m = 0; m < n; m++) ck_assert(gf[m] == (float)g[m]);
    rs_sinkhorn_workspace_free(ws);
    fixture_close(&f);
}
END_TEST

START_TEST(test_deterministic_and_float_entry_agrees)
{
    fixture f;
    fixture_open(&f);
    uint32_t n = f.data.train.n_cols, user = 11;
    const uint32_t *history = f.data.train.indices + f.data.train.indptr[user];
    uint32_t n_history = rs_csr_row_len(&f.data.train, user);
    rs_sinkhorn_workspace *a = workspace(5, 1.0, 8, n, 30), *b = workspace(5, 1.0, 8, n, 30);
    rs_rng rng;
    rs_rng_seed(&rng, 4);
    double z[256], ga[256], gb[256], la, lb, lf;
    float zf[256], gf[256];
    spaced_logits(&rng, n, z);
    for (uint32_t m = 0; m < n; m++) z[m] = zf[m] = (float)z[m];
    rs_error err;
    ck_assert(rs_sinkhorn_loss(a, &f.cost, z, history, n_history, &la, ga, NULL, &err) == 0);
    ck_assert(rs_sinkhorn_loss(b, &f.cost, z, history, n_history, &lb, gb, NULL, &err) == 0);
    ck_assert(la == lb && memcmp(ga, gb, n * sizeof(double)) == 0);
    ck_assert(rs_sinkhorn_loss(a, &f.cost, z, history, n_history, &lb, gb, NULL, &err) == 0);
    ck_assert(la == lb && memcmp(ga, gb, n * sizeof(double)) == 0); /* no state carried over */
    ck_assert(rs_sinkhorn_loss_float(a, &f.cost, zf, history, n_history, &lf, gf, NULL, &err) == 0);
    ck_assert(fabs(lf - la) <= 1e-6 * fabs(la)); /* see test_float_path_matches_reference */
    for (uint32_t m = 0; m < n; m++) ck_assert(fabs(gf[m] - ga[m]) <= 1e-6 * fmax(1, fabs(ga[m])));
    rs_sinkhorn_workspace_free(a);
    rs_sinkhorn_workspace_free(b);
    fixture_close(&f);
}
END_TEST

/* --- the float path (what training runs) against the double reference --- */

/* A random binary matrix of ml10m's shape in small: skewed item
 * popularity, log-normal history lengths, one history of `longest` items. */
static void random_matrix(rs_rng *rng, uint32_t users, uint32_t items, uint32_t longest, rs_csr *m)
{
    *m = (rs_csr){0}; /* values NULL: binary */
    m->n_rows = users;
    m->n_cols = items;
    m->indptr = malloc((users + 1) * sizeof(uint64_t));
    uint32_t *len = malloc(users * sizeof(uint32_t));
    uint8_t *taken = calloc(items, 1);
    ck_assert(m->indptr && len && taken);
    m->indptr[0] = 0;
    for (uint32_t u = 0; u < users; u++) {
        double l = u == 0 ? longest : floor(exp(2.5 + rs_rng_normal(rng)));
        len[u] = (uint32_t)fmin(fmax(l, 1.0), longest);
        m->indptr[u + 1] = m->indptr[u] + len[u];
    }
    m->indices = malloc(m->indptr[users] * sizeof(uint32_t));
    ck_assert(m->indices);
    for (uint32_t u = 0; u < users; u++) {
        uint32_t *row = m->indices + m->indptr[u], t = 0, next = 0;
        while (t < len[u]) {
            double x = rs_rng_uniform(rng);
            uint32_t item = (uint32_t)(items * x * x);
            if (item < items && !taken[item]) taken[item] = 1, t++;
        }
        for (uint32_t i = 0; i < items; i++)
            if (taken[i]) row[next++] = i, taken[i] = 0;
    }
    free(len);
    free(taken);
}

/* Per-entry bound on |float path - reference| for one gradient entry.
 * The float path's error sources, each a few float roundings (2^-24) of a
 * term's size: exp(z_m - max z) in float, whose argument is rounded to
 * |z_m - max z| 2^-24 and whose polynomial is within 3e-7 (5 units of
 * 2^-24), so W x^_m to (|z_m - max| + 8) 2^-24 relative; the float
 * products and sums with alpha, the history's 1 - alpha and the transport
 * gradient G_m; and the reference's own rounding to float. 16 units of
 * each covers their sum with room. */
static double gradient_bound(double z_gap, double weighted_prob, double alpha, int in_history,
                             double transport_grad, double ref)
{
    const double unit = 1.0 / 16777216.0; /* 2^-24 */
    return 16 * unit *
           ((z_gap + 8) * weighted_prob + alpha + in_history + fabs(transport_grad) + fabs(ref));
}

typedef struct comparison {
    double loss_error, grad_error; /* largest error over the bound's scale */
} comparison;

/* One user on both paths; asserts the float path within the bounds and
 * records the largest ratio of error to bound. */
static void compare_paths(const rs_sinkhorn_options *o, const rs_cooccur *cost, const float *zf,
                          const uint32_t *history, uint32_t n_history, uint32_t longest,
                          comparison *worst)
{
    uint32_t n = cost->n_items;
    rs_error err;
    rs_sinkhorn_workspace *ws = rs_sinkhorn_workspace_create(o, n, longest, &err);
    ck_assert_msg(ws != NULL, "%s", err.msg);
    double *z = malloc(n * sizeof(double)), *grad = malloc(n * sizeof(double));
    float *gf = malloc(n * sizeof(float));
    uint8_t *in_history = calloc(n, 1);
    ck_assert(z && grad && gf && in_history);
    for (uint32_t m = 0; m < n; m++) z[m] = zf[m];
    for (uint32_t t = 0; t < n_history; t++) in_history[history[t]] = 1;
    double loss, loss_float;
    rs_sinkhorn_parts parts, parts_float;
    ck_assert(rs_sinkhorn_loss(ws, cost, z, history, n_history, &loss, grad, &parts, &err) == 0);
    ck_assert(rs_sinkhorn_loss_float(ws, cost, zf, history, n_history, &loss_float, gf,
                                     &parts_float, &err) == 0);
    /* loss: L2 carries W lse, and lse = max + log sum exp is off by about
     * the relative error of the float exponentials' sum (< 1e-6); L1 by
     * that of nu = exp(z - lse) */
    double max = -INFINITY, sum = 0.0, alpha = o->alpha;
    for (uint32_t m = 0; m < n; m++) max = fmax(max, z[m]);
    for (uint32_t m = 0; m < n; m++) sum += exp(z[m] - max);
    double W = n_history + alpha * (n - n_history), lse = max + log(sum);
    double loss_scale = 1e-6 * (fabs(parts.concentration) + W * (1.0 + fabs(lse)) +
                                o->transport_weight * parts.transport);
    double loss_ratio = fabs(loss_float - loss) / loss_scale;
    ck_assert_msg(loss_ratio <= 1.0, "loss %.12g, reference %.12g (|I1| %u, eps %g)", loss_float,
                  loss, n_history, o->epsilon);
    ck_assert(fabs(parts_float.transport - parts.transport) <= 1e-6 * parts.transport + 1e-12);
    ck_assert(fabs(parts_float.topk_mass - parts.topk_mass) <= 1e-6 * parts.topk_mass);
    worst->loss_error = fmax(worst->loss_error, loss_ratio);
    for (uint32_t m = 0; m < n; m++) {
        double prob = exp(z[m] - lse), l2 = W * prob - alpha - (in_history[m] ? 1.0 - alpha : 0);
        double transport_grad = o->renormalise_topk ? grad[m] : grad[m] - l2;
        double bound =
            gradient_bound(max - z[m], W * prob, alpha, in_history[m], transport_grad, grad[m]);
        double ratio = fabs(gf[m] - grad[m]) / bound;
        ck_assert_msg(ratio <= 1.0, "d/dz[%u]: float %.9g, reference %.12g (|I1| %u, eps %g)", m,
                      gf[m], grad[m], n_history, o->epsilon);
        worst->grad_error = fmax(worst->grad_error, ratio);
    }
    free(z);
    free(grad);
    free(gf);
    free(in_history);
    rs_sinkhorn_workspace_free(ws);
}

/* The float path (float log-softmax and gradient, plain-domain Sinkhorn
 * core in double, pre-filtered top-k, branch-free gather) matches the
 * double reference on random logits over 6,000 items (enough for the
 * top-k pre-filter to run), for short histories and one of 700 items,
 * across the options. eps = 0.01 is why the core stays double: the kernel
 * then reaches exp(-100) ~ 4e-44, below float's smallest normal number. */
START_TEST(test_float_path_matches_reference)
{
    enum { USERS = 400, ITEMS = 6000, LONGEST = 700 };
    rs_rng rng;
    rs_rng_seed(&rng, 77);
    rs_csr train;
    random_matrix(&rng, USERS, ITEMS, LONGEST, &train);
    rs_cooccur_options co;
    rs_cooccur_options_default(&co);
    rs_cooccur cost;
    rs_error err;
    ck_assert_msg(rs_cooccur_build(&train, &co, &cost, &err) == 0, "%s", err.msg);
    float *z = malloc(ITEMS * sizeof(float));
    ck_assert(z != NULL);
    static const uint32_t users[] = {0, 1, 2, 5, 17, 123};
    static const double epsilons[] = {1.0, 0.1, 0.01};
    static const uint32_t ks[] = {200, 37};
    comparison worst = {0, 0};
    for (int renormalise = 0; renormalise <= 1; renormalise++)
        for (int e = 0; e < 3; e++)
            for (int u = 0; u < 6; u++) {
                rs_sinkhorn_options o;
                rs_sinkhorn_options_default(&o);
                o.renormalise_topk = renormalise;
                o.epsilon = epsilons[e];
                o.k = ks[u % 2];
                o.transport_weight = u == 3 ? 300.0 : 1.0;
                o.alpha = u == 4 ? 0.0 : 0.03;
                double spread = u % 3 == 2 ? 4.0 : 1.0;
                for (uint32_t m = 0; m < ITEMS; m++)
                    z[m] = (float)(spread * rs_rng_normal(&rng) - 3e-4 * m);
                uint32_t user = users[u];
                compare_paths(&o, &cost, z, train.indices + train.indptr[user],
                              rs_csr_row_len(&train, user), LONGEST, &worst);
            }
    printf("float path against the reference: largest error %.3f of the loss bound, %.3f of "
           "the gradient bound\n",
           worst.loss_error, worst.grad_error);
    free(z);
    rs_cooccur_free(&cost);
    rs_csr_free(&train);
}
END_TEST

/* The number in a fixture name ("user12", "item7"). */
static int name_number(const rs_idtable *t, uint32_t id)
{
    size_t len;
    const char *name = rs_idtable_name(t, id, &len);
    while (len > 0 && *name >= 'a' && *name <= 'z') name++, len--;
    return atoi(name);
}

/* What the transport term is for: between two candidate items the model
 * rates equally, its gradient favours (pushes up harder) the one similar
 * to the user's items. In the fixture an item is co-rated only with items
 * of its own parity, so a same-parity candidate costs less than 1 from the
 * history and an other-parity one costs exactly 1. */
START_TEST(test_transport_favours_similar_items)
{
    fixture f;
    fixture_open(&f);
    const rs_csr *train = &f.data.train;
    uint32_t n = train->n_cols, user = 4;
    const uint32_t *history = train->indices + train->indptr[user];
    uint32_t n_history = rs_csr_row_len(train, user);
    int parity = name_number(f.data.users, user) % 2;
    double z[256], grad[256], l2_grad[256], loss;
    int is_history[256] = {0};
    for (uint32_t t = 0; t < n_history; t++) is_history[history[t]] = 1;
    uint32_t near = n, far = n;
    for (uint32_t m = 0; m < n; m++) {
        z[m] = -3.0 - 0.01 * m;
        if (is_history[m]) z[m] = 1.0 + 0.01 * m;
        int same = name_number(f.data.items, m) % 2 == parity;
        if (!is_history[m] && same && near == n) near = m;
        if (!same && far == n) far = m;
    }
    ck_assert(near < n && far < n);
    ck_assert(rs_cooccur_cost(&f.cost, history[0], far) == 1.0f);
    z[near] = z[far] = 0.5;
    for (int renormalise = 0; renormalise <= 1; renormalise++) {
        rs_sinkhorn_options o;
        rs_sinkhorn_options_default(&o);
        o.k = n_history + 2; /* Ik = the history, near and far */
        o.renormalise_topk = renormalise;
        rs_error err;
        rs_sinkhorn_workspace *ws = rs_sinkhorn_workspace_create(&o, n, n_history, &err);
        ck_assert(ws != NULL);
        ck_assert(rs_sinkhorn_loss(ws, &f.cost, z, history, n_history, &loss, grad, NULL, &err) ==
                  0);
        concentration_gradient(z, n, history, n_history, o.alpha, l2_grad);
        double near_grad = grad[near] - l2_grad[near], far_grad = grad[far] - l2_grad[far];
        ck_assert_msg(near_grad < far_grad - 1e-4, "renormalise %d: d L1 / d z near %g, far %g",
                      renormalise, near_grad, far_grad);
        rs_sinkhorn_workspace_free(ws);
    }
    fixture_close(&f);
}
END_TEST

/* The batch entry equals per-row calls (scaled), in place, for any thread
 * count. */
START_TEST(test_batch_matches_rows)
{
    fixture f;
    fixture_open(&f);
    const rs_csr *train = &f.data.train;
    uint32_t n = train->n_cols;
    enum { ROWS = 9 };
    rs_sinkhorn_options o;
    rs_sinkhorn_options_default(&o);
    o.k = 8;
    rs_error err;
    rs_sinkhorn_workspace *ws = rs_sinkhorn_workspace_create(&o, n, 30, &err);
    ck_assert(ws != NULL);
    rs_rng rng;
    rs_rng_seed(&rng, 8);
    static float logits[ROWS * 256], work[ROWS * 256], want[ROWS * 256];
    double z[256];
    double want_loss = 0.0, row_loss;
    for (uint32_t r = 0; r < ROWS; r++) {
        spaced_logits(&rng, n, z);
        for (uint32_t m = 0; m < n; m++) logits[r * n + m] = (float)z[m];
        ck_assert(rs_sinkhorn_loss_float(
                      ws, &f.cost, logits + r * n, train->indices + train->indptr[r],
                      rs_csr_row_len(train, r), &row_loss, want + r * n, NULL, &err) == 0);
        for (uint32_t m = 0; m < n; m++) want[r * n + m] *= 0.25f;
        want_loss += row_loss;
    }
    rs_sparse_batch targets = {ROWS, train->indptr, train->indices, NULL};
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        rs_sinkhorn_batch *b = rs_sinkhorn_batch_create(&o, n, 30, ROWS, &err);
        ck_assert_msg(b != NULL, "%s", err.msg);
        memcpy(work, logits, sizeof(float) * ROWS * n);
        double loss;
        rs_sinkhorn_parts sum;
        ck_assert_msg(
            rs_sinkhorn_batch_loss(b, &f.cost, work, work, &targets, 0.25f, &loss, &sum, &err) == 0,
            "%s", err.msg);
        ck_assert(loss == want_loss);
        ck_assert(fabs(sum.transport + sum.concentration - loss) < 1e-9 * loss);
        ck_assert(memcmp(work, want, sizeof(float) * ROWS * n) == 0);
        rs_sinkhorn_batch_free(b);
    }
    rs_sinkhorn_batch *small = rs_sinkhorn_batch_create(&o, n, 3, ROWS, &err);
    double loss;
    ck_assert(small != NULL);
    ck_assert_int_eq(
        rs_sinkhorn_batch_loss(small, &f.cost, work, logits, &targets, 1.0f, &loss, NULL, &err),
        -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "exceeds"));
    rs_sinkhorn_batch_free(small);
    rs_sinkhorn_workspace_free(ws);
    fixture_close(&f);
}
END_TEST

START_TEST(test_edge_cases)
{
    fixture f;
    fixture_open(&f);
    uint32_t n = f.data.train.n_cols;
    rs_sinkhorn_workspace *ws = workspace(5, 1.0, 8, n, 3);
    double z[256] = {0}, grad[256], loss = 1.0;
    for (uint32_t m = 0; m < n; m++) grad[m] = 1.0;
    rs_error err;
    ck_assert(rs_sinkhorn_loss(ws, &f.cost, z, NULL, 0, &loss, grad, NULL, &err) == 0);
    ck_assert(loss == 0.0);
    for (uint32_t m = 0; m < n; m++) ck_assert(grad[m] == 0.0);
    uint32_t long_history[4] = {0, 1, 2, 3}, bad[1] = {n};
    ck_assert_int_eq(rs_sinkhorn_loss(ws, &f.cost, z, long_history, 4, &loss, grad, NULL, &err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "exceeds"));
    ck_assert_int_eq(rs_sinkhorn_loss(ws, &f.cost, z, bad, 1, &loss, grad, NULL, &err), -1);
    rs_sinkhorn_workspace_free(ws);
    rs_sinkhorn_options o;
    rs_sinkhorn_options_default(&o);
    o.epsilon = 0.001;
    ck_assert_ptr_null(rs_sinkhorn_workspace_create(&o, n, 3, &err));
    fixture_close(&f);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("sinkhorn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_plan_marginals_converge);
    tcase_add_test(tc, test_unbalanced_rows_converge_to_scaled_mu);
    tcase_add_test(tc, test_tiny_marginals_stay_finite);
    tcase_add_test(tc, test_gradient_matches_finite_differences);
    tcase_add_test(tc, test_topk_is_the_true_topk);
    tcase_add_test(tc, test_deterministic_and_float_entry_agrees);
    tcase_add_test(tc, test_transport_favours_similar_items);
    tcase_add_test(tc, test_batch_matches_rows);
    tcase_add_test(tc, test_edge_cases);
    tcase_add_test(tc, test_float_path_matches_reference);
    tcase_add_test(tc, test_float_topk_is_the_true_topk);
    tcase_add_test(tc, test_float_path_wide_logits);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
