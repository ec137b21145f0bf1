/* bench_filter.c - what callers ask of the API, on the retrieval benchmark's
 * data (bench/run.sh), one thread, the server's own retrieval code
 * (server/retrieve.c; a server-layer program, see the Makefile):
 *
 *   bench_filter DIR [--queries Q] [--top N] [--store STORE_DIR] [--seed S]
 *
 * 1. Filters. A synthetic catalogue gives every item category "half" with
 *    probability 0.5, "tenth" 0.1, "hundredth" 0.01, one of 20 genres and a
 *    price uniform in [0, 100). Q random filters (any/all/none of genres and
 *    the three, a price range, a deny-list) are each checked: the served
 *    MIDX exact answer must equal, ids and score bits, brute force over the
 *    allowed items (the search kernel applied to every item the filter
 *    passes). Then queries/s, unfiltered and for filters keeping 50%, 10%
 *    and 1% of the items, as served (MIDX walk, or direct scoring of a small
 *    filter's items), with the MIDX walk forced and with brute force.
 * 2. Sampling: 10 distinct items per query from softmax(score / T) through
 *    MIDX against Gumbel-top-k over every item's score, cost per draw.
 * 3. Batches: 64 queries through rs_retrieve_batch against 64 single
 *    rs_retrieve_topn calls, brute force and MIDX: requests/s and items/s,
 *    answers compared.
 *
 * The index is the server's default (rs_midx_serving_k codewords), built
 * once and published into STORE_DIR (default bench/out/filter-store) so a
 * later run maps it as the server does. Timings are ratios within this
 * run; the machine may be shared.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_data.h"
#include "blas_kernel.h"
#include "catalog.h"
#include "midx.h"
#include "midx_sample.h"
#include "midx_store.h"
#include "pq.h"
#include "retrieve.h"
#include "rng.h"
#include "store.h"

/* ---- the synthetic catalogue ---- */

enum { GENRES = 20, N_CATS = GENRES + 3, CAT_HALF = GENRES, CAT_TENTH, CAT_HUNDREDTH };

typedef struct synth_catalog {
    rs_catalog cat;
    uint32_t *cat_indptr, *cat_items, *item_indptr, *item_cats, *order_indptr, *order;
    double *values;
    uint8_t *described;
    uint64_t *name_offsets;
    char *names;
    uint64_t field_offsets[2];
} synth_catalog;

static const double *price_col;
static int by_price(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (price_col[x] != price_col[y]) return price_col[x] < price_col[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int make_catalog(uint32_t n, rs_rng *rng, synth_catalog *s)
{
    memset(s, 0, sizeof(*s));
    s->item_indptr = calloc((size_t)n + 1, sizeof(uint32_t));
    s->item_cats = malloc(sizeof(uint32_t) * (size_t)n * 4);
    s->cat_indptr = calloc(N_CATS + 1, sizeof(uint32_t));
    s->cat_items = malloc(sizeof(uint32_t) * (size_t)n * 4);
    s->values = malloc(sizeof(double) * n);
    s->order_indptr = calloc(2, sizeof(uint32_t));
    s->order = malloc(sizeof(uint32_t) * n);
    s->described = malloc(n);
    s->name_offsets = malloc(sizeof(uint64_t) * (N_CATS + 1));
    s->names = malloc(N_CATS * 16);
    if (!s->item_indptr || !s->item_cats || !s->cat_indptr || !s->cat_items || !s->values ||
        !s->order_indptr || !s->order || !s->described || !s->name_offsets || !s->names)
        return -1;
    uint32_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t cats[4], k = 0;
        cats[k++] = (uint32_t)rs_rng_below(rng, GENRES);
        if (rs_rng_uniform(rng) < 0.5) cats[k++] = CAT_HALF;
        if (rs_rng_uniform(rng) < 0.1) cats[k++] = CAT_TENTH;
        if (rs_rng_uniform(rng) < 0.01) cats[k++] = CAT_HUNDREDTH;
        for (uint32_t j = 0; j < k; j++) {
            s->item_cats[at++] = cats[j];
            s->cat_indptr[cats[j] + 1]++;
        }
        s->item_indptr[i + 1] = at;
        s->values[i] = 100.0 * rs_rng_uniform(rng);
        s->order[i] = i;
        s->described[i] = 1;
    }
    for (uint32_t c = 0; c < N_CATS; c++) s->cat_indptr[c + 1] += s->cat_indptr[c];
    uint32_t fill[N_CATS];
    memcpy(fill, s->cat_indptr, sizeof(fill));
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t p = s->item_indptr[i]; p < s->item_indptr[i + 1]; p++)
            s->cat_items[fill[s->item_cats[p]]++] = i;
    price_col = s->values;
    qsort(s->order, n, sizeof(uint32_t), by_price);
    s->order_indptr[1] = n;
    uint64_t off = 0;
    for (uint32_t c = 0; c < N_CATS; c++) {
        s->name_offsets[c] = off;
        off += (uint64_t)sprintf(s->names + off, "c%u", c);
    }
    s->name_offsets[N_CATS] = off;
    s->field_offsets[0] = 0;
    s->field_offsets[1] = 5;
    s->cat = (rs_catalog){.n_items = n,
                          .n_categories = N_CATS,
                          .n_fields = 1,
                          .n_described = n,
                          .cat_offsets = s->name_offsets,
                          .cat_bytes = s->names,
                          .field_offsets = s->field_offsets,
                          .field_bytes = "price",
                          .cat_indptr = s->cat_indptr,
                          .cat_items = s->cat_items,
                          .item_indptr = s->item_indptr,
                          .item_cats = s->item_cats,
                          .values = s->values,
                          .order_indptr = s->order_indptr,
                          .order = s->order,
                          .described = s->described};
    return 0;
}

static void free_catalog(synth_catalog *s)
{
    free(s->item_indptr), free(s->item_cats), free(s->cat_indptr), free(s->cat_items);
    free(s->values), free(s->order_indptr), free(s->order), free(s->described);
    free(s->name_offsets), free(s->names);
}

/* A random filter of the kinds the API takes. */
typedef struct random_filter {
    rs_item_filter f;
    uint32_t any[3], all[2], none[2], deny[50];
    rs_value_range range;
} random_filter;

static void make_filter(random_filter *r, uint32_t n, rs_rng *rng)
{
    memset(r, 0, sizeof(*r));
    rs_item_filter *f = &r->f;
    uint32_t kind = (uint32_t)rs_rng_below(rng, 4);
    if (kind == 0 || kind == 3) { /* genres, any of */
        f->any_given = 1;
        f->n_any = 1 + (uint32_t)rs_rng_below(rng, 3);
        for (uint32_t j = 0; j < f->n_any; j++) r->any[j] = (uint32_t)rs_rng_below(rng, GENRES);
        f->any = r->any;
    }
    if (kind >= 1) { /* the sized categories */
        f->n_all = 1;
        r->all[0] = CAT_HALF + (uint32_t)rs_rng_below(rng, 3);
        f->all = r->all;
    }
    if (rs_rng_below(rng, 2)) {
        f->n_none = 1;
        r->none[0] = (uint32_t)rs_rng_below(rng, GENRES);
        f->none = r->none;
    }
    if (rs_rng_below(rng, 2)) {
        double a = 100 * rs_rng_uniform(rng), b = 100 * rs_rng_uniform(rng);
        r->range = (rs_value_range){0, RS_MIN(a, b), RS_MAX(a, b) + 20};
        f->ranges = &r->range;
        f->n_ranges = 1;
    }
    f->n_deny = (uint32_t)rs_rng_below(rng, 51);
    for (uint32_t j = 0; j < f->n_deny; j++) r->deny[j] = (uint32_t)rs_rng_below(rng, n);
    f->deny = r->deny;
}

/* ---- the index ---- */

static int get_retrievers(const char *store_dir, const float *items, uint32_t n, uint32_t d,
                          rs_store **store, rs_snapshot **snap, rs_retriever **midx,
                          rs_retriever **brute, rs_midx *view)
{
    rs_error err;
    char variant[64];
    snprintf(variant, sizeof(variant), "filter-%u-%u", n, d);
    mkdir(store_dir, 0755);
    if (rs_store_open(store_dir, RS_STORE_CREATE, 0, store, &err) != 0) goto fail;
    uint64_t cur = 0;
    if (rs_store_current(*store, variant, &cur, &err) != 0) goto fail;
    if (!cur) {
        rs_pq_options po = rs_pq_defaults();
        po.k = rs_midx_serving_k(n);
        rs_pq pq;
        double t0 = rs_now();
        if (rs_pq_build(items, n, d, &po, &pq, &err) != 0) goto fail;
        printf("index: K=%u per codebook built in %.1f s\n", pq.k, rs_now() - t0);
        rs_publish *pub;
        uint64_t version;
        if (rs_publish_begin(*store, variant, &pub, &version, &err) != 0) goto fail;
        if (rs_midx_publish(pub, "midx", &pq, &err) != 0) {
            rs_publish_abort(pub);
            goto fail;
        }
        rs_pq_free(&pq);
        if (rs_publish_commit(pub, "{\"bench\":\"filter\"}", 1, &err) != 0) goto fail;
    }
    if (rs_snapshot_open(*store, variant, 0, 0, snap, &err) != 0) goto fail;
    rs_retriever_options om = {.method = RS_RETRIEVAL_MIDX}, ob = {.method = RS_RETRIEVAL_BRUTE};
    double t0 = rs_now();
    if (rs_retriever_load(items, n, d, &om, *snap, "midx", 0, midx, &err) != 0 ||
        rs_retriever_create(items, n, d, &ob, brute, &err) != 0 ||
        rs_midx_load(*snap, "midx", 0, view, &err) != 0)
        goto fail;
    printf("index: K=%u mapped from %s in %.2f s\n", rs_retriever_midx_k(*midx), store_dir,
           rs_now() - t0);
    return 0;
fail:
    fprintf(stderr, "bench: %s\n", err.msg);
    return -1;
}

/* ---- 1. filters ---- */

/* The exact top-n over the allowed items by the search kernel. */
static uint32_t allowed_brute(const float *items, uint32_t n, uint32_t d, const float *u,
                              const uint64_t *allow, uint32_t top, rs_scored *out)
{
    rs_topk tk;
    rs_topk_init(&tk, out, top);
    for (uint32_t i = 0; i < n; i++) {
        if (!rs_bitmap_get(allow, i)) continue;
        float sc = rs_midx_dot(u, items + (size_t)i * d, d);
        if (rs_topk_would_enter(&tk, sc, i)) rs_topk_push(&tk, sc, i);
    }
    return rs_topk_sorted(&tk);
}

static int same(const rs_scored *a, uint32_t na, const rs_scored *b, uint32_t nb)
{
    if (na != nb) return 0;
    for (uint32_t j = 0; j < na; j++)
        if (a[j].id != b[j].id || a[j].score != b[j].score) return 0;
    return 1;
}

typedef enum how { SERVED_MIDX, WALK, BRUTE } how;

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double median(const double *v, int n)
{
    double c[16];
    memcpy(c, v, sizeof(double) * (size_t)n);
    qsort(c, (size_t)n, sizeof(double), cmp_double);
    return c[n / 2];
}

static const float *brute_items; /* the item matrix and a score buffer for BRUTE */
static float *brute_scores;

/* Queries/s of nq queries under one allow bitmap (NULL: none). */
static double rate(how h, const rs_retriever *midx, const rs_retriever *brute, const rs_midx *view,
                   rs_midx_scratch *ms, const float *queries, uint32_t nq, uint32_t d,
                   const uint64_t *allow, uint32_t n_allowed, uint32_t top, rs_scored *out,
                   rs_retrieve_scratch *s, uint64_t *scored)
{
    rs_error err;
    uint64_t total = 0;
    double t0 = rs_now();
    for (uint32_t q = 0; q < nq; q++) {
        const float *u = queries + (size_t)q * d;
        uint32_t got;
        if (h == WALK) {
            rs_exclude ex = {.allow = allow, .n_allow = allow ? view->n : 0};
            rs_midx_query mq = {.u = u, .top_n = top, .exclude = &ex};
            rs_midx_stats st;
            if (rs_midx_search(view, ms, &mq, out, &got, &st, &err) != 0) return -1;
            total += st.scored;
        } else if (h == BRUTE) { /* one sgemv over every item, then the filter */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)view->n, (int)d, 1.0f, brute_items,
                        (int)d, u, 1, 0.0f, brute_scores, 1);
            rs_topk tk;
            rs_topk_init(&tk, out, top);
            for (uint32_t i = 0; i < view->n; i++)
                if ((!allow || rs_bitmap_get(allow, i)) &&
                    rs_topk_would_enter(&tk, brute_scores[i], i))
                    rs_topk_push(&tk, brute_scores[i], i);
            rs_topk_sorted(&tk);
            total += view->n;
        } else {
            rs_skip sk = {NULL, NULL, 0, allow, n_allowed};
            rs_retrieve_stats st;
            if (rs_retrieve_topn(midx, u, allow ? &sk : NULL, top, out, &got, s, &st, &err) != 0)
                return -1;
            total += st.scored;
        }
    }
    double dt = rs_now() - t0;
    *scored = total / nq;
    return nq / dt;
}

static int bench_filters(const float *items, uint32_t n, uint32_t d, const float *queries,
                         uint32_t nq, uint32_t top, const rs_retriever *midx,
                         const rs_retriever *brute, const rs_midx *view, synth_catalog *sc,
                         rs_rng *rng)
{
    size_t words = rs_bitmap_words(n);
    uint64_t *allow = malloc(words * 8), *tmp = malloc(words * 8);
    rs_scored *a = malloc(sizeof(rs_scored) * top), *b = malloc(sizeof(rs_scored) * top);
    rs_retrieve_scratch *s = rs_retrieve_scratch_new();
    rs_midx_scratch *ms;
    rs_error err;
    brute_items = items;
    brute_scores = malloc(sizeof(float) * n);
    if (!allow || !tmp || !a || !b || !s || !brute_scores ||
        rs_midx_scratch_new(view, &ms, &err) != 0)
        return -1;
    /* Correctness: every query with its own random filter. */
    uint32_t identical = 0, direct = 0;
    double kept = 0;
    for (uint32_t q = 0; q < nq; q++) {
        random_filter rf;
        make_filter(&rf, n, rng);
        uint32_t count = rs_item_filter_bits(&sc->cat, n, &rf.f, allow, tmp);
        kept += (double)count / n;
        const float *u = queries + (size_t)q * d;
        rs_skip sk = {NULL, NULL, 0, allow, count};
        uint32_t na, nb;
        rs_retrieve_stats st;
        if (rs_retrieve_topn(midx, u, &sk, top, a, &na, s, &st, &err) != 0) return -1;
        nb = allowed_brute(items, n, d, u, allow, top, b);
        identical += (uint32_t)(same(a, na, b, nb) && st.exact);
        direct += (uint32_t)st.direct;
    }
    printf("filters: %u/%u random filters (mean %.1f%% of items kept; %u scored directly) give "
           "exactly the brute-force top-%u over the allowed items (ids and score bits)\n",
           identical, nq, 100 * kept / nq, direct, top);
    /* Speed: the three sized categories. The machine is shared, so every
     * way is timed in each of ROUNDS interleaved rounds (the same queries)
     * and the median round is reported: a load that comes and goes hits
     * all of them alike. */
    enum { ROUNDS = 7, PER_ROUND = 40, SGEMV_PER_ROUND = 8, WAYS = 10 };
    static const struct {
        const char *name;
        uint32_t cat;
    } sizes[] = {{"keeps 50%", CAT_HALF}, {"keeps 10%", CAT_TENTH}, {"keeps 1%", CAT_HUNDREDTH}};
    uint64_t *bits[3];
    uint32_t counts[3];
    for (int i = 0; i < 3; i++) {
        uint32_t cat = sizes[i].cat;
        rs_item_filter f = {.all = &cat, .n_all = 1};
        if (!(bits[i] = malloc(words * 8))) return -1;
        counts[i] = rs_item_filter_bits(&sc->cat, n, &f, bits[i], tmp);
    }
    uint64_t scored[WAYS] = {0};
    double rates[WAYS][ROUNDS];
    /* A first pass pages the index and the vectors in (the store is mapped). */
    rate(SERVED_MIDX, midx, brute, view, ms, queries, RS_MIN(nq, 100u), d, NULL, 0, top, a, s,
         &scored[0]);
    for (int r = 0; r < ROUNDS; r++) {
        const float *qs = queries + (size_t)((r * PER_ROUND) % RS_MAX(nq - PER_ROUND, 1u)) * d;
        rates[0][r] = rate(SERVED_MIDX, midx, brute, view, ms, qs, PER_ROUND, d, NULL, 0, top, a, s,
                           &scored[0]);
        for (int i = 0; i < 3; i++) {
            rates[1 + 3 * i][r] = rate(SERVED_MIDX, midx, brute, view, ms, qs, PER_ROUND, d,
                                       bits[i], counts[i], top, a, s, &scored[1 + 3 * i]);
            rates[2 + 3 * i][r] = rate(WALK, midx, brute, view, ms, qs, PER_ROUND, d, bits[i],
                                       counts[i], top, a, s, &scored[2 + 3 * i]);
            rates[3 + 3 * i][r] = rate(BRUTE, midx, brute, view, ms, qs, SGEMV_PER_ROUND, d,
                                       bits[i], counts[i], top, a, s, &scored[3 + 3 * i]);
        }
    }
    double med[WAYS];
    for (int w = 0; w < WAYS; w++) med[w] = median(rates[w], ROUNDS);
    printf("filters: queries/s, one thread, top-%u, median of %d interleaved rounds of %d queries "
           "(%d for sgemv) on a shared machine:\n",
           top, ROUNDS, PER_ROUND, SGEMV_PER_ROUND);
    printf("  %-10s served %6.0f q/s (MIDX walk, %6llu scored)\n", "unfiltered", med[0],
           (unsigned long long)scored[0]);
    for (int i = 0; i < 3; i++)
        printf("  %-10s served %6.0f q/s (%s, %6llu scored, %.2fx unfiltered); MIDX walk %6.0f "
               "q/s (%6llu scored); sgemv + filter %4.0f q/s\n",
               sizes[i].name, med[1 + 3 * i], rs_retrieve_direct(counts[i], n) ? "direct" : "walk",
               (unsigned long long)scored[1 + 3 * i], med[1 + 3 * i] / med[0], med[2 + 3 * i],
               (unsigned long long)scored[2 + 3 * i], med[3 + 3 * i]);
    for (int i = 0; i < 3; i++) free(bits[i]);
    rs_midx_scratch_free(ms);
    rs_retrieve_scratch_free(s);
    free(allow), free(tmp), free(a), free(b), free(brute_scores);
    return 0;
}

/* ---- 2. sampling ---- */

static int bench_sampling(const float *items, uint32_t n, uint32_t d, const float *queries,
                          uint32_t nq, const rs_midx *view)
{
    enum { DRAWS = 10 };
    rs_midx_sampler *smp;
    rs_error err;
    if (rs_midx_sampler_new(view, &smp, &err) != 0) return -1;
    float *scores = malloc(sizeof(float) * n);
    rs_scored out[DRAWS];
    static const float temps[] = {1.0f, 0.5f, 0.25f};
    enum { ROUNDS = 5, MIDX_Q = 20, GUMBEL_Q = 4 };
    for (int t = 0; t < 3; t++) {
        rs_rng rng;
        rs_rng_seed(&rng, 7);
        rs_sample_stats total = {0};
        double midx_us[ROUNDS], gumbel_us[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) { /* interleaved rounds, medians (shared machine) */
            double t0 = rs_now();
            for (uint32_t q = 0; q < MIDX_Q; q++) {
                uint32_t got;
                rs_sample_stats st;
                const float *u = queries + (size_t)((r * MIDX_Q + q) % nq) * d;
                if (rs_midx_sample(view, smp, u, temps[t], NULL, DRAWS, 0, n / 2 + 64 * DRAWS, &rng,
                                   out, &got, &st, &err) != 0)
                    return -1;
                total.proposals += st.proposals;
                total.accepted += st.accepted;
                total.fallback += st.fallback;
            }
            midx_us[r] = 1e6 * (rs_now() - t0) / (MIDX_Q * (double)DRAWS);
            t0 = rs_now();
            for (uint32_t q = 0; q < GUMBEL_Q; q++) {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)d, 1.0f, items, (int)d,
                            queries + (size_t)((r * GUMBEL_Q + q) % nq) * d, 1, 0.0f, scores, 1);
                rs_sample_gumbel(scores, NULL, n, temps[t], NULL, NULL, DRAWS, &rng, out);
            }
            gumbel_us[r] = 1e6 * (rs_now() - t0) / (GUMBEL_Q * (double)DRAWS);
        }
        double m = median(midx_us, ROUNDS), g = median(gumbel_us, ROUNDS);
        printf("sampling T=%.2f, %d distinct draws per query: MIDX %.0f us per draw (%.1f "
               "proposals per draw, %u of %d queries fell back); brute-force Gumbel-top-k %.0f us "
               "per draw: %.1fx (medians of %d interleaved rounds)\n",
               temps[t], DRAWS, m, total.accepted ? (double)total.proposals / total.accepted : 0.0,
               total.fallback, ROUNDS * MIDX_Q, g, g / m, ROUNDS);
    }
    free(scores);
    rs_midx_sampler_free(smp);
    return 0;
}

/* ---- 3. batches ---- */

static int bench_batch(const char *name, const rs_retriever *r, const float *queries, uint32_t nq,
                       uint32_t d, uint32_t top)
{
    enum { B = 64, ROUNDS = 5 };
    rs_batch_query qs[B];
    rs_scored *outs = malloc(sizeof(rs_scored) * B * top), *one = malloc(sizeof(rs_scored) * top);
    rs_retrieve_scratch *s = rs_retrieve_scratch_new();
    rs_error err;
    double single_s = 0, batch_s = 0, ratio[ROUNDS];
    uint32_t equal = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (uint32_t q = 0; q < B; q++)
            qs[q] = (rs_batch_query){.u = queries + (size_t)((round * B + q) % nq) * d,
                                     .n = top,
                                     .out = outs + (size_t)q * top};
        double t0 = rs_now();
        for (uint32_t q = 0; q < B; q++) {
            uint32_t got;
            rs_retrieve_stats st;
            if (rs_retrieve_topn(r, qs[q].u, NULL, top, one, &got, s, &st, &err) != 0) return -1;
        }
        double single = rs_now() - t0;
        t0 = rs_now();
        if (rs_retrieve_batch(r, qs, B, s, &err) != 0) return -1;
        double batch = rs_now() - t0;
        single_s += single;
        batch_s += batch;
        ratio[round] = single / batch;
        for (uint32_t q = 0; q < B; q++) {
            uint32_t got;
            rs_retrieve_stats st;
            if (rs_retrieve_topn(r, qs[q].u, NULL, top, one, &got, s, &st, &err) != 0) return -1;
            equal += (uint32_t)same(one, got, qs[q].out, qs[q].n_out);
        }
    }
    double reqs = (double)B * ROUNDS;
    printf("batch of %d, %s: %.0f requests/s (%.0f items/s) against %.0f requests/s (%.0f "
           "items/s) for %d single requests, %d rounds; median round %.2fx; %u/%.0f answers "
           "identical\n",
           B, name, reqs / batch_s, reqs * top / batch_s, reqs / single_s, reqs * top / single_s, B,
           ROUNDS, median(ratio, ROUNDS), equal, reqs);
    rs_retrieve_scratch_free(s);
    free(outs);
    free(one);
    return 0;
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    if (argc < 2) {
        fprintf(stderr,
                "usage: bench_filter DIR [--queries Q] [--top N] [--store DIR] [--seed S]\n");
        return 2;
    }
    const char *dir = argv[1], *store_dir = "bench/out/filter-store";
    uint32_t nq_max = 1000, top = 100;
    uint64_t seed = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--queries"))
            nq_max = (uint32_t)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--top"))
            top = (uint32_t)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--store"))
            store_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--seed"))
            seed = (uint64_t)atoll(argv[i + 1]);
        else {
            fprintf(stderr, "bench_filter: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    uint32_t n, d, nq;
    if (read_meta(dir, &n, &d, &nq) != 0) return 1;
    nq = RS_MIN(nq, nq_max);
    float *items = read_f32(dir, "items.f32", (size_t)n * d);
    float *queries = read_f32(dir, "queries.f32", (size_t)nq * d);
    if (!items || !queries) return 1;
    printf("data: %u items x %u, %u queries; BLAS kernel %s\n", n, d, nq, rs_blas_kernel_name());
    rs_store *store;
    rs_snapshot *snap;
    rs_retriever *midx, *brute;
    rs_midx view;
    if (get_retrievers(store_dir, items, n, d, &store, &snap, &midx, &brute, &view) != 0) return 1;
    openblas_set_num_threads(1); /* one thread from here on, as each server request */
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    synth_catalog sc;
    if (make_catalog(n, &rng, &sc) != 0) {
        fprintf(stderr, "bench: out of memory\n");
        return 1;
    }
    int rc = bench_filters(items, n, d, queries, nq, top, midx, brute, &view, &sc, &rng) ||
             bench_sampling(items, n, d, queries, nq, &view) ||
             bench_batch("brute force", brute, queries, nq, d, top) ||
             bench_batch("MIDX exact", midx, queries, nq, d, top);
    free_catalog(&sc);
    rs_midx_release(&view);
    rs_retriever_free(midx);
    rs_retriever_free(brute);
    rs_snapshot_close(snap);
    rs_store_close(store);
    free(items);
    free(queries);
    if (rc) fprintf(stderr, "bench_filter: failed\n");
    return rc ? 1 : 0;
}
