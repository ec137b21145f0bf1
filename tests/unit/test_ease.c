/* test_ease.c - EASE against its definition: diag(B) = 0, the off-diagonal
 * gradient of ‖X − XB‖² + λ‖B‖² vanishes, B equals a double Gauss-Jordan
 * reference; the memory guard; top-k rows against a full sort; sparse
 * scoring and the serving path against brute force. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ease.h"
#include "random_csr.h"

enum { USERS = 80, ITEMS = 14 };
static const double REG = 6.0;

static void fit(const rs_csr *x, rs_ease_precision precision, rs_ease *m)
{
    rs_ease_options o;
    rs_ease_options_default(&o);
    o.reg = REG;
    o.precision = precision;
    rs_error err;
    ck_assert_msg(rs_ease_fit(x, &o, m, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(m->n_items, x->n_cols);
}

/* G = XᵀX (dense double). */
static double *gram_of(const rs_csr *x)
{
    double *d = csr_to_dense(x), *g = calloc(ITEMS * ITEMS, sizeof(double));
    ck_assert_ptr_nonnull(g);
    for (int u = 0; u < USERS; u++)
        for (int i = 0; i < ITEMS; i++)
            for (int j = 0; j < ITEMS; j++) g[i * ITEMS + j] += d[u * ITEMS + i] * d[u * ITEMS + j];
    free(d);
    return g;
}

START_TEST(test_closed_form_is_the_constrained_minimiser)
{
    rs_csr x;
    random_csr(USERS, ITEMS, 0.3, 21, &x);
    double *g = gram_of(&x);
    for (int precision = 0; precision < 2; precision++) {
        rs_ease m;
        fit(&x, precision ? RS_EASE_FLOAT : RS_EASE_DOUBLE, &m);
        /* ∂/∂B [‖X − XB‖² + λ‖B‖²] = 2 ((XᵀX + λI) B − XᵀX); the diagonal
         * carries the constraint's multiplier, every other cell is 0. */
        double worst = 0;
        for (int i = 0; i < ITEMS; i++) {
            ck_assert_float_eq(m.weights[i * ITEMS + i], 0.0f);
            for (int j = 0; j < ITEMS; j++) {
                if (i == j) continue;
                double grad = -g[i * ITEMS + j];
                for (int l = 0; l < ITEMS; l++)
                    grad += (g[i * ITEMS + l] + (i == l ? REG : 0)) * m.weights[l * ITEMS + j];
                worst = fmax(worst, fabs(grad));
            }
        }
        ck_assert_msg(worst < 1e-3, "precision %d: off-diagonal gradient %g", precision, worst);
        rs_ease_free(&m);
    }
    free(g);
    rs_csr_free(&x);
}
END_TEST

START_TEST(test_matches_double_reference)
{
    rs_csr x;
    random_csr(USERS, ITEMS, 0.25, 22, &x);
    double *a = gram_of(&x), *p = calloc(ITEMS * ITEMS, sizeof(double));
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < ITEMS; i++) a[i * ITEMS + i] += REG, p[i * ITEMS + i] = 1;
    gauss_solve(a, p, ITEMS, ITEMS); /* p = (XᵀX + λI)⁻¹ */
    rs_ease m;
    fit(&x, RS_EASE_DOUBLE, &m);
    for (int i = 0; i < ITEMS; i++)
        for (int j = 0; j < ITEMS; j++) {
            double want = i == j ? 0 : -p[i * ITEMS + j] / p[j * ITEMS + j];
            ck_assert_msg(fabs(m.weights[i * ITEMS + j] - want) < 1e-6, "(%d,%d) %g vs %g", i, j,
                          m.weights[i * ITEMS + j], want);
        }
    /* Dense scoring is the sum of the history's rows. */
    uint32_t history[3] = {1, 4, 9};
    float scores[ITEMS];
    rs_ease_score(&m, history, 3, scores);
    for (int j = 0; j < ITEMS; j++) {
        double want = 0;
        for (int h = 0; h < 3; h++) want += m.weights[history[h] * ITEMS + j];
        ck_assert(fabs(scores[j] - want) < 1e-6);
    }
    rs_ease_free(&m);
    free(a), free(p);
    rs_csr_free(&x);
}
END_TEST

START_TEST(test_refuses_what_does_not_fit)
{
    rs_csr x;
    random_csr(USERS, ITEMS, 0.3, 23, &x);
    rs_ease_options o;
    rs_ease_options_default(&o);
    o.max_memory = rs_ease_bytes_needed(ITEMS, RS_EASE_DOUBLE) - 1;
    rs_ease m;
    rs_error err;
    ck_assert_int_eq(rs_ease_fit(&x, &o, &m, &err), -1);
    ck_assert_ptr_null(m.weights);
    ck_assert_msg(strstr(err.msg, "EASE needs 14 x 14") && strstr(err.msg, "--max-memory"), "%s",
                  err.msg);
    /* The same bound admits the float fit, which needs only the float B. */
    o.precision = RS_EASE_FLOAT;
    ck_assert_msg(rs_ease_fit(&x, &o, &m, &err) == 0, "%s", err.msg);
    rs_ease_free(&m);
    /* ml10m-sized bytes: 8530² floats + doubles. */
    ck_assert_uint_eq(rs_ease_bytes_needed(8530, RS_EASE_DOUBLE), 8530ull * 8530 * 12);
    rs_csr_free(&x);
}
END_TEST

static int by_weight_desc(const void *a, const void *b)
{
    const rs_scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

START_TEST(test_sparsify_keeps_true_top_k)
{
    rs_csr x;
    random_csr(USERS, ITEMS, 0.3, 24, &x);
    rs_ease m;
    fit(&x, RS_EASE_DOUBLE, &m);
    static const uint32_t ks[] = {1, 5, ITEMS - 1, 100};
    for (int keep = 0; keep < 2; keep++)
        for (size_t t = 0; t < 4; t++) {
            rs_ease_sparse s;
            rs_error err;
            ck_assert_msg(rs_ease_sparsify(&m, ks[t], keep, &s, &err) == 0, "%s", err.msg);
            uint32_t kept = ks[t] < ITEMS - 1 ? ks[t] : ITEMS - 1;
            ck_assert_uint_eq(s.k, kept);
            for (uint32_t i = 0; i < ITEMS; i++) {
                rs_scored all[ITEMS];
                uint32_t n = 0;
                for (uint32_t j = 0; j < ITEMS; j++) {
                    float w = m.weights[i * ITEMS + j];
                    if (j != i)
                        all[n++] = (rs_scored){keep == RS_EASE_KEEP_MAGNITUDE ? fabsf(w) : w, j};
                }
                qsort(all, n, sizeof(all[0]), by_weight_desc);
                ck_assert_uint_eq(s.offsets[i + 1] - s.offsets[i], kept);
                for (uint32_t e = 0; e < kept; e++) {
                    ck_assert_uint_eq(s.columns[s.offsets[i] + e], all[e].id);
                    ck_assert_float_eq(s.weights[s.offsets[i] + e],
                                       m.weights[i * ITEMS + all[e].id]);
                }
            }
            rs_ease_sparse_free(&s);
        }
    rs_ease_free(&m);
    rs_csr_free(&x);
}
END_TEST

/* The serving path's top-N equals the top-N of the dense sparse-score
 * vector over the touched, non-history items; its buffers come back zero. */
START_TEST(test_sparse_recommend_matches_scoring)
{
    rs_csr x;
    random_csr(USERS, ITEMS, 0.3, 25, &x);
    rs_ease m;
    fit(&x, RS_EASE_DOUBLE, &m);
    rs_ease_sparse s;
    rs_error err;
    ck_assert_msg(rs_ease_sparsify(&m, 3, RS_EASE_KEEP_MAGNITUDE, &s, &err) == 0, "%s", err.msg);
    float accumulator[ITEMS] = {0}, scores[ITEMS];
    uint8_t mark[ITEMS] = {0};
    uint32_t touched[ITEMS];
    for (uint32_t u = 0; u < USERS; u++) {
        const uint32_t *h = x.indices + x.indptr[u];
        uint32_t n = rs_csr_row_len(&x, u);
        rs_ease_sparse_score(&s, h, n, scores);
        uint8_t candidate[ITEMS] = {0};
        for (uint32_t e = 0; e < n; e++)
            for (uint64_t p = s.offsets[h[e]]; p < s.offsets[h[e] + 1]; p++)
                candidate[s.columns[p]] = 1;
        for (uint32_t e = 0; e < n; e++) candidate[h[e]] = 0;
        rs_scored want[ITEMS], got[5];
        uint32_t n_want = 0;
        for (uint32_t j = 0; j < ITEMS; j++)
            if (candidate[j]) want[n_want++] = (rs_scored){scores[j], j};
        qsort(want, n_want, sizeof(want[0]), by_weight_desc);
        uint32_t n_got = rs_ease_sparse_recommend(&s, h, n, 5, accumulator, mark, touched, got);
        ck_assert_uint_eq(n_got, n_want < 5 ? n_want : 5);
        for (uint32_t e = 0; e < n_got; e++) {
            ck_assert_uint_eq(got[e].id, want[e].id);
            ck_assert(fabsf(got[e].score - want[e].score) < 1e-6f);
        }
        for (uint32_t j = 0; j < ITEMS; j++) ck_assert(accumulator[j] == 0 && mark[j] == 0);
    }
    rs_ease_sparse_free(&s);
    rs_ease_free(&m);
    rs_csr_free(&x);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("ease");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_closed_form_is_the_constrained_minimiser);
    tcase_add_test(tc, test_matches_double_reference);
    tcase_add_test(tc, test_refuses_what_does_not_fit);
    tcase_add_test(tc, test_sparsify_keeps_true_top_k);
    tcase_add_test(tc, test_sparse_recommend_matches_scoring);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
