/* retrieve.c - brute force and MIDX behind one top-N call (see retrieve.h). */
#include "retrieve.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "midx.h"
#include "midx_sample.h"
#include "midx_store.h"
#include "pq.h"

struct rs_retriever {
    const float *items;
    uint32_t n_items, dim;
    float norm_max; /* >= every item's norm: the rounding margin of brute force */
    int use_midx;
    int owns_pq;      /* the index was built here (else mapped from a snapshot) */
    int have_compact; /* brute force: int8 codes of the items (core/compact.h) */
    rs_compact compact;
    uint64_t budget;
    rs_pq pq;
    rs_midx midx;
};

struct rs_retrieve_scratch {
    float *scores;
    size_t scores_cap;
    uint32_t *ids; /* scores_cap: the items a direct pass scored, or the code scan's candidates */
    void *qcode;   /* the query rounded for the codes */
    size_t qcode_cap;
    rs_midx_sampler *smp;
    uint32_t smp_k, smp_n, smp_cells; /* what smp was made for */
    rs_midx_scratch *ms;
    uint32_t ms_k, ms_d, ms_n, ms_cells; /* what ms was made for */
};

/* Whether the options choose MIDX for this catalogue; -1 when they ask for
 * it and it cannot be had. */
static int choose_midx(const rs_retriever_options *opt, uint32_t n_items, uint32_t dim,
                       rs_error *err)
{
    int want = opt->method == RS_RETRIEVAL_MIDX ||
               (opt->method == RS_RETRIEVAL_AUTO && n_items >= RS_RETRIEVAL_AUTO_MIN_ITEMS);
    if (want && dim < 2) {
        if (opt->method == RS_RETRIEVAL_MIDX)
            return rs_fail_kind(err, RS_ERR_INVALID,
                                "retriever: MIDX needs item vectors of dimension 2 or more");
        want = 0;
    }
    return want;
}

static rs_retriever *new_retriever(const float *items, uint32_t n_items, uint32_t dim,
                                   const rs_retriever_options *opt, rs_error *err)
{
    if (!items || n_items == 0 || dim == 0) {
        rs_fail(err, "retriever: empty item matrix (%u x %u)", n_items, dim);
        return NULL;
    }
    rs_retriever *r = rs_calloc(1, sizeof(*r), err);
    if (!r) return NULL;
    r->items = items;
    r->n_items = n_items;
    r->dim = dim;
    double most = 0;
    for (uint32_t i = 0; i < n_items; i++) {
        const float *row = items + (size_t)i * dim;
        double sum = 0;
        for (uint32_t j = 0; j < dim; j++) sum += (double)row[j] * row[j];
        most = RS_MAX(most, sum);
    }
    r->norm_max = (float)(sqrt(most) * 1.0001);
    r->budget = opt->midx_budget;
    return r;
}

int rs_retriever_create(const float *items, uint32_t n_items, uint32_t dim,
                        const rs_retriever_options *o, rs_retriever **out, rs_error *err)
{
    rs_retriever_options opt = {0};
    if (o) opt = *o;
    rs_retriever *r = new_retriever(items, n_items, dim, &opt, err);
    if (!r) return -1;
    int want_midx = choose_midx(&opt, n_items, dim, err);
    if (want_midx < 0) {
        free(r);
        return -1;
    }
    if (want_midx) {
        rs_pq_options po = rs_pq_defaults();
        po.k = opt.midx_k ? opt.midx_k : rs_midx_serving_k(n_items);
        if (po.k > n_items) po.k = n_items;
        if (rs_pq_build(items, n_items, dim, &po, &r->pq, err) != 0 ||
            rs_midx_from_pq(&r->pq, &r->midx, err) != 0) {
            rs_pq_free(&r->pq);
            free(r);
            return rs_error_prefix(err, "retriever: building the MIDX index");
        }
        r->use_midx = 1;
        r->owns_pq = 1;
    } else if ((uint64_t)n_items * dim >= RS_RETRIEVAL_CODES_MIN_FLOATS) {
        if (rs_compact_build(items, n_items, dim, 1, &r->compact, err) != 0) {
            free(r);
            return rs_error_prefix(err, "retriever: int8 codes");
        }
        r->have_compact = 1;
    }
    *out = r;
    return 0;
}

/* The published index must rank exactly these items: same count and width,
 * and each item's row in cell order equal to its row of the item matrix. */
static int check_published(const rs_midx *idx, const float *items, uint32_t n_items, uint32_t dim,
                           rs_error *err)
{
    if (idx->n != n_items || idx->d != dim)
        return rs_fail_kind(err, RS_ERR_CORRUPT,
                            "it covers %u items of dimension %u, the model %u of %u", idx->n,
                            idx->d, n_items, dim);
    for (uint32_t i = 0; i < n_items; i++)
        if (memcmp(idx->vectors + (size_t)idx->pos[i] * dim, items + (size_t)i * dim,
                   sizeof(float) * dim) != 0)
            return rs_fail_kind(err, RS_ERR_CORRUPT, "item %u's vector differs from the model's",
                                i);
    return 0;
}

int rs_retriever_load(const float *items, uint32_t n_items, uint32_t dim,
                      const rs_retriever_options *o, const rs_snapshot *snap, const char *prefix,
                      int verify, rs_retriever **out, rs_error *err)
{
    rs_retriever_options opt = {0};
    if (o) opt = *o;
    int want_midx = choose_midx(&opt, n_items, dim, err);
    if (want_midx < 0) return -1;
    if (!want_midx || !snap || !prefix)
        return rs_fail_kind(err, RS_ERR_NOT_FOUND, "retriever: no published MIDX index to use");
    rs_midx idx;
    if (rs_midx_load(snap, prefix, verify, &idx, err) != 0) {
        /* The manifest names an index the snapshot lacks: broken, and
         * unlike "none to use" worth a warning. */
        if (err->kind == RS_ERR_NOT_FOUND) err->kind = RS_ERR_CORRUPT;
        return -1;
    }
    if (opt.midx_k && opt.midx_k != idx.k) { /* the operator asked for another size */
        rs_midx_release(&idx);
        return rs_fail_kind(err, RS_ERR_NOT_FOUND,
                            "retriever: the published MIDX index has %u codewords, not %u", idx.k,
                            opt.midx_k);
    }
    rs_retriever *r = NULL;
    if (check_published(&idx, items, n_items, dim, err) != 0) {
        rs_error_prefix(err, "published index \"%s\"", prefix);
    } else if ((r = new_retriever(items, n_items, dim, &opt, err)) != NULL) {
        r->midx = idx;
        r->use_midx = 1;
        *out = r;
        return 0;
    }
    rs_midx_release(&idx);
    return -1;
}

void rs_retriever_free(rs_retriever *r)
{
    if (!r) return;
    if (r->use_midx) rs_midx_release(&r->midx);
    if (r->owns_pq) rs_pq_free(&r->pq);
    if (r->have_compact) rs_compact_free(&r->compact);
    free(r);
}

const char *rs_retriever_method(const rs_retriever *r)
{
    return r->use_midx ? "midx" : "bruteforce";
}

uint32_t rs_retriever_midx_k(const rs_retriever *r)
{
    return r->use_midx ? r->midx.k : 0;
}

size_t rs_retriever_bytes(const rs_retriever *r)
{
    return sizeof(*r) + (r->owns_pq ? rs_pq_bytes(&r->pq) : 0) +
           (r->use_midx ? rs_midx_view_bytes(&r->midx) : 0) +
           (r->have_compact ? rs_compact_bytes(&r->compact) : 0);
}

const char *rs_retriever_midx_source(const rs_retriever *r)
{
    return !r->use_midx ? NULL : r->owns_pq ? "built" : "published";
}

uint32_t rs_topk_finite(float *scores, uint32_t n, const uint8_t *skip, uint32_t k, rs_scored *out)
{
    /* A NaN that enters the heap never leaves it (no comparison with it is
     * true), so a result without a non-finite score is already the top k
     * over the finite scores: the common case costs k checks. */
    uint32_t got = rs_topk_dense(scores, n, skip, k, out);
    uint32_t finite = 0;
    while (finite < got && isfinite(out[finite].score)) finite++;
    if (finite == got) return got;
    for (uint32_t i = 0; i < n; i++)
        if (!isfinite(scores[i])) scores[i] = -INFINITY;
    got = rs_topk_dense(scores, n, skip, k, out);
    while (got > 0 && !isfinite(out[got - 1].score)) got--; /* the -INFINITY tail */
    return got;
}

static int vector_finite(const float *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

rs_retrieve_scratch *rs_retrieve_scratch_new(void)
{
    return calloc(1, sizeof(rs_retrieve_scratch));
}

void rs_retrieve_scratch_free(rs_retrieve_scratch *s)
{
    if (!s) return;
    free(s->scores);
    free(s->ids);
    free(s->qcode);
    rs_midx_scratch_free(s->ms);
    rs_midx_sampler_free(s->smp);
    free(s);
}

/* Whether i is in the sorted list ids[0..n). */
static int listed(const uint32_t *ids, uint32_t n, uint32_t i)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == i;
}

static inline int skipped(const rs_skip *skip, uint32_t i)
{
    if (!skip) return 0;
    if (skip->allow && !(skip->allow[i >> 6] >> (i & 63) & 1)) return 1;
    return skip->mask ? skip->mask[i] != 0 : listed(skip->ids, skip->n_ids, i);
}

/* The rounding margin between an sgemv score and rs_midx_dot's for u
 * (core/midx.h). */
static float brute_margin(const rs_retriever *r, const float *u)
{
    double un = 0;
    for (uint32_t j = 0; j < r->dim; j++) un += (double)u[j] * u[j];
    return rs_midx_margin(r->dim, sqrt(un), r->norm_max);
}

/* Top n by rs_midx_dot among the items whose approximate score (scores[i],
 * by sgemv or sgemm) is at least cut and finite, not skipped. */
static uint32_t rescore(const rs_retriever *r, const float *u, const float *scores,
                        const uint32_t *cand, uint32_t n_cand, float cut, const rs_skip *skip,
                        uint32_t n, rs_scored *out)
{
    rs_topk tk;
    rs_topk_init(&tk, out, n);
    for (uint32_t c = 0; c < n_cand; c++) {
        uint32_t i = cand ? cand[c] : c;
        float a = cand ? scores[c] : scores[i];
        if (!(a >= cut) || !isfinite(a) || skipped(skip, i)) continue; /* cheap test first */
        float sc = rs_midx_dot(u, r->items + (size_t)i * r->dim, r->dim);
        if (isfinite(sc) && rs_topk_would_enter(&tk, sc, i)) rs_topk_push(&tk, sc, i);
    }
    return rs_topk_sorted(&tk);
}

/* The n-th best finite approximate score of the items not skipped
 * (-INFINITY when fewer), using out as the heap. */
static float nth_best(const float *scores, uint32_t n_items, const rs_skip *skip, uint32_t n,
                      rs_scored *out)
{
    rs_topk tk;
    rs_topk_init(&tk, out, n);
    for (uint32_t i = 0; i < n_items; i++) {
        float a = scores[i];
        if (!isfinite(a) || skipped(skip, i)) continue;
        if (rs_topk_would_enter(&tk, a, i)) rs_topk_push(&tk, a, i);
    }
    return rs_topk_threshold(&tk);
}

static int reserve_scores(const rs_retriever *r, rs_retrieve_scratch *s, rs_error *err)
{
    if (s->scores_cap >= r->n_items) return 0;
    float *grown = rs_malloc(r->n_items, sizeof(float), err);
    uint32_t *ids = grown ? rs_malloc(r->n_items, sizeof(uint32_t), err) : NULL;
    if (!ids) {
        free(grown);
        return -1;
    }
    free(s->scores);
    free(s->ids);
    s->scores = grown;
    s->ids = ids;
    s->scores_cap = r->n_items;
    return 0;
}

/* Brute force through the int8 codes: exact, a quarter of the bytes read.
 * Returns 1 when the query is too large for the codes' bounds (the caller
 * then scores in float). */
static int brute_compact(const rs_retriever *r, const float *u, const rs_skip *skip, uint32_t n,
                         rs_scored *out, uint32_t *n_out, rs_retrieve_scratch *s, rs_error *err)
{
    size_t bytes = rs_compact_scratch_bytes(&r->compact);
    if (s->qcode_cap < bytes) {
        void *q = rs_malloc(bytes, 1, err);
        if (!q) return -1;
        free(s->qcode);
        s->qcode = q;
        s->qcode_cap = bytes;
    }
    rs_exclude ex = {0};
    if (skip) ex.ids = skip->ids, ex.n_ids = skip->n_ids;
    if (skip && skip->allow) ex.allow = skip->allow, ex.n_allow = r->n_items;
    rs_error local;
    if (rs_compact_topn(&r->compact, r->items, u, brute_margin(r, u), n, &ex, s->ids, s->qcode, out,
                        n_out, NULL, &local) != 0)
        return 1;
    return 0;
}

static int brute(const rs_retriever *r, const float *u, const rs_skip *skip, uint32_t n,
                 rs_scored *out, uint32_t *n_out, rs_retrieve_scratch *s, rs_error *err)
{
    if (reserve_scores(r, s, err) != 0) return -1;
    if (r->have_compact) {
        int rc = brute_compact(r, u, skip, n, out, n_out, s, err);
        if (rc <= 0) return rc;
    }
    /* scores = Q u: one pass over the item matrix, memory-bound. */
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)r->n_items, (int)r->dim, 1.0f, r->items,
                (int)r->dim, u, 1, 0.0f, s->scores, 1);
    /* Anything whose kernel score could reach the n-th best lies within
     * two margins of the sgemv n-th best. */
    float cut = nth_best(s->scores, r->n_items, skip, n, out) - 2.0f * brute_margin(r, u);
    *n_out = rescore(r, u, s->scores, NULL, r->n_items, cut, skip, n, out);
    return 0;
}

/* A small filter's allowed items, scored one by one (retrieve.h). */
static uint32_t direct(const rs_retriever *r, const float *u, const rs_skip *skip, uint32_t n,
                       rs_scored *out, uint64_t *scored)
{
    rs_topk tk;
    rs_topk_init(&tk, out, n);
    uint64_t count = 0;
    for (size_t w = 0; w < ((size_t)r->n_items + 63) / 64; w++) {
        for (uint64_t bits = skip->allow[w]; bits; bits &= bits - 1) {
            uint32_t i = (uint32_t)(w * 64 + (uint32_t)__builtin_ctzll(bits));
            if (i >= r->n_items || skipped(skip, i)) continue;
            float sc = rs_midx_dot(u, r->items + (size_t)i * r->dim, r->dim);
            count++;
            if (isfinite(sc) && rs_topk_would_enter(&tk, sc, i)) rs_topk_push(&tk, sc, i);
        }
    }
    *scored = count;
    return rs_topk_sorted(&tk);
}

static int midx(const rs_retriever *r, const float *u, const rs_skip *skip, uint32_t n,
                rs_scored *out, uint32_t *n_out, rs_retrieve_scratch *s, rs_retrieve_stats *st,
                rs_error *err)
{
    const rs_midx *idx = &r->midx;
    if (!s->ms || s->ms_k != idx->k || s->ms_d != idx->d || s->ms_n != idx->n ||
        s->ms_cells != idx->n_nonempty) {
        rs_midx_scratch_free(s->ms);
        s->ms = NULL;
        if (rs_midx_scratch_new(idx, &s->ms, err) != 0) return -1;
        s->ms_k = idx->k, s->ms_d = idx->d, s->ms_n = idx->n, s->ms_cells = idx->n_nonempty;
    }
    rs_exclude ex = {0};
    if (skip) ex.ids = skip->ids, ex.n_ids = skip->n_ids;
    if (skip && skip->allow) ex.allow = skip->allow, ex.n_allow = r->n_items;
    rs_midx_query q = {.u = u, .top_n = n, .exclude = &ex, .budget = r->budget};
    rs_midx_stats ms;
    if (rs_midx_search(idx, s->ms, &q, out, n_out, &ms, err) != 0) return -1;
    /* The index holds finite vectors and u is finite, but a product can
     * still overflow: keep the contract. */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < *n_out; i++)
        if (isfinite(out[i].score)) out[kept++] = out[i];
    *n_out = kept;
    st->scored = ms.scored;
    st->exact = ms.exact;
    return 0;
}

int rs_retrieve_topn(const rs_retriever *r, const float *u, const rs_skip *skip, uint32_t n,
                     rs_scored *out, uint32_t *n_out, rs_retrieve_scratch *s,
                     rs_retrieve_stats *stats, rs_error *err)
{
    rs_retrieve_stats st = {.scored = r->n_items, .exact = 1};
    *n_out = 0;
    if (!vector_finite(u, r->dim)) { /* then no item has a finite score */
        st.scored = 0;
        if (stats) *stats = st;
        return 0;
    }
    int rc = 0;
    if (skip && skip->allow && rs_retrieve_direct(skip->n_allowed, r->n_items)) {
        *n_out = direct(r, u, skip, n, out, &st.scored);
        st.direct = 1;
    } else if (r->use_midx) {
        rc = midx(r, u, skip, n, out, n_out, s, &st, err);
    } else {
        rc = brute(r, u, skip, n, out, n_out, s, err);
    }
    if (stats) *stats = st;
    return rc;
}

/* ---- batches ---- */

#define BATCH_BLOCK 2048 /* items per sgemm block: the block's scores stay in cache */

typedef struct batch_state {
    const float *u;
    rs_skip *skip;
    uint32_t n;
    float margin;
    rs_topk tk; /* by sgemm score */
    rs_scored *heap;
    uint32_t *cand; /* items within two margins of the running n-th best */
    float *cand_scores;
    uint32_t n_cand, cap_cand;
} batch_state;

static int keep_candidate(batch_state *b, uint32_t i, float a, rs_error *err)
{
    if (b->n_cand == b->cap_cand) {
        uint32_t cap = b->cap_cand ? 2 * b->cap_cand : 256;
        uint32_t *c = realloc(b->cand, cap * sizeof(uint32_t));
        if (c) b->cand = c;
        float *sc = c ? realloc(b->cand_scores, cap * sizeof(float)) : NULL;
        if (!sc) return rs_fail_kind(err, RS_ERR_NO_MEMORY, "out of memory ranking a batch");
        b->cand_scores = sc;
        b->cap_cand = cap;
    }
    b->cand[b->n_cand] = i;
    b->cand_scores[b->n_cand++] = a;
    return 0;
}

/* Offers block scores (row of query b, items i0 ..) to b's heap and list. */
static int batch_block(batch_state *b, const float *row, uint32_t i0, uint32_t count, rs_error *err)
{
    float cut = rs_topk_threshold(&b->tk) - 2.0f * b->margin;
    for (uint32_t j = 0; j < count; j++) {
        float a = row[j];
        if (!(a >= cut) || !isfinite(a)) continue;
        uint32_t i = i0 + j;
        if (skipped(b->skip, i)) continue;
        if (keep_candidate(b, i, a, err) != 0) return -1;
        if (rs_topk_would_enter(&b->tk, a, i)) {
            rs_topk_push(&b->tk, a, i);
            cut = rs_topk_threshold(&b->tk) - 2.0f * b->margin;
        }
    }
    return 0;
}

/* The sgemm path for queries (all finite, brute force). */
static int batch_gemm(const rs_retriever *r, rs_batch_query **qs, uint32_t nq, rs_error *err)
{
    const uint32_t d = r->dim;
    float *U = rs_malloc((size_t)nq * d, sizeof(float), err);
    float *S = U ? rs_malloc((size_t)nq * BATCH_BLOCK, sizeof(float), err) : NULL;
    batch_state *b = S ? rs_calloc(nq, sizeof(*b), err) : NULL;
    int rc = b ? 0 : -1;
    for (uint32_t q = 0; rc == 0 && q < nq; q++) {
        memcpy(U + (size_t)q * d, qs[q]->u, sizeof(float) * d);
        b[q] = (batch_state){.u = qs[q]->u,
                             .skip = &qs[q]->skip,
                             .n = qs[q]->n,
                             .margin = brute_margin(r, qs[q]->u)};
        if (!(b[q].heap = rs_malloc(RS_MAX(qs[q]->n, 1u), sizeof(rs_scored), err)))
            rc = -1;
        else
            rs_topk_init(&b[q].tk, b[q].heap, qs[q]->n);
    }
    for (uint32_t i0 = 0; rc == 0 && i0 < r->n_items; i0 += BATCH_BLOCK) {
        uint32_t count = RS_MIN(BATCH_BLOCK, r->n_items - i0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)count, (int)d, 1.0f, U,
                    (int)d, r->items + (size_t)i0 * d, (int)d, 0.0f, S, (int)count);
        for (uint32_t q = 0; rc == 0 && q < nq; q++)
            rc = batch_block(&b[q], S + (size_t)q * count, i0, count, err);
    }
    for (uint32_t q = 0; rc == 0 && q < nq; q++) {
        float cut = rs_topk_threshold(&b[q].tk) - 2.0f * b[q].margin;
        qs[q]->n_out = rescore(r, b[q].u, b[q].cand_scores, b[q].cand, b[q].n_cand, cut, b[q].skip,
                               b[q].n, qs[q]->out);
        qs[q]->stats = (rs_retrieve_stats){r->n_items, 1, 0};
    }
    for (uint32_t q = 0; b && q < nq; q++) {
        free(b[q].heap);
        free(b[q].cand);
        free(b[q].cand_scores);
    }
    free(b);
    free(S);
    free(U);
    return rc;
}

int rs_retrieve_batch(const rs_retriever *r, rs_batch_query *qs, uint32_t nq,
                      rs_retrieve_scratch *s, rs_error *err)
{
    rs_batch_query **gemm = rs_malloc(RS_MAX(nq, 1u), sizeof(*gemm), err);
    if (!gemm) return -1;
    uint32_t n_gemm = 0;
    for (uint32_t q = 0; q < nq; q++) {
        rs_batch_query *b = &qs[q];
        const rs_skip *skip = &b->skip;
        int small = skip->allow && rs_retrieve_direct(skip->n_allowed, r->n_items);
        if (!r->use_midx && !small && b->n > 0 && vector_finite(b->u, r->dim)) {
            gemm[n_gemm++] = b;
        } else if (rs_retrieve_topn(r, b->u, skip, b->n, b->out, &b->n_out, s, &b->stats, err) !=
                   0) {
            free(gemm);
            return -1;
        }
    }
    int rc = n_gemm ? batch_gemm(r, gemm, n_gemm, err) : 0;
    free(gemm);
    return rc;
}

/* ---- sampling ---- */

static int sample_midx(const rs_retriever *r, const float *u, const rs_exclude *ex, uint32_t n,
                       float temperature, rs_rng *rng, rs_scored *out, uint32_t *n_out,
                       rs_retrieve_scratch *s, rs_sample_info *info, rs_error *err)
{
    const rs_midx *idx = &r->midx;
    if (!s->smp || s->smp_k != idx->k || s->smp_n != idx->n || s->smp_cells != idx->n_nonempty) {
        rs_midx_sampler_free(s->smp);
        s->smp = NULL;
        if (rs_midx_sampler_new(idx, &s->smp, err) != 0) return -1;
        s->smp_k = idx->k, s->smp_n = idx->n, s->smp_cells = idx->n_nonempty;
    }
    uint64_t cap = r->n_items / 2 + 64 * (uint64_t)n;
    rs_sample_stats st;
    if (rs_midx_sample(idx, s->smp, u, temperature, ex, n, 0, cap, rng, out, n_out, &st, err) != 0)
        return -1;
    info->method = "midx";
    info->proposals = st.proposals;
    info->fallback = st.fallback;
    return 0;
}

/* Gumbel-top-k over every item not skipped, or (small filter) over the
 * allowed items only, with the search kernel's scores. */
static int sample_gumbel(const rs_retriever *r, const float *u, const rs_skip *skip,
                         const rs_exclude *ex, uint32_t n, float temperature, rs_rng *rng,
                         rs_scored *out, uint32_t *n_out, rs_retrieve_scratch *s,
                         rs_sample_info *info, rs_error *err)
{
    if (reserve_scores(r, s, err) != 0) return -1;
    uint32_t m = 0;
    if (skip && skip->allow && rs_retrieve_direct(skip->n_allowed, r->n_items)) {
        for (size_t w = 0; w < ((size_t)r->n_items + 63) / 64; w++)
            for (uint64_t bits = skip->allow[w]; bits; bits &= bits - 1) {
                uint32_t i = (uint32_t)(w * 64 + (uint32_t)__builtin_ctzll(bits));
                if (i >= r->n_items || skipped(skip, i)) continue;
                s->ids[m] = i;
                s->scores[m++] = rs_midx_dot(u, r->items + (size_t)i * r->dim, r->dim);
            }
        *n_out = rs_sample_gumbel(s->scores, s->ids, m, temperature, NULL, NULL, n, rng, out);
    } else {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)r->n_items, (int)r->dim, 1.0f, r->items,
                    (int)r->dim, u, 1, 0.0f, s->scores, 1);
        *n_out = rs_sample_gumbel(s->scores, NULL, r->n_items, temperature, ex, NULL, n, rng, out);
        for (uint32_t i = 0; i < *n_out; i++)
            out[i].score = rs_midx_dot(u, r->items + (size_t)out[i].id * r->dim, r->dim);
    }
    info->method = "gumbel";
    return 0;
}

int rs_retrieve_sample(const rs_retriever *r, const float *u, const rs_skip *skip, uint32_t n,
                       float temperature, uint64_t seed, rs_scored *out, uint32_t *n_out,
                       rs_retrieve_scratch *s, rs_sample_info *info, rs_error *err)
{
    *n_out = 0;
    *info = (rs_sample_info){r->use_midx ? "midx" : "gumbel", 0, 0};
    if (!vector_finite(u, r->dim)) return 0;
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    rs_exclude ex = {0};
    if (skip) ex.ids = skip->ids, ex.n_ids = skip->n_ids;
    if (skip && skip->allow) ex.allow = skip->allow, ex.n_allow = r->n_items;
    int small = skip && skip->allow && rs_retrieve_direct(skip->n_allowed, r->n_items);
    if (r->use_midx && !small)
        return sample_midx(r, u, &ex, n, temperature, &rng, out, n_out, s, info, err);
    return sample_gumbel(r, u, skip, &ex, n, temperature, &rng, out, n_out, s, info, err);
}
