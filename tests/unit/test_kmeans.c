/* test_kmeans.c - K-means against brute-force distances and baselines. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans.h"
#include "rng.h"

/* n rows around `blobs` random centres (spread 10) with unit noise. */
static float *make_blobs(uint32_t n, uint32_t d, uint32_t blobs, uint64_t seed)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    float *centres = malloc(sizeof(float) * blobs * d);
    float *x = malloc(sizeof(float) * n * d);
    for (uint32_t i = 0; i < blobs * d; i++) centres[i] = 10.0f * (float)rs_rng_normal(&rng);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t b = (uint32_t)rs_rng_below(&rng, blobs);
        for (uint32_t j = 0; j < d; j++)
            x[i * d + j] = centres[b * d + j] + (float)rs_rng_normal(&rng);
    }
    free(centres);
    return x;
}

static double dist2(const float *a, const float *b, uint32_t d)
{
    double s = 0;
    for (uint32_t j = 0; j < d; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return s;
}

/* Sum of squared distances of rows to the centroids they are assigned to. */
static double objective(const float *x, uint32_t n, uint32_t d, const float *c,
                        const uint32_t *assign)
{
    double s = 0;
    for (uint32_t i = 0; i < n; i++) s += dist2(x + i * d, c + assign[i] * d, d);
    return s;
}

START_TEST(test_objective_and_assignment)
{
    enum { N = 2000, D = 8, K = 6 };
    float *x = make_blobs(N, D, K, 3);
    float c[K * D];
    uint32_t assign[N];
    rs_error err;
    rs_kmeans_info info;
    rs_kmeans_options o = rs_kmeans_defaults();

    o.max_iter = 1;
    ck_assert_int_eq(rs_kmeans(x, N, D, K, &o, c, assign, &info, &err), 0);
    double one = info.objective;
    o.max_iter = 30;
    ck_assert_int_eq(rs_kmeans(x, N, D, K, &o, c, assign, &info, &err), 0);
    ck_assert_double_le(info.objective, one * (1 + 1e-6));
    ck_assert_double_eq_tol(info.objective, objective(x, N, D, c, assign), 1e-3 * info.objective);

    /* Every row sits at its nearest centroid (brute force, float tolerance). */
    for (uint32_t i = 0; i < N; i++) {
        double mine = dist2(x + i * D, c + assign[i] * D, D);
        for (uint32_t m = 0; m < K; m++)
            ck_assert_double_le(mine, dist2(x + i * D, c + m * D, D) * (1 + 1e-5) + 1e-4);
    }

    /* Far better than a random partition (centroids = means of random groups). */
    rs_rng rng;
    rs_rng_seed(&rng, 99);
    uint32_t rnd[N], cnt[K] = {0};
    float rc[K * D];
    memset(rc, 0, sizeof(rc));
    for (uint32_t i = 0; i < N; i++) {
        rnd[i] = (uint32_t)rs_rng_below(&rng, K);
        cnt[rnd[i]]++;
        for (uint32_t j = 0; j < D; j++) rc[rnd[i] * D + j] += x[i * D + j];
    }
    for (uint32_t m = 0; m < K; m++)
        for (uint32_t j = 0; j < D; j++) rc[m * D + j] /= (float)RS_MAX(cnt[m], 1u);
    ck_assert_double_lt(info.objective, 0.2 * objective(x, N, D, rc, rnd));
    /* Unit noise per dimension: the optimum is about N * D. */
    ck_assert_double_lt(info.objective, 1.5 * N * D);
    free(x);
}
END_TEST

START_TEST(test_deterministic_and_subsample)
{
    enum { N = 3000, D = 5, K = 10 };
    float *x = make_blobs(N, D, 7, 11);
    float c1[K * D], c2[K * D];
    uint32_t *a1 = malloc(N * sizeof(uint32_t)), *a2 = malloc(N * sizeof(uint32_t));
    rs_error err;
    rs_kmeans_options o = rs_kmeans_defaults();
    o.seed = 5;
    o.max_train = 500;
    rs_kmeans_info info;
    ck_assert_int_eq(rs_kmeans(x, N, D, K, &o, c1, a1, &info, &err), 0);
    ck_assert_int_eq(rs_kmeans(x, N, D, K, &o, c2, a2, NULL, &err), 0);
    ck_assert_int_eq(memcmp(c1, c2, sizeof(c1)), 0);
    ck_assert_int_eq(memcmp(a1, a2, N * sizeof(uint32_t)), 0);
    /* Trained on 500 rows, but every row is assigned and the fit is good. */
    ck_assert_double_lt(info.objective, 1.5 * N * D);
    uint32_t check[N];
    ck_assert_int_eq(rs_kmeans_assign(x, N, D, 0, c1, K, check, NULL, &err), 0);
    ck_assert_int_eq(memcmp(a1, check, sizeof(check)), 0);
    free(a1);
    free(a2);
    free(x);
}
END_TEST

START_TEST(test_stride_matches_copy)
{
    enum { N = 800, D = 6, W = 10, K = 4 };
    float *x = make_blobs(N, W, 5, 21);
    float *block = malloc(sizeof(float) * N * D);
    for (uint32_t i = 0; i < N; i++) memcpy(block + i * D, x + i * W + 3, D * sizeof(float));
    float ca[K * D], cb[K * D];
    uint32_t aa[N], ab[N];
    rs_error err;
    rs_kmeans_options o = rs_kmeans_defaults();
    ck_assert_int_eq(rs_kmeans(block, N, D, K, &o, ca, aa, NULL, &err), 0);
    o.stride = W;
    ck_assert_int_eq(rs_kmeans(x + 3, N, D, K, &o, cb, ab, NULL, &err), 0);
    ck_assert_int_eq(memcmp(ca, cb, sizeof(ca)), 0);
    ck_assert_int_eq(memcmp(aa, ab, sizeof(aa)), 0);
    free(block);
    free(x);
}
END_TEST

START_TEST(test_duplicates_and_k_equals_n)
{
    /* 12 rows, only 3 distinct points, k = 5: two clusters must stay empty. */
    enum { N = 12, D = 2, K = 5 };
    float x[N * D];
    for (uint32_t i = 0; i < N; i++) {
        x[i * D] = (float)(i % 3);
        x[i * D + 1] = (float)(i % 3) * 2.0f;
    }
    float c[K * D];
    uint32_t a[N];
    rs_kmeans_info info;
    rs_error err;
    ck_assert_int_eq(rs_kmeans(x, N, D, K, NULL, c, a, &info, &err), 0);
    ck_assert_double_eq_tol(info.objective, 0, 1e-9);
    ck_assert_uint_eq(info.empty, 2);

    /* k = n on distinct rows: every row is its own centroid. */
    float y[4 * 3] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    float cy[4 * 3];
    uint32_t ay[4];
    ck_assert_int_eq(rs_kmeans(y, 4, 3, 4, NULL, cy, ay, &info, &err), 0);
    ck_assert_double_eq_tol(info.objective, 0, 1e-9);
    ck_assert_uint_eq(info.empty, 0);
}
END_TEST

START_TEST(test_assign_ties_go_to_smaller_index)
{
    /* 19 centroids (two full 8-lane blocks and a tail); copies of one point
     * sit at indices 5, 13 and 17, so every lane and the tail see the tie. */
    enum { K = 19, D = 3 };
    float c[K * D];
    for (uint32_t m = 0; m < K; m++)
        for (uint32_t j = 0; j < D; j++) c[m * D + j] = 10.0f + (float)(m * D + j);
    const float p[D] = {-1, 2, -3};
    uint32_t dup[3] = {13, 5, 17};
    for (int t = 0; t < 3; t++) memcpy(c + dup[t] * D, p, sizeof(p));
    uint32_t a;
    float d2;
    rs_error err;
    ck_assert_int_eq(rs_kmeans_assign(p, 1, D, 0, c, K, &a, &d2, &err), 0);
    ck_assert_uint_eq(a, 5);
    ck_assert_float_eq_tol(d2, 0, 1e-4);
}
END_TEST

START_TEST(test_bad_input)
{
    float x[6] = {1, 2, 3, 4, 5, 6}, c[12];
    uint32_t a[3];
    rs_error err;
    ck_assert_int_eq(rs_kmeans(x, 3, 2, 4, NULL, c, a, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "k=4"));
    ck_assert_int_eq(rs_kmeans(x, 3, 2, 0, NULL, c, a, NULL, &err), -1);
    ck_assert_int_eq(rs_kmeans(x, 0, 2, 1, NULL, c, a, NULL, &err), -1);
    x[3] = NAN;
    ck_assert_int_eq(rs_kmeans(x, 3, 2, 2, NULL, c, a, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "row 1, column 1"));
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("kmeans");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_objective_and_assignment);
    tcase_add_test(tc, test_deterministic_and_subsample);
    tcase_add_test(tc, test_stride_matches_copy);
    tcase_add_test(tc, test_duplicates_and_k_equals_n);
    tcase_add_test(tc, test_assign_ties_go_to_smaller_index);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
