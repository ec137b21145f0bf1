/* midx.c - inverted multi-index retrieval (see midx.h).
 *
 * Visiting order. With a1[k1] = s1[k1] + w ||u1|| r1max[k1] and
 * a2[k2] = s2[k2] + w ||u2|| r2max[k2] (w in [0, 1]), every item of cell
 * (k1, k2) scores at most a1[k1] + a2[k2] + slack, slack =
 * (1 - w)(||u1|| max r1max + ||u2|| max r2max) + margin. The key a1 + a2 is
 * separable, so the non-empty cells can be produced in descending key
 * without looking at the k*k grid: both lists are radix-sorted (ord1, ord2);
 * rows are opened in ord1 order as soon as a1[k1] + max a2 reaches the best
 * key in the frontier (a max-heap with one entry per open row: its next
 * non-empty cell). Opening a row marks its non-empty cells in a bitmap over
 * ord2 ranks, so the next cell of a row is a find-first-set away, however
 * sparse the row. A walk is exact once the best key + slack falls below the
 * N-th best score; a visited cell is skipped on its own tighter bound (cell
 * maxima of the half residuals) and an item on its own (its half residual
 * norms, then its int8 code's bound, compact.h) before its vector is read.
 *
 * Exact search walks only a seed budget (SEED_ITEMS), which gives a good
 * N-th best score cheaply, then sweeps every non-empty cell in memory order
 * and scans those the walk did not whose own bound reaches it: walking the
 * frontier to the end cost a heap operation and a few cache misses per
 * cell, the sweep reads the cell table sequentially. A budgeted search
 * pools cells by the walk and scans them by their mean item (POOL_FACTOR).
 *
 * Rounding. Scores are float sums, bounds are float sums of other terms; the
 * margin (4d + 32) * 2^-24 * ||u|| * norm_bound covers every rounding
 * difference between the bound, the score and the BLAS scores of the brute
 * force, so "cannot beat the N-th best" is proven for the computed scores.
 */
#include "midx.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Weight w of the residual term in the visiting order. Exactness never
 * depends on it, only the work done. The walk wants the cells most likely
 * to hold top items first, which is closer to the quantised score s1 + s2:
 * on clustered embeddings with a log-normal norm spread (bench/), w = 0.1
 * gave the best recall at a given budget (0.984 at 2,500 items of 1M,
 * against 0.978 at w = 0, 0.973 at w = 0.4). The exact search's seed walk
 * uses it too (its sweep does the proving). */
#define ORDER_WEIGHT 0.1f

/* ---------------------------------------------------------------- kernel */

typedef float v8f __attribute__((vector_size(32)));

/* acc += a[0..8) * b[0..8) (unaligned loads; a macro so no vector value
 * crosses a function boundary, which would tie the ABI to AVX). */
#define MULADD8(acc, a, b)                                                                         \
    do {                                                                                           \
        v8f x_, y_;                                                                                \
        memcpy(&x_, (a), sizeof(x_));                                                              \
        memcpy(&y_, (b), sizeof(y_));                                                              \
        (acc) += x_ * y_;                                                                          \
    } while (0)

/* One fixed summation order (two 8-lane accumulators, then a pairwise
 * horizontal sum, then the tail) so the same pair always gives the same
 * bits. Not inlined, so that every caller runs the same machine code. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
/* Builds for any x86-64 (OPT without -march=native, as packages are) get an
 * AVX2 clone picked once at load time (ifunc): the same lane-wise operations
 * in the same order, so the bits do not depend on the clone (ISO C mode
 * keeps floating-point contraction off: no fused multiply-add). Not under
 * the sanitizers: an instrumented ifunc resolver runs before their runtime
 * is up (TSan builds crashed at start). */
#define RS_DOT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define RS_DOT_CLONES
#endif

__attribute__((noinline)) RS_DOT_CLONES float rs_midx_dot(const float *a, const float *b,
                                                          uint32_t d)
{
    v8f acc0 = {0}, acc1 = {0};
    uint32_t j = 0;
    for (; j + 16 <= d; j += 16) {
        MULADD8(acc0, a + j, b + j);
        MULADD8(acc1, a + j + 8, b + j + 8);
    }
    if (j + 8 <= d) {
        MULADD8(acc0, a + j, b + j);
        j += 8;
    }
    v8f acc = acc0 + acc1;
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; j < d; j++) s += a[j] * b[j];
    return s;
}

/* sqrt of a double sum, rounded up to float. */
static float norm_up(double s)
{
    double r = sqrt(s);
    float f = (float)r;
    if ((double)f < r) f = nextafterf(f, INFINITY);
    return f;
}

static float vec_norm(const float *v, uint32_t d)
{
    double s = 0;
    for (uint32_t j = 0; j < d; j++) s += (double)v[j] * v[j];
    return norm_up(s);
}

/* ------------------------------------------------------------- exclusion */

/* Offers a scored item to the heap (exclusions are looked up only for items
 * that would enter, which is rare once the heap is full). */
static inline void offer(rs_topk *tk, const rs_exclude *ex, float score, uint32_t id)
{
    if (rs_topk_would_enter(tk, score, id) && rs_exclude_allows(ex, id))
        rs_topk_push(tk, score, id);
}

/* ------------------------------------------------------------ index view */

static int check_structure(const rs_midx *idx, rs_error *err);

/* Int8 codes of the mean vector of each non-empty cell (the approximate
 * order's key; codes of the same width as the items', so the query's
 * rounding serves both). */
static int cell_means(rs_midx *idx, rs_error *err)
{
    const uint32_t d = idx->d, ne = RS_MAX(idx->n_nonempty, 1u);
    float *mean = rs_calloc((size_t)ne * d, sizeof(float), err);
    double *sum = mean ? rs_malloc(d, sizeof(double), err) : NULL;
    if (!sum) {
        free(mean);
        return -1;
    }
    for (uint32_t c = 0; c < idx->n_nonempty; c++) {
        const struct rs_midx_cell *cell = &idx->cells[c];
        memset(sum, 0, d * sizeof(double));
        for (uint32_t p = cell->beg; p < cell->end; p++)
            for (uint32_t j = 0; j < d; j++) sum[j] += idx->vectors[(size_t)p * d + j];
        for (uint32_t j = 0; j < d; j++)
            mean[(size_t)c * d + j] = (float)(sum[j] / (cell->end - cell->beg));
    }
    int rc = rs_compact_build(mean, ne, d, 0, &idx->cell_mean, err);
    free(sum);
    free(mean);
    return rc;
}

/* Derived data every view carries: the non-empty bitmap, the largest cell
 * and the norm bound behind the rounding margin. */
static int finish_view(rs_midx *idx, rs_error *err)
{
    size_t words = (size_t)idx->k * ((idx->k + 63) / 64);
    uint32_t mc = 0, ne = 0;
    for (uint32_t c = 0; c < idx->n_cells; c++) {
        uint32_t size = idx->offsets[c + 1] - idx->offsets[c];
        mc = RS_MAX(mc, size);
        ne += size != 0;
    }
    idx->row_words = (idx->k + 63) / 64;
    idx->max_cell = mc;
    idx->n_nonempty = ne;
    idx->nonempty = rs_calloc(words, sizeof(uint64_t), err);
    idx->word_rank = idx->nonempty ? rs_malloc(words, sizeof(uint32_t), err) : NULL;
    idx->cells = idx->word_rank ? rs_malloc(RS_MAX(ne, 1u), sizeof(*idx->cells), err) : NULL;
    idx->row_first = idx->cells ? rs_malloc(idx->k + 1, sizeof(uint32_t), err) : NULL;
    idx->cell_k2 = idx->row_first ? rs_malloc(RS_MAX(ne, 1u), sizeof(uint16_t), err) : NULL;
    if (!idx->cell_k2) return -1;
    uint32_t r = 0;
    for (uint32_t k1 = 0; k1 < idx->k; k1++) {
        idx->row_first[k1] = r;
        for (uint32_t k2 = 0; k2 < idx->k; k2++) {
            size_t w = (size_t)k1 * idx->row_words + k2 / 64;
            if (k2 % 64 == 0) idx->word_rank[w] = r;
            uint32_t c = k1 * idx->k + k2;
            if (idx->offsets[c + 1] == idx->offsets[c]) continue;
            idx->nonempty[w] |= 1ull << (k2 % 64);
            idx->cell_k2[r] = (uint16_t)k2;
            idx->cells[r++] = (struct rs_midx_cell){idx->offsets[c], idx->offsets[c + 1],
                                                    idx->cell_r1[c], idx->cell_r2[c]};
        }
    }
    idx->row_first[idx->k] = r;
    double m1 = 0, m2 = 0;
    for (uint32_t i = 0; i < idx->k; i++) {
        m1 = RS_MAX(m1, (double)vec_norm(idx->c1 + (size_t)i * idx->d1, idx->d1) + idx->r1max[i]);
        m2 = RS_MAX(m2, (double)vec_norm(idx->c2 + (size_t)i * idx->d2, idx->d2) + idx->r2max[i]);
    }
    idx->norm_bound = norm_up((m1 + m2) * (m1 + m2));
    if (cell_means(idx, err) != 0) return -1;
    return rs_compact_build(idx->vectors, idx->n, idx->d, 0, &idx->compact, err);
}

int rs_midx_from_pq(const rs_pq *pq, rs_midx *idx, rs_error *err)
{
    memset(idx, 0, sizeof(*idx));
    if (!pq || !pq->vectors) return rs_fail(err, "midx: the product quantisation is empty");
    if (pq->k == 0 || pq->k > RS_PQ_MAX_K || pq->n_cells != pq->k * pq->k || pq->d < 2 ||
        pq->d1 + pq->d2 != pq->d)
        return rs_fail(err, "midx: inconsistent sizes (k=%u, cells=%u, d=%u)", pq->k, pq->n_cells,
                       pq->d);
    uint32_t *pos = rs_malloc(pq->n, sizeof(uint32_t), err);
    if (!pos) return rs_error_prefix(err, "midx view");
    memset(pos, 0xff, (size_t)pq->n * sizeof(uint32_t));
    for (uint32_t p = 0; p < pq->n; p++) {
        uint32_t id = pq->ids[p];
        if (id >= pq->n || pos[id] != UINT32_MAX) {
            free(pos);
            return rs_fail(err, "midx: position %u holds item %u, %s", p, id,
                           id >= pq->n ? "beyond the catalogue" : "already placed");
        }
        pos[id] = p;
    }
    *idx = (rs_midx){.n = pq->n,
                     .d = pq->d,
                     .d1 = pq->d1,
                     .d2 = pq->d2,
                     .k = pq->k,
                     .n_cells = pq->n_cells,
                     .c1 = pq->c1,
                     .c2 = pq->c2,
                     .offsets = pq->offsets,
                     .ids = pq->ids,
                     .pos = pos,
                     .vectors = pq->vectors,
                     .res1 = pq->res1,
                     .res2 = pq->res2,
                     .cell_r1 = pq->cell_r1,
                     .cell_r2 = pq->cell_r2,
                     .r1max = pq->r1max,
                     .r2max = pq->r2max,
                     .owned = pos};
    if (rs_midx_finish(idx, 0, err) != 0) {
        rs_midx_release(idx);
        return rs_error_prefix(err, "midx view");
    }
    return 0;
}

size_t rs_midx_view_bytes(const rs_midx *idx)
{
    size_t k = idx->k, ne = idx->n_nonempty;
    return (idx->owned ? (size_t)idx->n * sizeof(uint32_t) : 0) +
           k * idx->row_words * (sizeof(uint64_t) + sizeof(uint32_t)) + (k + 1) * sizeof(uint32_t) +
           ne * (sizeof(uint16_t) + sizeof(*idx->cells)) + rs_compact_bytes(&idx->cell_mean) +
           rs_compact_bytes(&idx->compact);
}

void rs_midx_release(rs_midx *idx)
{
    if (!idx) return;
    free(idx->owned);
    free(idx->nonempty);
    free(idx->word_rank);
    free(idx->row_first);
    free(idx->cell_k2);
    free(idx->cells);
    rs_compact_free(&idx->compact);
    rs_compact_free(&idx->cell_mean);
    memset(idx, 0, sizeof(*idx));
}

static int all_finite_nonneg(const float *v, size_t n, int nonneg)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || (nonneg && v[i] < 0)) return 0;
    return 1;
}

/* O(n + k^2) structure checks: offsets, permutation, finite small arrays. */
static int check_structure(const rs_midx *idx, rs_error *err)
{
    if (idx->offsets[0] != 0 || idx->offsets[idx->n_cells] != idx->n)
        return rs_fail(err, "midx: cell offsets run from %u to %u, expected 0 to %u",
                       idx->offsets[0], idx->offsets[idx->n_cells], idx->n);
    for (uint32_t c = 0; c < idx->n_cells; c++)
        if (idx->offsets[c + 1] < idx->offsets[c])
            return rs_fail(err, "midx: cell offsets decrease at cell %u (%u then %u)", c,
                           idx->offsets[c], idx->offsets[c + 1]);
    for (uint32_t p = 0; p < idx->n; p++) {
        uint32_t id = idx->ids[p];
        if (id >= idx->n)
            return rs_fail(err, "midx: position %u holds item %u of %u", p, id, idx->n);
        if (idx->pos[id] != p)
            return rs_fail(err, "midx: item %u is at position %u but its position entry says %u",
                           id, p, idx->pos[id]);
    }
    size_t k = idx->k, c = idx->n_cells;
    if (!all_finite_nonneg(idx->c1, k * idx->d1, 0) || !all_finite_nonneg(idx->c2, k * idx->d2, 0))
        return rs_fail(err, "midx: a codebook holds a non-finite value");
    if (!all_finite_nonneg(idx->r1max, k, 1) || !all_finite_nonneg(idx->r2max, k, 1) ||
        !all_finite_nonneg(idx->cell_r1, c, 1) || !all_finite_nonneg(idx->cell_r2, c, 1) ||
        !all_finite_nonneg(idx->res1, idx->n, 1) || !all_finite_nonneg(idx->res2, idx->n, 1))
        return rs_fail(err, "midx: a residual bound is negative or not finite");
    return 0;
}

int rs_midx_check(const rs_midx *idx, rs_error *err)
{
    if (check_structure(idx, err) != 0) return -1;
    const float tol = 1.0f + 1e-6f;
    for (uint32_t c = 0; c < idx->n_cells; c++) {
        uint32_t k1 = c / idx->k, k2 = c % idx->k;
        const float *a = idx->c1 + (size_t)k1 * idx->d1, *b = idx->c2 + (size_t)k2 * idx->d2;
        for (uint32_t p = idx->offsets[c]; p < idx->offsets[c + 1]; p++) {
            const float *v = idx->vectors + (size_t)p * idx->d;
            if (p > idx->offsets[c] && idx->ids[p] < idx->ids[p - 1])
                return rs_fail(err, "midx: cell %u is not in ascending item order", c);
            double s1 = 0, s2 = 0;
            for (uint32_t j = 0; j < idx->d1; j++) {
                double t = (double)v[j] - a[j];
                s1 += t * t;
            }
            for (uint32_t j = 0; j < idx->d2; j++) {
                double t = (double)v[idx->d1 + j] - b[j];
                s2 += t * t;
            }
            if (!isfinite(s1) || !isfinite(s2))
                return rs_fail(err, "midx: item %u has a non-finite vector", idx->ids[p]);
            if (sqrt(s1) > idx->res1[p] * tol || sqrt(s2) > idx->res2[p] * tol)
                return rs_fail(err, "midx: item %u residual norms %g, %g exceed stored %g, %g",
                               idx->ids[p], sqrt(s1), sqrt(s2), idx->res1[p], idx->res2[p]);
            if (idx->res1[p] > idx->cell_r1[c] || idx->res2[p] > idx->cell_r2[c])
                return rs_fail(err, "midx: item %u exceeds the residual bound of cell %u",
                               idx->ids[p], c);
        }
        if (idx->cell_r1[c] > idx->r1max[k1] || idx->cell_r2[c] > idx->r2max[k2])
            return rs_fail(err, "midx: cell %u exceeds its codeword residual bound", c);
    }
    return 0;
}

int rs_midx_finish(rs_midx *idx, int verify, rs_error *err)
{
    if ((verify ? rs_midx_check(idx, err) : check_structure(idx, err)) != 0) return -1;
    return finish_view(idx, err);
}

/* --------------------------------------------------------------- scratch */

/* Exact search: the walk's seed budget (items) and the most cells it may
 * mark as scanned before the sweep takes over. */
#define SEED_ITEMS(top_n) (8 * (uint64_t)(top_n) + 1024)
#define SEED_CELLS_MAX    4096

/* Approximate search (pooled_search): cells pooled per item of budget, and
 * the weight of the residual bound in the pool's order. The cell's mean
 * item ranks cells better than the separable codeword bound when clusters
 * are small and flat, at the price of walking more cells. Measured (make
 * bench sets, 1M items, top-100, one thread), the budget and speed-up over
 * brute force where recall@100 first reaches 0.95, factors 1 / 2 / 3:
 * gen_vectors.py 1,000 (261x) / 750 (240x) / 750 (221x); bench/gen_hard.py
 * above 5,000 (0.943 at 148x) / 5,000 (127x; 0.941 at 2,500) / 2,500
 * (164x). Weights 0, 0.1, 0.2 were within 0.005 of each other. */
#define POOL_FACTOR          3
#define POOL_RESIDUAL_WEIGHT 0.1f

typedef struct frontier_entry {
    float key;
    uint32_t i, j; /* ranks in the two sorted lists */
} frontier_entry;

struct rs_midx_scratch {
    uint32_t k, n, row_words;
    float *s1, *s2, *a1, *a2;
    uint32_t *ord1, *ord2; /* codewords by descending a1, a2 */
    uint32_t *rank2;       /* inverse of ord2 */
    uint64_t *rowbits;     /* per opened row (by rank in ord1): its non-empty cells as a
                              bitmap over ranks in ord2, row_words words each */
    uint32_t *sort_keys;   /* 2k, radix sort buffers */
    uint32_t *sort_idx;    /* k */
    frontier_entry *front;
    uint32_t n_front;
    float *brute; /* n, allocated by the first brute-force call */
    uint32_t cap_brute;
    void *qcode;          /* the query rounded for the int8 codes (compact.h) */
    uint64_t *visited;    /* one bit per non-empty cell: scanned by the walk */
    uint32_t *visit_list; /* the cells whose bit is set */
    uint32_t n_visits, cap_visits, n_nonempty;
    struct pooled_cell {
        float key;
        uint32_t cell;
        float base;
    } * pool; /* n_nonempty: cells a budgeted walk collected, to be reordered */
    uint32_t n_pool;
};

int rs_midx_scratch_new(const rs_midx *idx, rs_midx_scratch **out, rs_error *err)
{
    *out = NULL;
    rs_midx_scratch *s = rs_calloc(1, sizeof(*s), err);
    if (!s) return -1;
    uint32_t k = idx->k;
    s->k = k;
    s->n = idx->n;
    s->row_words = idx->row_words;
    s->n_nonempty = idx->n_nonempty;
    s->cap_visits = SEED_CELLS_MAX;
    int ok =
        (s->s1 = rs_malloc(k, sizeof(float), err)) && (s->s2 = rs_malloc(k, sizeof(float), err)) &&
        (s->a1 = rs_malloc(k, sizeof(float), err)) && (s->a2 = rs_malloc(k, sizeof(float), err)) &&
        (s->ord1 = rs_malloc(k, sizeof(uint32_t), err)) &&
        (s->ord2 = rs_malloc(k, sizeof(uint32_t), err)) &&
        (s->rank2 = rs_malloc(k, sizeof(uint32_t), err)) &&
        (s->rowbits = rs_malloc((size_t)k * idx->row_words, sizeof(uint64_t), err)) &&
        (s->sort_keys = rs_malloc(2 * (size_t)k, sizeof(uint32_t), err)) &&
        (s->sort_idx = rs_malloc(k, sizeof(uint32_t), err)) &&
        (s->front = rs_malloc(k, sizeof(frontier_entry), err)) &&
        (s->qcode = rs_aligned_alloc(rs_compact_scratch_bytes(&idx->compact), 1, err)) &&
        (s->visited = rs_calloc((idx->n_nonempty + 63) / 64 + 1, sizeof(uint64_t), err)) &&
        (s->visit_list = rs_malloc(SEED_CELLS_MAX, sizeof(uint32_t), err)) &&
        (s->pool = rs_malloc(RS_MAX(idx->n_nonempty, 1u), sizeof(*s->pool), err));
    if (!ok) {
        rs_midx_scratch_free(s);
        return rs_error_prefix(err, "midx scratch");
    }
    *out = s;
    return 0;
}

void rs_midx_scratch_free(rs_midx_scratch *s)
{
    if (!s) return;
    free(s->s1);
    free(s->s2);
    free(s->a1);
    free(s->a2);
    free(s->ord1);
    free(s->ord2);
    free(s->rank2);
    free(s->rowbits);
    free(s->sort_keys);
    free(s->sort_idx);
    free(s->front);
    free(s->brute);
    free(s->qcode);
    free(s->visited);
    free(s->visit_list);
    free(s->pool);
    free(s);
}

/* --------------------------------------------------------------- sorting */

/* ord = 0..k-1 by descending v, ties by ascending index. LSD radix sort in
 * four 8-bit passes over an order-reversing integer image of the floats
 * (k log k comparisons would cost more, and the walk may read the whole
 * list); the sort is stable, so equal keys keep ascending indices. Up to
 * SMALL_SORT codewords, a stable insertion sort of the same keys (same
 * order) beats four passes over 256-entry histograms. */
#define SMALL_SORT 64

static void sort_desc(rs_midx_scratch *s, const float *v, uint32_t k, uint32_t *ord)
{
    uint32_t *ka = s->sort_keys, *kb = s->sort_keys + k, *ia = ord, *ib = s->sort_idx;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t u;
        memcpy(&u, &v[i], sizeof(u));
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* ascending image */
        ka[i] = ~u;                                     /* descending */
        ia[i] = i;
    }
    if (k <= SMALL_SORT) { /* the histograms would cost more than the sort */
        for (uint32_t i = 1; i < k; i++) {
            uint32_t key = ka[i], j = i;
            for (; j > 0 && ka[j - 1] > key; j--) ka[j] = ka[j - 1], ia[j] = ia[j - 1];
            ka[j] = key, ia[j] = i;
        }
        return;
    }
    for (uint32_t shift = 0; shift < 32; shift += 8) {
        uint32_t pos[256] = {0};
        for (uint32_t i = 0; i < k; i++) pos[(ka[i] >> shift) & 255]++;
        if (pos[(ka[0] >> shift) & 255] == k) continue; /* one digit value: nothing moves */
        uint32_t sum = 0;
        for (int b = 0; b < 256; b++) {
            uint32_t c = pos[b];
            pos[b] = sum;
            sum += c;
        }
        for (uint32_t i = 0; i < k; i++) {
            uint32_t p = pos[(ka[i] >> shift) & 255]++;
            kb[p] = ka[i];
            ib[p] = ia[i];
        }
        uint32_t *t = ka;
        ka = kb;
        kb = t;
        t = ia;
        ia = ib;
        ib = t;
    }
    if (ia != ord) memcpy(ord, ia, k * sizeof(uint32_t));
}

/* -------------------------------------------------------------- frontier */

static inline int front_before(const frontier_entry *a, const frontier_entry *b)
{
    return a->key > b->key || (a->key == b->key && a->i < b->i);
}

static void front_push(rs_midx_scratch *s, frontier_entry e)
{
    uint32_t i = s->n_front++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!front_before(&e, &s->front[p])) break;
        s->front[i] = s->front[p];
        i = p;
    }
    s->front[i] = e;
}

/* Replaces the top by e (or removes it when e is NULL) and restores order. */
static void front_replace_top(rs_midx_scratch *s, const frontier_entry *e)
{
    frontier_entry item;
    if (e)
        item = *e;
    else {
        item = s->front[--s->n_front];
        if (s->n_front == 0) return;
    }
    uint32_t n = s->n_front, i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && front_before(&s->front[c + 1], &s->front[c])) c++;
        if (!front_before(&s->front[c], &item)) break;
        s->front[i] = s->front[c];
        i = c;
    }
    s->front[i] = item;
}

/* ---------------------------------------------------------------- search */

/* Opens row k1 (rank i in list 1): marks its non-empty cells in a bitmap
 * over list-2 ranks, so the walk finds them in descending a2 with a few
 * word operations instead of stepping over empty cells. */
static void open_row(const rs_midx *idx, rs_midx_scratch *s, uint32_t i, uint32_t k1)
{
    uint64_t *bits = s->rowbits + (size_t)i * s->row_words;
    memset(bits, 0, s->row_words * sizeof(uint64_t));
    for (uint32_t c = idx->row_first[k1]; c < idx->row_first[k1 + 1]; c++) {
        uint32_t r = s->rank2[idx->cell_k2[c]];
        bits[r / 64] |= 1ull << (r % 64);
    }
}

/* The first rank j' >= j in list 2 of a non-empty cell of opened row i, or k. */
static inline uint32_t next_in_row(const rs_midx_scratch *s, uint32_t i, uint32_t j)
{
    const uint64_t *bits = s->rowbits + (size_t)i * s->row_words;
    uint32_t w = j / 64;
    if (w >= s->row_words) return s->k;
    uint64_t x = bits[w] & (~0ull << (j % 64));
    while (!x) {
        if (++w == s->row_words) return s->k;
        x = bits[w];
    }
    return RS_MIN(s->k, w * 64 + (uint32_t)__builtin_ctzll(x));
}

static int query_check(const rs_midx *idx, const rs_midx_scratch *s, const rs_midx_query *q,
                       rs_scored *out, uint32_t *n_out, rs_error *err)
{
    if (!idx || !idx->vectors) return rs_fail(err, "midx: no index");
    if (!s || s->k < idx->k || s->n_nonempty != idx->n_nonempty)
        return rs_fail(err, "midx: scratch was made for another index");
    if (!q || !q->u || !n_out || (q->top_n && !out)) return rs_fail(err, "midx: bad query");
    return rs_exclude_check(q->exclude, err);
}

float rs_midx_margin(uint32_t d, double u_norm, double norm_bound)
{
    return (float)((4.0 * d + 32.0) * ldexp(1.0, -24) * u_norm * norm_bound * 1.0001);
}

/* The rounding margin for a query of norm un (see the file comment). */
static float query_margin(const rs_midx *idx, float un)
{
    return rs_midx_margin(idx->d, un, idx->norm_bound);
}

/* What one search carries between its phases. */
typedef struct search_state {
    const rs_midx *idx;
    rs_midx_scratch *s;
    const rs_midx_query *q;
    rs_compact_query cq;
    float u1n, u2n, margin;
    int filtered; /* an allow bitmap is given: count only the items it lets through */
    rs_topk tk;
    float thr; /* the N-th best score so far (-inf until N are held) */
    rs_midx_stats st;
} search_state;

/* Scans the items at positions [beg, end) of a cell whose codeword scores
 * give base (+ margin): an item is skipped on its half-residual bound, then
 * on its int8 code's bound, and only then scored in float32. */
static void scan_cell(search_state *ss, uint32_t beg, uint32_t end, float base)
{
    const rs_midx *idx = ss->idx;
    const rs_exclude *ex = ss->q->exclude;
    const rs_compact *c = &idx->compact;
    if (!ss->filtered) ss->st.items += end - beg;
    for (uint32_t p = beg; p < end; p++) {
        uint32_t id = idx->ids[p];
        if (ss->filtered) {
            if (rs_exclude_disallowed(ex, id)) continue;
            ss->st.items++;
        }
        if (base + ss->u1n * idx->res1[p] + ss->u2n * idx->res2[p] < ss->thr) continue;
        /* (The codes have no head stage here: on 200-d data it cost more
         * per item than it saved; the half-residual test above is the cheap
         * first stage.) */
        if (ss->thr > -INFINITY &&
            rs_compact_estimate(c, &ss->cq, p) + rs_compact_slack(c, &ss->cq, p) < ss->thr)
            continue;
        float sc = rs_midx_dot(ss->q->u, idx->vectors + (size_t)p * idx->d, idx->d);
        ss->st.scored++;
        if (rs_topk_would_enter(&ss->tk, sc, id) && rs_exclude_allows(ex, id)) {
            rs_topk_push(&ss->tk, sc, id);
            ss->thr = rs_topk_threshold(&ss->tk);
        }
    }
}

/* The index in idx->cells of non-empty cell (k1, k2). */
static inline uint32_t cell_index(const rs_midx *idx, uint32_t k1, uint32_t k2)
{
    size_t wd = (size_t)k1 * idx->row_words + k2 / 64;
    return idx->word_rank[wd] +
           (uint32_t)__builtin_popcountll(idx->nonempty[wd] & ((1ull << (k2 % 64)) - 1));
}

/* What a walk does with the cells it reaches. */
typedef enum walk_mode {
    WALK_SCAN, /* scan them */
    WALK_MARK, /* scan them and record them in the visited set (the exact seed) */
    WALK_POOL, /* collect them in the pool, unscanned (their items count) */
} walk_mode;

/* Walks cells in descending a1 + a2 (ORDER_WEIGHT, see above) until no
 * unvisited cell can beat the N-th best (returns 1: the answer is exact) or
 * `budget` items have been examined, or the visited set is full (returns
 * 0). */
static int walk(search_state *ss, uint64_t budget, walk_mode mode)
{
    const float w = ORDER_WEIGHT;
    const rs_midx *idx = ss->idx;
    rs_midx_scratch *s = ss->s;
    const uint32_t k = idx->k;
    float g1 = 0, g2 = 0;
    for (uint32_t i = 0; i < k; i++) {
        s->a1[i] = s->s1[i] + w * ss->u1n * idx->r1max[i];
        s->a2[i] = s->s2[i] + w * ss->u2n * idx->r2max[i];
        g1 = RS_MAX(g1, idx->r1max[i]);
        g2 = RS_MAX(g2, idx->r2max[i]);
    }
    const float slack = (1.0f - w) * (ss->u1n * g1 + ss->u2n * g2) + ss->margin;
    sort_desc(s, s->a1, k, s->ord1);
    sort_desc(s, s->a2, k, s->ord2);
    for (uint32_t r = 0; r < k; r++) s->rank2[s->ord2[r]] = r;
    s->n_front = 0;
    const float top2 = s->a2[s->ord2[0]];
    uint32_t next_row = 0; /* rank in list 1 of the next row to open */
    for (;;) {
        /* Open every row whose best conceivable cell could come before the
         * frontier's best; rows open in descending a1, so the next one
         * bounds all unopened rows. */
        while (next_row < k) {
            uint32_t k1 = s->ord1[next_row];
            float bound = s->a1[k1] + top2;
            if (s->n_front > 0 && bound < s->front[0].key) break;
            if (bound + slack < ss->thr) {
                next_row = k; /* no unopened row can contribute */
                break;
            }
            open_row(idx, s, next_row, k1);
            uint32_t j = next_in_row(s, next_row, 0);
            if (j < k) front_push(s, (frontier_entry){s->a1[k1] + s->a2[s->ord2[j]], next_row, j});
            next_row++;
        }
        if (s->n_front == 0) return 1;
        frontier_entry top = s->front[0];
        if (top.key + slack < ss->thr) return 1; /* nothing left can enter */
        if (budget && ss->st.items >= budget) return 0;
        if (mode == WALK_MARK && s->n_visits == s->cap_visits) return 0;
        uint32_t k1 = s->ord1[top.i], k2 = s->ord2[top.j];
        uint32_t j = next_in_row(s, top.i, top.j + 1);
        if (j < k) {
            frontier_entry next = {s->a1[k1] + s->a2[s->ord2[j]], top.i, j};
            front_replace_top(s, &next);
        } else {
            front_replace_top(s, NULL);
        }
        ss->st.walked++;
        uint32_t ci = cell_index(idx, k1, k2);
        const struct rs_midx_cell *cell = &idx->cells[ci];
        float base = s->s1[k1] + s->s2[k2] + ss->margin;
        if (base + ss->u1n * cell->r1 + ss->u2n * cell->r2 < ss->thr) continue;
        if (mode == WALK_POOL) {
            s->pool[s->n_pool++] = (struct pooled_cell){0, ci, base};
            ss->st.items += cell->end - cell->beg;
            continue;
        }
        ss->st.cells++;
        if (mode == WALK_MARK) {
            s->visited[ci / 64] |= 1ull << (ci % 64);
            s->visit_list[s->n_visits++] = ci;
        }
        scan_cell(ss, cell->beg, cell->end, base);
    }
}

/* Scans every non-empty cell the walk did not, in memory order, whose bound
 * reaches the N-th best: rows by their best cell first, then each cell on
 * its own bound. Only the N-th best rises meanwhile, so no cell that could
 * hold a top-N item is passed over. */
static void sweep(search_state *ss)
{
    const rs_midx *idx = ss->idx;
    rs_midx_scratch *s = ss->s;
    float best2 = -INFINITY;
    for (uint32_t k2 = 0; k2 < idx->k; k2++)
        best2 = RS_MAX(best2, s->s2[k2] + ss->u2n * idx->r2max[k2]);
    for (uint32_t k1 = 0; k1 < idx->k; k1++) {
        float row_base = s->s1[k1] + ss->margin;
        if (row_base + ss->u1n * idx->r1max[k1] + best2 < ss->thr) continue;
        for (uint32_t ci = idx->row_first[k1]; ci < idx->row_first[k1 + 1]; ci++) {
            const struct rs_midx_cell *cell = &idx->cells[ci];
            float base = row_base + s->s2[idx->cell_k2[ci]];
            if (base + ss->u1n * cell->r1 + ss->u2n * cell->r2 < ss->thr) continue;
            if (s->visited[ci / 64] >> (ci % 64) & 1) continue;
            ss->st.cells++;
            scan_cell(ss, cell->beg, cell->end, base);
        }
    }
}

static int cmp_pooled(const void *a, const void *b)
{
    const struct pooled_cell *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return x->cell < y->cell ? -1 : x->cell > y->cell;
}

/* Approximate search: collects POOL_FACTOR times the budget in cells by the
 * separable order, reorders them by the query's score of each cell's mean
 * item plus a share of the cell's residual bound, and scans them in that
 * order until the budget is spent. Returns 1 when every cell was pooled and
 * scanned (the answer is then exact). A filtered query walks without the
 * pool: its budget counts allowed items, which the pool cannot know before
 * it scans. */
static int pooled_search(search_state *ss, uint64_t budget)
{
    const rs_midx *idx = ss->idx;
    rs_midx_scratch *s = ss->s;
    if (ss->filtered) return walk(ss, budget, WALK_SCAN);
    s->n_pool = 0;
    int all_pooled = walk(ss, POOL_FACTOR * budget, WALK_POOL);
    for (uint32_t i = 0; i < s->n_pool; i++) {
        const struct rs_midx_cell *cell = &idx->cells[s->pool[i].cell];
        s->pool[i].key = rs_compact_estimate(&idx->cell_mean, &ss->cq, s->pool[i].cell) +
                         POOL_RESIDUAL_WEIGHT * (ss->u1n * cell->r1 + ss->u2n * cell->r2);
    }
    qsort(s->pool, s->n_pool, sizeof(*s->pool), cmp_pooled);
    ss->st.items = 0;
    uint32_t i = 0;
    for (; i < s->n_pool && ss->st.items < budget; i++) {
        const struct rs_midx_cell *cell = &idx->cells[s->pool[i].cell];
        if (s->pool[i].base + ss->u1n * cell->r1 + ss->u2n * cell->r2 < ss->thr) continue;
        ss->st.cells++;
        scan_cell(ss, cell->beg, cell->end, s->pool[i].base);
    }
    return all_pooled && i == s->n_pool;
}

int rs_midx_search(const rs_midx *idx, rs_midx_scratch *s, const rs_midx_query *q, rs_scored *out,
                   uint32_t *n_out, rs_midx_stats *stats, rs_error *err)
{
    if (query_check(idx, s, q, out, n_out, err) != 0) return -1;
    *n_out = 0;
    if (stats) *stats = (rs_midx_stats){.exact = 1};
    if (q->top_n == 0) return 0;

    search_state ss = {.idx = idx, .s = s, .q = q, .thr = -INFINITY};
    const float *u = q->u;
    ss.u1n = vec_norm(u, idx->d1);
    ss.u2n = vec_norm(u + idx->d1, idx->d2);
    float un = norm_up((double)ss.u1n * ss.u1n + (double)ss.u2n * ss.u2n);
    ss.margin = query_margin(idx, un);
    if (!isfinite(ss.margin) ||
        rs_compact_query_init(&idx->compact, u, ss.margin, s->qcode, &ss.cq, err) != 0)
        return rs_fail(err, "midx: the query vector is not finite or too large");
    ss.filtered = q->exclude && q->exclude->allow;

    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)idx->k, (int)idx->d1, 1.0f, idx->c1, (int)idx->d1,
                u, 1, 0.0f, s->s1, 1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)idx->k, (int)idx->d2, 1.0f, idx->c2, (int)idx->d2,
                u + idx->d1, 1, 0.0f, s->s2, 1);
    rs_topk_init(&ss.tk, out, q->top_n);
    if (q->budget) {
        ss.st.exact = pooled_search(&ss, q->budget);
    } else {
        s->n_visits = 0;
        if (!walk(&ss, SEED_ITEMS(q->top_n), WALK_MARK)) sweep(&ss);
        for (uint32_t v = 0; v < s->n_visits; v++) s->visited[s->visit_list[v] / 64] = 0;
        ss.st.exact = 1;
    }
    *n_out = rs_topk_sorted(&ss.tk);
    if (stats) *stats = ss.st;
    return 0;
}

/* ----------------------------------------------------------- brute force */

int rs_brute_topn(const float *items, uint32_t n, uint32_t d, const float *u, uint32_t top_n,
                  const rs_exclude *exclude, float *scores, rs_scored *out, uint32_t *n_out,
                  rs_error *err)
{
    if (!items || !u || !scores || !n_out || (top_n && !out) || n == 0 || d == 0)
        return rs_fail(err, "brute force: bad argument");
    if (rs_exclude_check(exclude, err) != 0) return -1;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)d, 1.0f, items, (int)d, u, 1, 0.0f,
                scores, 1);
    rs_topk tk;
    rs_topk_init(&tk, out, top_n);
    for (uint32_t i = 0; i < n; i++) offer(&tk, exclude, scores[i], i);
    *n_out = rs_topk_sorted(&tk);
    return 0;
}

int rs_midx_brute(const rs_midx *idx, rs_midx_scratch *s, const rs_midx_query *q, rs_scored *out,
                  uint32_t *n_out, rs_error *err)
{
    if (query_check(idx, s, q, out, n_out, err) != 0) return -1;
    *n_out = 0;
    if (q->top_n == 0) return 0;
    const uint32_t n = idx->n, d = idx->d;
    if (s->cap_brute < n) {
        float *b = rs_malloc(n, sizeof(float), err);
        if (!b) return rs_error_prefix(err, "midx brute force");
        free(s->brute);
        s->brute = b;
        s->cap_brute = n;
    }
    float un = vec_norm(q->u, d);
    float margin = query_margin(idx, un);
    if (!isfinite(margin)) return rs_fail(err, "midx: the query vector is not finite or too large");
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)d, 1.0f, idx->vectors, (int)d, q->u, 1,
                0.0f, s->brute, 1);
    rs_topk tk;
    rs_topk_init(&tk, out, q->top_n);
    for (uint32_t p = 0; p < n; p++) offer(&tk, q->exclude, s->brute[p], idx->ids[p]);
    /* Anything whose kernel score could reach the N-th best lies within two
     * margins of the BLAS N-th best: rescore those with the search kernel. */
    float cut = rs_topk_threshold(&tk) - 2.0f * margin;
    rs_topk_init(&tk, out, q->top_n);
    for (uint32_t p = 0; p < n; p++) {
        if (s->brute[p] < cut) continue;
        float sc = rs_midx_dot(q->u, idx->vectors + (size_t)p * d, d);
        offer(&tk, q->exclude, sc, idx->ids[p]);
    }
    *n_out = rs_topk_sorted(&tk);
    return 0;
}
