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

/* The family's command-line options (options.h), for a family that trains
 * this architecture with another loss: its options struct must begin with
 * an rs_vae_options, which these entries address. */
#define RS_OPT_VAE                                                                                 \
    RS_OPT_BATCH(rs_vae_options, batch_size, "500"), RS_OPT_LR(rs_vae_options, lr, "1e-3"),        \
        RS_OPT_WEIGHT_DECAY(rs_vae_options, weight_decay),                                         \
        RS_OPT_HIDDEN(rs_vae_options, hidden, "hidden layer width", "600"),                        \
        RS_OPT_LATENT(rs_vae_options, latent, "200"),                                              \
        RS_OPT_DROPOUT(rs_vae_options, dropout, "dropout probability on the input"),               \
        RS_OPT_PIA(rs_vae_options)

/* Creates a Mult-VAE for n_items items wrapped in the trainable interface. */
int rs_vae_create(const rs_vae_options *o, uint32_t n_items, rs_train_model *out, rs_error *err);

/* Another data term in place of the multinomial likelihood, the rest of
 * the model (architecture, KL, dropout, PIA, what is published) unchanged:
 * how SinkhornCF (sinkhorncf.c) is a Mult-VAE with its own loss. */
typedef struct rs_vae_loss {
    const char *family; /* the model's family name (the manifest's "family") */
    void *self;
    /* The data term summed over the rows of logits (size x n_items) against
     * the targets (each row the user's items, weight 1) into *loss, and
     * dlogits = scale * d loss / d logits (dlogits may equal logits). */
    int (*compute)(void *self, float *dlogits, const float *logits, const rs_sparse_batch *targets,
                   float scale, double *loss, rs_error *err);
    void (*begin_epoch)(void *self, int epoch); /* may be NULL */
    json_t *(*options_json)(const void *self);  /* model_options' "loss" object */
    size_t (*footprint)(const void *self);
    void (*free)(void *self);
} rs_vae_loss;

/* rs_vae_create with loss as the data term; the model owns loss->self from
 * the call on (it is freed on failure too). */
int rs_vae_create_with_loss(const rs_vae_options *o, uint32_t n_items, const rs_vae_loss *loss,
                            rs_train_model *out, rs_error *err);

/* --- exposed for the gradient-check tests --- */
typedef struct rs_vae rs_vae;
rs_vae *rs_vae_of(rs_train_model *model);
/* Forward + backward on a batch without the optimiser step; eps (size x L)
 * and the dropout mask are drawn from the batch's rng unless fixed_noise is
 * set, in which case dropout is off and eps is taken from fixed_eps (or
 * zero). Returns the objective (loss + beta * KL) / size in *objective. */
int rs_vae_gradient(rs_vae *vae, const rs_train_batch *batch, const float *fixed_eps,
                    double *objective, rs_error *err);

#endif
