/* test_server_retrieve.c - the retriever's top-N against a naive reference
 * (double-precision scores, full sort), with skip masks and ties. */
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

START_TEST(test_matches_reference)
{
    rs_rng rng;
    rs_rng_seed(&rng, 11);
    for (int trial = 0; trial < 30; trial++) {
        uint32_t n = 1 + (uint32_t)rs_rng_below(&rng, 3000);
        uint32_t d = 1 + (uint32_t)rs_rng_below(&rng, 70);
        float *items = malloc(sizeof(float) * n * d), *u = malloc(sizeof(float) * d);
        uint8_t *skip = calloc(n, 1);
        ref *all = malloc(sizeof(ref) * n);
        /* Small-integer values keep float sums exact, so ties are real ties
         * and the float ranking must equal the double one exactly. */
        for (size_t k = 0; k < (size_t)n * d; k++) items[k] = (float)rs_rng_below(&rng, 7) - 3;
        for (uint32_t k = 0; k < d; k++) u[k] = (float)rs_rng_below(&rng, 5) - 2;
        uint32_t kept = 0;
        for (uint32_t i = 0; i < n; i++) {
            skip[i] = trial % 3 == 0 ? 0 : rs_rng_below(&rng, 4) == 0;
            if (skip[i]) continue;
            double s = 0;
            for (uint32_t k = 0; k < d; k++) s += (double)items[(size_t)i * d + k] * u[k];
            all[kept++] = (ref){s, i};
        }
        qsort(all, kept, sizeof(ref), by_score_desc);
        rs_retriever *r;
        rs_error err;
        ck_assert_int_eq(rs_retriever_create(items, n, d, &r, &err), 0);
        float *scratch = malloc(sizeof(float) * rs_retriever_scratch_floats(r));
        uint32_t want = 1 + (uint32_t)rs_rng_below(&rng, 60);
        rs_scored *out = malloc(sizeof(rs_scored) * want);
        uint64_t scored = 0;
        uint32_t got = rs_retrieve_topn(r, u, skip, want, out, scratch, &scored);
        ck_assert_uint_eq(got, want < kept ? want : kept);
        ck_assert_uint_eq(scored, n);
        for (uint32_t j = 0; j < got; j++) {
            ck_assert_uint_eq(out[j].id, all[j].id);
            ck_assert_double_eq((double)out[j].score, all[j].score);
        }
        rs_retriever_free(r);
        free(items), free(u), free(skip), free(all), free(scratch), free(out);
    }
}
END_TEST

START_TEST(test_rejects_empty)
{
    rs_retriever *r;
    rs_error err;
    float x = 1;
    ck_assert_int_eq(rs_retriever_create(&x, 0, 1, &r, &err), -1);
    ck_assert_int_eq(rs_retriever_create(&x, 1, 0, &r, &err), -1);
    ck_assert_int_eq(rs_retriever_create(NULL, 1, 1, &r, &err), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_retrieve");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_matches_reference);
    tcase_add_test(tc, test_rejects_empty);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
