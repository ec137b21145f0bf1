/* adam.h - the Adam optimiser over one contiguous parameter block, with
 * PyTorch's semantics (bias-corrected moments; weight decay added to the
 * gradient, i.e. L2 regularisation, not AdamW). The moments are owned here;
 * parameters and gradients are the model's. */
#ifndef RS_ADAM_H
#define RS_ADAM_H

#include <stddef.h>

#include "common.h"

typedef struct rs_adam {
    float lr, beta1, beta2, eps, weight_decay;
    long step;
    size_t n;
    float *m, *v;
} rs_adam;

int rs_adam_init(rs_adam *adam, size_t n_params, float lr, float weight_decay, rs_error *err);
void rs_adam_free(rs_adam *adam);
/* One update of params from grads (both n floats). */
void rs_adam_step(rs_adam *adam, float *params, const float *grads);

#endif
