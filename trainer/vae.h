/* vae.h - Mult-VAE (Liang et al.): [M -> H -> 2L | L -> H -> M], tanh,
 * L2-normalised input with dropout, Gaussian latent, multinomial likelihood
 * over a full softmax. Parameters live in one contiguous block:
 *
 *   W1 (M x H)  b1 (H)     encoder input layer, one row per item
 *   W2 (H x 2L) b2 (2L)    encoder output: mu | logvar
 *   W3 (L x H)  b3 (H)     decoder hidden layer
 *   W4 (M x H)  b4 (M)     decoder output layer, one row per item: the
 *                          item vectors the server scores against
 *   A  (M x L)             PIA item anchors (only with pia_lambda > 0)
 *
 * PIA (Personalized Item Alignment) adds lambda * R(u) to the objective,
 * R(u) = E_{z~q(z|x~u)} mean_{i in P_u} ||z - a_i||^2
 *      = mean_i ||mu - a_i||^2 + sum(sigma^2),
 * which pulls the masked posterior toward the centroid of the anchors of
 * the user's positives. Lambda grows by pia_factor after pia_patience
 * evaluations without validation gain (the paper's Algorithm 1).
 */
#ifndef RS_VAE_H
#define RS_VAE_H

#include "trainable.h"

/* Defaults: the option table in vae.c (rectrain --help). */
typedef struct rs_vae_options {
    uint32_t hidden, latent;      /* H, L */
    float dropout;                /* on the input */
    float lr, weight_decay;       /* Adam */
    int batch_size, pia_patience; /* PIA (pia.h): evaluations without gain before lambda grows */
    float pia_lambda, pia_factor; /* 0: PIA off; lambda multiplier */
    uint64_t seed;                /* initialisation */
} rs_vae_options;

void rs_vae_options_default(rs_vae_options *o);

/* Creates a Mult-VAE for n_items items wrapped in the trainable interface. */
int rs_vae_create(const rs_vae_options *o, uint32_t n_items, rs_train_model *out, rs_error *err);

/* --- exposed for the gradient-check tests --- */
typedef struct rs_vae rs_vae;
rs_vae *rs_vae_of(rs_train_model *model);
float *rs_vae_params(rs_vae *vae, size_t *n);
float *rs_vae_grads(rs_vae *vae);
/* Forward + backward on a batch without the optimiser step; eps (size x L)
 * and the dropout mask are drawn from the batch's rng unless fixed_noise is
 * set, in which case dropout is off and eps is taken from fixed_eps (or
 * zero). Returns the objective (loss + beta * KL) / size in *objective. */
int rs_vae_gradient(rs_vae *vae, const rs_train_batch *batch, const float *fixed_eps,
                    double *objective, rs_error *err);

#endif
