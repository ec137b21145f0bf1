/* test_blas_kernel.c - the OpenBLAS kernel decision (core/blas_kernel.h):
 * a generic fallback kernel is replaced by the best one the CPU's features
 * allow, a recognised kernel is kept, and a CPU without AVX keeps what it
 * has; the running kernel's name is reported. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "blas_kernel.h"

START_TEST(test_generic_kernel_is_replaced)
{
    ck_assert_str_eq(rs_blas_kernel_choose("Prescott", 1, 1), "SkylakeX");
    ck_assert_str_eq(rs_blas_kernel_choose("Prescott", 0, 1), "Haswell");
    ck_assert_str_eq(rs_blas_kernel_choose("Nehalem", 0, 1), "Haswell");
    ck_assert_ptr_null(rs_blas_kernel_choose("Prescott", 0, 0));
}
END_TEST

START_TEST(test_recognised_kernel_is_kept)
{
    ck_assert_ptr_null(rs_blas_kernel_choose("SkylakeX", 1, 1));
    ck_assert_ptr_null(rs_blas_kernel_choose("Haswell", 1, 1));
    ck_assert_ptr_null(rs_blas_kernel_choose("Zen", 0, 1));
    ck_assert_ptr_null(rs_blas_kernel_choose("CooperLake", 1, 1));
    ck_assert_ptr_null(rs_blas_kernel_choose(NULL, 1, 1));
}
END_TEST

/* The test binary calls rs_blas_kernel_ensure like every program: when
 * OpenBLAS had fallen back on a CPU with AVX2, the exec put it right, so
 * the running kernel is never a generic one the decision would replace. */
START_TEST(test_running_kernel_needs_no_change)
{
    const char *name = rs_blas_kernel_name();
    ck_assert(name && *name);
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    int avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const char *forced = getenv("OPENBLAS_CORETYPE");
    if (!forced || strcmp(forced, "Prescott"))
        ck_assert_ptr_null(rs_blas_kernel_choose(name, avx512, avx2_fma));
}
END_TEST

int main(int argc, char **argv)
{
    (void)argc;
    rs_blas_kernel_ensure(argv);
    Suite *s = suite_create("blas_kernel");
    TCase *tc = tcase_create("blas_kernel");
    tcase_add_test(tc, test_generic_kernel_is_replaced);
    tcase_add_test(tc, test_recognised_kernel_is_kept);
    tcase_add_test(tc, test_running_kernel_needs_no_change);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
