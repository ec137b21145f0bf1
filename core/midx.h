/* midx.h - maximum-inner-product top-N retrieval over an inverted multi-index
 * (the serving side of pq.h), plus the brute-force reference.
 *
 * An rs_midx is a read-only view of the index arrays: borrowed from an rs_pq
 * (rs_midx_from_pq) or mapped zero-copy from a store snapshot
 * (rs_midx_load, midx_store.h). Any number of threads may search one rs_midx at once, each
 * with its own rs_midx_scratch. The rs_pq or snapshot must outlive the view.
 *
 * Search: for u = [u1; u2], s1 = C1 u1 and s2 = C2 u2; every item of cell
 * (k1, k2) scores at most s1[k1] + s2[k2] + ||u1|| R1 + ||u2|| R2 (R1, R2 the
 * largest half-residual norms in the cell). Cells are visited in descending
 * order of a separable estimate without sorting the k*k cells. An item is
 * scored in float32 only when its own bounds (half-residual norms, then its
 * int8 code's, compact.h) still reach the N-th best score. A budget stops
 * the walk after that many items: approximate search. Exact search walks a
 * small budget first for a good N-th best score, then sweeps every
 * non-empty cell in memory order and scans those whose bound reaches it:
 * the result is exactly the brute-force top-N, ties broken by the smaller
 * item id (as in topk.h), with scores bit-identical to those of
 * rs_midx_brute.
 */
#ifndef RS_MIDX_H
#define RS_MIDX_H

#include <stdint.h>

#include "common.h"
#include "compact.h"
#include "exclude.h"
#include "pq.h"
#include "topk.h"

typedef struct rs_midx {
    uint32_t n, d, d1, d2, k, n_cells;
    const float *c1, *c2;           /* k x d1, k x d2 codebooks */
    const uint32_t *offsets;        /* n_cells + 1, cell c = positions [offsets[c], offsets[c+1]) */
    const uint32_t *ids;            /* n: position -> item id */
    const uint32_t *pos;            /* n: item id -> position */
    const float *vectors;           /* n x d, by position */
    const float *res1, *res2;       /* n, by position: half-residual norms */
    const float *cell_r1, *cell_r2; /* n_cells: cell maxima of res1, res2 */
    const float *r1max, *r2max;     /* k: maxima of res1 by k1, of res2 by k2 */
    uint32_t max_cell;              /* largest cell size */
    float norm_bound;               /* >= every item, centroid and residual norm */
    /* Derived on creation (owned by the view): the non-empty cells in a
     * compact form, so a search touches one cache line per visited cell. */
    uint32_t row_words;  /* 64-bit words per row of `nonempty` */
    uint32_t n_nonempty; /* cells holding at least one item */
    uint64_t *nonempty;  /* k rows of bits: bit k2 of row k1 = cell not empty */
    uint32_t *word_rank; /* per bitmap word: non-empty cells before it */
    uint32_t *row_first; /* k + 1: row k1's cells are cells[row_first[k1] ..) */
    uint16_t *cell_k2;   /* n_nonempty: second code of each non-empty cell */
    struct rs_midx_cell {
        uint32_t beg, end; /* positions */
        float r1, r2;      /* cell_r1, cell_r2 */
    } * cells;             /* n_nonempty, in cell order */
    rs_compact compact;    /* int8 codes of `vectors`, by position (compact.h; no head stage) */
    rs_compact cell_mean;  /* n_nonempty rows: int8 codes of each non-empty cell's mean item */
    void *owned;           /* other memory this view allocated */
} rs_midx;

/* A view of pq (which must outlive it). Allocates the id -> position table
 * and the compact cell tables (k*k/8 + k*k/16 bytes, 18 bytes per non-empty
 * cell), int8 codes of each non-empty cell's mean item, and int8 codes of the
 * vectors (compact.h: d rounded up to 32, plus 8 bytes, per item), which a
 * search reads before it reads a vector. */
int rs_midx_from_pq(const rs_pq *pq, rs_midx *idx, rs_error *err);
/* Bytes the view allocated itself: positions, cell tables, the cells' mean
 * items and the items' int8 codes. */
size_t rs_midx_view_bytes(const rs_midx *idx);
/* Frees what the view allocated; the arrays it points to are not touched. */
void rs_midx_release(rs_midx *idx);

/* Recomputes and checks every invariant the exactness proof relies on
 * (cell order, permutation, residual bounds) in O(n d). Slow; for tests and
 * `verify` loads. */
int rs_midx_check(const rs_midx *idx, rs_error *err);

/* For code that fills an rs_midx's arrays itself (rs_midx_load): checks them
 * (rs_midx_check when verify is set, else the O(n + k*k) structure checks:
 * offsets, permutation, finite bounds) and builds the derived tables. On
 * failure the caller releases idx with rs_midx_release. */
int rs_midx_finish(rs_midx *idx, int verify, rs_error *err);

/* --- Queries ------------------------------------------------------------ */

/* Exclusions and filters: exclude.h. A search checks the allow bitmap before
 * scoring an item, and the cell bounds stay valid for the items that pass: a
 * filtered exact search is the exact top-N among the allowed items. */

typedef struct rs_midx_query {
    const float *u;            /* d floats */
    uint32_t top_n;            /* results wanted (out must hold this many) */
    const rs_exclude *exclude; /* may be NULL */
    uint64_t budget;           /* 0 = exact; else examine about this many items, then stop (items an
                                  allow bitmap filters out do not count) */
} rs_midx_query;

typedef struct rs_midx_stats {
    uint64_t walked; /* cells taken from the frontier, empty ones included */
    uint64_t cells;  /* non-empty cells whose items were examined */
    uint64_t items;  /* items examined (bound checked) */
    uint64_t scored; /* items whose full inner product was computed */
    int exact;       /* 1 when the result is proven to be the exact top-N */
} rs_midx_stats;

typedef struct rs_midx_scratch rs_midx_scratch;

/* Per-thread working memory for queries on idx (or any index with the same
 * k, d, n and number of non-empty cells). */
int rs_midx_scratch_new(const rs_midx *idx, rs_midx_scratch **out, rs_error *err);
void rs_midx_scratch_free(rs_midx_scratch *s);

/* Top-N of u . q_i over the non-excluded items, best first, into out
 * (q->top_n entries); *n_out = min(top_n, items left). stats may be NULL. */
int rs_midx_search(const rs_midx *idx, rs_midx_scratch *s, const rs_midx_query *q, rs_scored *out,
                   uint32_t *n_out, rs_midx_stats *stats, rs_error *err);

/* The same result by scoring every item (sgemv, then candidates within the
 * rounding margin of the N-th score are rescored with the search kernel so
 * the scores match rs_midx_search exactly). q->budget is ignored. */
int rs_midx_brute(const rs_midx *idx, rs_midx_scratch *s, const rs_midx_query *q, rs_scored *out,
                  uint32_t *n_out, rs_error *err);

/* Plain brute force over an n x d matrix (row i = item i): sgemv + topk.
 * Its scores may differ from rs_midx_dot in the last bits (BLAS sums in
 * another order), so near-ties can rank differently; use rs_midx_brute to
 * check a search bit for bit. scores must hold n floats. */
int rs_brute_topn(const float *items, uint32_t n, uint32_t d, const float *u, uint32_t top_n,
                  const rs_exclude *exclude, float *scores, rs_scored *out, uint32_t *n_out,
                  rs_error *err);

/* The rounding margin of a query of norm u_norm against vectors of norm at
 * most norm_bound in d dimensions, (4d + 32) 2^-24 u_norm norm_bound: it
 * covers every difference between float evaluations of a score (this
 * kernel, BLAS) and between them and the real inner product, and the
 * rounding of the bounds (midx.c, compact.h). */
float rs_midx_margin(uint32_t d, double u_norm, double norm_bound);

/* The inner product the search uses (bit-identical results wherever it is
 * called). */
float rs_midx_dot(const float *a, const float *b, uint32_t d);

#endif
