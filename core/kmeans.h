/* kmeans.h - K-means clustering of dense float rows (k-means++ seeding, Lloyd
 * iterations, squared Euclidean distance).
 *
 * Owns no memory between calls: the caller provides the centroid and
 * assignment arrays, everything else is allocated and released inside a call.
 * Results are reproducible for a given seed (randomness comes from rng.h only;
 * distances come from OpenBLAS sgemm, whose results do not depend on the
 * thread count because each output element is one dot product).
 */
#ifndef RS_KMEANS_H
#define RS_KMEANS_H

#include <stdint.h>

#include "common.h"

typedef struct rs_kmeans_options {
    uint32_t max_iter;  /* Lloyd iterations at most (default 20) */
    double tol;         /* stop when the objective falls by less than tol * objective
                           in one iteration (default 1e-4); 0 runs until no row moves */
    uint32_t max_train; /* train on a random subset of this many rows when n is larger,
                           then assign every row (default 0 = use all rows) */
    uint64_t seed;      /* seeding and subsampling stream (default 1) */
    uint32_t stride;    /* floats from one row start to the next (default 0 = d), so
                           a column block of a wider matrix can be clustered in place */
} rs_kmeans_options;

/* What a run did (all optional for the caller). */
typedef struct rs_kmeans_info {
    uint32_t iterations; /* Lloyd iterations run */
    uint32_t reseeded;   /* empty clusters re-seeded over the whole run */
    uint32_t empty;      /* clusters with no row in the final assignment */
    double objective;    /* sum over all n rows of the squared distance to their centroid */
} rs_kmeans_info;

rs_kmeans_options rs_kmeans_defaults(void);

/* Clusters the n x d row-major matrix x (row stride o->stride) into k
 * clusters (1 <= k <= n).
 * centroids receives k x d floats, assign (may be NULL) n cluster indices,
 * info (may be NULL) statistics. o NULL means defaults. Rows must be finite.
 * Empty clusters met during Lloyd iterations are re-seeded at the rows
 * farthest from their centroids. Returns 0, or -1 with err filled. */
int rs_kmeans(const float *x, uint32_t n, uint32_t d, uint32_t k, const rs_kmeans_options *o,
              float *centroids, uint32_t *assign, rs_kmeans_info *info, rs_error *err);

/* Nearest centroid (k x d, contiguous) of every row of x (n rows of d floats,
 * row i at x + i * stride; stride 0 means d). Ties go to the smaller index.
 * dist2 (may be NULL) receives the squared distances, clamped at 0.
 * Returns 0 or -1. */
int rs_kmeans_assign(const float *x, uint32_t n, uint32_t d, uint32_t stride,
                     const float *centroids, uint32_t k, uint32_t *assign, float *dist2,
                     rs_error *err);

#endif
