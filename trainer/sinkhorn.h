/* sinkhorn.h - SinkhornCF's per-user loss (the accelerated Sinkhorn loss,
 * Algorithm 1 of the paper) and its gradient with respect to the logits.
 *
 * Given the decoder's logits z (n_items) for one user with history I1:
 *
 *   x^     = softmax(z), computed as log x^ = z - logsumexp(z)
 *   Ik     = the k largest entries of x^ (= of z; core/topk.h, ties to the
 *            smaller id; compared as floats, which is exact for the
 *            trainer's float logits)
 *   mu     = x_u[I1] normalised: 1/|I1| on each history item (the training
 *            matrix is binary)
 *   nu     = x^[Ik] (see "top-k mass" below)
 *   K      = exp(-C[I1, Ik] / eps), C = 1 - S from trainer/cooccur.h
 *   b0 = 1; for l = 1..L: a_l = mu / (K b_{l-1}), b_l = nu / (K^T a_l)
 *   P      = diag(a_L) K diag(b_L),  L1 = <C[I1, Ik], P>
 *   L2     = -sum_{i in I1} log x^_i - alpha * sum_{i in I2} log x^_i
 *   loss   = w L1 + L2   (the family adds beta * KL)
 *
 * w (transport_weight) is 1 in the paper and by default. It is there for
 * tuning: per user L2 is a sum of |I1| + alpha |I2| log-probabilities, in
 * the thousands on MovieLens, while L1 is a cost of at most 1, so at w = 1
 * the transport term's share of the gradient is small.
 *
 * I2. Algorithm 1, line 1: "I1 <- {i | x_ui > 0}, I2 <- [I] \ I1": I2 is
 * every item the user has NOT consumed (all n_items - |I1| of them), not the
 * top-k and not Ik \ I1. Line 9 weights each of them by alpha. The text
 * around line 9 ("allow a small fraction of probability mass to flow into
 * the remaining positions") agrees: L2 is a cross-entropy against the
 * target proportional to 1 on I1 and alpha on I2. Note what that implies:
 * L2 alone is minimised by x^ = w / sum(w) with w = 1 on I1, alpha on I2,
 * i.e. a share alpha |I2| / (|I1| + alpha |I2|) of the mass outside the
 * history; with alpha = 0.03 and 10k items that is most of it for a user
 * with 100 items. We implement the paper's definition; alpha is an option.
 *
 * Top-k mass. Algorithm 1 (line 6) uses nu = x^[Ik] as it is, of mass
 * s = sum_{Ik} x^ < 1, while mu has mass 1. Sinkhorn between unequal
 * masses ends each iteration with the columns of P summing to nu exactly
 * and the rows converging to s * mu (not mu); the paper calls the result "a
 * lower bound approximation" of W(x_u, x^_u), which fits this reading, so
 * it is the default. The option renormalise_topk uses nu = x^[Ik] / s
 * instead (a balanced problem whose plan's marginals converge to mu and
 * nu); then L1 is blind to how much mass the top-k hold and its gradient
 * reaches only the logits of Ik. In the default mode it reaches every logit
 * through the softmax normaliser: d log x^_j / d z_m = [j = m] - x^_m.
 *
 * Log domain. The potentials f = log a, g = log b are what is iterated
 * (line 5-6 in logs): f_l = log mu - logsumexp_j(-C_ij/eps + g_{l-1,j}),
 * g_l = log nu - logsumexp_i(-C_ij/eps + f_{l,i}); a and b themselves are
 * never formed, so tiny x^ entries (log nu of -100 and less) neither
 * underflow nor divide by zero. Each logsumexp is evaluated as
 * max(g) + log sum_j K_ij exp(g_j - max(g)): since 0 <= C <= 1, the kernel
 * lies in [exp(-1/eps), 1], so every such sum is at least exp(-1/eps)
 * (the term of the largest g) and the shift is exact; this turns the
 * per-entry exponentials of a textbook log-domain step into a matrix-vector
 * product with K computed once (eps is required to be >= 0.01, so that K
 * stays far from underflow in double). The plan is
 * P_ij = K_ij exp(f_i - max f) nu_j / sum_i' K_i'j exp(f_i' - max f).
 *
 * Gradient. Reverse mode through the L unrolled iterations: the forward
 * pass keeps, per iteration, the shifted exponentials and the kernel sums
 * it used (a tape of L (3|I1| + 3k) doubles); the backward pass walks it
 * from l = L down to 1 with d g_l,j / d f_l,i = -K_ij exp(f_l,i - max f) /
 * colsum_j and d f_l,i / d g_{l-1},j = -K_ij exp(g_{l-1},j - max g) /
 * rowsum_i, which are again products with K and K^T. It yields
 * d L1 / d log nu, then the softmax Jacobian carries it and L2's gradient
 * to z. C is a constant (it comes from the data).
 *
 * Two paths. rs_sinkhorn_loss() is the reference: double throughout (the
 * tests run it with double logits, which keeps the finite-difference check
 * meaningful), log-domain iterations, a heap over every item for the
 * top-k. rs_sinkhorn_loss_float() and rs_sinkhorn_batch_loss() are what
 * training runs, float logits in and float gradient out, built so that the
 * loss costs a few softmaxes rather than dozens:
 *   - the O(n_items) parts in float and vectorised: exp(z - max z) by a
 *     polynomial the compiler vectorises (glibc's expf does not), the sums
 *     (of those and of z, for lse and L2) in double accumulators, and the
 *     gradient W x^ - alpha written straight from the float exponentials;
 *   - the top-k: a strided sample of 512 logits gives a threshold that the
 *     top-k very likely all reach; the heap runs over the items at or above
 *     it (a few hundred of 8,530 on MovieLens) if at least k are, else over
 *     all of them, so the result is exactly select_top's;
 *   - the |I1| x k core stays double (the options allow eps = 0.01, where
 *     the kernel exp(-1/eps) ~ 4e-44 is below float's normal range), but
 *     iterates in the plain domain: the tape's shifted exponentials
 *     exp(f - max f), exp(g - max g) are the scalings mu / (K b), nu / (K^T a)
 *     over their largest entry, the same numbers to rounding without an exp
 *     or a log per entry; the kernel's exponentials are vectorised, the cost
 *     rows gathered without a branch per neighbour. When the top-k logits
 *     span more than 500 (nu beyond double's range relative to its largest
 *     entry) the row goes through the reference instead.
 * The two agree to float rounding: the tests bound the difference entry by
 * entry (test_float_path_matches_reference).
 *
 * Use in a family: the Mult-VAE forward gives the logits; where vae.c's
 * compute_gradient calls rs_softmax_nll (logits in, scale * dlogits out, in
 * place), a SinkhornCF family calls rs_sinkhorn_batch_loss with the same
 * targets and scale, and the KL term and backward pass stay as they are.
 * The cost matrix is built once from the training matrix before epoch 1.
 *
 * Cost per user: O(L |I1| k) for the iterations (2 products with K per
 * iteration forward, 2 backward), O(|I1| (k + neighbours)) for the cost
 * gather, plus O(n_items) for the softmax, L2 and the gradient and, on the
 * float path, O(n_items + c log k) for the top-k (c candidates past the
 * pre-filter; the reference's heap is O(n_items log k)). The batch hands
 * rows out longest history first, so that no thread is left finishing a
 * long one alone. No allocation: every
 * buffer lives in a workspace (one per thread) sized for the longest
 * history at creation.
 */
#ifndef RS_SINKHORN_H
#define RS_SINKHORN_H

#include <stdint.h>

#include "common.h"
#include "cooccur.h"
#include "layers.h"

typedef struct rs_sinkhorn_options {
    uint32_t k;              /* top-k of the output, default 200 */
    int iterations;          /* L, default 5 */
    double epsilon;          /* entropic smoothing, default 1.0 (>= 0.01) */
    double alpha;            /* weight of each unconsumed item in L2, default 0.03 */
    int renormalise_topk;    /* 0 (paper): nu = x^[Ik]; 1: nu = x^[Ik] / sum */
    double transport_weight; /* w, default 1 (paper); >= 0 */
} rs_sinkhorn_options;

void rs_sinkhorn_options_default(rs_sinkhorn_options *o);

/* The two terms of one user's loss. */
typedef struct rs_sinkhorn_parts {
    double transport;     /* L1 = <C, P> (not multiplied by w) */
    double concentration; /* L2 */
    double topk_mass;     /* s = sum of x^ over Ik */
} rs_sinkhorn_parts;

typedef struct rs_sinkhorn_workspace rs_sinkhorn_workspace;

/* A workspace for users of up to max_history items over n_items items. */
rs_sinkhorn_workspace *rs_sinkhorn_workspace_create(const rs_sinkhorn_options *o, uint32_t n_items,
                                                    uint32_t max_history, rs_error *err);
void rs_sinkhorn_workspace_free(rs_sinkhorn_workspace *ws);
size_t rs_sinkhorn_workspace_bytes(const rs_sinkhorn_workspace *ws);

/* One user's loss L1 + L2 into *loss (parts, if not NULL, gets the terms)
 * and its gradient with respect to logits into grad (n_items, overwritten).
 * history: the user's distinct items, each < n_items; an empty history
 * gives loss 0 and a zero gradient. Fails for a history longer than the
 * workspace's max_history. */
int rs_sinkhorn_loss(rs_sinkhorn_workspace *ws, const rs_cooccur *cost, const double *logits,
                     const uint32_t *history, uint32_t n_history, double *loss, double *grad,
                     rs_sinkhorn_parts *parts, rs_error *err);

/* The same from float logits to a float gradient: the float path (see
 * "Two paths" above), equal to rs_sinkhorn_loss on the converted logits up
 * to float rounding. grad may equal logits. */
int rs_sinkhorn_loss_float(rs_sinkhorn_workspace *ws, const rs_cooccur *cost, const float *logits,
                           const uint32_t *history, uint32_t n_history, double *loss, float *grad,
                           rs_sinkhorn_parts *parts, rs_error *err);

/* The loss for a batch, a drop-in for core/layers.h's rs_softmax_nll in a
 * Mult-VAE family: rows of logits (size x n_items) against the sparse
 * targets (each row the user's distinct items; values ignored: the data is
 * binary), dlogits = scale * d loss / d logits (may equal logits), each row
 * by the float path. Rows run in parallel, longest history first, one
 * workspace per OpenMP thread; the per-row losses and parts
 * are summed serially afterwards, so the result does not depend on the
 * thread count. */
typedef struct rs_sinkhorn_batch rs_sinkhorn_batch;

rs_sinkhorn_batch *rs_sinkhorn_batch_create(const rs_sinkhorn_options *o, uint32_t n_items,
                                            uint32_t max_history, int max_rows, rs_error *err);
void rs_sinkhorn_batch_free(rs_sinkhorn_batch *b);
size_t rs_sinkhorn_batch_bytes(const rs_sinkhorn_batch *b);

/* *loss and *sum (if not NULL) receive the sums over the rows. */
int rs_sinkhorn_batch_loss(rs_sinkhorn_batch *b, const rs_cooccur *cost, float *dlogits,
                           const float *logits, const rs_sparse_batch *targets, float scale,
                           double *loss, rs_sinkhorn_parts *sum, rs_error *err);

/* --- exposed for the tests --- */

/* The top-k of the last rs_sinkhorn_loss call, best first; returns k. */
uint32_t rs_sinkhorn_last_topk(const rs_sinkhorn_workspace *ws, const uint32_t **items);

/* The workspace's L log-domain iterations on a given problem: cost (n_rows
 * x n_cols, row-major, entries in [0, 1]), log marginals log_mu (n_rows)
 * and log_nu (n_cols); writes the plan (n_rows x n_cols) and returns
 * <cost, plan> in *transport. n_rows <= max_history, n_cols <= k. */
int rs_sinkhorn_plan(rs_sinkhorn_workspace *ws, const double *cost, uint32_t n_rows,
                     uint32_t n_cols, const double *log_mu, const double *log_nu, double *plan,
                     double *transport, rs_error *err);

#endif
