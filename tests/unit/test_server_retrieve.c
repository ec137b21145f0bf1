/* test_server_retrieve.c - the retriever's top-N against a naive reference
 * (double-precision scores, full sort), with skip masks and ties. */
#include <cblas.h>
#include <check.h>
#include <stdlib.h>

#include "retrieve.h"
#include "rng.h"

typedef struct ref {
    double score;
    uint32_t id;
} ref;

static int by_score_desc(const void *a, const void *b)
{
    const ref *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static const rs_retrieval methods[] = {RS_RETRIEVAL_BRUTE, RS_RETRIEVAL_MIDX};

START_TEST(test_matches_reference)
{
    rs_retriever_options o = {.method = methods[_i]};
    rs_retrieve_scratch *scr = rs_retrieve_scratch_new();
    rs_rng rng;
    rs_rng_seed(&rng, 11);
    for (int trial = 0; trial < 30; trial++) {
        uint32_t n = 1 + (uint32_t)rs_rng_below(&rng, 3000);
        uint32_t d = 2 + (uint32_t)rs_rng_below(&rng, 70);
        float *items = malloc(sizeof(float) * n * d), *u = malloc(sizeof(float) * d);
        uint8_t *skip = calloc(n, 1);
        ref *all = malloc(sizeof(ref) * n);
        /* Small-integer values keep float sums exact, so ties are real ties
         * and the float ranking must equal the double one exactly. */
        for (size_t k = 0; k < (size_t)n * d; k++) items[k] = (float)rs_rng_below(&rng, 7) - 3;
        for (uint32_t k = 0; k < d; k++) u[k] = (float)rs_rng_below(&rng, 5) - 2;
        uint32_t kept = 0, n_skip = 0;
        uint32_t *skip_ids = malloc(sizeof(uint32_t) * n);
        for (uint32_t i = 0; i < n; i++) {
            skip[i] = trial % 3 == 0 ? 0 : rs_rng_below(&rng, 4) == 0;
            if (skip[i]) skip_ids[n_skip++] = i;
            if (skip[i]) continue;
            double s = 0;
            for (uint32_t k = 0; k < d; k++) s += (double)items[(size_t)i * d + k] * u[k];
            all[kept++] = (ref){s, i};
        }
        qsort(all, kept, sizeof(ref), by_score_desc);
        rs_retriever *r;
        rs_error err;
        o.midx_k = trial % 2 ? 0 : 1 + (uint32_t)rs_rng_below(&rng, 20);
        ck_assert_msg(rs_retriever_create(items, n, d, &o, &r, &err) == 0, "%s", err.msg);
        ck_assert_str_eq(rs_retriever_method(r), _i ? "midx" : "bruteforce");
        uint32_t want = 1 + (uint32_t)rs_rng_below(&rng, 60);
        rs_scored *out = malloc(sizeof(rs_scored) * want);
        rs_retrieve_stats st;
        uint32_t got;
        rs_skip sk = {skip, skip_ids, n_skip};
        ck_assert_int_eq(rs_retrieve_topn(r, u, &sk, want, out, &got, scr, &st, &err), 0);
        ck_assert_uint_eq(got, want < kept ? want : kept);
        ck_assert_int_eq(st.exact, 1);
        ck_assert_uint_le(st.scored, n);
        if (!_i) ck_assert_uint_eq(st.scored, n);
        for (uint32_t j = 0; j < got; j++) {
            ck_assert_uint_eq(out[j].id, all[j].id);
            ck_assert_double_eq((double)out[j].score, all[j].score);
        }
        rs_retriever_free(r);
        free(items), free(u), free(skip), free(skip_ids), free(all), free(out);
    }
    rs_retrieve_scratch_free(scr);
}
END_TEST

START_TEST(test_rejects_empty)
{
    rs_retriever *r;
    rs_error err;
    float x = 1;
    ck_assert_int_eq(rs_retriever_create(&x, 0, 1, NULL, &r, &err), -1);
    ck_assert_int_eq(rs_retriever_create(&x, 1, 0, NULL, &r, &err), -1);
    ck_assert_int_eq(rs_retriever_create(NULL, 1, 1, NULL, &r, &err), -1);
    /* MIDX splits vectors in two halves: dimension 1 is refused when asked
     * for explicitly, and falls back to brute force under auto. */
    rs_retriever_options midx = {.method = RS_RETRIEVAL_MIDX};
    ck_assert_int_eq(rs_retriever_create(&x, 1, 1, &midx, &r, &err), -1);
    ck_assert_int_eq(rs_retriever_create(&x, 1, 1, NULL, &r, &err), 0);
    ck_assert_str_eq(rs_retriever_method(r), "bruteforce");
    rs_retriever_free(r);
}
END_TEST

/* A budget may miss items but never returns a skipped one, never repeats one,
 * and keeps the scores exact for what it returns. */
START_TEST(test_approximate_budget)
{
    enum { N = 5000, DIM = 16 };
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    float *items = malloc(sizeof(float) * N * DIM), u[DIM];
    for (size_t k = 0; k < (size_t)N * DIM; k++)
        items[k] = (float)rs_rng_below(&rng, 2001) / 1000.0f - 1.0f;
    for (int k = 0; k < DIM; k++) u[k] = (float)rs_rng_below(&rng, 2001) / 1000.0f - 1.0f;
    rs_retriever_options o = {.method = RS_RETRIEVAL_MIDX, .midx_k = 32, .midx_budget = 300};
    rs_retriever *r;
    rs_error err;
    ck_assert_int_eq(rs_retriever_create(items, N, DIM, &o, &r, &err), 0);
    rs_retrieve_scratch *scr = rs_retrieve_scratch_new();
    uint8_t *mask = calloc(N, 1);
    uint32_t ids[] = {3, 10, 4000};
    for (int k = 0; k < 3; k++) mask[ids[k]] = 1;
    rs_skip sk = {mask, ids, 3};
    rs_scored out[50];
    uint32_t got;
    rs_retrieve_stats st;
    ck_assert_int_eq(rs_retrieve_topn(r, u, &sk, 50, out, &got, scr, &st, &err), 0);
    ck_assert_uint_eq(got, 50);
    ck_assert_uint_lt(st.scored, N);
    uint8_t *seen = calloc(N, 1);
    for (uint32_t j = 0; j < got; j++) {
        ck_assert(!mask[out[j].id] && !seen[out[j].id]);
        seen[out[j].id] = 1;
        double s = 0;
        for (int k = 0; k < DIM; k++) s += (double)items[(size_t)out[j].id * DIM + k] * u[k];
        ck_assert_double_eq_tol(out[j].score, s, 1e-4);
        if (j) ck_assert(out[j].score <= out[j - 1].score);
    }
    free(seen), free(mask), free(items);
    rs_retrieve_scratch_free(scr);
    rs_retriever_free(r);
}
END_TEST

int main(void)
{
    /* As in recserve: one BLAS thread per caller. (Threaded OpenBLAS on a
     * busy machine makes the small GEMMs of K-means wait on each other.) */
    openblas_set_num_threads(1);
    Suite *s = suite_create("server_retrieve");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_matches_reference, 0, 2);
    tcase_add_test(tc, test_approximate_budget);
    tcase_add_test(tc, test_rejects_empty);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
