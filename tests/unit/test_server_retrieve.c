/* test_server_retrieve.c - the retriever's top-N against a naive reference
 * (double-precision scores, full sort), with skip masks and ties; a
 * retriever over a published index answers as a built one, and refuses an
 * index of other items. */
#include <cblas.h>
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "midx.h"
#include "midx_store.h"
#include "pq.h"

#include "retrieve.h"
#include "rng.h"
#include "test_support.h"

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
        rs_skip sk = {skip, skip_ids, n_skip, NULL, 0};
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

/* Brute force over a catalogue large enough for the int8 codes (2^19 floats
 * or more; at 200 dimensions with the head stage): the exact reference
 * ranking with skips, a filter, ties and rows that are not finite. */
START_TEST(test_brute_codes_match_reference)
{
    static const uint32_t dims[] = {64, 70, 200}; /* 2^19 floats, more, the head stage */
    const uint32_t n = 8192, d = dims[_i];
    rs_rng rng;
    rs_rng_seed(&rng, 23 + _i);
    float *items = malloc(sizeof(float) * n * d), u[200];
    for (size_t k = 0; k < (size_t)n * d; k++) items[k] = (float)rs_rng_below(&rng, 7) - 3;
    items[5 * d + 1] = NAN;
    items[9 * d] = INFINITY;
    uint8_t *skip = calloc(n, 1);
    uint32_t *skip_ids = malloc(sizeof(uint32_t) * n), n_skip = 0;
    uint64_t *allow = calloc((n + 63) / 64, sizeof(uint64_t));
    uint32_t n_allowed = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (rs_rng_below(&rng, 5) == 0) skip[i] = 1, skip_ids[n_skip++] = i;
        if (rs_rng_below(&rng, 4) != 0) allow[i / 64] |= 1ull << (i % 64), n_allowed++;
    }
    rs_retriever_options o = {.method = RS_RETRIEVAL_BRUTE};
    rs_retriever *r;
    rs_error err;
    ck_assert_msg(rs_retriever_create(items, n, d, &o, &r, &err) == 0, "%s", err.msg);
    rs_retrieve_scratch *scr = rs_retrieve_scratch_new();
    ref *all = malloc(sizeof(ref) * n);
    rs_scored out[50];
    for (int trial = 0; trial < 12; trial++) {
        for (uint32_t k = 0; k < d; k++) u[k] = (float)rs_rng_below(&rng, 5) - 2;
        int filtered = trial % 3 == 2;
        rs_skip sk = {skip, skip_ids, n_skip, filtered ? allow : NULL, filtered ? n_allowed : 0};
        uint32_t kept = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (trial % 3 && skip[i]) continue;
            if (filtered && !(allow[i / 64] >> (i % 64) & 1)) continue;
            double sc = 0;
            for (uint32_t k = 0; k < d; k++) sc += (double)items[(size_t)i * d + k] * u[k];
            if (isfinite(sc)) all[kept++] = (ref){sc, i};
        }
        qsort(all, kept, sizeof(ref), by_score_desc);
        uint32_t got;
        rs_retrieve_stats st;
        ck_assert_int_eq(
            rs_retrieve_topn(r, u, trial % 3 ? &sk : NULL, 50, out, &got, scr, &st, &err), 0);
        ck_assert_uint_eq(got, 50);
        for (uint32_t j = 0; j < got; j++) {
            ck_assert_msg(out[j].id == all[j].id, "trial %d rank %u: %u, want %u", trial, j,
                          out[j].id, all[j].id);
            ck_assert_double_eq((double)out[j].score, all[j].score);
        }
    }
    rs_retriever_free(r);
    rs_retrieve_scratch_free(scr);
    free(items), free(skip), free(skip_ids), free(allow), free(all);
}
END_TEST

/* Filters: brute force, MIDX and the direct scoring of a small filter's
 * items return the same items with the same score bits, the exact top-n by
 * the search kernel over the allowed items not skipped. */
START_TEST(test_filtered_methods_agree)
{
    enum { NI = 6000, DI = 16, TOP = 40 };
    rs_rng rng;
    rs_rng_seed(&rng, 31);
    float *items = malloc(sizeof(float) * NI * DI), u[DI];
    for (size_t k = 0; k < (size_t)NI * DI; k++) items[k] = (float)rs_rng_normal(&rng);
    rs_retriever *rb, *rm;
    rs_error err;
    rs_retriever_options ob = {.method = RS_RETRIEVAL_BRUTE}, om = {.method = RS_RETRIEVAL_MIDX};
    ck_assert_int_eq(rs_retriever_create(items, NI, DI, &ob, &rb, &err), 0);
    ck_assert_int_eq(rs_retriever_create(items, NI, DI, &om, &rm, &err), 0);
    rs_retrieve_scratch *scr = rs_retrieve_scratch_new();
    uint64_t allow[NI / 64 + 1];
    uint8_t mask[NI];
    uint32_t ids[NI];
    rs_scored a[TOP], b[TOP], r[TOP];
    static const double shares[] = {1.0, 0.7, 0.5, 0.1, 0.01, 0.0};
    for (int q = 0; q < 300; q++) {
        for (int k = 0; k < DI; k++) u[k] = (float)rs_rng_normal(&rng);
        memset(allow, 0, sizeof(allow));
        memset(mask, 0, sizeof(mask));
        uint32_t n_allowed = 0, n_ids = 0;
        for (uint32_t i = 0; i < NI; i++) {
            if (rs_rng_uniform(&rng) < shares[q % 6]) {
                allow[i / 64] |= 1ull << (i % 64);
                n_allowed++;
            }
            if (q % 2 && rs_rng_below(&rng, 20) == 0) mask[i] = 1, ids[n_ids++] = i;
        }
        rs_skip sk = {mask, ids, n_ids, allow, n_allowed};
        uint32_t top = 1 + (uint32_t)rs_rng_below(&rng, TOP), na, nb;
        rs_retrieve_stats sa, sb;
        ck_assert_int_eq(rs_retrieve_topn(rb, u, &sk, top, a, &na, scr, &sa, &err), 0);
        ck_assert_int_eq(rs_retrieve_topn(rm, u, &sk, top, b, &nb, scr, &sb, &err), 0);
        ck_assert_int_eq(sa.direct, rs_retrieve_direct(n_allowed, NI));
        ck_assert_int_eq(sb.exact, 1);
        rs_topk tk;
        rs_topk_init(&tk, r, top);
        for (uint32_t i = 0; i < NI; i++) {
            if (mask[i] || !(allow[i / 64] >> (i % 64) & 1)) continue;
            float sc = rs_midx_dot(u, items + (size_t)i * DI, DI);
            if (rs_topk_would_enter(&tk, sc, i)) rs_topk_push(&tk, sc, i);
        }
        uint32_t nr = rs_topk_sorted(&tk);
        ck_assert_uint_eq(na, nr);
        ck_assert_uint_eq(nb, nr);
        for (uint32_t j = 0; j < nr; j++) {
            ck_assert_uint_eq(a[j].id, r[j].id);
            ck_assert_uint_eq(b[j].id, r[j].id);
            ck_assert(a[j].score == r[j].score && b[j].score == r[j].score);
        }
    }
    rs_retrieve_scratch_free(scr);
    rs_retriever_free(rb);
    rs_retriever_free(rm);
    free(items);
}
END_TEST

/* A batch answers each query as rs_retrieve_topn does, bit for bit: brute
 * force through sgemm blocks, MIDX query by query; skips by sorted ids
 * alone, filters, a non-finite vector, n beyond the catalogue. */
START_TEST(test_batch_equals_singles)
{
    enum { NI = 5000, DI = 24, NQ = 37, TOP = 60 };
    rs_rng rng;
    rs_rng_seed(&rng, 41);
    float *items = malloc(sizeof(float) * NI * DI), *us = malloc(sizeof(float) * NQ * DI);
    for (size_t k = 0; k < (size_t)NI * DI; k++) items[k] = (float)rs_rng_normal(&rng);
    rs_retriever_options opts[2] = {{.method = RS_RETRIEVAL_BRUTE}, {.method = RS_RETRIEVAL_MIDX}};
    rs_retrieve_scratch *scr = rs_retrieve_scratch_new();
    static uint8_t masks[NQ][NI];
    static uint32_t ids[NQ][NI];
    static uint64_t allow[NQ][NI / 64 + 1];
    rs_batch_query qs[NQ];
    rs_scored *outs = malloc(sizeof(rs_scored) * NQ * (NI + 5)), one[NI + 5];
    for (int m = 0; m < 2; m++) {
        rs_retriever *r;
        rs_error err;
        ck_assert_int_eq(rs_retriever_create(items, NI, DI, &opts[m], &r, &err), 0);
        for (int round = 0; round < 3; round++) {
            memset(masks, 0, sizeof(masks));
            for (uint32_t q = 0; q < NQ; q++) {
                float *u = us + (size_t)q * DI;
                for (int k = 0; k < DI; k++) u[k] = (float)rs_rng_normal(&rng);
                if (q == 5) u[3] = NAN;
                uint32_t n_ids = 0, n_allowed = 0;
                for (uint32_t i = 0; i < NI; i++)
                    if (q % 2 && rs_rng_below(&rng, 30) == 0) masks[q][i] = 1, ids[q][n_ids++] = i;
                memset(allow[q], 0, sizeof(allow[q]));
                double share = q % 5 == 1 ? 0.5 : q % 5 == 3 ? 0.05 : 1.0;
                for (uint32_t i = 0; i < NI; i++)
                    if (share < 1.0 && rs_rng_uniform(&rng) < share)
                        allow[q][i / 64] |= 1ull << (i % 64), n_allowed++;
                uint32_t n = q == 7 ? NI + 5 : 1 + (uint32_t)rs_rng_below(&rng, TOP);
                qs[q] = (rs_batch_query){
                    .u = u,
                    .skip = {NULL, ids[q], n_ids, share < 1.0 ? allow[q] : NULL, n_allowed},
                    .n = n,
                    .out = outs + (size_t)q * (NI + 5)};
            }
            ck_assert_int_eq(rs_retrieve_batch(r, qs, NQ, scr, &err), 0);
            for (uint32_t q = 0; q < NQ; q++) {
                rs_skip sk = qs[q].skip;
                sk.mask = masks[q];
                uint32_t got;
                rs_retrieve_stats st;
                ck_assert_int_eq(
                    rs_retrieve_topn(r, qs[q].u, &sk, qs[q].n, one, &got, scr, &st, &err), 0);
                ck_assert_uint_eq(qs[q].n_out, got);
                if (q == 5) ck_assert_uint_eq(got, 0);
                for (uint32_t j = 0; j < got; j++) {
                    ck_assert_uint_eq(qs[q].out[j].id, one[j].id);
                    ck_assert(qs[q].out[j].score == one[j].score);
                    ck_assert(!masks[q][one[j].id]);
                }
            }
        }
        rs_retriever_free(r);
    }
    rs_retrieve_scratch_free(scr);
    free(outs);
    free(us);
    free(items);
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

/* Non-finite scores are never returned: the answer is the top n over the
 * finite ones, even when NaN scores come first (where a plain heap would
 * hold on to them) or an infinite one would top the list. */
START_TEST(test_non_finite_scores)
{
    enum { NI = 50, DI = 3, WANT = 8 };
    float items[NI * DI], u[DI] = {1.0f, -0.5f, 0.25f};
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    for (int k = 0; k < NI * DI; k++) items[k] = (float)rs_rng_below(&rng, 9) - 4;
    items[0 * DI + 1] = NAN; /* scanned first: enters the heap */
    items[3 * DI + 0] = NAN;
    items[7 * DI + 2] = INFINITY; /* the best score, if it counted */
    items[9 * DI + 0] = -INFINITY;
    ref all[NI];
    uint32_t kept = 0;
    for (uint32_t i = 0; i < NI; i++) {
        double sc = 0;
        for (int k = 0; k < DI; k++) sc += (double)items[i * DI + k] * u[k];
        if (isfinite(sc)) all[kept++] = (ref){sc, i};
    }
    qsort(all, kept, sizeof(ref), by_score_desc);
    rs_retriever_options o = {.method = RS_RETRIEVAL_BRUTE};
    rs_retriever *r;
    rs_error err;
    ck_assert_int_eq(rs_retriever_create(items, NI, DI, &o, &r, &err), 0);
    rs_retrieve_scratch *scr = rs_retrieve_scratch_new();
    rs_scored out[NI];
    uint32_t got;
    rs_retrieve_stats st;
    ck_assert_int_eq(rs_retrieve_topn(r, u, NULL, WANT, out, &got, scr, &st, &err), 0);
    ck_assert_uint_eq(got, WANT);
    for (uint32_t j = 0; j < got; j++) {
        ck_assert_uint_eq(out[j].id, all[j].id);
        ck_assert_double_eq((double)out[j].score, all[j].score);
    }
    /* Asking for everything returns only the finite ones. */
    ck_assert_int_eq(rs_retrieve_topn(r, u, NULL, NI, out, &got, scr, &st, &err), 0);
    ck_assert_uint_eq(got, kept);
    ck_assert_uint_eq(kept, NI - 4);
    /* A non-finite query ranks nothing, by either method (MIDX would
     * otherwise refuse it). */
    float bad[DI] = {1.0f, NAN, 0.0f};
    ck_assert_int_eq(rs_retrieve_topn(r, bad, NULL, WANT, out, &got, scr, &st, &err), 0);
    ck_assert_uint_eq(got, 0);
    rs_retriever_free(r);
    for (int k = 0; k < NI * DI; k++)
        if (!isfinite(items[k])) items[k] = 1.0f;
    o.method = RS_RETRIEVAL_MIDX;
    o.midx_k = 3;
    ck_assert_msg(rs_retriever_create(items, NI, DI, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rs_retrieve_topn(r, bad, NULL, WANT, out, &got, scr, &st, &err), 0);
    ck_assert_uint_eq(got, 0);
    rs_retriever_free(r);
    rs_retrieve_scratch_free(scr);
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
    rs_skip sk = {mask, ids, 3, NULL, 0};
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

/* Publishes the MIDX index of items (k codewords) as "idx" in a fresh store
 * under dir; returns the open store and snapshot. */
static void publish_index(char *dir, const float *items, uint32_t n, uint32_t d, uint32_t k,
                          rs_store **store, rs_snapshot **snap)
{
    rs_error err;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_msg(rs_store_open(dir, RS_STORE_CREATE, 0, store, &err) == 0, "%s", err.msg);
    rs_pq pq;
    rs_pq_options po = rs_pq_defaults();
    po.k = k;
    ck_assert_msg(rs_pq_build(items, n, d, &po, &pq, &err) == 0, "%s", err.msg);
    rs_publish *pub;
    uint64_t version;
    ck_assert_int_eq(rs_publish_begin(*store, "m", &pub, &version, &err), 0);
    ck_assert_msg(rs_midx_publish(pub, "idx", &pq, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rs_publish_commit(pub, "{}", 0, &err), 0);
    rs_pq_free(&pq);
    ck_assert_int_eq(rs_snapshot_open(*store, "m", 0, 1, snap, &err), 0);
}

START_TEST(test_published_index)
{
    enum { N = 3000, DIM = 12, K = 20, TOP = 25 };
    rs_rng rng;
    rs_rng_seed(&rng, 9);
    float *items = malloc(sizeof(float) * N * DIM), u[DIM];
    for (size_t k = 0; k < (size_t)N * DIM; k++) items[k] = (float)rs_rng_normal(&rng);
    char dir[] = "/tmp/recsys-retrieve-XXXXXX";
    rs_store *store;
    rs_snapshot *snap;
    publish_index(dir, items, N, DIM, K, &store, &snap);
    rs_error err;
    rs_retriever *pub = NULL, *built = NULL;
    rs_retriever_options o = {.method = RS_RETRIEVAL_MIDX};
    ck_assert_msg(rs_retriever_load(items, N, DIM, &o, snap, "idx", 1, &pub, &err) == 0, "%s",
                  err.msg);
    ck_assert_str_eq(rs_retriever_midx_source(pub), "published");
    ck_assert_uint_eq(rs_retriever_midx_k(pub), K);
    o.midx_k = 7;
    ck_assert_int_eq(rs_retriever_create(items, N, DIM, &o, &built, &err), 0);
    ck_assert_str_eq(rs_retriever_midx_source(built), "built");
    /* Both exact: the same top-N as each other, query after query. */
    rs_retrieve_scratch *scr = rs_retrieve_scratch_new();
    rs_scored a[TOP], b[TOP];
    for (int q = 0; q < 40; q++) {
        for (int k = 0; k < DIM; k++) u[k] = (float)rs_rng_normal(&rng);
        uint32_t ga, gb;
        rs_retrieve_stats sa, sb;
        ck_assert_int_eq(rs_retrieve_topn(pub, u, NULL, TOP, a, &ga, scr, &sa, &err), 0);
        ck_assert_int_eq(rs_retrieve_topn(built, u, NULL, TOP, b, &gb, scr, &sb, &err), 0);
        ck_assert(sa.exact && sb.exact && ga == TOP && gb == TOP);
        for (int j = 0; j < TOP; j++) {
            ck_assert_uint_eq(a[j].id, b[j].id);
            ck_assert(a[j].score == b[j].score);
        }
    }
    rs_retriever_free(built);
    rs_retriever_free(pub);
    /* Another codeword count, brute force or no prefix: nothing to load
     * (not found: the caller builds one). */
    rs_retriever *r = NULL;
    ck_assert_int_eq(rs_retriever_load(items, N, DIM, &o, snap, "idx", 0, &r, &err), -1);
    ck_assert_int_eq(err.kind, RS_ERR_NOT_FOUND);
    rs_retriever_options brute = {.method = RS_RETRIEVAL_BRUTE};
    ck_assert_int_eq(rs_retriever_load(items, N, DIM, &brute, snap, "idx", 0, &r, &err), -1);
    ck_assert_int_eq(err.kind, RS_ERR_NOT_FOUND);
    rs_retriever_options midx = {.method = RS_RETRIEVAL_MIDX};
    ck_assert_int_eq(rs_retriever_load(items, N, DIM, &midx, snap, NULL, 0, &r, &err), -1);
    ck_assert_int_eq(err.kind, RS_ERR_NOT_FOUND);
    ck_assert_ptr_null(r);
    /* An index of other vectors or of another size: corrupt; one the
     * manifest names but the snapshot lacks: refused, and not "not found"
     * (the server warns about it before building one). */
    items[5 * DIM + 3] += 1.0f;
    ck_assert_int_eq(rs_retriever_load(items, N, DIM, &midx, snap, "idx", 0, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "item 5's vector differs") != NULL, "%s", err.msg);
    ck_assert_int_eq(err.kind, RS_ERR_CORRUPT);
    ck_assert_int_eq(rs_retriever_load(items, N - 1, DIM, &midx, snap, "idx", 0, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "covers 3000 items") != NULL, "%s", err.msg);
    ck_assert_int_eq(err.kind, RS_ERR_CORRUPT);
    ck_assert_int_eq(rs_retriever_load(items, N, DIM, &midx, snap, "nothing", 0, &r, &err), -1);
    ck_assert_int_ne(err.kind, RS_ERR_NOT_FOUND);
    ck_assert_ptr_null(r);
    rs_retrieve_scratch_free(scr);
    rs_snapshot_close(snap);
    rs_store_close(store);
    test_remove_store(dir);
    free(items);
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
    tcase_add_loop_test(tc, test_brute_codes_match_reference, 0, 3);
    tcase_add_test(tc, test_rejects_empty);
    tcase_add_test(tc, test_filtered_methods_agree);
    tcase_add_test(tc, test_batch_equals_singles);
    tcase_add_test(tc, test_non_finite_scores);
    tcase_add_test(tc, test_published_index);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
