/* fastvae.h - FastVAE (Chen, Lian et al.): a VAE recommender trained with a
 * sampled softmax whose negatives come from an inverted-multi-index (MIDX)
 * proposal, so a step costs O(T D) per user instead of O(M D).
 *
 * Architecture (the reference code's): the history's encoder embedding rows
 * summed and divided by sqrt(count) -> dropout -> ReLU -> Linear(H -> 2L)
 * giving mu | logvar -> z (reparameterised when training, mu otherwise) ->
 * Linear(L -> H) giving the user vector u; item vectors q_i (a table apart
 * from the encoder's); score(i) = u . q_i, no item bias. Parameters live in
 * one contiguous block:
 *
 *   E    (M x H)         encoder item embeddings (a sparse_linear layer, no bias)
 *   Wenc (H x 2L) benc   encoder output: mu | logvar
 *   Wdec (L x H)  bdec   decoder: the user vector
 *   Q    (M x H)         item vectors, the ones the server scores against
 *   A    (M x L)         PIA item anchors (only with pia_lambda > 0)
 *
 * Loss per user (u = the user vector, P = the user's positives, Phi = T items
 * drawn once per user from the proposal Q(.|u) and shared by all of P,
 * o_j = u . q_j, o'_j = o_j - log Q(j)):
 *   sum_{i in P} [ -o'_i + log(exp(o'_i) + sum_{j in Phi} exp(o'_j)) ]
 * plus beta * KL, plus lambda * R_PIA (as in vae.h). log Q is a constant to
 * the gradient. With full_softmax the loss is the exact multinomial
 * likelihood over all M items (the Mult-VAE loss), computed by GEMMs: the
 * baseline for speed comparisons.
 *
 * Optimiser: Adam (L2 weight decay, PyTorch semantics) with a StepLR
 * schedule. The small dense layers get dense Adam; the three item tables
 * (E, Q, A) get LAZY Adam (rs_adam_step_rows): only the rows a batch touches
 * are updated, the others keep parameters and moments. This deviates from
 * the reference (dense Adam) on purpose: a dense update of 2 x M x H
 * parameters per step would dominate a step at a million items. In full
 * softmax mode every row of Q is touched, so Q's update is dense there.
 *
 * Determinism: each user's dropout, noise and samples come from
 * rs_rng_split(epoch_rng, user id); per-user work runs in OpenMP loops and
 * the item-row gradients are reduced row by row in batch order, so results
 * do not depend on the thread count or schedule.
 *
 * The sampler index is rebuilt from the current Q at the start of every
 * epoch (or every rebuild_every steps). Publishing writes the servable
 * encoder and items and a fresh MIDX index of the published Q (codebooks,
 * cells, residual bounds; see proto/snapshot.md).
 */
#ifndef RS_FASTVAE_H
#define RS_FASTVAE_H

#include "sampler.h"
#include "trainable.h"

typedef struct rs_fastvae_options {
    uint32_t hidden;         /* H: item vector / user vector width, default 200 */
    uint32_t latent;         /* L: default 32 */
    float dropout;           /* on the pooled history embedding, default 0.5 */
    float item_dropout;      /* on the history items before pooling, default 0.5 */
    float lr;                /* Adam learning rate, default 1e-3 */
    float weight_decay;      /* L2 weight decay, default 0 (see rectrain --help) */
    int lr_step;             /* StepLR: lr *= lr_gamma every lr_step epochs (5; 0 off) */
    float lr_gamma;          /* default 0.95 */
    int batch_size;          /* default 256 */
    int full_softmax;        /* 1: exact softmax over all items (no sampler) */
    rs_sampler_kind sampler; /* default midx-pop */
    uint32_t samples;        /* T, default 200 */
    uint32_t codewords;      /* K per codebook, default 16 (sampler and published index) */
    long rebuild_every;      /* rebuild the sampler every N steps; 0 = each epoch */
    uint64_t seed;           /* initialisation */
    float pia_lambda;        /* 0: PIA off */
    int pia_patience;        /* evaluations without gain before lambda grows (2) */
    float pia_factor;        /* lambda multiplier (2) */
} rs_fastvae_options;

void rs_fastvae_options_default(rs_fastvae_options *o);

/* "full" (exact softmax) or a sampler name (see sampler.h) into o. */
int rs_fastvae_sampler_parse(const char *name, rs_fastvae_options *o, rs_error *err);
const char *rs_fastvae_sampler_name(const rs_fastvae_options *o);

/* Creates a FastVAE for n_items items wrapped in the trainable interface.
 * item_counts (n_items training interaction counts, copied) feed the
 * popularity samplers; it may be NULL for the others. */
int rs_fastvae_create(const rs_fastvae_options *o, uint32_t n_items, const float *item_counts,
                      rs_train_model *out, rs_error *err);

/* --- exposed for tests and benchmarks --- */
typedef struct rs_fastvae rs_fastvae;
rs_fastvae *rs_fastvae_of(rs_train_model *model);
float *rs_fastvae_params(rs_fastvae *f, size_t *n);
/* The gradient of the last rs_fastvae_gradient call, dense, in the layout
 * of the parameter block (n floats). */
float *rs_fastvae_grads(rs_fastvae *f);

/* Forward + backward of the objective on a batch without the optimiser
 * step, with all randomness fixed: no dropout, eps (size x L) from fixed_eps
 * (NULL: zero), and for the sampled softmax the sample sets from
 * fixed_samples (size x T item ids) with log Q of every item from
 * fixed_log_q (size x M); both NULL in full softmax mode. Returns
 * (loss + beta * KL + lambda * R) / size in *objective; the gradient is then
 * in rs_fastvae_grads. */
int rs_fastvae_gradient(rs_fastvae *f, const rs_train_batch *batch, const float *fixed_eps,
                        const uint32_t *fixed_samples, const float *fixed_log_q, double *objective,
                        rs_error *err);

/* Time spent since creation: sampling (prepare + draw, summed over
 * threads), users sampled, and sampler rebuilds. */
typedef struct rs_fastvae_timing {
    double sample_seconds;
    uint64_t sampled_users;
    double rebuild_seconds;
    uint32_t rebuilds;
} rs_fastvae_timing;
void rs_fastvae_get_timing(const rs_fastvae *f, rs_fastvae_timing *t);

#endif
