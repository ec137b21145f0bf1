/* pq.h - the MIDX decomposition of an item matrix: two-codebook product
 * quantisation with items grouped by cell.
 *
 * Item vector q (d floats) is split into q1 = q[0, d1) and q2 = q[d1, d),
 * d1 = ceil(d / 2). Each half is clustered by K-means into k codewords
 * (codebooks c1: k x d1, c2: k x d2). Item i falls in cell (k1, k2), numbered
 * k1 * k + k2, and its residual is r_i = q_i - [c1[k1]; c2[k2]]. Items are
 * stored in cell order ("positions"): the items of cell c occupy positions
 * offsets[c] .. offsets[c+1) (ascending item id inside a cell), so a cell's
 * vectors are contiguous rows of `vectors`.
 *
 * Ownership: rs_pq_build allocates every array of the struct; rs_pq_free
 * releases them. Nothing points into the caller's input.
 *
 * Footprint: 4*d + 16 bytes per item (vectors, ids, code, res1, res2),
 * 16 bytes per cell (offsets, cell_r, cell_r1, cell_r2; k*k cells) and
 * 4*k*(d + 2) bytes of codebooks and per-codeword maxima. rs_pq_bytes()
 * returns the total.
 */
#ifndef RS_PQ_H
#define RS_PQ_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "kmeans.h"

#define RS_PQ_MAX_K 4096u /* codewords per codebook; k*k cells must fit uint32 */

typedef struct rs_pq_options {
    uint32_t k;               /* codewords per codebook (clamped to n); default 16 */
    rs_kmeans_options kmeans; /* half 2 uses kmeans.seed + 1 */
} rs_pq_options;

typedef struct rs_pq {
    uint32_t n;        /* items */
    uint32_t d;        /* dimension */
    uint32_t d1, d2;   /* d1 = ceil(d/2), d2 = d - d1 */
    uint32_t k;        /* codewords per codebook */
    uint32_t n_cells;  /* k * k */
    float *c1;         /* k x d1 first-half codebook */
    float *c2;         /* k x d2 second-half codebook */
    uint32_t *code;    /* n, by item id: cell = k1 * k + k2 */
    uint32_t *offsets; /* n_cells + 1: cell c holds positions [offsets[c], offsets[c+1]) */
    uint32_t *ids;     /* n, by position: the item id stored there */
    float *vectors;    /* n x d, by position: the item vectors in cell order */
    float *res1;       /* n, by position: ||q1 - c1[k1]|| (rounded up) */
    float *res2;       /* n, by position: ||q2 - c2[k2]|| (rounded up) */
    float *cell_r;     /* n_cells: max over the cell of ||r_i|| (0 when empty) */
    float *cell_r1;    /* n_cells: max over the cell of res1 */
    float *cell_r2;    /* n_cells: max over the cell of res2 */
    float *r1max;      /* k: max of res1 over items with first code k1 (any k2) */
    float *r2max;      /* k: max of res2 over items with second code k2 */
} rs_pq;

rs_pq_options rs_pq_defaults(void);

/* Builds the decomposition of the n x d item matrix q (row i = item i;
 * n >= 1, d >= 2, finite values). On failure *pq is left zeroed. */
int rs_pq_build(const float *q, uint32_t n, uint32_t d, const rs_pq_options *o, rs_pq *pq,
                rs_error *err);
void rs_pq_free(rs_pq *pq);

/* Total bytes owned by pq. */
size_t rs_pq_bytes(const rs_pq *pq);

/* Cell coordinates of a cell number. */
static inline uint32_t rs_pq_k1(const rs_pq *pq, uint32_t cell)
{
    return cell / pq->k;
}
static inline uint32_t rs_pq_k2(const rs_pq *pq, uint32_t cell)
{
    return cell % pq->k;
}

/* Writes the residual r = q - [c1[k1]; c2[k2]] of the item at position pos
 * (d floats). */
void rs_pq_residual(const rs_pq *pq, uint32_t pos, float *out);

#endif
