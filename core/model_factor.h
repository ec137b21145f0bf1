/* model_factor.h - the "foldin" encoder of a servable factor model (iALS,
 * GANMF): item factors V (n_items x K), the known users' stored factors
 * (n_users x K, optional) and a least-squares fold-in for any other
 * history (proto/model.md, "Factor models"). Internal to core/model.c.
 *
 * A history h of n distinct items becomes
 *
 *   u = (w0 VᵀV + w1 Σ_{i∈h} v_i v_iᵀ + λ (n + w0 n_items)^ν I)⁻¹ Σ_{i∈h} v_i
 *
 * (linalg.h rs_foldin): w0 = 1, w1 = 0, ν = 0 is the ridge fold-in
 * (VᵀV + λI)⁻¹ Vᵀx; w0 = α0, w1 = 1 is iALS's user half-step, so a known
 * user's stored iALS factor and their stored history folded in here are the
 * same computation. VᵀV is computed once at load (O(n_items K²)).
 *
 * Cost per folded-in request (one core): n K² (rank-n update; 0 when w1 = 0)
 * + K³/3 (Cholesky) + 2K² (solve) + K² (copying the Gram) flops; K = 128 and
 * n = 100: 1.6M + 0.7M ≈ 2.4 Mflop; K = 256, n = 50: ≈ 9 Mflop (about 1 ms
 * at 10 Gflop/s). Workspace K² + 128 K floats per thread; the Gram costs
 * K² floats per loaded version. A known user's stored factor costs a copy.
 */
#ifndef RS_MODEL_FACTOR_H
#define RS_MODEL_FACTOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "store.h"

typedef struct rs_factor_encoder {
    const float *items; /* n_items x k, a view into the snapshot */
    const float *users; /* n_users x k stored factors, or NULL */
    uint32_t n_items, n_users, k;
    float unobserved_weight, observed_weight, reg, reg_exponent;
    float *gram; /* k x k, owned */
} rs_factor_encoder;

/* Reads the one "foldin" layer spec, maps its tensors and computes the
 * Gram. Fails (and leaves nothing owned) on a bad spec or shape. */
int rs_factor_encoder_load(rs_factor_encoder *f, const rs_snapshot *snap, json_t *spec,
                           uint32_t n_items, uint32_t n_users, rs_error *err);
void rs_factor_encoder_free(rs_factor_encoder *f);

size_t rs_factor_encoder_scratch_floats(const rs_factor_encoder *f);

/* The fold-in of n distinct items (indices < n_items) into out (k). */
int rs_factor_encode(const rs_factor_encoder *f, const uint32_t *items, uint32_t n, float *out,
                     float *scratch, rs_error *err);

/* Known user `user`'s stored factor into out; RS_ERR_NOT_FOUND when the
 * model stores none. */
int rs_factor_user(const rs_factor_encoder *f, uint32_t user, float *out, rs_error *err);

#endif
