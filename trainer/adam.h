/* adam.h - the Adam optimiser over one contiguous parameter block, with
 * PyTorch's semantics (bias-corrected moments; weight decay added to the
 * gradient, i.e. L2 regularisation, not AdamW). The moments are owned here;
 * parameters and gradients are the model's. */
#ifndef RS_ADAM_H
#define RS_ADAM_H

#include <stddef.h>
#include <stdint.h>

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

/* Lazy (sparse-row) Adam for an embedding table of rows of `width` floats
 * (adam->n = rows x width): one step that updates only the n_rows rows
 * listed in rows[], from grad_rows (n_rows x width; row k is the gradient
 * of table row rows[k]). Touched rows get the ordinary Adam update (weight
 * decay included, bias correction from the global step count); untouched
 * rows keep their parameters AND moments, where dense Adam would keep
 * moving them with decaying moments. This is PyTorch's SparseAdam with
 * weight decay on touched rows; it costs O(n_rows x width), not O(n).
 * Rows must be distinct. */
void rs_adam_step_rows(rs_adam *adam, float *params, const float *grad_rows, const uint32_t *rows,
                       uint32_t n_rows, uint32_t width);

#endif
