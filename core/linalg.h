/* linalg.h - small dense linear algebra shared by the trainer and the server:
 * Gram matrices, Cholesky solves of K x K symmetric positive definite
 * systems (K <= RS_LINALG_MAX_K), and the least-squares fold-in of a
 * history onto fixed item factors.
 *
 * Precision: float throughout, factored by OpenBLAS's LAPACK (spotrf_,
 * spotrs_). The systems solved here always carry a ridge term (lambda I with
 * lambda > 0 on top of a positive semi-definite Gram), so their condition
 * number is bounded by (largest Gram eigenvalue + lambda) / lambda; with the
 * regularisations used in practice that is < 1e5 and float's 6e-8 unit
 * roundoff leaves > 3 correct digits in the solution - more than ranking
 * needs - at half the memory traffic and twice the SIMD width of double.
 * tests/unit/test_linalg.c checks the solve against a double elimination.
 *
 * Layout: row-major; factors are n x K with row r the factor of entity r.
 * Gram matrices are stored full (both triangles).
 *
 * Threads: every function here may be called from inside an OpenMP parallel
 * region; OpenBLAS (OpenMP build) then runs single-threaded in that thread.
 */
#ifndef RS_LINALG_H
#define RS_LINALG_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define RS_LINALG_MAX_K 1024

/* gram (k x k, full) = factorsᵀ factors for factors n x k, via cblas_ssyrk
 * and a mirror of the triangle. O(n k²) flops. */
void rs_gram(const float *factors, uint64_t n, uint32_t k, float *gram);

/* In-place Cholesky factorisation of the symmetric k x k matrix a (only the
 * row-major upper triangle is read; the row-major upper triangle receives the
 * factor). Fails when a is not positive definite. O(k³/3) flops. */
int rs_cholesky_factor(float *a, uint32_t k, rs_error *err);

/* Eigen decomposition of the symmetric k x k matrix a (both triangles
 * set): values ascending into values (k), and row i of a becomes the unit
 * eigenvector of values[i]. */
int rs_symmetric_eigen(float *a, uint32_t k, float *values, rs_error *err);

/* Solves a x = b in place (b becomes x) with a factored by
 * rs_cholesky_factor. O(2 k²) flops. */
void rs_cholesky_solve(const float *factor, uint32_t k, float *b);

/* The weighted least-squares solution for one history h (indices into the
 * rows of factors):
 *
 *   u = (w0 gram + w1 Σ_{i∈h} v_i v_iᵀ + reg I)⁻¹ Σ_{i∈h} v_i
 *
 * gram = factorsᵀ factors over all rows, precomputed once (rs_gram).
 * w0 = 1, w1 = 0 is the ridge fold-in u = (VᵀV + λI)⁻¹ Vᵀx of a binary
 * history x; w0 = α0 (the unobserved weight), w1 = 1 is one iALS half-step
 * (trainer/ials.h), so a known user's stored factor and the same history
 * folded in at request time are the same computation.
 *
 * Cost per call: n k² (rank-n update, ssyrk in chunks of RS_FOLDIN_CHUNK
 * gathered rows; skipped when w1 = 0) + k³/3 (Cholesky) + 2k² (solve) + n k
 * (gather and right-hand side) + k² (copying the Gram) flops. For k = 256
 * and a 50-item history: 3.3M + 5.6M + 0.2M ≈ 9 Mflop, about 1 ms on one
 * core at a sustained 10 Gflop/s; the Cholesky term dominates for histories
 * shorter than k/3.
 *
 * workspace holds rs_foldin_workspace_floats(k) floats (one per thread). */
#define RS_FOLDIN_CHUNK 128
typedef struct rs_foldin_weights {
    float unobserved; /* w0 */
    float observed;   /* w1 */
    float reg;        /* must be > 0 */
} rs_foldin_weights;

size_t rs_foldin_workspace_floats(uint32_t k);
int rs_foldin(const float *factors, uint32_t k, const float *gram, const uint32_t *history,
              uint32_t n, const rs_foldin_weights *w, float *out, float *workspace, rs_error *err);
/* rs_foldin with a target per history item (targets NULL: all 1): the
 * right-hand side is sum_j targets[j] v_j, the least-squares fit of soft
 * labels (ProRec) instead of ones. */
int rs_foldin_targets(const float *factors, uint32_t k, const float *gram, const uint32_t *history,
                      const float *targets, uint32_t n, const rs_foldin_weights *w, float *out,
                      float *workspace, rs_error *err);

#endif
