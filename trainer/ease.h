/* ease.h - EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for
 * Sparse Data"): the closed-form item-item model
 *
 *   B = argmin ‖X − XB‖² + λ‖B‖²  subject to diag(B) = 0
 *     = I − P diagMat(1 / diag(P)),  P = (XᵀX + λI)⁻¹,
 *
 * i.e. B_ij = −P_ij / P_jj for i ≠ j. A history h scores item j as
 * score_j = Σ_{i∈h} B_ij: the sum of the history items' rows of B.
 *
 * Owns the fit (the Gram matrix from the training CSR, the M x M inverse via
 * OpenBLAS's LAPACK), the memory guard that refuses catalogues whose M x M
 * matrices do not fit, top-k sparsification of B's rows and the dense and
 * sparse scoring functions. The model is the dense B (float, M x M) or its
 * sparsified rows.
 *
 * Precision: the Gram counts are exact in float (integers < 2^24); the
 * inverse can be taken in double (default) or float. bench/baselines.c
 * measures both on MovieLens 10M.
 */
#ifndef RS_EASE_H
#define RS_EASE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "dataset.h"
#include "topk.h"

typedef enum rs_ease_precision { RS_EASE_DOUBLE, RS_EASE_FLOAT } rs_ease_precision;

typedef struct rs_ease_options {
    double reg; /* λ > 0 */
    rs_ease_precision precision;
    /* Upper bound on the bytes the fit may hold at once; 0 means the
     * system's available memory (MemAvailable in /proc/meminfo). */
    uint64_t max_memory;
} rs_ease_options;

/* λ = 500, double, bounded by available memory. */
void rs_ease_options_default(rs_ease_options *o);

typedef struct rs_ease {
    uint32_t n_items;
    float *weights; /* n_items x n_items, row i = B_i·, diagonal 0 */
} rs_ease;

/* Peak bytes the fit of an n_items catalogue holds. */
uint64_t rs_ease_bytes_needed(uint32_t n_items, rs_ease_precision precision);

/* 0 when the fit of an n_items catalogue fits the bound, else -1 with the
 * message rs_ease_fit gives (so a caller can refuse before it starts). */
int rs_ease_check_memory(uint32_t n_items, const rs_ease_options *o, rs_error *err);

/* Fits B on the rows of train. Refuses, with a message naming the bytes
 * needed and available, when rs_ease_bytes_needed exceeds the bound. */
int rs_ease_fit(const rs_csr *train, const rs_ease_options *o, rs_ease *out, rs_error *err);
void rs_ease_free(rs_ease *m);

/* scores (n_items) = Σ_{i∈history} B_i·. O(n × n_items). */
void rs_ease_score(const rs_ease *m, const uint32_t *history, uint32_t n, float *scores);

/* B with only k off-diagonal weights of each row kept: the k largest
 * (RS_EASE_KEEP_LARGEST: the items a history item pushes up most) or the k
 * largest in magnitude (RS_EASE_KEEP_MAGNITUDE: pushes and pulls). Scoring
 * sums rows, so the top-k is taken per row. Keep the magnitude: EASE's
 * negative weights are what demote the items a history argues against
 * (popular items near the top, mostly), and dropping them costs more than
 * dropping small positive ones - on MovieLens 10M (λ 500) NDCG@50 is
 * 0.3268 / 0.3301 at k = 100 / 200 by magnitude against 0.3194 / 0.3209
 * by value, dense 0.3322 (bench/baselines.c). Row i's entries are
 * columns[offsets[i] .. offsets[i+1]) with their weights, ranked by the
 * criterion best first (ties to the smaller column); rows keep
 * min(k, n_items − 1) entries. */
typedef enum rs_ease_keep { RS_EASE_KEEP_LARGEST, RS_EASE_KEEP_MAGNITUDE } rs_ease_keep;

typedef struct rs_ease_sparse {
    uint32_t n_items, k;
    uint64_t *offsets; /* n_items + 1 */
    uint32_t *columns;
    float *weights;
} rs_ease_sparse;

int rs_ease_sparsify(const rs_ease *m, uint32_t k, rs_ease_keep keep, rs_ease_sparse *out,
                     rs_error *err);
void rs_ease_sparse_free(rs_ease_sparse *s);

/* scores (n_items) = Σ_{i∈history} of the kept row i, 0 for items no kept
 * row touches. O(n × k) after the O(n_items) clear. */
void rs_ease_sparse_score(const rs_ease_sparse *s, const uint32_t *history, uint32_t n,
                          float *scores);

/* The serving path: the top-`top_n` items by sparse score among the items
 * the history's rows touch, history items excluded. O(n × k) plus a top-N
 * over the touched items; no O(n_items) pass. Items no kept row touches are
 * not candidates, so where rs_ease_sparse_score would rank an untouched
 * item (score 0) above a touched one with a negative sum, this path leaves
 * it out; the two agree whenever top_n touched items score above 0.
 * accumulator (n_items floats) and mark (n_items bytes) must be all zero on
 * entry and are left so; touched holds n_items ids. Returns the count written to out (best first;
 * fewer than top_n when fewer items are touched). */
uint32_t rs_ease_sparse_recommend(const rs_ease_sparse *s, const uint32_t *history, uint32_t n,
                                  uint32_t top_n, float *accumulator, uint8_t *mark,
                                  uint32_t *touched, rs_scored *out);

#endif
