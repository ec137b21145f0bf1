/* pia.h - Personalized Item Alignment, shared by the VAE families: item
 * anchors a_i (a tensor of the family's table) and the regulariser
 *   R(u) = E_{z~q(z|x~u)} mean_{i in P_u} ||z - a_i||^2
 *        = mean_i ||mu - a_i||^2 + sum(sigma^2),
 * which pulls the masked posterior toward the centroid of the anchors of the
 * user's positives, with the paper's adaptive schedule (Algorithm 1): lambda
 * grows by `factor` after `patience` evaluations without validation gain. */
#ifndef RS_PIA_H
#define RS_PIA_H

#include "layers.h"
#include "params.h"

typedef struct rs_pia {
    float lambda_initial, lambda;
    int patience;
    float factor;
    int evals_without_gain;
} rs_pia;

void rs_pia_init(rs_pia *pia, float lambda, int patience, float factor);

/* Adds scale * dR to de (B x 2L rows: dmu | dlogvar, from e = mu | logvar)
 * and to the anchor rows of each user's positives (the rows of X); *reg
 * receives the sum of R(u) over the batch. Serial: rows share anchors. */
int rs_pia_backward(const rs_sparse_batch *X, const float *e, float *de, uint32_t L,
                    rs_param *anchors, float scale, double *reg, rs_error *err);

/* The adaptive schedule, after each evaluation. */
void rs_pia_after_eval(rs_pia *pia, int epoch, int improved);

#endif
