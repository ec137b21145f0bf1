/* test_ials.c - iALS against its objective: each half-step is the exact
 * minimiser (the gradient w.r.t. the solved side, computed by brute force
 * over every user-item pair in double, vanishes), the objective never
 * increases, a known user's fold-in is their stored factor, and fits are
 * reproducible for a seed and any thread count. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ials.h"
#include "linalg.h"
#include "random_csr.h"
#include "transpose.h"

enum { USERS = 45, ITEMS = 30, K = 6 };

static void options(rs_ials_options *o, float nu)
{
    rs_ials_options_default(o);
    o->factors = K;
    o->reg = 0.05f;
    o->unobserved_weight = 0.2f;
    o->reg_exponent = nu;
    o->init_stddev = 1.0f;
    o->epochs = 3;
}

/* Largest |∂L/∂f_r| entry over the rows of one side, relative to the
 * largest entry of its two data terms (so the bound is scale-free). side 0:
 * users (solved rows), 1: items. */
static double relative_gradient(const rs_ials *m, const double *x, int side)
{
    uint32_t rows = side ? m->n_items : m->n_users, others = side ? m->n_users : m->n_items;
    const float *f = side ? m->item_factors : m->user_factors;
    const float *g = side ? m->user_factors : m->item_factors;
    double worst = 0, scale = 0;
    for (uint32_t r = 0; r < rows; r++) {
        double grad[K] = {0}, data[K] = {0};
        uint32_t count = 0;
        for (uint32_t o = 0; o < others; o++) {
            double xy = side ? x[o * ITEMS + r] : x[r * ITEMS + o], y = 0;
            for (int j = 0; j < K; j++) y += (double)f[r * K + j] * g[o * K + j];
            count += xy > 0;
            /* d/dy of 1[x](y − 1)² + α0 y² */
            double dy = 2 * (xy > 0 ? y - 1 : 0) + 2 * m->unobserved_weight * y;
            for (int j = 0; j < K; j++)
                grad[j] += dy * g[o * K + j], data[j] += fabs(dy * g[o * K + j]);
        }
        double reg = rs_ials_row_reg(m, count, others);
        for (int j = 0; j < K; j++) {
            grad[j] += 2 * reg * f[r * K + j];
            worst = fmax(worst, fabs(grad[j]));
            scale = fmax(scale, data[j]);
        }
    }
    return worst / scale;
}

START_TEST(test_half_steps_are_exact_minimisers)
{
    rs_csr x, by_item;
    random_csr(USERS, ITEMS, 0.2, 31, &x);
    rs_error err;
    ck_assert_msg(rs_csr_transpose(&x, &by_item, &err) == 0, "%s", err.msg);
    double *dense = csr_to_dense(&x);
    for (float nu = 0; nu <= 1; nu += 1) {
        rs_ials_options o;
        options(&o, nu);
        rs_ials m;
        ck_assert_msg(rs_ials_init(&x, &o, &m, &err) == 0, "%s", err.msg);
        /* Before solving, the random users are far from optimal. */
        ck_assert_double_gt(relative_gradient(&m, dense, 0), 1e-2);
        double previous = rs_ials_objective(&m, &x);
        for (int step = 0; step < 6; step++) {
            int side = step % 2;
            int rc = side ? rs_ials_update_items(&m, &by_item, &err)
                          : rs_ials_update_users(&m, &x, &err);
            ck_assert_msg(rc == 0, "%s", err.msg);
            double g = relative_gradient(&m, dense, side);
            ck_assert_msg(g < 1e-5, "nu %g step %d: relative gradient %g", nu, step, g);
            double now = rs_ials_objective(&m, &x);
            ck_assert_msg(now <= previous * (1 + 1e-6), "step %d: objective %.9g after %.9g", step,
                          now, previous);
            previous = now;
        }
        rs_ials_free(&m);
    }
    free(dense);
    rs_csr_free(&by_item);
    rs_csr_free(&x);
}
END_TEST

START_TEST(test_objective_matches_brute_force)
{
    rs_csr x;
    random_csr(USERS, ITEMS, 0.2, 32, &x);
    rs_ials_options o;
    options(&o, 1);
    rs_ials m;
    rs_error err;
    ck_assert_msg(rs_ials_init(&x, &o, &m, &err) == 0, "%s", err.msg);
    double *dense = csr_to_dense(&x), want = 0;
    uint32_t item_counts[ITEMS] = {0};
    for (int u = 0; u < USERS; u++)
        for (int i = 0; i < ITEMS; i++) item_counts[i] += dense[u * ITEMS + i] > 0;
    for (int u = 0; u < USERS; u++)
        for (int i = 0; i < ITEMS; i++) {
            double y = 0;
            for (int j = 0; j < K; j++)
                y += (double)m.user_factors[u * K + j] * m.item_factors[i * K + j];
            want +=
                (dense[u * ITEMS + i] > 0 ? (y - 1) * (y - 1) : 0) + o.unobserved_weight * y * y;
        }
    for (int u = 0; u < USERS; u++)
        for (int j = 0; j < K; j++)
            want += rs_ials_row_reg(&m, rs_csr_row_len(&x, u), ITEMS) * m.user_factors[u * K + j] *
                    m.user_factors[u * K + j];
    for (int i = 0; i < ITEMS; i++)
        for (int j = 0; j < K; j++)
            want += rs_ials_row_reg(&m, item_counts[i], USERS) * m.item_factors[i * K + j] *
                    m.item_factors[i * K + j];
    double got = rs_ials_objective(&m, &x);
    ck_assert_msg(fabs(got - want) < 1e-5 * want, "%.9g vs %.9g", got, want);
    free(dense);
    rs_ials_free(&m);
    rs_csr_free(&x);
}
END_TEST

START_TEST(test_foldin_of_known_user_is_stored_factor)
{
    rs_csr x;
    random_csr(USERS, ITEMS, 0.25, 33, &x);
    rs_ials_options o;
    options(&o, 1);
    rs_ials m;
    rs_error err;
    ck_assert_msg(rs_ials_fit(&x, &o, NULL, NULL, &m, &err) == 0, "%s", err.msg);
    float gram[K * K], u[K], *work = malloc(sizeof(float) * rs_foldin_workspace_floats(K));
    ck_assert_ptr_nonnull(work);
    rs_gram(m.item_factors, m.n_items, K, gram);
    for (uint32_t user = 0; user < USERS; user++) {
        ck_assert_msg(rs_ials_foldin(&m, gram, x.indices + x.indptr[user], rs_csr_row_len(&x, user),
                                     u, work, &err) == 0,
                      "%s", err.msg);
        for (int j = 0; j < K; j++)
            ck_assert_msg(fabsf(u[j] - m.user_factors[user * K + j]) <= 1e-6f * (1 + fabsf(u[j])),
                          "user %u factor %d: %g vs %g", user, j, u[j],
                          m.user_factors[user * K + j]);
    }
    free(work);
    rs_ials_free(&m);
    rs_csr_free(&x);
}
END_TEST

START_TEST(test_reproducible_for_seed_and_threads)
{
    rs_csr x;
    random_csr(300, 80, 0.1, 34, &x);
    rs_ials_options o;
    options(&o, 1);
    rs_ials runs[3];
    int threads[3] = {2, 2, 1};
    rs_error err;
    for (int r = 0; r < 3; r++) {
        omp_set_num_threads(threads[r]);
        ck_assert_msg(rs_ials_fit(&x, &o, NULL, NULL, &runs[r], &err) == 0, "%s", err.msg);
    }
    for (int r = 1; r < 3; r++) {
        ck_assert(memcmp(runs[0].user_factors, runs[r].user_factors, sizeof(float) * 300 * K) == 0);
        ck_assert(memcmp(runs[0].item_factors, runs[r].item_factors, sizeof(float) * 80 * K) == 0);
    }
    o.seed++;
    rs_ials other;
    ck_assert_msg(rs_ials_fit(&x, &o, NULL, NULL, &other, &err) == 0, "%s", err.msg);
    ck_assert(memcmp(runs[0].item_factors, other.item_factors, sizeof(float) * 80 * K) != 0);
    rs_ials_free(&other);
    for (int r = 0; r < 3; r++) rs_ials_free(&runs[r]);
    rs_csr_free(&x);
}
END_TEST

START_TEST(test_rejects_bad_options)
{
    rs_csr x;
    random_csr(10, 5, 0.3, 35, &x);
    rs_ials_options o;
    options(&o, 1);
    rs_ials m;
    rs_error err;
    o.factors = RS_LINALG_MAX_K + 1;
    ck_assert_int_eq(rs_ials_init(&x, &o, &m, &err), -1);
    options(&o, 1);
    o.unobserved_weight = 0;
    ck_assert_int_eq(rs_ials_init(&x, &o, &m, &err), -1);
    ck_assert_ptr_null(m.user_factors);
    rs_csr_free(&x);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("ials");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_half_steps_are_exact_minimisers);
    tcase_add_test(tc, test_objective_matches_brute_force);
    tcase_add_test(tc, test_foldin_of_known_user_is_stored_factor);
    tcase_add_test(tc, test_reproducible_for_seed_and_threads);
    tcase_add_test(tc, test_rejects_bad_options);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
