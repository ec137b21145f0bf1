/* test_midx_sample.c - softmax sampling through MIDX and by Gumbel-top-k
 * against the exact softmax: total-variation distance of the first and the
 * second draw on a small catalogue, distinct draws, exclusions and filters,
 * the fallback pass. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "midx.h"
#include "midx_sample.h"
#include "pq.h"
#include "rng.h"
#include "test_support.h"

enum { N = 60, D = 8 };

typedef struct fixture {
    float items[N * D];
    rs_pq pq;
    rs_midx idx;
    rs_midx_sampler *smp;
} fixture;

static void build(fixture *f, uint64_t seed)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    for (int i = 0; i < N * D; i++) f->items[i] = (float)(0.7 * rs_rng_normal(&rng));
    rs_pq_options o = rs_pq_defaults();
    o.k = 6;
    o.kmeans.seed = seed;
    rs_error err;
    ck_assert_msg(rs_pq_build(f->items, N, D, &o, &f->pq, &err) == 0, "%s", err.msg);
    ck_assert_msg(rs_midx_from_pq(&f->pq, &f->idx, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rs_midx_sampler_new(&f->idx, &f->smp, &err), 0);
}

static void release(fixture *f)
{
    rs_midx_sampler_free(f->smp);
    rs_midx_release(&f->idx);
    rs_pq_free(&f->pq);
}

/* softmax(u . q / T) over the allowed items (p[i] = 0 for the others). */
static void softmax(const fixture *f, const float *u, double t, const uint8_t *allowed, double *p)
{
    double m = -INFINITY, z = 0;
    for (int i = 0; i < N; i++)
        if (allowed[i]) m = fmax(m, rs_midx_dot(u, f->items + i * D, D) / t);
    for (int i = 0; i < N; i++) {
        p[i] = allowed[i] ? exp(rs_midx_dot(u, f->items + i * D, D) / t - m) : 0;
        z += p[i];
    }
    for (int i = 0; i < N; i++) p[i] /= z;
}

static double tv(const double *p, const uint32_t *counts, uint32_t total)
{
    double s = 0;
    for (int i = 0; i < N; i++) s += fabs(p[i] - (double)counts[i] / total);
    return s / 2;
}

/* Draws DRAWS samples of two items (by MIDX, or by Gumbel when gumbel is
 * set) and checks both positions against the exact distributions. */
static void check_distribution(fixture *f, const float *u, float t, const uint8_t *allowed,
                               const rs_exclude *ex, uint32_t head, uint64_t max_proposals,
                               int gumbel, uint32_t draws)
{
    double p[N], second[N] = {0};
    softmax(f, u, t, allowed, p);
    for (int i = 0; i < N; i++) /* P(second = j) = sum_i p_i p_j / (1 - p_i) */
        for (int j = 0; j < N; j++)
            if (i != j && p[i] < 1) second[j] += p[i] * p[j] / (1 - p[i]);
    uint32_t c1[N] = {0}, c2[N] = {0};
    rs_rng rng;
    rs_rng_seed(&rng, 99);
    float scores[N];
    for (int i = 0; i < N; i++) scores[i] = rs_midx_dot(u, f->items + i * D, D);
    rs_sample_stats total = {0};
    for (uint32_t r = 0; r < draws; r++) {
        rs_scored out[2];
        uint32_t got;
        rs_error err;
        if (gumbel) {
            got = rs_sample_gumbel(scores, NULL, N, t, ex, NULL, 2, &rng, out);
        } else {
            rs_sample_stats st;
            ck_assert_int_eq(rs_midx_sample(&f->idx, f->smp, u, t, ex, 2, head, max_proposals, &rng,
                                            out, &got, &st, &err),
                             0);
            total.proposals += st.proposals;
            total.fallback += st.fallback;
        }
        ck_assert_uint_eq(got, 2);
        ck_assert_uint_ne(out[0].id, out[1].id);
        ck_assert(allowed[out[0].id] && allowed[out[1].id]);
        ck_assert(out[0].score == scores[out[0].id]);
        c1[out[0].id]++;
        c2[out[1].id]++;
    }
    double d1 = tv(p, c1, draws), d2 = tv(second, c2, draws);
    /* Sampling noise alone gives about 0.5 sqrt(2 N / (pi draws)): 0.014
     * for 50,000 draws; the limit is three times that. */
    double limit = 1.5 * sqrt(2.0 * N / (M_PI * draws));
    ck_assert_msg(d1 < limit && d2 < limit, "TV %.4f and %.4f over %u draws (T %g, %s)", d1, d2,
                  draws, t, gumbel ? "gumbel" : "midx");
    if (!gumbel && max_proposals > 1000) ck_assert_int_eq(total.fallback, 0);
}

START_TEST(test_matches_the_softmax)
{
    fixture f;
    build(&f, 1);
    rs_rng rng;
    rs_rng_seed(&rng, 2);
    float u[D];
    uint8_t all[N];
    memset(all, 1, sizeof(all));
    static const float temps[] = {0.5f, 1.0f, 3.0f};
    for (int q = 0; q < 3; q++) {
        for (int j = 0; j < D; j++) u[j] = (float)rs_rng_normal(&rng);
        /* A head of 4 items leaves the tail's bounds most of the mass; the
         * default head holds every item of this catalogue. */
        check_distribution(&f, u, temps[q], all, NULL, 4, UINT64_MAX, 0, 50000);
        check_distribution(&f, u, temps[q], all, NULL, 0, UINT64_MAX, 0, 20000);
        check_distribution(&f, u, temps[q], all, NULL, 0, UINT64_MAX, 1, 50000);
    }
    release(&f);
}
END_TEST

START_TEST(test_filters_exclusions_and_fallback)
{
    fixture f;
    build(&f, 3);
    rs_rng rng;
    rs_rng_seed(&rng, 4);
    float u[D];
    for (int j = 0; j < D; j++) u[j] = (float)rs_rng_normal(&rng);
    uint8_t allowed[N];
    uint64_t allow[N / 64 + 1] = {0};
    uint32_t ids[3] = {5, 17, 40};
    ck_assert_int_lt(40, N);
    for (int i = 0; i < N; i++) {
        allowed[i] = i % 3 != 0 && i != 5 && i != 17 && i != 40;
        if (i % 3 != 0) allow[i / 64] |= 1ull << (i % 64);
    }
    rs_exclude ex = {.ids = ids, .n_ids = 3, .allow = allow, .n_allow = N};
    check_distribution(&f, u, 1.0f, allowed, &ex, 4, UINT64_MAX, 0, 20000);
    check_distribution(&f, u, 1.0f, allowed, &ex, 4, 1, 0, 20000); /* the fallback pass */
    check_distribution(&f, u, 1.0f, allowed, &ex, 0, 0, 1, 20000);
    /* Asking for more than are allowed gives every allowed item once. */
    rs_scored out[N];
    uint32_t got, want = 0;
    rs_error err;
    for (int i = 0; i < N; i++) want += allowed[i];
    ck_assert_int_eq(
        rs_midx_sample(&f.idx, f.smp, u, 1.0f, &ex, N, 4, 100000, &rng, out, &got, NULL, &err), 0);
    ck_assert_uint_eq(got, want);
    uint8_t seen[N] = {0};
    for (uint32_t i = 0; i < got; i++) {
        ck_assert(allowed[out[i].id] && !seen[out[i].id]);
        seen[out[i].id] = 1;
    }
    ck_assert_int_eq(
        rs_midx_sample(&f.idx, f.smp, u, 0.0f, &ex, 3, 0, UINT64_MAX, &rng, out, &got, NULL, &err),
        -1);
    release(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("midx_sample");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_matches_the_softmax);
    tcase_add_test(tc, test_filters_exclusions_and_fallback);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
