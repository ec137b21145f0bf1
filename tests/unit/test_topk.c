/* test_topk.c - top-K heap against a full sort. */
#include <check.h>
#include <stdlib.h>

#include "rng.h"
#include "topk.h"

static int by_score_desc(const void *a, const void *b)
{
    const rs_scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

START_TEST(test_matches_sort)
{
    rs_rng rng;
    rs_rng_seed(&rng, 42);
    enum { N = 5000 };
    float scores[N];
    uint8_t skip[N];
    rs_scored all[N], top[100];
    for (int trial = 0; trial < 20; trial++) {
        uint32_t n_all = 0;
        for (uint32_t i = 0; i < N; i++) {
            /* Coarse scores force many ties; ties must go to the smaller id. */
            scores[i] = (float)rs_rng_below(&rng, 300) / 7.0f;
            skip[i] = rs_rng_below(&rng, 10) == 0;
            if (!skip[i]) all[n_all++] = (rs_scored){scores[i], i};
        }
        qsort(all, n_all, sizeof(all[0]), by_score_desc);
        uint32_t k = 1 + (uint32_t)rs_rng_below(&rng, 100);
        uint32_t got = rs_topk_dense(scores, N, skip, k, top);
        ck_assert_uint_eq(got, k);
        for (uint32_t j = 0; j < k; j++) {
            ck_assert_uint_eq(top[j].id, all[j].id);
            ck_assert_float_eq(top[j].score, all[j].score);
        }
    }
}
END_TEST

START_TEST(test_fewer_than_k)
{
    float scores[3] = {1.0f, 3.0f, 2.0f};
    rs_scored top[10];
    ck_assert_uint_eq(rs_topk_dense(scores, 3, NULL, 10, top), 3);
    ck_assert_uint_eq(top[0].id, 1);
    ck_assert_uint_eq(top[1].id, 2);
    ck_assert_uint_eq(top[2].id, 0);
    ck_assert_uint_eq(rs_topk_dense(scores, 3, NULL, 0, top), 0);
}
END_TEST

START_TEST(test_rng_below_is_uniform)
{
    rs_rng rng;
    rs_rng_seed(&rng, 7);
    enum { BINS = 7, DRAWS = 700000 };
    unsigned counts[BINS] = {0};
    for (int i = 0; i < DRAWS; i++) counts[rs_rng_below(&rng, BINS)]++;
    /* Chi-square with 6 degrees of freedom; 22.46 is the 0.999 quantile. */
    double chi2 = 0, expected = (double)DRAWS / BINS;
    for (int b = 0; b < BINS; b++)
        chi2 += (counts[b] - expected) * (counts[b] - expected) / expected;
    ck_assert_double_lt(chi2, 22.46);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("topk");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_matches_sort);
    tcase_add_test(tc, test_fewer_than_k);
    tcase_add_test(tc, test_rng_below_is_uniform);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
