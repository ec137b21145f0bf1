/* test_metrics.c - Recall@K and NDCG@K on small cases computed by hand. */
#include <check.h>
#include <math.h>

#include "metrics.h"

static rs_metric_set make_set(void)
{
    rs_metric_set set = {0};
    rs_metric_set_find_or_add(&set, "recall@2");
    rs_metric_set_find_or_add(&set, "ndcg@2");
    rs_metric_set_find_or_add(&set, "recall@4");
    rs_metric_set_find_or_add(&set, "ndcg@4");
    return set;
}

START_TEST(test_hand_computed)
{
    rs_metric_set set = make_set();
    /* Ranked 5, 3, 9, 1 against held-out {1, 3}: hits at ranks 2 and 4.
     * recall@2 = 1 / min(2, 2) = 0.5
     * ndcg@2   = (1/log2 3) / (1 + 1/log2 3)               = 0.386853
     * recall@4 = 2 / 2 = 1
     * ndcg@4   = (1/log2 3 + 1/log2 5) / (1 + 1/log2 3)     = 0.650921 */
    uint32_t ranked[] = {5, 3, 9, 1}, targets[] = {1, 3};
    double v[4];
    rs_metrics_user(&set, ranked, 4, targets, 2, v);
    ck_assert_double_eq_tol(v[0], 0.5, 1e-9);
    ck_assert_double_eq_tol(v[1], 0.386853, 1e-6);
    ck_assert_double_eq_tol(v[2], 1.0, 1e-9);
    ck_assert_double_eq_tol(v[3], 0.650921, 1e-6);
}
END_TEST

START_TEST(test_more_targets_than_k)
{
    rs_metric_set set = make_set();
    /* Five held-out items, top-2 both hits: recall@2 divides by min(2, 5). */
    uint32_t ranked[] = {7, 2, 8, 9}, targets[] = {1, 2, 3, 4, 7};
    double v[4];
    rs_metrics_user(&set, ranked, 4, targets, 5, v);
    ck_assert_double_eq_tol(v[0], 1.0, 1e-9);
    ck_assert_double_eq_tol(v[1], 1.0, 1e-9);
    ck_assert_double_eq_tol(v[2], 0.5, 1e-9); /* 2 / min(4, 5) */
    double idcg4 = 1 + 1 / log2(3) + 1 / log2(4) + 1 / log2(5);
    ck_assert_double_eq_tol(v[3], (1 + 1 / log2(3)) / idcg4, 1e-9);
}
END_TEST

START_TEST(test_short_list_and_no_hits)
{
    rs_metric_set set = make_set();
    uint32_t ranked[] = {4}, targets[] = {4};
    double v[4];
    rs_metrics_user(&set, ranked, 1, targets, 1, v);
    ck_assert_double_eq_tol(v[0], 1.0, 1e-9);
    ck_assert_double_eq_tol(v[3], 1.0, 1e-9);
    uint32_t miss[] = {0, 1, 2, 3};
    rs_metrics_user(&set, miss, 4, targets, 1, v);
    for (int i = 0; i < 4; i++) ck_assert_double_eq(v[i], 0.0);
}
END_TEST

START_TEST(test_names)
{
    rs_metric_set set;
    rs_metric_set_default(&set);
    ck_assert_int_eq(set.n, 4);
    char name[32];
    rs_metric_name(&set, 2, name, sizeof(name));
    ck_assert_str_eq(name, "ndcg@50");
    ck_assert_uint_eq(rs_metric_set_max_k(&set), 100);
    ck_assert_int_eq(rs_metric_set_find_or_add(&set, "recall@50"), 1);
    ck_assert_int_eq(rs_metric_set_find_or_add(&set, "precision@5"), -1);
    ck_assert_int_eq(rs_metric_set_find_or_add(&set, "ndcg@"), -1);
    ck_assert_int_eq(rs_metric_set_find_or_add(&set, "ndcg@0"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hand_computed);
    tcase_add_test(tc, test_more_targets_than_k);
    tcase_add_test(tc, test_short_list_and_no_hits);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
