/* test_alias.c - alias tables: exact per-index probabilities of the built
 * table against w / sum(w), draw frequencies against the weights
 * (chi-square), and rejection of bad weights.
 *
 * RS_TEST_DRAWS overrides the number of draws per frequency test (default
 * 10^6, 2 * 10^5 under sanitizers). The chi-square critical values are for a
 * significance level of about 1e-6, so the tests are meaningful at any count.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alias.h"
#include "rng.h"

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_DRAWS 200000u
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEFAULT_DRAWS 200000u
#endif
#endif
#ifndef DEFAULT_DRAWS
#define DEFAULT_DRAWS 1000000u
#endif

static uint32_t n_draws(void)
{
    const char *s = getenv("RS_TEST_DRAWS");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v >= 1000 ? (uint32_t)v : DEFAULT_DRAWS;
}

/* Upper critical value of chi-square with df degrees of freedom at z
 * standard deviations (Wilson-Hilferty); z = 4.75 is p ~ 1e-6. */
static double chi2_critical(double df, double z)
{
    double a = 2.0 / (9.0 * df);
    double c = 1.0 - a + z * sqrt(a);
    return df * c * c * c;
}

/* Draws `draws` times and checks the counts against w with a chi-square
 * test; zero weights must never be drawn. */
static void check_frequencies(const rs_alias *a, const double *w, uint32_t n, uint64_t seed)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    uint32_t draws = n_draws();
    uint32_t *count = calloc(n, sizeof(uint32_t));
    ck_assert_ptr_nonnull(count);
    for (uint32_t t = 0; t < draws; t++) {
        uint32_t j = rs_alias_draw(a, &rng);
        /* Plain ifs in hot loops: every ck_assert records its location. */
        if (j >= n) ck_abort_msg("draw %u out of range (n = %u)", j, n);
        count[j]++;
    }
    double total = 0.0;
    for (uint32_t j = 0; j < n; j++) total += w[j];
    double chi2 = 0.0;
    uint32_t df = 0;
    for (uint32_t j = 0; j < n; j++) {
        if (w[j] == 0.0) {
            ck_assert_msg(count[j] == 0, "zero-weight index %u drawn %u times", j, count[j]);
            continue;
        }
        double expect = draws * w[j] / total;
        chi2 += (count[j] - expect) * (count[j] - expect) / expect;
        df++;
    }
    df -= 1;
    if (df > 0) {
        double crit = chi2_critical(df, 4.75);
        ck_assert_msg(chi2 < crit, "chi-square %.1f >= %.1f (df %u, %u draws)", chi2, crit, df,
                      draws);
    }
    free(count);
}

/* The built table's own probabilities equal w / total to 2^-32 per slot. */
static void check_exact(const rs_alias *a, const double *w, uint32_t n)
{
    double total = 0.0, sum = 0.0;
    for (uint32_t j = 0; j < n; j++) total += w[j];
    ck_assert(fabs(a->total - total) <= 1e-12 * total);
    for (uint32_t j = 0; j < n; j++) {
        double p = rs_alias_prob(a->thresh, a->alias, a->n, j);
        ck_assert_msg(fabs(p - w[j] / total) <= 1e-9, "index %u: table %.12g, weights %.12g", j, p,
                      w[j] / total);
        if (w[j] == 0.0) ck_assert(p == 0.0);
        sum += p;
    }
    ck_assert(fabs(sum - 1.0) < 1e-9);
}

START_TEST(test_skewed_weights)
{
    enum { N = 60 };
    double w[N];
    rs_rng rng;
    rs_rng_seed(&rng, 11);
    /* Spread over four orders of magnitude, with some zeros. */
    for (uint32_t j = 0; j < N; j++)
        w[j] = (j % 7 == 3) ? 0.0 : exp(4.0 * rs_rng_uniform(&rng) * log(10.0)) / 100.0;
    rs_alias a;
    rs_error err;
    ck_assert_int_eq(rs_alias_init(&a, w, N, &err), 0);
    check_exact(&a, w, N);
    check_frequencies(&a, w, N, 5);
    rs_alias_free(&a);
}
END_TEST

START_TEST(test_float_weights_and_fill)
{
    enum { N = 37 };
    float wf[N];
    double w[N];
    for (uint32_t j = 0; j < N; j++) {
        wf[j] = (float)(1 + (j * 13) % 29) * 0.25f;
        w[j] = wf[j];
    }
    /* Caller-owned arrays: two tables packed back to back, as MIDX cells are. */
    uint32_t thresh[2 * N], alias[2 * N];
    void *work = malloc(rs_alias_work_bytes(N));
    double total = 0.0;
    rs_error err;
    ck_assert_int_eq(rs_alias_fill_f(wf, N, thresh, alias, work, &total, &err), 0);
    ck_assert_int_eq(rs_alias_fill(w, N, thresh + N, alias + N, work, NULL, &err), 0);
    free(work);
    double expect_total = 0.0;
    for (uint32_t j = 0; j < N; j++) expect_total += w[j];
    ck_assert(fabs(total - expect_total) < 1e-9);
    for (uint32_t j = 0; j < N; j++) {
        double p1 = rs_alias_prob(thresh, alias, N, j);
        double p2 = rs_alias_prob(thresh + N, alias + N, N, j);
        ck_assert(fabs(p1 - w[j] / total) <= 1e-9);
        ck_assert(fabs(p2 - w[j] / total) <= 1e-9);
    }
    rs_alias a = {.n = N, .thresh = thresh + N, .alias = alias + N, .total = total};
    check_frequencies(&a, w, N, 6);
}
END_TEST

START_TEST(test_edge_shapes)
{
    rs_alias a;
    rs_error err;
    rs_rng rng;
    rs_rng_seed(&rng, 3);

    /* One weight: always index 0. */
    double one = 2.5;
    ck_assert_int_eq(rs_alias_init(&a, &one, 1, &err), 0);
    for (int t = 0; t < 1000; t++)
        if (rs_alias_draw(&a, &rng) != 0) ck_abort_msg("single weight: drew another index");
    rs_alias_free(&a);

    /* A single positive weight among zeros. */
    double spike[9] = {0, 0, 0, 0, 7.0, 0, 0, 0, 0};
    ck_assert_int_eq(rs_alias_init(&a, spike, 9, &err), 0);
    for (int t = 0; t < 10000; t++)
        if (rs_alias_draw(&a, &rng) != 4) ck_abort_msg("spike: drew a zero-weight index");
    rs_alias_free(&a);

    /* Equal weights, and extreme dynamic range. */
    double flat[16], wide[16];
    for (int j = 0; j < 16; j++) {
        flat[j] = 3.0;
        wide[j] = pow(10.0, -30.0 + 4.0 * j);
    }
    ck_assert_int_eq(rs_alias_init(&a, flat, 16, &err), 0);
    check_exact(&a, flat, 16);
    check_frequencies(&a, flat, 16, 8);
    rs_alias_free(&a);
    ck_assert_int_eq(rs_alias_init(&a, wide, 16, &err), 0);
    check_exact(&a, wide, 16);
    rs_alias_free(&a);

    /* Large n: per-index probabilities still exact. */
    enum { BIG = 100000 };
    double *big = malloc(BIG * sizeof(double));
    for (uint32_t j = 0; j < BIG; j++) big[j] = 1.0 + (double)(j % 1000);
    ck_assert_int_eq(rs_alias_init(&a, big, BIG, &err), 0);
    double total = a.total;
    for (uint32_t j = 0; j < BIG; j += 9973)
        ck_assert(fabs(rs_alias_prob(a.thresh, a.alias, BIG, j) - big[j] / total) < 1e-12);
    rs_alias_free(&a);
    free(big);
}
END_TEST

START_TEST(test_bad_weights)
{
    rs_alias a;
    rs_error err;
    double neg[3] = {1.0, -0.5, 2.0};
    ck_assert_int_eq(rs_alias_init(&a, neg, 3, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "weight 1 is negative"));
    ck_assert_ptr_null(a.thresh);
    rs_alias_free(&a);

    double nan_w[3] = {1.0, 2.0, NAN};
    ck_assert_int_eq(rs_alias_init(&a, nan_w, 3, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "weight 2 is NaN"));

    float inf_w[2] = {INFINITY, 1.0f};
    ck_assert_int_eq(rs_alias_init_f(&a, inf_w, 2, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "weight 0 is infinite"));

    double zero[4] = {0, 0, 0, 0};
    ck_assert_int_eq(rs_alias_init(&a, zero, 4, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "all 4 weights are zero"));

    double huge[2] = {1.5e308, 1.5e308};
    ck_assert_int_eq(rs_alias_init(&a, huge, 2, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "overflows"));

    ck_assert_int_eq(rs_alias_init(&a, neg, 0, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "n = 0"));
    ck_assert_int_eq(rs_alias_init(&a, NULL, 3, &err), -1);

    /* Negative zero is a zero weight, not a negative one. */
    double negzero[2] = {-0.0, 1.0};
    ck_assert_int_eq(rs_alias_init(&a, negzero, 2, &err), 0);
    ck_assert(rs_alias_prob(a.thresh, a.alias, 2, 0) == 0.0);
    rs_alias_free(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alias");
    TCase *tc = tcase_create("alias");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_skewed_weights);
    tcase_add_test(tc, test_float_weights_and_fill);
    tcase_add_test(tc, test_edge_shapes);
    tcase_add_test(tc, test_bad_weights);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
