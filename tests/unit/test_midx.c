/* test_midx.c - MIDX retrieval against brute force: exactness (ties,
 * exclusions, N beyond the catalogue, K = 1), approximate recall, threads. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "midx.h"
#include "midx_store.h"
#include "rng.h"
#include "test_support.h"

/* Clustered items with a log-normal norm spread (test_support.h). */
static float *make_items(uint32_t n, uint32_t d, int integer, rs_rng *rng)
{
    return test_clustered_rows(n, d, 12, 0.4f, integer, rng);
}

static void make_query(float *u, uint32_t d, int integer, rs_rng *rng)
{
    for (uint32_t j = 0; j < d; j++) {
        float v = (float)rs_rng_normal(rng) * 2.0f;
        u[j] = integer ? (float)(int)v : v;
    }
}

typedef struct fixture {
    uint32_t n, d;
    float *items;
    rs_pq pq;
    rs_midx idx;
    rs_midx_scratch *scr;
} fixture;

static void fixture_build(fixture *f, uint32_t n, uint32_t d, uint32_t k, int integer,
                          uint64_t seed)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    f->n = n;
    f->d = d;
    f->items = make_items(n, d, integer, &rng);
    rs_pq_options o = rs_pq_defaults();
    o.k = k;
    o.kmeans.seed = seed;
    rs_error err;
    ck_assert_msg(rs_pq_build(f->items, n, d, &o, &f->pq, &err) == 0, "%s", err.msg);
    ck_assert_msg(rs_midx_from_pq(&f->pq, &f->idx, &err) == 0, "%s", err.msg);
    ck_assert_msg(rs_midx_check(&f->idx, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rs_midx_scratch_new(&f->idx, &f->scr, &err), 0);
}

static void fixture_free(fixture *f)
{
    rs_midx_scratch_free(f->scr);
    rs_midx_release(&f->idx);
    rs_pq_free(&f->pq);
    free(f->items);
}

/* Reference top-N in double precision with the topk.h tie rule. */
static uint32_t reference(const fixture *f, const float *u, uint32_t top_n, const rs_exclude *ex,
                          rs_scored *out)
{
    rs_topk tk;
    rs_topk_init(&tk, out, top_n);
    for (uint32_t i = 0; i < f->n; i++) {
        int skip = 0;
        if (ex) {
            if (i < ex->n_bits && (ex->bits[i / 64] >> (i % 64) & 1)) skip = 1;
            for (uint32_t j = 0; j < ex->n_ids; j++) skip |= ex->ids[j] == i;
        }
        if (skip) continue;
        double s = 0;
        for (uint32_t j = 0; j < f->d; j++) s += (double)u[j] * f->items[(size_t)i * f->d + j];
        rs_topk_push(&tk, (float)s, i);
    }
    return rs_topk_sorted(&tk);
}

/* Exact search equals rs_midx_brute bit for bit, and both agree with the
 * double-precision reference (exactly on integer data). */
static void check_exact(fixture *f, int integer, uint32_t queries, uint64_t seed)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    float *u = malloc(sizeof(float) * f->d);
    uint32_t cap = f->n + 10;
    rs_scored *a = malloc(sizeof(rs_scored) * cap), *b = malloc(sizeof(rs_scored) * cap),
              *r = malloc(sizeof(rs_scored) * cap);
    rs_error err;
    for (uint32_t q = 0; q < queries; q++) {
        make_query(u, f->d, integer, &rng);
        static const uint32_t tops[] = {1, 5, 10, 37, 100};
        uint32_t top = q % 7 == 6 ? f->n + 10 : tops[q % 5];
        top = RS_MIN(top, cap);
        rs_midx_query mq = {.u = u, .top_n = top};
        uint32_t na, nb;
        rs_midx_stats st;
        ck_assert_msg(rs_midx_search(&f->idx, f->scr, &mq, a, &na, &st, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(st.exact, 1);
        ck_assert_int_eq(rs_midx_brute(&f->idx, f->scr, &mq, b, &nb, &err), 0);
        ck_assert_uint_eq(na, RS_MIN(top, f->n));
        ck_assert_uint_eq(na, nb);
        for (uint32_t j = 0; j < na; j++) {
            ck_assert_uint_eq(a[j].id, b[j].id);
            ck_assert(a[j].score == b[j].score);
        }
        uint32_t nr = reference(f, u, top, NULL, r);
        ck_assert_uint_eq(nr, na);
        for (uint32_t j = 0; j < na; j++) {
            if (integer) ck_assert_uint_eq(a[j].id, r[j].id);
            ck_assert_float_eq_tol(a[j].score, r[j].score, 1e-4f * (1 + fabsf(r[j].score)));
        }
    }
    free(r);
    free(b);
    free(a);
    free(u);
}

START_TEST(test_exact_matches_brute_force)
{
    static const struct {
        uint32_t n, d, k;
        int integer;
    } cases[] = {
        {3000, 16, 16, 0}, {2000, 9, 8, 0}, {2000, 12, 10, 1}, {500, 6, 1, 0},
        {700, 8, 1, 1},    {40, 5, 64, 0},  {1, 3, 4, 0},      {2500, 6, 80, 0}, /* radix sort */
    };
    for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        fixture f;
        fixture_build(&f, cases[c].n, cases[c].d, cases[c].k, cases[c].integer, 10 + c);
        check_exact(&f, cases[c].integer, 60, 77 + c);
        fixture_free(&f);
    }
}
END_TEST

START_TEST(test_exclusions)
{
    fixture f;
    fixture_build(&f, 2500, 10, 12, 1, 5);
    rs_rng rng;
    rs_rng_seed(&rng, 9);
    float u[10];
    rs_scored a[60], b[60], r[60];
    uint32_t ids[300];
    uint64_t bits[2500 / 64 + 1];
    rs_error err;
    for (int q = 0; q < 40; q++) {
        make_query(u, 10, 1, &rng);
        /* Exclude part of the true top list so exclusions matter. */
        rs_midx_query plain = {.u = u, .top_n = 60};
        uint32_t nt;
        ck_assert_int_eq(rs_midx_brute(&f.idx, f.scr, &plain, r, &nt, &err), 0);
        uint32_t n_ids = 0;
        memset(bits, 0, sizeof(bits));
        for (uint32_t j = 0; j < nt; j++) {
            if (j % 3 == 0)
                ids[n_ids++] = r[j].id;
            else if (j % 3 == 1 && q % 2)
                bits[r[j].id / 64] |= 1ull << (r[j].id % 64);
        }
        for (int j = 0; j < 100; j++) ids[n_ids++] = (uint32_t)rs_rng_below(&rng, 3000);
        /* sort ids (insertion sort, small) */
        for (uint32_t i = 1; i < n_ids; i++)
            for (uint32_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
                uint32_t t = ids[j];
                ids[j] = ids[j - 1];
                ids[j - 1] = t;
            }
        rs_exclude ex = {.ids = ids, .n_ids = n_ids, .bits = bits, .n_bits = 2500};
        rs_midx_query mq = {.u = u, .top_n = 60, .exclude = &ex};
        uint32_t na, nb;
        ck_assert_int_eq(rs_midx_search(&f.idx, f.scr, &mq, a, &na, NULL, &err), 0);
        ck_assert_int_eq(rs_midx_brute(&f.idx, f.scr, &mq, b, &nb, &err), 0);
        uint32_t nr = reference(&f, u, 60, &ex, r);
        ck_assert_uint_eq(na, nb);
        ck_assert_uint_eq(na, nr);
        for (uint32_t j = 0; j < na; j++) {
            ck_assert_uint_eq(a[j].id, b[j].id);
            ck_assert_uint_eq(a[j].id, r[j].id);
            for (uint32_t e = 0; e < n_ids; e++) ck_assert_uint_ne(a[j].id, ids[e]);
            ck_assert(!(bits[a[j].id / 64] >> (a[j].id % 64) & 1));
        }
    }
    /* Excluding everything leaves nothing. */
    uint64_t all[2500 / 64 + 1];
    memset(all, 0xff, sizeof(all));
    rs_exclude ex = {.bits = all, .n_bits = 2500};
    rs_midx_query mq = {.u = u, .top_n = 10, .exclude = &ex};
    uint32_t na = 99;
    ck_assert_int_eq(rs_midx_search(&f.idx, f.scr, &mq, a, &na, NULL, &err), 0);
    ck_assert_uint_eq(na, 0);
    /* An unsorted list is refused. */
    uint32_t bad[3] = {5, 2, 9};
    rs_exclude exb = {.ids = bad, .n_ids = 3};
    mq.exclude = &exb;
    ck_assert_int_eq(rs_midx_search(&f.idx, f.scr, &mq, a, &na, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not sorted"));
    fixture_free(&f);
}
END_TEST

/* Filtered exact search (an allow bitmap, with exclusions) is the exact
 * top-N over the allowed items: bit for bit rs_midx_brute and the search
 * kernel applied to every allowed item, for filters keeping from all to
 * none of the items, random or correlated with the embedding; a budget
 * counts only allowed items. */
START_TEST(test_filters)
{
    fixture f;
    fixture_build(&f, 4000, 12, 16, 0, 21);
    rs_rng rng;
    rs_rng_seed(&rng, 22);
    float u[12];
    enum { TOP = 50 };
    rs_scored a[TOP], b[TOP], r[TOP];
    uint64_t allow[4000 / 64 + 1];
    uint32_t ids[40];
    rs_error err;
    static const double shares[] = {1.0, 0.5, 0.1, 0.01, 0.002, 0.0};
    for (int q = 0; q < 600; q++) {
        make_query(u, 12, 0, &rng);
        double share = shares[q % 6];
        memset(allow, 0, sizeof(allow));
        int by_sign = q % 4 == 3; /* correlated: keep items by one coordinate's sign */
        for (uint32_t i = 0; i < f.n; i++)
            if (by_sign ? (f.items[(size_t)i * 12 + q % 12] > 0) == (q % 8 < 4)
                        : rs_rng_uniform(&rng) < share)
                allow[i / 64] |= 1ull << (i % 64);
        uint32_t n_ids = 0;
        for (uint32_t j = 0; j < 40; j++) {
            uint32_t id = (uint32_t)rs_rng_below(&rng, f.n);
            if (n_ids == 0 || id > ids[n_ids - 1]) ids[n_ids++] = id; /* ascending */
        }
        rs_exclude ex = {.ids = ids, .n_ids = q % 2 ? n_ids : 0, .allow = allow, .n_allow = f.n};
        uint32_t top = 1 + (uint32_t)rs_rng_below(&rng, TOP);
        rs_midx_query mq = {.u = u, .top_n = top, .exclude = &ex};
        uint32_t na, nb;
        rs_midx_stats st;
        ck_assert_int_eq(rs_midx_search(&f.idx, f.scr, &mq, a, &na, &st, &err), 0);
        ck_assert_int_eq(st.exact, 1);
        ck_assert_int_eq(rs_midx_brute(&f.idx, f.scr, &mq, b, &nb, &err), 0);
        rs_topk tk;
        rs_topk_init(&tk, r, top);
        uint32_t allowed = 0, passing = 0;
        for (uint32_t i = 0; i < f.n; i++) {
            if (!(allow[i / 64] >> (i % 64) & 1)) continue;
            passing++;
            int excluded = 0;
            for (uint32_t j = 0; j < ex.n_ids; j++) excluded |= ids[j] == i;
            if (excluded) continue;
            allowed++;
            float sc = rs_midx_dot(u, f.items + (size_t)i * 12, 12);
            if (rs_topk_would_enter(&tk, sc, i)) rs_topk_push(&tk, sc, i);
        }
        uint32_t nr = rs_topk_sorted(&tk);
        ck_assert_uint_eq(nr, RS_MIN(top, allowed));
        ck_assert_uint_eq(na, nr);
        ck_assert_uint_eq(nb, nr);
        for (uint32_t j = 0; j < na; j++) {
            ck_assert_uint_eq(a[j].id, r[j].id);
            ck_assert_uint_eq(b[j].id, r[j].id);
            ck_assert(a[j].score == r[j].score && b[j].score == r[j].score);
            ck_assert(rs_exclude_allows(&ex, a[j].id));
        }
        /* A budget counts the allowed items it examines. */
        mq.budget = 100;
        ck_assert_int_eq(rs_midx_search(&f.idx, f.scr, &mq, a, &na, &st, &err), 0);
        ck_assert(st.items <= passing);
        if (!st.exact) ck_assert_uint_ge(st.items, 100);
    }
    fixture_free(&f);
}
END_TEST

START_TEST(test_approximate_recall_grows_with_budget)
{
    fixture f;
    fixture_build(&f, 20000, 16, 32, 0, 3);
    rs_rng rng;
    rs_rng_seed(&rng, 4);
    enum { Q = 40, TOP = 50 };
    static const uint64_t budgets[] = {200, 1000, 4000, 20000};
    double recall[4] = {0};
    float u[16];
    rs_scored truth[TOP], got[TOP];
    rs_error err;
    for (int q = 0; q < Q; q++) {
        make_query(u, 16, 0, &rng);
        rs_midx_query mq = {.u = u, .top_n = TOP};
        uint32_t nt, ng;
        ck_assert_int_eq(rs_midx_brute(&f.idx, f.scr, &mq, truth, &nt, &err), 0);
        for (int b = 0; b < 4; b++) {
            mq.budget = budgets[b];
            rs_midx_stats st;
            ck_assert_int_eq(rs_midx_search(&f.idx, f.scr, &mq, got, &ng, &st, &err), 0);
            /* The budget is honoured up to the last cell started. */
            ck_assert_uint_lt(st.items, budgets[b] + f.idx.max_cell);
            uint32_t hit = 0;
            for (uint32_t i = 0; i < ng; i++)
                for (uint32_t j = 0; j < nt; j++) hit += got[i].id == truth[j].id;
            recall[b] += (double)hit / nt / Q;
            if (budgets[b] >= f.n) ck_assert_uint_eq(hit, nt);
        }
    }
    for (int b = 1; b < 4; b++) ck_assert_double_ge(recall[b], recall[b - 1]);
    ck_assert_double_gt(recall[1], 0.5);
    ck_assert_double_eq_tol(recall[3], 1.0, 1e-12);
    fixture_free(&f);
}
END_TEST

typedef struct worker {
    const rs_midx *idx;
    const float *queries;
    uint32_t d, nq;
    rs_scored *out; /* nq x 20 */
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    rs_midx_scratch *s;
    rs_error err;
    if (rs_midx_scratch_new(w->idx, &s, &err) != 0) return (void *)1;
    for (uint32_t q = 0; q < w->nq; q++) {
        rs_midx_query mq = {.u = w->queries + q * w->d, .top_n = 20};
        uint32_t n;
        if (rs_midx_search(w->idx, s, &mq, w->out + q * 20, &n, NULL, &err) != 0 || n != 20)
            return (void *)1;
    }
    rs_midx_scratch_free(s);
    return NULL;
}

START_TEST(test_threads_share_one_index)
{
    fixture f;
    fixture_build(&f, 4000, 8, 16, 0, 8);
    enum { T = 4, NQ = 50 };
    rs_rng rng;
    rs_rng_seed(&rng, 12);
    float queries[NQ * 8];
    for (int q = 0; q < NQ; q++) make_query(queries + q * 8, 8, 0, &rng);
    static rs_scored outs[T][NQ * 20];
    pthread_t th[T];
    worker w[T];
    for (int t = 0; t < T; t++) {
        w[t] = (worker){&f.idx, queries, 8, NQ, outs[t]};
        ck_assert_int_eq(pthread_create(&th[t], NULL, run_worker, &w[t]), 0);
    }
    for (int t = 0; t < T; t++) {
        void *rc;
        pthread_join(th[t], &rc);
        ck_assert_ptr_null(rc);
    }
    rs_error err;
    rs_scored b[20];
    for (int q = 0; q < NQ; q++) {
        rs_midx_query mq = {.u = queries + q * 8, .top_n = 20};
        uint32_t nb;
        ck_assert_int_eq(rs_midx_brute(&f.idx, f.scr, &mq, b, &nb, &err), 0);
        for (int t = 0; t < T; t++)
            for (int j = 0; j < 20; j++) ck_assert_uint_eq(outs[t][q * 20 + j].id, b[j].id);
    }
    fixture_free(&f);
}
END_TEST

START_TEST(test_bad_queries_and_plain_brute)
{
    fixture f;
    fixture_build(&f, 300, 4, 4, 0, 2);
    rs_error err;
    float u[4] = {1, NAN, 0, 0};
    rs_scored out[5];
    uint32_t n;
    rs_midx_query mq = {.u = u, .top_n = 5};
    ck_assert_int_eq(rs_midx_search(&f.idx, f.scr, &mq, out, &n, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not finite"));
    u[1] = 2;
    mq.top_n = 0;
    ck_assert_int_eq(rs_midx_search(&f.idx, f.scr, &mq, NULL, &n, NULL, &err), 0);
    ck_assert_uint_eq(n, 0);
    mq.top_n = 5;
    ck_assert_int_eq(rs_midx_search(&f.idx, NULL, &mq, out, &n, NULL, &err), -1);

    /* The plain sgemv brute force agrees with the exact search up to rounding. */
    float scores[300];
    rs_scored plain[5];
    uint32_t np;
    ck_assert_int_eq(rs_brute_topn(f.items, 300, 4, u, 5, NULL, scores, plain, &np, &err), 0);
    ck_assert_int_eq(rs_midx_search(&f.idx, f.scr, &mq, out, &n, NULL, &err), 0);
    ck_assert_uint_eq(np, n);
    for (uint32_t j = 0; j < n; j++)
        ck_assert_float_eq_tol(plain[j].score, out[j].score, 1e-5f * (1 + fabsf(out[j].score)));
    fixture_free(&f);
}
END_TEST

START_TEST(test_store_round_trip)
{
    fixture f;
    fixture_build(&f, 3000, 11, 9, 0, 21);
    const char *t = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/rs_midx_XXXXXX", t && *t ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rs_error err;
    rs_store *store;
    ck_assert_msg(rs_store_open(dir, RS_STORE_CREATE, 0, &store, &err) == 0, "%s", err.msg);
    rs_publish *pub;
    uint64_t version;
    ck_assert_int_eq(rs_publish_begin(store, "m", &pub, &version, &err), 0);
    ck_assert_msg(rs_midx_publish(pub, "midx", &f.pq, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rs_publish_commit(pub, "{}", 0, &err), 0);

    rs_snapshot *snap;
    ck_assert_int_eq(rs_snapshot_open(store, "m", 0, 1, &snap, &err), 0);
    rs_midx idx;
    ck_assert_msg(rs_midx_load(snap, "midx", 1, &idx, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(idx.n, 3000);
    ck_assert_uint_eq(idx.k, 9);
    ck_assert_uint_eq(idx.n_nonempty, f.idx.n_nonempty);
    /* Zero-copy: the vectors are not the builder's memory. */
    ck_assert_ptr_ne(idx.vectors, f.idx.vectors);
    rs_rng rng;
    rs_rng_seed(&rng, 3);
    float u[11];
    rs_scored a[25], b[25];
    for (int q = 0; q < 30; q++) {
        make_query(u, 11, 0, &rng);
        rs_midx_query mq = {.u = u, .top_n = 25, .budget = q % 2 ? 0 : 500};
        uint32_t na, nb;
        ck_assert_int_eq(rs_midx_search(&idx, f.scr, &mq, a, &na, NULL, &err), 0);
        ck_assert_int_eq(rs_midx_search(&f.idx, f.scr, &mq, b, &nb, NULL, &err), 0);
        ck_assert_uint_eq(na, nb);
        for (uint32_t j = 0; j < na; j++) ck_assert_uint_eq(a[j].id, b[j].id);
    }
    rs_midx_release(&idx);
    /* A missing prefix is a clear error. */
    ck_assert_int_eq(rs_midx_load(snap, "other", 0, &idx, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "other.c1"));
    rs_snapshot_close(snap);

    /* A corrupted decomposition is refused on publish... */
    uint32_t saved = f.pq.ids[7];
    f.pq.ids[7] = f.pq.ids[8];
    ck_assert_int_eq(rs_publish_begin(store, "m", &pub, &version, &err), 0);
    ck_assert_int_eq(rs_midx_publish(pub, "midx", &f.pq, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "already placed"));
    rs_publish_abort(pub);
    f.pq.ids[7] = saved;

    /* ...and one written by other means on load: same tensors, but the
     * position table and the residual bounds disagree with the data. */
    for (int corrupt = 0; corrupt < 2; corrupt++) {
        ck_assert_int_eq(rs_publish_begin(store, "m", &pub, &version, &err), 0);
        ck_assert_int_eq(rs_midx_publish(pub, "good", &f.pq, &err), 0);
        uint32_t *pos = malloc(sizeof(uint32_t) * 3000);
        for (uint32_t p = 0; p < 3000; p++) pos[f.pq.ids[p]] = p;
        float *res1 = malloc(sizeof(float) * 3000);
        memcpy(res1, f.pq.res1, sizeof(float) * 3000);
        if (corrupt == 0)
            pos[f.pq.ids[3]] = 4;
        else
            res1[100] *= 0.5f;
        float rmax[18];
        memcpy(rmax, f.pq.r1max, 9 * sizeof(float));
        memcpy(rmax + 9, f.pq.r2max, 9 * sizeof(float));
        uint64_t k = 9, sh[][2] = {{9, 6},    {9, 5},    {82, 0}, {3000, 0}, {3000, 0}, {3000, 11},
                                   {3000, 0}, {3000, 0}, {9, 9},  {9, 9},    {2, 9}};
        const void *data[] = {f.pq.c1, f.pq.c2,   f.pq.offsets, f.pq.ids,     pos, f.pq.vectors,
                              res1,    f.pq.res2, f.pq.cell_r1, f.pq.cell_r2, rmax};
        const char *names[] = {"bad.c1",      "bad.c2",      "bad.offsets", "bad.ids",
                               "bad.pos",     "bad.vectors", "bad.res1",    "bad.res2",
                               "bad.cell_r1", "bad.cell_r2", "bad.rmax"};
        const rs_dtype dt[] = {RS_F32, RS_F32, RS_U32, RS_U32, RS_U32, RS_F32,
                               RS_F32, RS_F32, RS_F32, RS_F32, RS_F32};
        (void)k;
        for (int i = 0; i < 11; i++)
            ck_assert_msg(rs_publish_tensor(pub, names[i], dt[i], sh[i][1] ? 2 : 1, sh[i], data[i],
                                            &err) == 0,
                          "%s", err.msg);
        ck_assert_int_eq(rs_publish_commit(pub, "{}", 0, &err), 0);
        free(res1);
        free(pos);
        ck_assert_int_eq(rs_snapshot_open(store, "m", 0, 1, &snap, &err), 0);
        ck_assert_int_eq(rs_midx_load(snap, "good", 1, &idx, &err), 0);
        rs_midx_release(&idx);
        if (corrupt == 0) {
            /* The structural check runs on every load. */
            ck_assert_int_eq(rs_midx_load(snap, "bad", 0, &idx, &err), -1);
            ck_assert_ptr_nonnull(strstr(err.msg, "position"));
        } else {
            /* Wrong bounds pass the cheap check; verify catches them. */
            ck_assert_int_eq(rs_midx_load(snap, "bad", 0, &idx, &err), 0);
            rs_midx_release(&idx);
            ck_assert_int_eq(rs_midx_load(snap, "bad", 1, &idx, &err), -1);
            ck_assert_ptr_nonnull(strstr(err.msg, "exceed"));
        }
        rs_snapshot_close(snap);
    }
    rs_store_close(store);
    test_remove_store(dir);
    fixture_free(&f);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("midx");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_exact_matches_brute_force);
    tcase_add_test(tc, test_exclusions);
    tcase_add_test(tc, test_filters);
    tcase_add_test(tc, test_approximate_recall_grows_with_budget);
    tcase_add_test(tc, test_threads_share_one_index);
    tcase_add_test(tc, test_bad_queries_and_plain_brute);
    tcase_add_test(tc, test_store_round_trip);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
