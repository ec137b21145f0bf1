/* ganmf.h - GANMF (Dervishaj & Cremonesi, "GAN-based Matrix Factorization
 * for Recommender Systems"), user mode: a matrix-factorisation generator
 * trained against an autoencoder discriminator.
 *
 *   generator      G(y) = V Sigma[y]^T          (one profile over all items)
 *   discriminator  Enc(x) = x W_e + b_e,  Dec(z) = z W_d + b_d  (linear)
 *   energy         D(X) = 1/(B M) sum_b ||Dec(Enc(x_b)) - x_b||^2
 *   L_D = D(X) + [m D(X) - D(G(y))]_+ + lambda_D/2 ||Omega_D||^2
 *   L_G = (1 - alpha) D(G(y)) + alpha/(B h) sum_b ||Enc(x_b) - Enc(G(y_b))||^2
 *
 * Where the paper's text leaves a choice open, this follows the authors'
 * public TensorFlow code, which produced the tuned hyperparameters:
 * - energies and the feature-matching distance are MEANS over the batch and
 *   the item (resp. code) dimension (tf.losses.mean_squared_error), and the
 *   hinge compares the two BATCH energies, not each user's;
 * - the generator's output is raw (no sigmoid), the autoencoder has one
 *   linear hidden layer with biases; every weight (Sigma and V included) is
 *   Glorot-uniform initialised, biases are zero;
 * - lambda_D multiplies tf.nn.l2_loss (= ||w||^2 / 2) over all discriminator
 *   variables, biases included; the generator is not regularised;
 * - Adam (beta 0.9/0.999, eps 1e-8) with dense updates for the generator:
 *   TF1's Adam moves every row of Sigma with its decaying moments, not only
 *   the rows in the batch, and so does rs_adam_step here;
 * - an epoch is one discriminator pass over all users in batches, then one
 *   generator pass over the same shuffled order (d_steps = g_steps = 1).
 *   The paper's Algorithm 1 alternates per batch instead; that schedule is
 *   available as alternate_per_batch.
 * Recommendations are the generated profile Sigma[u] V^T ranked over the
 * items the user has not seen, i.e. a factor model (user factors Sigma,
 * item factors V).
 *
 * Parameters live in one contiguous block per network (llm.c style):
 * generator = [Sigma (n_users x K) | V (n_items x K)], discriminator =
 * [W_e (M x h) | b_e (h) | W_d (h x M) | b_d (M)], each with a gradient
 * block of the same layout and its own rs_adam. Every backward below is
 * checked against central finite differences in tests/unit/test_ganmf.c.
 */
#ifndef RS_GANMF_H
#define RS_GANMF_H

#include <stddef.h>
#include <stdint.h>

#include "adam.h"
#include "common.h"
#include "dataset.h"
#include "rng.h"

typedef struct rs_ganmf_config {
    uint32_t factors;        /* K */
    uint32_t hidden;         /* h, units in the autoencoder's coding layer */
    int batch;               /* users per step */
    float margin;            /* m, the hinge's margin coefficient */
    float lr_discriminator;  /* Adam learning rate of D */
    float lr_generator;      /* Adam learning rate of G */
    float reg_discriminator; /* lambda_D */
    float feature_matching;  /* alpha */
    int alternate_per_batch; /* 1: D step then G step per batch (Algorithm 1) */
    /* 1: Adam moves only the batch's rows of Sigma (rs_adam_step_rows, as
     * PyTorch's SparseAdam); 0: every row, as TF1's Adam in the authors'
     * code (a user's row then drifts on stale moments between its batches). */
    int lazy_user_rows;
    uint64_t seed;
} rs_ganmf_config;

/* The tuned ML1M user-mode values (authors' best_params for GANMF_user_1M):
 * K 250, h 992, batch 64, m 10, lr_D 1e-4, lr_G 1.653e-4, lambda_D 1e-4,
 * alpha 0.01, epoch-wise alternation, dense Adam, seed 2026. (66 epochs
 * there.) */
void rs_ganmf_config_default(rs_ganmf_config *c);

typedef struct rs_ganmf {
    rs_ganmf_config config;
    uint32_t n_users, n_items;

    size_t gen_count; /* (n_users + n_items) x K */
    float *gen_params, *gen_grads;
    float *user_factors, *item_factors; /* views into gen_params */
    float *user_grads, *item_grads;     /* views into gen_grads */

    size_t disc_count; /* M h + h + h M + M */
    float *disc_params, *disc_grads;
    float *enc_weight, *enc_bias, *dec_weight, *dec_bias;         /* views */
    float *enc_weight_g, *enc_bias_g, *dec_weight_g, *dec_bias_g; /* views */

    rs_adam adam_gen, adam_disc;
    rs_rng rng;

    /* Activations for up to config.batch users. */
    float *real, *fake;                /* B x M profiles */
    float *real_code, *fake_code;      /* B x h Enc(.) */
    float *real_error, *fake_error;    /* B x M Dec(Enc(.)) - input */
    float *d_recon, *d_code, *d_code2; /* B x M, B x h, B x h scratch */
    float *d_fake;                     /* B x M gradient w.r.t. G(y) */
    float *user_rows, *d_user_rows;    /* B x K gathered Sigma rows */
    uint32_t *order;                   /* n_users, the epoch's shuffle */
    uint32_t *step_rows;               /* B + M rows of a lazy generator step */
    float *step_grads;                 /* (B + M) x K, their packed gradients */
} rs_ganmf;

/* Statistics of one step, for logging and tests. */
typedef struct rs_ganmf_stats {
    double real_energy, fake_energy; /* D(X), D(G(y)) */
    double feature_distance;         /* mean ||Enc(x) - Enc(G(y))||^2 / h */
    double loss;                     /* L_D or L_G of the step */
    int hinge_active;                /* m D(X) - D(G(y)) > 0 */
} rs_ganmf_stats;

int rs_ganmf_init(rs_ganmf *g, const rs_ganmf_config *config, uint32_t n_users, uint32_t n_items,
                  rs_error *err);
void rs_ganmf_free(rs_ganmf *g);

/* ---- pieces (ganmf_layers.c): forward and backward of each ---- */

/* fake (B x M) = Sigma[users] V^T; also gathers Sigma[users] into
 * g->user_rows for the backward. */
void rs_ganmf_generate(rs_ganmf *g, const uint32_t *users, int B, float *fake);
/* Given d_fake (B x M): user_grads[users[b]] += d_fake[b] V and
 * item_grads += d_fake^T Sigma[users]. users must be distinct. */
void rs_ganmf_generate_backward(rs_ganmf *g, const uint32_t *users, int B, const float *d_fake);

/* Energy of a batch x (B x M): writes code (B x h) and error (B x M, the
 * reconstruction minus x) and returns the mean squared error over B x M. */
double rs_ganmf_energy(const rs_ganmf *g, const float *x, int B, float *code, float *error);
/* Backward of coefficient * energy: accumulates the discriminator's weight
 * and bias gradients. Uses g->d_recon and g->d_code as scratch. */
void rs_ganmf_energy_backward_params(rs_ganmf *g, const float *x, const float *code,
                                     const float *error, int B, double coefficient);
/* Backward of coefficient * energy w.r.t. its input, plus an extra
 * gradient extra_code (B x h, may be NULL) arriving at the code:
 * d_input = (dR W_d^T + extra_code) W_e^T - dR, with dR = coefficient *
 * 2 error / (B M). The discriminator's parameters are not touched. */
void rs_ganmf_energy_backward_input(rs_ganmf *g, const float *error, int B, double coefficient,
                                    const float *extra_code, float *d_input);

/* The hinge loss of the batch energies; coefficients dL/dD(X), dL/dD(G). */
double rs_ganmf_hinge(double real_energy, double fake_energy, double margin, double *coef_real,
                      double *coef_fake, int *active);
/* Mean squared distance over B x h between the codes; writes its gradient
 * w.r.t. fake_code times coefficient into d_fake_code. */
double rs_ganmf_feature_matching(const float *real_code, const float *fake_code, int B, int h,
                                 double coefficient, float *d_fake_code);

/* ---- losses and steps (ganmf.c) ---- */

/* Dense real profiles of data's rows users[0..B) into g->real. */
void rs_ganmf_load_real(rs_ganmf *g, const rs_csr *data, const uint32_t *users, int B);

/* L_D of the batch (g->real must hold the users' rows): overwrites
 * disc_grads with its gradient, the lambda_D term included. */
double rs_ganmf_discriminator_loss(rs_ganmf *g, const uint32_t *users, int B,
                                   rs_ganmf_stats *stats);
/* L_G of the batch (g->real must hold the users' rows): overwrites
 * gen_grads with its gradient (rows of Sigma not in users get zero). */
double rs_ganmf_generator_loss(rs_ganmf *g, const uint32_t *users, int B, rs_ganmf_stats *stats);

/* One Adam step of D (resp. G) on the rows users[0..B) of data. */
void rs_ganmf_discriminator_step(rs_ganmf *g, const rs_csr *data, const uint32_t *users, int B,
                                 rs_ganmf_stats *stats);
void rs_ganmf_generator_step(rs_ganmf *g, const rs_csr *data, const uint32_t *users, int B,
                             rs_ganmf_stats *stats);

/* Means over an epoch's steps. */
typedef struct rs_ganmf_epoch_stats {
    double loss_d, loss_g;           /* L_D, L_G */
    double real_energy, fake_energy; /* D(X), D(G(y)) seen by the D steps */
    double feature_distance;         /* seen by the G steps */
    double hinge_active;             /* share of D steps with the hinge active */
} rs_ganmf_epoch_stats;

/* One epoch over every user of data (n_rows == n_users); out may be NULL. */
void rs_ganmf_train_epoch(rs_ganmf *g, const rs_csr *data, rs_ganmf_epoch_stats *out);

/* scores (B x M) = Sigma[users] V^T: the known users' generated profiles. */
void rs_ganmf_score(const rs_ganmf *g, const uint32_t *users, int B, float *scores);

#endif
