/* test_linalg.c - Cholesky solves against a double elimination, the Gram
 * matrix against a brute-force product, fold-in against its normal
 * equations. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "random_csr.h"
#include "rng.h"

static float *random_matrix(uint64_t rows, uint32_t cols, rs_rng *rng)
{
    float *m = malloc(sizeof(float) * rows * cols);
    ck_assert_ptr_nonnull(m);
    for (uint64_t i = 0; i < rows * cols; i++) m[i] = (float)rs_rng_normal(rng);
    return m;
}

START_TEST(test_cholesky_matches_double_solve)
{
    rs_rng rng;
    rs_rng_seed(&rng, 11);
    static const uint32_t sizes[] = {1, 3, 17, 64, 256};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        uint32_t k = sizes[s];
        /* SPD: RᵀR over 2k rows plus a ridge of 1. */
        float *r = random_matrix(2 * k, k, &rng), *a = malloc(sizeof(float) * k * k);
        float *b = random_matrix(k, 1, &rng);
        double *ad = malloc(sizeof(double) * k * k), *bd = malloc(sizeof(double) * k);
        ck_assert(a && ad && bd);
        rs_gram(r, 2 * k, k, a);
        for (uint32_t i = 0; i < k; i++) a[(size_t)i * k + i] += 1.0f;
        for (size_t i = 0; i < (size_t)k * k; i++) ad[i] = a[i];
        for (uint32_t i = 0; i < k; i++) bd[i] = b[i];
        gauss_solve(ad, bd, (int)k, 1);
        rs_error err;
        ck_assert_msg(rs_cholesky_factor(a, k, &err) == 0, "%s", err.msg);
        rs_cholesky_solve(a, k, b);
        double diff = 0, norm = 0;
        for (uint32_t i = 0; i < k; i++)
            diff += (b[i] - bd[i]) * (b[i] - bd[i]), norm += bd[i] * bd[i];
        ck_assert_msg(sqrt(diff / norm) < 1e-4, "k=%u relative error %g", k, sqrt(diff / norm));
        free(r), free(a), free(b), free(ad), free(bd);
    }
}
END_TEST

START_TEST(test_cholesky_rejects_indefinite)
{
    float a[4] = {1, 2, 2, 1}; /* eigenvalues 3 and -1 */
    rs_error err;
    ck_assert_int_eq(rs_cholesky_factor(a, 2, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not positive definite"));
}
END_TEST

START_TEST(test_gram_matches_brute_force)
{
    rs_rng rng;
    rs_rng_seed(&rng, 12);
    uint32_t n = 300, k = 19;
    float *v = random_matrix(n, k, &rng), g[19 * 19];
    rs_gram(v, n, k, g);
    for (uint32_t a = 0; a < k; a++)
        for (uint32_t b = 0; b < k; b++) {
            double s = 0;
            for (uint32_t r = 0; r < n; r++) s += (double)v[r * k + a] * v[r * k + b];
            ck_assert_msg(fabs(g[a * k + b] - s) < 1e-4 * (1 + fabs(s)), "(%u,%u)", a, b);
        }
    free(v);
}
END_TEST

/* The fold-in solves (w0 G + w1 Σ_h v vᵀ + reg I) u = Σ_h v: check the
 * residual of those normal equations in double, for ridge (w1 = 0) and
 * iALS (w1 = 1) weights and a history longer than one gathered chunk. */
START_TEST(test_foldin_solves_normal_equations)
{
    rs_rng rng;
    rs_rng_seed(&rng, 13);
    uint32_t m = 400, k = 24;
    float *v = random_matrix(m, k, &rng), *g = malloc(sizeof(float) * k * k);
    float *work = malloc(sizeof(float) * rs_foldin_workspace_floats(k)), u[24];
    ck_assert(g && work);
    for (size_t i = 0; i < (size_t)m * k; i++) v[i] *= 0.1f;
    rs_gram(v, m, k, g);
    uint32_t history[300];
    for (uint32_t i = 0; i < 300; i++) history[i] = (i * 7) % m; /* distinct: 7 ∤ 400 */
    static const rs_foldin_weights weights[] = {{1, 0, 0.5f}, {0.1f, 1, 0.05f}, {0.3f, 1, 2}};
    static const uint32_t lengths[] = {1, 5, 128, 129, 300};
    for (size_t w = 0; w < 3; w++)
        for (size_t l = 0; l < 5; l++) {
            uint32_t n = lengths[l];
            rs_error err;
            ck_assert_msg(rs_foldin(v, k, g, history, n, &weights[w], u, work, &err) == 0, "%s",
                          err.msg);
            double worst = 0, scale = 0;
            for (uint32_t a = 0; a < k; a++) {
                double lhs = weights[w].reg * u[a], rhs = 0;
                for (uint32_t b = 0; b < k; b++) {
                    double gram_ab = 0;
                    for (uint32_t r = 0; r < m; r++) gram_ab += (double)v[r * k + a] * v[r * k + b];
                    double hist_ab = 0;
                    for (uint32_t h = 0; h < n; h++)
                        hist_ab += (double)v[history[h] * k + a] * v[history[h] * k + b];
                    lhs += (weights[w].unobserved * gram_ab + weights[w].observed * hist_ab) * u[b];
                }
                for (uint32_t h = 0; h < n; h++) rhs += v[history[h] * k + a];
                worst = fmax(worst, fabs(lhs - rhs));
                scale = fmax(scale, fabs(rhs));
            }
            ck_assert_msg(worst < 1e-4 * (1 + scale), "weights %zu n %u residual %g", w, n, worst);
        }
    free(v), free(g), free(work);
}
END_TEST

START_TEST(test_foldin_rejects_bad_arguments)
{
    float v[4] = {1, 0, 0, 1}, g[4] = {1, 0, 0, 1}, work[4 + RS_FOLDIN_CHUNK * 2], u[2];
    uint32_t h[1] = {0};
    rs_error err;
    rs_foldin_weights no_reg = {1, 1, 0};
    ck_assert_int_eq(rs_foldin(v, 2, g, h, 1, &no_reg, u, work, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "regularisation"));
    rs_foldin_weights ok = {1, 1, 1};
    ck_assert_int_eq(rs_foldin(v, 0, g, h, 1, &ok, u, work, &err), -1);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("linalg");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cholesky_matches_double_solve);
    tcase_add_test(tc, test_cholesky_rejects_indefinite);
    tcase_add_test(tc, test_gram_matches_brute_force);
    tcase_add_test(tc, test_foldin_solves_normal_equations);
    tcase_add_test(tc, test_foldin_rejects_bad_arguments);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
