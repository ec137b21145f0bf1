/* test_pq.c - MIDX decomposition: cell order, permutation and residual bounds. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pq.h"
#include "rng.h"

/* Clustered rows with a log-normal norm spread, like item embeddings. */
static float *make_items(uint32_t n, uint32_t d, uint64_t seed)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    enum { C = 20 };
    float *centres = malloc(sizeof(float) * C * d);
    float *x = malloc(sizeof(float) * n * d);
    for (uint32_t i = 0; i < C * d; i++) centres[i] = (float)rs_rng_normal(&rng);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = (uint32_t)rs_rng_below(&rng, C);
        float s = (float)exp(0.5 * rs_rng_normal(&rng));
        for (uint32_t j = 0; j < d; j++)
            x[i * d + j] = s * (centres[c * d + j] + 0.3f * (float)rs_rng_normal(&rng));
    }
    free(centres);
    return x;
}

static double sqdist(const float *a, const float *b, uint32_t d)
{
    double s = 0;
    for (uint32_t j = 0; j < d; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return s;
}

static void check_structure(const rs_pq *pq, const float *q)
{
    uint32_t n = pq->n, d = pq->d, k = pq->k;
    ck_assert_uint_eq(pq->d1 + pq->d2, d);
    ck_assert_uint_eq(pq->n_cells, k * k);
    ck_assert_uint_eq(pq->offsets[0], 0);
    ck_assert_uint_eq(pq->offsets[pq->n_cells], n);
    uint8_t *seen = calloc(n, 1);
    float *r = malloc(sizeof(float) * d);
    for (uint32_t c = 0; c < pq->n_cells; c++) {
        ck_assert_uint_le(pq->offsets[c], pq->offsets[c + 1]);
        uint32_t k1 = rs_pq_k1(pq, c), k2 = rs_pq_k2(pq, c);
        for (uint32_t pos = pq->offsets[c]; pos < pq->offsets[c + 1]; pos++) {
            uint32_t id = pq->ids[pos];
            ck_assert_uint_lt(id, n);
            ck_assert(!seen[id]);
            seen[id] = 1;
            ck_assert_uint_eq(pq->code[id], c);
            if (pos > pq->offsets[c]) ck_assert_uint_lt(pq->ids[pos - 1], id);
            const float *v = pq->vectors + (size_t)pos * d;
            ck_assert_int_eq(memcmp(v, q + (size_t)id * d, d * sizeof(float)), 0);
            /* Each half sits at its nearest codeword. */
            double own1 = sqdist(v, pq->c1 + k1 * pq->d1, pq->d1);
            double own2 = sqdist(v + pq->d1, pq->c2 + k2 * pq->d2, pq->d2);
            for (uint32_t m = 0; m < k; m++) {
                ck_assert_double_le(own1,
                                    sqdist(v, pq->c1 + m * pq->d1, pq->d1) * (1 + 1e-5) + 1e-5);
                ck_assert_double_le(
                    own2, sqdist(v + pq->d1, pq->c2 + m * pq->d2, pq->d2) * (1 + 1e-5) + 1e-5);
            }
            /* Residual norms are upper bounds, and so are the cell maxima. */
            rs_pq_residual(pq, pos, r);
            double n1 = 0, n2 = 0;
            for (uint32_t j = 0; j < pq->d1; j++) n1 += (double)r[j] * r[j];
            for (uint32_t j = pq->d1; j < d; j++) n2 += (double)r[j] * r[j];
            ck_assert_double_le(sqrt(n1), pq->res1[pos] * (1 + 1e-6));
            ck_assert_double_le(sqrt(n2), pq->res2[pos] * (1 + 1e-6));
            ck_assert_double_le(sqrt(n1 + n2), pq->cell_r[c] * (1 + 1e-6));
            ck_assert_float_le(pq->res1[pos], pq->cell_r1[c]);
            ck_assert_float_le(pq->res2[pos], pq->cell_r2[c]);
            ck_assert_float_le(pq->cell_r1[c], pq->r1max[k1]);
            ck_assert_float_le(pq->cell_r2[c], pq->r2max[k2]);
        }
        if (pq->offsets[c] == pq->offsets[c + 1]) ck_assert_float_eq(pq->cell_r[c], 0);
    }
    for (uint32_t i = 0; i < n; i++) ck_assert(seen[i]);
    free(r);
    free(seen);
}

START_TEST(test_cell_order_and_bounds)
{
    static const uint32_t dims[] = {9, 16, 2};
    for (int t = 0; t < 3; t++) {
        uint32_t n = 1500, d = dims[t];
        float *q = make_items(n, d, 100 + t);
        rs_pq pq;
        rs_error err;
        rs_pq_options o = rs_pq_defaults();
        o.k = 12;
        ck_assert_msg(rs_pq_build(q, n, d, &o, &pq, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(pq.k, 12);
        ck_assert_uint_eq(pq.d1, (d + 1) / 2);
        check_structure(&pq, q);
        ck_assert_uint_gt(rs_pq_bytes(&pq), (size_t)n * d * 4);
        rs_pq_free(&pq);
        free(q);
    }
}
END_TEST

START_TEST(test_tiny_and_k1)
{
    rs_error err;
    rs_pq pq;
    float *q = make_items(5, 4, 7);
    rs_pq_options o = rs_pq_defaults();
    o.k = 64; /* clamped to n */
    ck_assert_int_eq(rs_pq_build(q, 5, 4, &o, &pq, &err), 0);
    ck_assert_uint_eq(pq.k, 5);
    check_structure(&pq, q);
    rs_pq_free(&pq);
    o.k = 1; /* one cell: the codewords are the half means */
    ck_assert_int_eq(rs_pq_build(q, 5, 4, &o, &pq, &err), 0);
    ck_assert_uint_eq(pq.n_cells, 1);
    check_structure(&pq, q);
    for (uint32_t j = 0; j < 2; j++) {
        double mean = 0;
        for (uint32_t i = 0; i < 5; i++) mean += q[i * 4 + j];
        ck_assert_double_eq_tol(pq.c1[j], mean / 5, 1e-5);
    }
    rs_pq_free(&pq);
    free(q);
}
END_TEST

START_TEST(test_bad_input)
{
    rs_error err;
    rs_pq pq;
    float q[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert_int_eq(rs_pq_build(q, 8, 1, NULL, &pq, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "dimension"));
    ck_assert_int_eq(rs_pq_build(q, 0, 2, NULL, &pq, &err), -1);
    rs_pq_options o = rs_pq_defaults();
    o.k = RS_PQ_MAX_K + 1;
    ck_assert_int_eq(rs_pq_build(q, 4, 2, &o, &pq, &err), -1);
    q[5] = INFINITY;
    ck_assert_int_eq(rs_pq_build(q, 4, 2, NULL, &pq, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not finite"));
    ck_assert_ptr_null(pq.vectors);
    rs_pq_free(&pq); /* safe on a zeroed struct */
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("pq");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cell_order_and_bounds);
    tcase_add_test(tc, test_tiny_and_k1);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
