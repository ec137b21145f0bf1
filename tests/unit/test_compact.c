/* test_compact.c - int8 codes (core/compact.c): the error bound holds for
 * every item, the kernels agree, and the bounded scan returns exactly the
 * float32 top-N (ids and score bits) with exclusions, ties and odd sizes,
 * while rescoring only a small share of the items. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "midx.h"
#include "rng.h"
#include "test_support.h"

/* Clustered rows with a log-normal norm spread (test_support.h). */
static float *make_rows(uint32_t n, uint32_t d, int integer, rs_rng *rng)
{
    return test_clustered_rows(n, d, 8, 0.3f, integer, rng);
}

static float margin_for(const float *u, uint32_t d, float norm_max)
{
    double un = 0;
    for (uint32_t j = 0; j < d; j++) un += (double)u[j] * u[j];
    return rs_midx_margin(d, sqrt(un), norm_max);
}

static float norm_max_of(const float *x, uint32_t n, uint32_t d)
{
    double most = 0;
    for (uint32_t i = 0; i < n; i++) {
        double s = 0;
        for (uint32_t j = 0; j < d; j++) s += (double)x[(size_t)i * d + j] * x[(size_t)i * d + j];
        if (isfinite(s)) most = RS_MAX(most, s);
    }
    return (float)(sqrt(most) * 1.0001);
}

/* Top-N by rs_midx_dot over every allowed item with a finite score. */
static uint32_t reference(const float *x, uint32_t n, uint32_t d, const float *u, uint32_t top_n,
                          const rs_exclude *ex, rs_scored *out)
{
    rs_topk tk;
    rs_topk_init(&tk, out, top_n);
    for (uint32_t i = 0; i < n; i++) {
        if (!rs_exclude_allows(ex, i)) continue;
        float sc = rs_midx_dot(u, x + (size_t)i * d, d);
        if (isfinite(sc) && rs_topk_would_enter(&tk, sc, i)) rs_topk_push(&tk, sc, i);
    }
    return rs_topk_sorted(&tk);
}

START_TEST(test_bound_holds_for_every_item)
{
    static const uint32_t dims[] = {1, 7, 32, 33, 64, 128, 200};
    rs_rng rng;
    rs_rng_seed(&rng, 11);
    for (size_t t = 0; t < sizeof(dims) / sizeof(dims[0]); t++) {
        uint32_t n = 500, d = dims[t];
        float *x = make_rows(n, d, 0, &rng);
        memset(x + 3 * d, 0, sizeof(float) * d);                /* a zero row */
        for (uint32_t j = 0; j < d; j++) x[5 * d + j] = 1e-41f; /* subnormal */
        x[7 * d] = INFINITY;                                    /* not finite */
        rs_compact c;
        rs_error err;
        ck_assert_msg(rs_compact_build(x, n, d, 1, &c, &err) == 0, "%s", err.msg);
        ck_assert(isinf(c.err[7]));
        ck_assert((c.head.codes != NULL) == (d >= RS_COMPACT_HEAD_MIN_DIM));
        rs_compact plain; /* without with_head, never a head stage */
        ck_assert(rs_compact_build(x, n, d, 0, &plain, &err) == 0);
        ck_assert(plain.head.codes == NULL && plain.head.basis == NULL);
        ck_assert_uint_le(rs_compact_bytes(&plain), rs_compact_bytes(&c));
        rs_compact_free(&plain);
        ck_assert_uint_eq(c.stride % RS_COMPACT_ALIGN, 0);
        void *p = calloc(1, rs_compact_scratch_bytes(&c));
        float *est = malloc(sizeof(float) * n), *ub = malloc(sizeof(float) * n);
        float nm = norm_max_of(x, n, d);
        for (int qi = 0; qi < 20; qi++) {
            float u[200];
            for (uint32_t j = 0; j < d; j++) u[j] = (float)(rs_rng_normal(&rng) * 3.0);
            if (qi == 0) memset(u, 0, sizeof(float) * d);
            rs_compact_query q;
            ck_assert(rs_compact_query_init(&c, u, margin_for(u, d, nm), p, &q, &err) == 0);
            c.rows(&c, &q, 0, n, est, ub);
            for (uint32_t i = 0; i < n; i++) {
                const int8_t *code = c.codes + (size_t)i * c.stride;
                ck_assert_int_eq(c.idot(p, code, c.stride), rs_compact_idot(p, code, c.stride));
                float e = rs_compact_estimate(&c, &q, i), r = rs_compact_slack(&c, &q, i);
                ck_assert_msg(est[i] == e, "d=%u item %u: block kernel %g, single %g", d, i, est[i],
                              e);
                ck_assert(ub[i] == e + r || (isnan(ub[i]) && isnan(e + r)));
                if (i == 7) continue;
                float sc = rs_midx_dot(u, x + (size_t)i * d, d);
                ck_assert_msg(fabsf(sc - e) <= r, "d=%u item %u: score %.9g, estimate %.9g +- %g",
                              d, i, sc, e, r);
                if (!c.head.codes) continue;
                /* The head stage: its bound holds too. */
                float he = rs_compact_estimate(c.head.codes, q.head, i),
                      hr = rs_compact_slack(c.head.codes, q.head, i);
                ck_assert_msg(fabsf(sc - he) <= hr, "d=%u item %u: score %.9g, head %.9g +- %g", d,
                              i, sc, he, hr);
            }
        }
        free(est);
        free(ub);
        free(p);
        rs_compact_free(&c);
        free(x);
    }
}
END_TEST

/* Compares rs_compact_topn with the reference on many queries. */
static void check_topn(const float *x, uint32_t n, uint32_t d, const rs_compact *c,
                       const rs_exclude *ex, uint32_t top_n, rs_rng *rng, int integer,
                       uint32_t *max_rescored)
{
    float nm = norm_max_of(x, n, d);
    void *p = calloc(1, rs_compact_scratch_bytes(c));
    uint32_t *cand = malloc(sizeof(uint32_t) * n);
    rs_scored *got = malloc(sizeof(rs_scored) * (top_n + 1)),
              *want = malloc(sizeof(rs_scored) * (top_n + 1));
    *max_rescored = 0;
    for (int qi = 0; qi < 40; qi++) {
        float u[256];
        for (uint32_t j = 0; j < d; j++) {
            float v = (float)(rs_rng_normal(rng) * 2.0);
            u[j] = integer ? (float)(int)v : v;
        }
        uint32_t n_got, n_want = reference(x, n, d, u, top_n, ex, want);
        rs_compact_stats st;
        rs_error err;
        ck_assert_msg(rs_compact_topn(c, x, u, margin_for(u, d, nm), top_n, ex, cand, p, got,
                                      &n_got, &st, &err) == 0,
                      "%s", err.msg);
        ck_assert_uint_eq(n_got, n_want);
        for (uint32_t j = 0; j < n_got; j++) {
            ck_assert_msg(got[j].id == want[j].id, "query %d rank %u: id %u, want %u", qi, j,
                          got[j].id, want[j].id);
            ck_assert(memcmp(&got[j].score, &want[j].score, sizeof(float)) == 0);
        }
        *max_rescored = RS_MAX(*max_rescored, st.rescored);
    }
    free(got);
    free(want);
    free(cand);
    free(p);
}

START_TEST(test_topn_is_exact)
{
    static const uint32_t dims[] = {1, 5, 32, 64, 100, 200};
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    for (size_t t = 0; t < sizeof(dims) / sizeof(dims[0]); t++) {
        for (int integer = 0; integer <= 1; integer++) {
            uint32_t n = 3000, d = dims[t], max_rescored;
            float *x = make_rows(n, d, integer, &rng);
            memcpy(x + 10 * d, x + 20 * d, sizeof(float) * d); /* an exact duplicate */
            rs_compact c;
            rs_error err;
            ck_assert_msg(rs_compact_build(x, n, d, 1, &c, &err) == 0, "%s", err.msg);
            check_topn(x, n, d, &c, NULL, 20, &rng, integer, &max_rescored);
            check_topn(x, n, d, &c, NULL, 1, &rng, integer, &max_rescored);
            rs_compact few; /* N beyond the catalogue */
            ck_assert(rs_compact_build(x, 7, d, 1, &few, &err) == 0);
            check_topn(x, 7, d, &few, NULL, 20, &rng, integer, &max_rescored);
            rs_compact_free(&few);
            /* Exclusions: a sorted list, a bitmap and a filter at once. */
            uint32_t ids[] = {3, 10, 20, 99, 2000};
            uint64_t bits[(3000 + 63) / 64] = {0}, allow[(3000 + 63) / 64];
            for (uint32_t i = 0; i < n; i += 3) bits[i / 64] |= 1ull << (i % 64);
            memset(allow, 0, sizeof(allow));
            for (uint32_t i = 0; i < n; i++)
                if (i % 5 != 0) allow[i / 64] |= 1ull << (i % 64);
            rs_exclude ex = {ids, 5, bits, n, allow, n};
            check_topn(x, n, d, &c, &ex, 20, &rng, integer, &max_rescored);
            rs_compact_free(&c);
            free(x);
        }
    }
}
END_TEST

/* The scan's point: on clustered data only a few percent of the items are
 * rescored in float32 (a Cauchy-Schwarz bound on the whole vector would
 * rescore most of them). */
START_TEST(test_topn_rescores_few)
{
    rs_rng rng;
    rs_rng_seed(&rng, 9);
    uint32_t n = 20000, d = 64, max_rescored;
    float *x = make_rows(n, d, 0, &rng);
    rs_compact c;
    rs_error err;
    ck_assert_msg(rs_compact_build(x, n, d, 1, &c, &err) == 0, "%s", err.msg);
    check_topn(x, n, d, &c, NULL, 20, &rng, 0, &max_rescored);
    ck_assert_msg(max_rescored < n / 50, "rescored up to %u of %u items", max_rescored, n);
    rs_compact_free(&c);
    free(x);
}
END_TEST

/* A bound that is too tight must be caught by the exactness check: with
 * every error bound zeroed the scan drops true top-N items. */
START_TEST(test_broken_bound_is_caught)
{
    /* _i = 0: the full codes' bounds; 1: the head stage's (d = 200). */
    rs_rng rng;
    rs_rng_seed(&rng, 3);
    uint32_t n = 3000, d = _i ? 200 : 64, top_n = 20;
    float *x = make_rows(n, d, 0, &rng);
    rs_compact c;
    rs_error err;
    ck_assert(rs_compact_build(x, n, d, 1, &c, &err) == 0);
    rs_compact *broken = _i ? c.head.codes : &c;
    ck_assert(broken != NULL);
    for (uint32_t i = 0; i < n; i++) broken->err[i] = 0;
    void *p = calloc(1, rs_compact_scratch_bytes(&c));
    uint32_t *cand = malloc(sizeof(uint32_t) * n);
    rs_scored got[20], want[20];
    int differ = 0;
    for (int qi = 0; qi < 50 && !differ; qi++) {
        float u[200];
        for (uint32_t j = 0; j < d; j++) u[j] = (float)rs_rng_normal(&rng);
        uint32_t n_got, n_want = reference(x, n, d, u, top_n, NULL, want);
        ck_assert(rs_compact_topn(&c, x, u, 0.0f, top_n, NULL, cand, p, got, &n_got, NULL, &err) ==
                  0);
        for (uint32_t j = 0; j < n_want && !differ; j++) differ = got[j].id != want[j].id;
    }
    ck_assert_msg(differ, "zeroed error bounds went unnoticed");
    free(cand);
    free(p);
    rs_compact_free(&c);
    free(x);
}
END_TEST

START_TEST(test_hostile_queries)
{
    float x[64 * 4];
    for (int i = 0; i < 64 * 4; i++) x[i] = (float)(i % 7) - 3.0f;
    rs_compact c;
    rs_error err;
    ck_assert(rs_compact_build(x, 4, 64, 1, &c, &err) == 0);
    int16_t p[64];
    uint32_t cand[4];
    rs_scored out[2];
    uint32_t n_out;
    float u[64] = {0};
    u[3] = NAN;
    ck_assert_int_eq(rs_compact_topn(&c, x, u, 0, 2, NULL, cand, p, out, &n_out, NULL, &err), -1);
    ck_assert(strstr(err.msg, "not finite") != NULL);
    u[3] = FLT_MAX;
    ck_assert_int_eq(rs_compact_topn(&c, x, u, 0, 2, NULL, cand, p, out, &n_out, NULL, &err), -1);
    ck_assert(strstr(err.msg, "too large") != NULL);
    rs_compact_free(&c);
    ck_assert_int_eq(rs_compact_build(x, 0, 64, 1, &c, &err), -1);
    ck_assert(strstr(err.msg, "empty") != NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compact");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bound_holds_for_every_item);
    tcase_add_test(tc, test_topn_is_exact);
    tcase_add_test(tc, test_topn_rescores_few);
    tcase_add_loop_test(tc, test_broken_bound_is_caught, 0, 2);
    tcase_add_test(tc, test_hostile_queries);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
