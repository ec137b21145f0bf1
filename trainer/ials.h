/* ials.h - implicit alternating least squares (Hu, Koren, Volinsky 2008) in
 * the parameterisation of Rendle et al. 2021 ("Revisiting the Performance
 * of iALS on Item Recommendation Benchmarks"), solved exactly with the
 * Gramian trick.
 *
 * Objective, for binary interactions S (users x items), user factors w_u,
 * item factors h_i (K each) and ŷ_ui = w_u·h_i:
 *
 *   L = Σ_{(u,i)∈S} (ŷ_ui − 1)² + α0 Σ_u Σ_i ŷ_ui²
 *       + λ Σ_u (|I_u| + α0 |I|)^ν ‖w_u‖² + λ Σ_i (|U_i| + α0 |U|)^ν ‖h_i‖²
 *
 * α0 is the weight of every (user, item) pair in the "all zeros" term
 * (unobserved_weight), λ the regularisation, ν the frequency exponent
 * (ν = 0: plain λ; ν = 1: Rendle's frequency-scaled regulariser). Fixing
 * the items, each user's factor is the exact minimiser
 *
 *   w_u = (α0 HᵀH + Σ_{i∈I_u} h_i h_iᵀ + λ_u I)⁻¹ Σ_{i∈I_u} h_i,
 *
 * with HᵀH (K x K) computed once per half-step: the Gramian trick turns
 * the O(|I| K²) per user into O(|I_u| K² + K³). Items likewise.
 *
 * Weighted interactions (rs_csr values, ProRec's soft labels) replace the
 * target 1 of each observed pair by its weight y_ui: the observed term is
 * Σ (ŷ_ui − y_ui)² and the right-hand side Σ y_ui h_i; weight 1 is the
 * binary objective, bit for bit.
 *
 * Relation to Hu et al.: their confidence c = 1 + α on observed pairs,
 * weight 1 elsewhere and target 1 is this objective with α0 = 1/α up to a
 * rescaling of the target (observed pairs here weigh 1 + α0 against α0 and
 * aim at 1/(1 + α0)), which only rescales the factors and λ; the rankings
 * at the optimum are the same. A --alpha A (confidence) option therefore
 * maps to unobserved_weight = 1/A.
 *
 * Threads: OpenMP over users (then items); each row's solve depends only
 * on the fixed side, so results are identical for any thread count.
 * Determinism: initial factors N(0, σ²/K) from per-row streams of the seed.
 */
#ifndef RS_IALS_H
#define RS_IALS_H

#include <stdint.h>

#include "common.h"
#include "dataset.h"

typedef struct rs_ials_options {
    uint32_t factors;        /* K, 1..RS_LINALG_MAX_K */
    float reg;               /* λ > 0 */
    float unobserved_weight; /* α0 > 0 */
    float reg_exponent;      /* ν */
    float init_stddev;       /* σ: initial factors N(0, σ²/K) */
    int epochs;              /* user + item half-step pairs */
    uint64_t seed;
} rs_ials_options;

/* K 64, λ 0.003, α0 0.1, ν 1, σ 0.1, 16 epochs, seed 2026. */
void rs_ials_options_default(rs_ials_options *o);

typedef struct rs_ials {
    uint32_t n_users, n_items, k;
    float reg, unobserved_weight, reg_exponent;
    float *user_factors; /* n_users x k */
    float *item_factors; /* n_items x k */
} rs_ials;

/* Allocates and initialises the factors for train's shape. */
int rs_ials_init(const rs_csr *train, const rs_ials_options *o, rs_ials *out, rs_error *err);
void rs_ials_free(rs_ials *m);

/* One exact half-step: every user (rows of train, users x items), or every
 * item (rows of by_item = trainᵀ), solved with the other side fixed. */
int rs_ials_update_users(rs_ials *m, const rs_csr *train, rs_error *err);
int rs_ials_update_items(rs_ials *m, const rs_csr *by_item, rs_error *err);

/* init, then `epochs` user + item half-steps, then a final user half-step
 * so that every stored user factor is exactly the fold-in of that user's
 * history onto the final item factors. progress (may be NULL) is called
 * after each epoch. */
typedef void (*rs_ials_progress)(void *ctx, int epoch, const rs_ials *m);
int rs_ials_fit(const rs_csr *train, const rs_ials_options *o, rs_ials_progress progress, void *ctx,
                rs_ials *out, rs_error *err);

/* L above (double accumulation). O(nnz K + (|U| + |I|) K²). */
double rs_ials_objective(const rs_ials *m, const rs_csr *train);

/* λ (n + α0 n_other)^ν: the ridge of a row with n interactions whose other
 * side has n_other rows. */
float rs_ials_row_reg(const rs_ials *m, uint32_t n, uint32_t n_other);

/* A history's user factor at request time: the user half-step's solve
 * (linalg.h rs_foldin with w0 = α0, w1 = 1, reg = rs_ials_row_reg) against
 * item_gram = HᵀH (rs_gram of item_factors, precomputed at load).
 * workspace: rs_foldin_workspace_floats(k) floats. Cost: see rs_foldin. */
int rs_ials_foldin(const rs_ials *m, const float *item_gram, const uint32_t *history, uint32_t n,
                   float *out, float *workspace, rs_error *err);

/* rs_ials_foldin of rows users[0..count) of histories (users NULL: rows
 * 0..count) into the rows of out (count x k), OpenMP over the rows. */
int rs_ials_foldin_rows(const rs_ials *m, const float *item_gram, const rs_csr *histories,
                        const uint32_t *users, uint32_t count, float *out, rs_error *err);

#endif
