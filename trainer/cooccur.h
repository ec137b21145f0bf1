/* cooccur.h - sparse item-item similarity from co-occurrence, the ground
 * cost of SinkhornCF's transport loss (C = 1 - S).
 *
 * Owns the shrunk cosine between the item columns of a binary training
 * matrix X (users x items):
 *
 *   S_ij = <x_i, x_j> / (|x_i| |x_j| + shrink) = n_ij / (sqrt(n_i n_j) + shrink)
 *
 * n_ij the number of users with both items, n_i the users with item i. The
 * shrink term (50, as in the paper's code) damps similarities resting on
 * few users. Only the `neighbours` most similar items of each item are
 * kept; every other pair has S = 0, i.e. cost 1, the largest cost there is.
 * The diagonal is not stored: S_ii is defined as 1 (cost 0), because a
 * transport cost must be zero from an item to itself, and the shrunk
 * formula would otherwise make a rarely seen item costlier to "move" onto
 * itself (n_i / (n_i + 50), near 0 for small n_i) than onto a popular
 * neighbour.
 *
 * Rows are truncated independently, so the stored matrix need not be
 * symmetric: C(i, j) is read from row i. SinkhornCF reads rows of the
 * user's items (I1) and columns of the model's top-k (Ik).
 *
 * Build: the item-major transpose of X (items -> users), then for each item
 * i, in parallel over items, a count accumulation over the rows of its
 * users (n_ij for every co-rated j), a top-`neighbours` selection
 * (core/topk.h, ties to the smaller id) and a sort by id. Work is
 * sum_u n_u^2 increments; memory is the transpose (4 bytes per
 * interaction), per thread two n_items arrays, and the result: 8 bytes
 * (uint32 id + float similarity) per kept pair. Each row depends only on X,
 * so the result is the same for any thread count.
 */
#ifndef RS_COOCCUR_H
#define RS_COOCCUR_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "dataset.h"

/* Default neighbours per item. SinkhornCF moves mass from a user's items to
 * the model's top k = 200: a pair is only looked up when j is among the
 * 200 items the model ranks highest, which are mostly items similar to the
 * user's. Keeping 200 neighbours per row keeps every pair that could fill a
 * whole top-200 for a single-item user; pairs beyond the 200th neighbour
 * have small S on real data (see the report of the build harness,
 * bench/cooccur.c) and are read as cost 1. */
#define RS_COOCCUR_NEIGHBOURS 200
#define RS_COOCCUR_SHRINK     50.0

typedef struct rs_cooccur_options {
    uint32_t neighbours; /* kept per item, default RS_COOCCUR_NEIGHBOURS */
    double shrink;       /* default RS_COOCCUR_SHRINK; >= 0 */
} rs_cooccur_options;

void rs_cooccur_options_default(rs_cooccur_options *o);

/* Row i's neighbours are ids[indptr[i] .. indptr[i+1]), sorted ascending,
 * never i itself, with S in similarity[] (in (0, 1)). */
typedef struct rs_cooccur {
    uint32_t n_items;
    uint32_t neighbours;
    double shrink;
    uint64_t *indptr; /* n_items + 1 */
    uint32_t *ids;
    float *similarity;
    /* Figures of the build, for the caller to report. */
    double build_seconds;
    uint64_t pair_visits;   /* sum over users of n_u^2 - n_u: the work done */
    float dropped_max;      /* the largest S that truncation dropped (0 if none) */
    uint64_t pairs_dropped; /* co-rated pairs not kept */
} rs_cooccur;

/* Builds the similarity of train's columns. On failure *out is zeroed. */
int rs_cooccur_build(const rs_csr *train, const rs_cooccur_options *o, rs_cooccur *out,
                     rs_error *err);

/* Frees and zeroes (safe on a zeroed struct). */
void rs_cooccur_free(rs_cooccur *c);

/* Bytes held by the stored matrix (indptr, ids, similarity). */
size_t rs_cooccur_bytes(const rs_cooccur *c);

/* S_ij: 1 on the diagonal, the stored value, 0 for a pair not kept
 * (binary search in row i). */
float rs_cooccur_similarity(const rs_cooccur *c, uint32_t i, uint32_t j);

/* C_ij = 1 - S_ij. */
static inline float rs_cooccur_cost(const rs_cooccur *c, uint32_t i, uint32_t j)
{
    return 1.0f - rs_cooccur_similarity(c, i, j);
}

/* Row i of C restricted to a set of n_cols columns: out[col] = C(i, j)
 * for every item j with column_of[j] = col >= 0 (column_of: an n_items
 * array the caller keeps, -1 for items not among the columns; only read).
 * Costs O(n_cols + neighbours of i) instead of a search per entry. */
void rs_cooccur_cost_gather(const rs_cooccur *c, uint32_t i, uint32_t n_cols,
                            const int32_t *column_of, double *out);

#endif
