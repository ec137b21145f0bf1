/* cooccur.c - shrunk-cosine item neighbours from a binary training matrix
 * (see cooccur.h). */
#include "cooccur.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "topk.h"

void rs_cooccur_options_default(rs_cooccur_options *o)
{
    o->neighbours = RS_COOCCUR_NEIGHBOURS;
    o->shrink = RS_COOCCUR_SHRINK;
}

void rs_cooccur_free(rs_cooccur *c)
{
    free(c->indptr);
    free(c->ids);
    free(c->similarity);
    memset(c, 0, sizeof(*c));
}

size_t rs_cooccur_bytes(const rs_cooccur *c)
{
    if (!c->indptr) return 0;
    uint64_t nnz = c->indptr[c->n_items];
    return (size_t)(c->n_items + 1) * sizeof(uint64_t) +
           (size_t)nnz * (sizeof(uint32_t) + sizeof(float));
}

/* The item-major transpose of train: row i lists the users of item i,
 * ascending (users are visited in order). */
static int transpose(const rs_csr *train, rs_csr *out, rs_error *err)
{
    memset(out, 0, sizeof(*out));
    uint64_t nnz = rs_csr_nnz(train);
    out->n_rows = train->n_cols;
    out->n_cols = train->n_rows;
    out->indptr = rs_calloc((size_t)train->n_cols + 1, sizeof(uint64_t), err);
    out->indices = rs_malloc(nnz ? nnz : 1, sizeof(uint32_t), err);
    if (!out->indptr || !out->indices) {
        rs_csr_free(out);
        return -1;
    }
    for (uint64_t e = 0; e < nnz; e++) out->indptr[train->indices[e] + 1]++;
    for (uint32_t i = 0; i < train->n_cols; i++) out->indptr[i + 1] += out->indptr[i];
    uint64_t *fill = rs_malloc((size_t)train->n_cols + 1, sizeof(uint64_t), err);
    if (!fill) {
        rs_csr_free(out);
        return -1;
    }
    memcpy(fill, out->indptr, ((size_t)train->n_cols + 1) * sizeof(uint64_t));
    for (uint32_t u = 0; u < train->n_rows; u++)
        for (uint64_t e = train->indptr[u]; e < train->indptr[u + 1]; e++)
            out->indices[fill[train->indices[e]]++] = u;
    free(fill);
    return 0;
}

/* One thread's scratch: co-occurrence counts over all items (zero between
 * rows), the items touched for the current row, and the top-k heap. */
typedef struct row_scratch {
    uint32_t *count;
    uint32_t *touched;
    rs_scored *heap;
} row_scratch;

typedef struct row_figures {
    float dropped_max;
    uint64_t dropped;
} row_figures;

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const rs_scored *)a)->id, y = ((const rs_scored *)b)->id;
    return (x > y) - (x < y);
}

/* Computes row i into ids/similarity (capacity c->neighbours) and returns
 * its length. */
static uint32_t build_row(const rs_csr *train, const rs_csr *by_item, const rs_cooccur *c,
                          uint32_t i, row_scratch *s, uint32_t *ids, float *similarity,
                          row_figures *fig)
{
    uint32_t n_touched = 0;
    for (uint64_t e = by_item->indptr[i]; e < by_item->indptr[i + 1]; e++) {
        uint32_t u = by_item->indices[e];
        for (uint64_t f = train->indptr[u]; f < train->indptr[u + 1]; f++) {
            uint32_t j = train->indices[f];
            if (s->count[j]++ == 0) s->touched[n_touched++] = j;
        }
    }
    double norm_i = sqrt((double)rs_csr_row_len(by_item, i));
    rs_topk top;
    rs_topk_init(&top, s->heap, c->neighbours);
    for (uint32_t t = 0; t < n_touched; t++) {
        uint32_t j = s->touched[t];
        if (j == i) continue;
        double norm_j = sqrt((double)rs_csr_row_len(by_item, j));
        float sim = (float)(s->count[j] / (norm_i * norm_j + c->shrink));
        if (rs_topk_would_enter(&top, sim, j)) rs_topk_push(&top, sim, j);
    }
    uint32_t kept = top.size;
    qsort(s->heap, kept, sizeof(rs_scored), by_id);
    for (uint32_t t = 0; t < kept; t++) {
        ids[t] = s->heap[t].id;
        similarity[t] = s->heap[t].score;
        s->count[ids[t]] = 0; /* marks "kept" for the dropped scan below */
    }
    s->count[i] = 0;
    for (uint32_t t = 0; t < n_touched; t++) {
        uint32_t j = s->touched[t];
        if (s->count[j] == 0) continue;
        double norm_j = sqrt((double)rs_csr_row_len(by_item, j));
        float sim = (float)(s->count[j] / (norm_i * norm_j + c->shrink));
        if (sim > fig->dropped_max) fig->dropped_max = sim;
        fig->dropped++;
        s->count[j] = 0;
    }
    return kept;
}

static void free_scratch(row_scratch *s, int n)
{
    if (!s) return;
    for (int t = 0; t < n; t++) {
        free(s[t].count);
        free(s[t].touched);
        free(s[t].heap);
    }
    free(s);
}

static row_scratch *alloc_scratch(int n, uint32_t n_items, uint32_t neighbours, rs_error *err)
{
    row_scratch *s = rs_calloc((size_t)n, sizeof(*s), err);
    if (!s) return NULL;
    for (int t = 0; t < n; t++) {
        s[t].count = rs_calloc(n_items ? n_items : 1, sizeof(uint32_t), err);
        s[t].touched = rs_malloc(n_items ? n_items : 1, sizeof(uint32_t), err);
        s[t].heap = rs_malloc(neighbours ? neighbours : 1, sizeof(rs_scored), err);
        if (!s[t].count || !s[t].touched || !s[t].heap) {
            free_scratch(s, n);
            return NULL;
        }
    }
    return s;
}

/* Rows were written at fixed strides of c->neighbours; moves them together
 * (destinations never pass their sources) and gives back the slack. */
static void compact_rows(rs_cooccur *c, const uint32_t *row_len)
{
    c->indptr[0] = 0;
    for (uint32_t i = 0; i < c->n_items; i++) {
        uint64_t from = (uint64_t)i * c->neighbours, to = c->indptr[i];
        memmove(c->ids + to, c->ids + from, row_len[i] * sizeof(uint32_t));
        memmove(c->similarity + to, c->similarity + from, row_len[i] * sizeof(float));
        c->indptr[i + 1] = to + row_len[i];
    }
    uint64_t nnz = c->indptr[c->n_items];
    if (nnz == 0) return;
    /* Shrinking cannot lose data; a refusal just keeps the larger blocks. */
    uint32_t *ids = realloc(c->ids, nnz * sizeof(uint32_t));
    if (ids) c->ids = ids;
    float *sim = realloc(c->similarity, nnz * sizeof(float));
    if (sim) c->similarity = sim;
}

static int check_options(const rs_csr *train, const rs_cooccur_options *o, rs_error *err)
{
    if (o->neighbours == 0) return rs_fail(err, "cooccur: neighbours must be at least 1");
    if (!(o->shrink >= 0.0)) return rs_fail(err, "cooccur: shrink must be >= 0");
    if ((uint64_t)train->n_cols * o->neighbours > SIZE_MAX / sizeof(uint32_t))
        return rs_fail(err, "cooccur: %u items x %u neighbours is too large", train->n_cols,
                       o->neighbours);
    return 0;
}

int rs_cooccur_build(const rs_csr *train, const rs_cooccur_options *o, rs_cooccur *out,
                     rs_error *err)
{
    memset(out, 0, sizeof(*out));
    if (check_options(train, o, err) != 0) return -1;
    double start = rs_now();
    rs_cooccur c = {.n_items = train->n_cols, .neighbours = o->neighbours, .shrink = o->shrink};
    size_t capacity = (size_t)c.n_items * c.neighbours;
    rs_csr by_item = {0};
    int threads = omp_get_max_threads();
    row_scratch *scratch = NULL;
    uint32_t *row_len = rs_malloc(c.n_items ? c.n_items : 1, sizeof(uint32_t), err);
    c.indptr = rs_calloc((size_t)c.n_items + 1, sizeof(uint64_t), err);
    c.ids = rs_malloc(capacity ? capacity : 1, sizeof(uint32_t), err);
    c.similarity = rs_malloc(capacity ? capacity : 1, sizeof(float), err);
    if (!row_len || !c.indptr || !c.ids || !c.similarity || transpose(train, &by_item, err) != 0 ||
        !(scratch = alloc_scratch(threads, c.n_items, c.neighbours, err))) {
        free(row_len);
        rs_csr_free(&by_item);
        rs_cooccur_free(&c);
        return rs_error_prefix(err, "cooccur");
    }
    float dropped_max = 0.0f;
    uint64_t dropped = 0;
#pragma omp parallel for schedule(dynamic, 64) reduction(max : dropped_max) reduction(+ : dropped)
    for (uint32_t i = 0; i < c.n_items; i++) {
        row_figures fig = {0};
        size_t at = (size_t)i * c.neighbours;
        row_len[i] = build_row(train, &by_item, &c, i, &scratch[omp_get_thread_num()], c.ids + at,
                               c.similarity + at, &fig);
        if (fig.dropped_max > dropped_max) dropped_max = fig.dropped_max;
        dropped += fig.dropped;
    }
    compact_rows(&c, row_len);
    for (uint32_t u = 0; u < train->n_rows; u++) {
        uint64_t n = rs_csr_row_len(train, u);
        c.pair_visits += n * n - n;
    }
    c.dropped_max = dropped_max;
    c.pairs_dropped = dropped;
    free_scratch(scratch, threads);
    free(row_len);
    rs_csr_free(&by_item);
    c.build_seconds = rs_now() - start;
    *out = c;
    return 0;
}

float rs_cooccur_similarity(const rs_cooccur *c, uint32_t i, uint32_t j)
{
    if (i == j) return 1.0f;
    uint64_t lo = c->indptr[i], hi = c->indptr[i + 1];
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (c->ids[mid] < j)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->indptr[i + 1] && c->ids[lo] == j ? c->similarity[lo] : 0.0f;
}

void rs_cooccur_cost_gather(const rs_cooccur *c, uint32_t i, uint32_t n_cols,
                            const int32_t *column_of, double *out)
{
    for (uint32_t t = 0; t < n_cols; t++) out[t] = 1.0;
    for (uint64_t e = c->indptr[i]; e < c->indptr[i + 1]; e++) {
        int32_t col = column_of[c->ids[e]];
        if (col >= 0) out[col] = 1.0 - (double)c->similarity[e];
    }
    if (column_of[i] >= 0) out[column_of[i]] = 0.0;
}
