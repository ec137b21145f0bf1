/* test_cooccur.c - the sparse shrunk cosine against a dense computation on
 * small random binary matrices. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cooccur.h"
#include "rng.h"

/* A random binary users x items CSR: item i is taken with a probability
 * that falls with i (a long tail), so similarities spread out. */
static void random_matrix(uint32_t users, uint32_t items, double density, uint64_t seed, rs_csr *m)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    m->n_rows = users;
    m->n_cols = items;
    m->values = NULL;
    m->indptr = calloc(users + 1, sizeof(uint64_t));
    m->indices = malloc((size_t)users * items * sizeof(uint32_t));
    ck_assert(m->indptr && m->indices);
    uint64_t nnz = 0;
    for (uint32_t u = 0; u < users; u++) {
        for (uint32_t i = 0; i < items; i++)
            if (rs_rng_uniform(&rng) < density * 2.0 * (items - i) / items) m->indices[nnz++] = i;
        m->indptr[u + 1] = nnz;
    }
}

/* Dense S from the definition: n_ij / (sqrt(n_i n_j) + shrink), S_ii = 1,
 * 0 for pairs nobody rated together (also when shrink is 0). */
static double *dense_similarity(const rs_csr *m, double shrink)
{
    uint32_t n = m->n_cols;
    double *count = calloc((size_t)n * n, sizeof(double));
    double *s = malloc((size_t)n * n * sizeof(double));
    ck_assert(count && s);
    for (uint32_t u = 0; u < m->n_rows; u++)
        for (uint64_t a = m->indptr[u]; a < m->indptr[u + 1]; a++)
            for (uint64_t b = m->indptr[u]; b < m->indptr[u + 1]; b++)
                count[(size_t)m->indices[a] * n + m->indices[b]] += 1.0;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++) {
            double nij = count[(size_t)i * n + j];
            double ni = count[(size_t)i * n + i], nj = count[(size_t)j * n + j];
            s[(size_t)i * n + j] = i == j ? 1.0 : nij > 0.0 ? nij / (sqrt(ni * nj) + shrink) : 0.0;
        }
    free(count);
    return s;
}

static void build(const rs_csr *m, uint32_t neighbours, double shrink, rs_cooccur *c)
{
    rs_cooccur_options o;
    rs_cooccur_options_default(&o);
    o.neighbours = neighbours;
    o.shrink = shrink;
    rs_error err;
    ck_assert_msg(rs_cooccur_build(m, &o, c, &err) == 0, "%s", err.msg);
}

START_TEST(test_matches_dense_when_nothing_is_dropped)
{
    static const double shrinks[] = {0.0, 50.0, 3.0};
    for (int trial = 0; trial < 3; trial++) {
        rs_csr m;
        random_matrix(120, 40, 0.12, 100 + trial, &m);
        double *dense = dense_similarity(&m, shrinks[trial]);
        rs_cooccur c;
        build(&m, 40, shrinks[trial], &c);
        ck_assert_uint_eq(c.pairs_dropped, 0);
        uint64_t nonzero = 0;
        for (uint32_t i = 0; i < 40; i++)
            for (uint32_t j = 0; j < 40; j++) {
                double want = dense[i * 40 + j];
                nonzero += i != j && want > 0.0;
                ck_assert_msg(fabs(rs_cooccur_similarity(&c, i, j) - want) < 1e-6,
                              "S(%u,%u) = %g, dense %g", i, j, rs_cooccur_similarity(&c, i, j),
                              want);
                ck_assert(fabs(rs_cooccur_cost(&c, i, j) - (1.0 - want)) < 1e-6);
            }
        ck_assert_uint_eq(c.indptr[40], nonzero); /* exactly the co-rated pairs */
        ck_assert_uint_eq(rs_cooccur_bytes(&c), 41 * sizeof(uint64_t) + nonzero * 8);
        free(dense);
        rs_cooccur_free(&c);
        rs_csr_free(&m);
    }
}
END_TEST

/* Row i's best `keep` j != i by dense S (ties to the smaller id) into best;
 * returns the largest S among the other co-rated j. */
static double dense_top(const double *dense, uint32_t n, uint32_t i, uint32_t keep, uint8_t *best)
{
    memset(best, 0, n);
    for (uint32_t t = 0; t < keep; t++) {
        int pick = -1;
        for (uint32_t j = 0; j < n; j++) {
            if (j == i || best[j] || dense[(size_t)i * n + j] <= 0.0) continue;
            if (pick < 0 || (float)dense[(size_t)i * n + j] > (float)dense[(size_t)i * n + pick])
                pick = (int)j;
        }
        if (pick < 0) break;
        best[pick] = 1;
    }
    double rest = 0.0;
    for (uint32_t j = 0; j < n; j++)
        if (j != i && !best[j]) rest = fmax(rest, dense[(size_t)i * n + j]);
    return rest;
}

START_TEST(test_truncation_keeps_the_top_neighbours)
{
    rs_csr m;
    random_matrix(300, 60, 0.1, 7, &m);
    double *dense = dense_similarity(&m, 50.0);
    rs_cooccur c;
    build(&m, 6, 50.0, &c);
    uint8_t best[60];
    double dropped_max = 0.0;
    for (uint32_t i = 0; i < 60; i++) {
        dropped_max = fmax(dropped_max, dense_top(dense, 60, i, 6, best));
        uint32_t kept = 0;
        for (uint32_t e = c.indptr[i]; e < c.indptr[i + 1]; e++) {
            ck_assert_uint_ne(c.ids[e], i);
            if (e > c.indptr[i]) ck_assert_uint_lt(c.ids[e - 1], c.ids[e]); /* sorted by id */
        }
        for (uint32_t j = 0; j < 60; j++) {
            if (j == i) continue;
            float got = rs_cooccur_similarity(&c, i, j);
            if (best[j]) {
                kept++;
                ck_assert(fabs(got - dense[i * 60 + j]) < 1e-6);
            } else {
                ck_assert_msg(got == 0.0f, "S(%u,%u) kept but not in the dense top 6", i, j);
            }
        }
        ck_assert_uint_eq(kept, c.indptr[i + 1] - c.indptr[i]);
    }
    ck_assert(c.pairs_dropped > 0);
    ck_assert(fabs(c.dropped_max - dropped_max) < 1e-6);
    free(dense);
    rs_cooccur_free(&c);
    rs_csr_free(&m);
}
END_TEST

START_TEST(test_same_result_for_any_thread_count)
{
    rs_csr m;
    random_matrix(400, 90, 0.08, 11, &m);
    rs_cooccur one, two;
    omp_set_num_threads(1);
    build(&m, 10, 50.0, &one);
    omp_set_num_threads(2);
    build(&m, 10, 50.0, &two);
    ck_assert_uint_eq(one.indptr[90], two.indptr[90]);
    ck_assert(memcmp(one.indptr, two.indptr, 91 * sizeof(uint64_t)) == 0);
    ck_assert(memcmp(one.ids, two.ids, one.indptr[90] * sizeof(uint32_t)) == 0);
    ck_assert(memcmp(one.similarity, two.similarity, one.indptr[90] * sizeof(float)) == 0);
    rs_cooccur_free(&one);
    rs_cooccur_free(&two);
    rs_csr_free(&m);
}
END_TEST

START_TEST(test_gather_matches_lookup)
{
    rs_csr m;
    random_matrix(200, 50, 0.1, 5, &m);
    rs_cooccur c;
    build(&m, 8, 50.0, &c);
    rs_rng rng;
    rs_rng_seed(&rng, 3);
    int32_t column_of[50];
    uint32_t cols[50];
    double row[50];
    for (int trial = 0; trial < 20; trial++) {
        for (uint32_t j = 0; j < 50; j++) column_of[j] = -1;
        uint32_t n = 1 + (uint32_t)rs_rng_below(&rng, 50);
        for (uint32_t j = 0; j < 50; j++) cols[j] = j;
        rs_rng_shuffle_u32(&rng, cols, 50);
        for (uint32_t t = 0; t < n; t++) column_of[cols[t]] = (int32_t)t;
        uint32_t i = (uint32_t)rs_rng_below(&rng, 50);
        rs_cooccur_cost_gather(&c, i, n, column_of, row);
        for (uint32_t t = 0; t < n; t++)
            ck_assert(fabs(row[t] - rs_cooccur_cost(&c, i, cols[t])) < 1e-7);
    }
    rs_cooccur_free(&c);
    rs_csr_free(&m);
}
END_TEST

START_TEST(test_rejects_bad_options)
{
    rs_csr m;
    random_matrix(10, 10, 0.3, 1, &m);
    rs_cooccur_options o;
    rs_cooccur_options_default(&o);
    rs_cooccur c;
    rs_error err;
    o.neighbours = 0;
    ck_assert_int_eq(rs_cooccur_build(&m, &o, &c, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "neighbours"));
    ck_assert_ptr_null(c.indptr);
    rs_cooccur_options_default(&o);
    o.shrink = -1.0;
    ck_assert_int_eq(rs_cooccur_build(&m, &o, &c, &err), -1);
    rs_csr_free(&m);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("cooccur");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_matches_dense_when_nothing_is_dropped);
    tcase_add_test(tc, test_truncation_keeps_the_top_neighbours);
    tcase_add_test(tc, test_same_result_for_any_thread_count);
    tcase_add_test(tc, test_gather_matches_lookup);
    tcase_add_test(tc, test_rejects_bad_options);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
