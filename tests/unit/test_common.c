/* test_common.c - rs_error kinds: what rs_fail, rs_fail_kind, the checked
 * allocators and rs_error_prefix leave in an error. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

START_TEST(test_kinds)
{
    rs_error err = {0};
    ck_assert_int_eq(err.kind, RS_ERR_NONE);
    ck_assert_int_eq(rs_fail(&err, "plain %d", 1), -1);
    ck_assert_int_eq(err.kind, RS_ERR_GENERIC);
    ck_assert_str_eq(err.msg, "plain 1");
    ck_assert_int_eq(rs_fail_kind(&err, RS_ERR_CORRUPT, "tensor %s", "x"), -1);
    ck_assert_int_eq(err.kind, RS_ERR_CORRUPT);
    /* Context is added, the kind stays. */
    rs_error_prefix(&err, "variant %s", "default");
    ck_assert_str_eq(err.msg, "variant default: tensor x");
    ck_assert_int_eq(err.kind, RS_ERR_CORRUPT);
    ck_assert_str_eq(rs_error_kind_name(RS_ERR_NOT_FOUND), "not found");
    ck_assert_int_eq(rs_fail_kind(NULL, RS_ERR_IO, "nowhere"), -1);
}
END_TEST

START_TEST(test_allocation_failures_are_no_memory)
{
    rs_error err = {0};
    ck_assert_ptr_null(rs_malloc(SIZE_MAX / 2, 4, &err)); /* overflows */
    ck_assert_int_eq(err.kind, RS_ERR_NO_MEMORY);
    err.kind = RS_ERR_NONE;
    rs_alloc_fail_for_testing(1);
    ck_assert_ptr_null(rs_malloc(1, 8, &err));
    ck_assert_int_eq(err.kind, RS_ERR_NO_MEMORY);
    err.kind = RS_ERR_NONE;
    ck_assert_ptr_null(rs_calloc(1, 8, &err));
    ck_assert_int_eq(err.kind, RS_ERR_NO_MEMORY);
    err.kind = RS_ERR_NONE;
    ck_assert_ptr_null(rs_aligned_alloc(4, 16, &err));
    ck_assert_int_eq(err.kind, RS_ERR_NO_MEMORY);
    rs_alloc_fail_for_testing(0);
    void *p = rs_malloc(1, 8, &err);
    ck_assert_ptr_nonnull(p);
    free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("errors");
    tcase_add_test(tc, test_kinds);
    tcase_add_test(tc, test_allocation_failures_are_no_memory);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
