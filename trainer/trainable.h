/* trainable.h - the interface every trainable model family implements,
 * so that the training loop, evaluation and publishing are written once.
 *
 * A model owns its parameters (one contiguous block), gradients, optimiser
 * state and activation buffers for batches of up to `batch_capacity` users.
 */
#ifndef RS_TRAINABLE_H
#define RS_TRAINABLE_H

#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "dataset.h"
#include "rng.h"
#include "store.h"

/* One optimisation step's inputs: the rows of `users` in `data`. */
typedef struct rs_train_batch {
    const rs_csr *data;
    const uint32_t *users;
    int size;
    float beta;              /* KL weight for this step */
    const rs_rng *epoch_rng; /* per-user streams are split from it by user id */
} rs_train_batch;

typedef struct rs_step_stats {
    double loss; /* data term summed over the batch */
    double kl;   /* KL summed over the batch */
    double reg;  /* regulariser (e.g. PIA) summed over the batch */
} rs_step_stats;

typedef struct rs_train_model {
    const char *family;
    void *self;
    int batch_capacity;
    uint32_t n_items;
    /* Called once at the start of every epoch (e.g. to rebuild samplers). */
    int (*begin_epoch)(void *self, int epoch, rs_rng *rng, rs_error *err);
    int (*train_batch)(void *self, const rs_train_batch *batch, rs_step_stats *stats,
                       rs_error *err);
    /* Evaluation-mode scores (size x n_items) of the rows of `users` in
     * `input`; must be safe to call between training steps. */
    int (*score)(void *self, const rs_csr *input, const uint32_t *users, int size, float *scores,
                 rs_error *err);
    /* Remember / bring back the current parameters as the best so far. */
    int (*keep_best)(void *self, rs_error *err);
    int (*restore_best)(void *self, rs_error *err);
    /* Adds the model's tensors to pub and its description to manifest
     * (keys "family", "layers", "dims", ...). */
    int (*publish)(void *self, rs_publish *pub, json_t *manifest, rs_error *err);
    /* Called after each evaluation with the validation figure the run
     * selects on (for adaptive schedules such as PIA's lambda). */
    void (*after_eval)(void *self, int epoch, double selection_value, int improved);
    size_t (*footprint)(const void *self);
    void (*free)(void *self);
} rs_train_model;

/* keep_best / restore_best for a model whose parameters are one contiguous
 * block of n floats: *best is allocated on first use and freed with the
 * model. */
static inline int rs_params_keep(float **best, const float *params, size_t n, rs_error *err)
{
    if (!*best && !(*best = rs_aligned_alloc(n, sizeof(float), err))) return -1;
    memcpy(*best, params, n * sizeof(float));
    return 0;
}

static inline int rs_params_restore(float *params, const float *best, size_t n, rs_error *err)
{
    if (!best) return rs_fail(err, "no best parameters were kept");
    memcpy(params, best, n * sizeof(float));
    return 0;
}

#endif
