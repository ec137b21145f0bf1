/* prorec.h - ProRec (partial relaxed optimal transport for denoised
 * recommendation): which observed interactions a trained model's own
 * user-item matching says are noise, and the soft labels that replace them.
 *
 * With scores S = U Vᵀ (cost -S), user popularity q (q_u = n_u / nnz) and
 * item popularity p (p_i = c_i / nnz), the relaxed OT plan has the closed
 * forms
 *
 *   πV[u,i] = q_u softmax_i(S[u,:] / γ)[i]      (only the user marginal)
 *   πU[u,i] = p_i softmax_u(S[:,i] / γ)[u]      (only the item marginal)
 *   π = max(πU, πV)
 *
 * computed here streaming over blocks of users, so the users x items matrix
 * is never held: a first pass accumulates every item's column log-sum-exp
 * over users (online max + rescaled sum), a second recomputes each block's
 * scores and takes each row's log-sum-exp, which gives π of the observed
 * entries. Only the observed entries' π is kept (log space, nnz doubles).
 *
 * Per user, the observed items' π is normalised to sum to 1 (ρ), sorted
 * descending, and split at the κ that minimises the two-part sum of
 * squared deviations from the parts' means (CART; prefix sums, O(n) after
 * the sort). The threshold is the κ-th value ρ_κ; an entry below it is
 * flagged as noise. Relabelling keeps the positives only:
 *
 *   r = sigmoid(β (ρ - ρ_κ)),   x ← λ x + (1 - λ) r x.
 *
 * The split and the sigmoid read log ρ (log_domain, the default: S/γ up to
 * per-user and per-item shifts) or ρ itself (the paper's literal Eq. 20).
 * With γ = 0.1 the plan is so peaked that ρ's split separates a user's few
 * top items from all the rest, and β (ρ - ρ_κ) with ρ ~ 1/n is near 0, so
 * r ~ 1/2 for every entry: on ml100k with 10% injected false positives the
 * ρ split flags injected pairs at only 1.0-1.3x the rate of clean ones
 * (iALS, Mult-VAE), the log split at 2.6-3.0x (README "Denoising
 * (ProRec)", chosen on one noise seed, reported on another). The
 * normalisation does not move the split (CART's argmin is invariant to a
 * row's scale in ρ and to its shift in log ρ).
 *
 * Threads: OpenMP over items (column pass) and users (row pass, relabel);
 * every sum has a fixed order, so results do not depend on thread count.
 */
#ifndef RS_PROREC_H
#define RS_PROREC_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "dataset.h"
#include "idtable.h"

typedef struct rs_prorec_options {
    float gamma;    /* entropic regularisation γ > 0 */
    float beta;     /* slope of the relabelling sigmoid */
    float lambda;   /* share of the old label kept, in [0, 1] */
    int rounds;     /* relabel + refit rounds */
    int log_domain; /* split and relabel on log ρ (default) instead of ρ */
} rs_prorec_options;

/* The paper's γ 0.1, β 20, λ 0.5, 1 round; the split on log ρ. */
void rs_prorec_options_default(rs_prorec_options *o);

/* Scores (size x n_items, row-major) of users[0..size): the model's. */
typedef int (*rs_prorec_scorer)(void *ctx, const uint32_t *users, int size, float *scores,
                                rs_error *err);

/* Folds rows (rows x n, row-major) of scores / γ into each column's running
 * log-sum-exp, kept as (max, sum of exp(x - max)); start from max = -inf,
 * sum = 0. */
void rs_prorec_columns_add(double *max, double *sum, const float *scores, int rows, uint32_t n,
                           double inv_gamma);

/* One user's row: log ρ of its observed items (observed[0..n_obs), their
 * log π normalised over them), from its scores (n_items), log q_u, every
 * item's log p and column log-sum-exp of S / γ. */
void rs_prorec_row(const float *scores, uint32_t n_items, const uint32_t *observed, uint32_t n_obs,
                   double log_q, const double *log_p, const double *col_lse, double inv_gamma,
                   double *log_rho);

/* log ρ of every stored entry of train (nnz, aligned with its indices),
 * scoring the users with interactions in blocks of at most `block` users
 * (twice). Marginals from train's counts, not its values. */
int rs_prorec_matching(const rs_csr *train, double gamma, int block, rs_prorec_scorer score,
                       void *ctx, double *log_rho, rs_error *err);

/* The split of sorted (descending, n values): the size κ in 1..n-1 of the
 * top part minimising Σ_top (v - mean_top)² + Σ_rest (v - mean_rest)², the
 * smallest on ties; n when n < 2. */
uint32_t rs_prorec_split(const double *sorted, uint32_t n);

/* Relabels: weights (nnz, train's entries, the current labels) become
 * λ w + (1 - λ) r w; flagged[p] (may be NULL) = 1 when entry p fell below
 * its user's threshold. Returns the number flagged, or -1 on error. */
int64_t rs_prorec_relabel(const rs_csr *train, const double *log_rho, const rs_prorec_options *o,
                          float *weights, uint8_t *flagged, rs_error *err);

/* --denoise-out: a header, then "user item original new flagged" rows
 * (tab-separated, flagged yes/no) for every entry of train. original NULL:
 * 1. */
int rs_prorec_write(const char *path, const rs_csr *train, const rs_idtable *users,
                    const rs_idtable *items, const float *original, const float *weights,
                    const uint8_t *flagged, rs_error *err);

#endif
