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

#include "common.h"
#include "dataset.h"
#include "params.h"
#include "pia.h"
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

/* One encoder layer of the manifest (proto/model.md); weight and bias name
 * published tensors (bias NULL: none). */
typedef struct rs_layer_spec {
    const char *kind, *weight, *bias;
    uint32_t in, out;
    const char *activation;
} rs_layer_spec;

/* A factor model's encoder (proto/model.md, "Factor models"): its one
 * layer is of kind "foldin", weight the item factors, and these are the
 * stored user factors' tensor (NULL: none) and the fold-in's weights. */
typedef struct rs_foldin_spec {
    const char *users;
    float unobserved_weight, observed_weight, reg, reg_exponent;
} rs_foldin_spec;

#define RS_MAX_LAYERS 8

/* What the server needs to rank with the model: how it encodes a history
 * (the manifest's "encoder") and which tensors are the item matrix, its
 * optional bias and the optional PIA anchors ("items"). input NULL: the
 * model cannot be published. */
typedef struct rs_servable {
    const char *input; /* "l2", "sqrt_count" or (foldin) "binary" */
    int n_layers;
    rs_layer_spec layers[RS_MAX_LAYERS];
    const char *vectors, *bias, *anchors; /* tensor names; bias, anchors may be NULL */
    const rs_foldin_spec *foldin;         /* factor models only, else NULL */
} rs_servable;

typedef struct rs_train_model {
    const char *family;
    void *self;
    int batch_capacity;
    uint32_t n_items;
    /* The tensor table (NULL for a model without parameters): the generic
     * code keeps and restores the best epoch and publishes from it. */
    rs_params *params;
    /* The PIA schedule when PIA is on (NULL otherwise). */
    rs_pia *pia;
    rs_servable serve;
    /* Called once at the start of every epoch (e.g. to rebuild samplers). */
    int (*begin_epoch)(void *self, int epoch, rs_rng *rng, rs_error *err);
    int (*train_batch)(void *self, const rs_train_batch *batch, rs_step_stats *stats,
                       rs_error *err);
    /* Evaluation-mode scores (size x n_items) of the rows of `users` in
     * `input`; must be safe to call between training steps. */
    int (*score)(void *self, const rs_csr *input, const uint32_t *users, int size, float *scores,
                 rs_error *err);
    /* Forward + backward on a batch without the optimiser step and with
     * the randomness off (no dropout, zero noise): the gradient is then
     * rs_params_dense_gradient(params) and *objective the objective per
     * user. For the finite-difference checks; NULL when not offered. */
    int (*gradient)(void *self, const rs_train_batch *batch, double *objective, rs_error *err);
    /* The manifest's "model_options" object (a new reference), or NULL. */
    json_t *(*options_json)(const void *self);
    /* Bytes of activation buffers and other state beyond the parameters. */
    size_t (*footprint)(const void *self);
    void (*free)(void *self);
    /* Called by the publisher before the tensors are written, with the
     * known histories the store will hold (e.g. to make stored user factors
     * their fold-ins); NULL when not needed. */
    int (*before_publish)(void *self, const rs_csr *known, rs_error *err);
    /* A model not ranked through an encoder and an item matrix (an
     * item-item model, proto/model.md) writes its own tensors and its part
     * of the manifest ("kind" and what that kind names); the publisher then
     * writes no encoder, no "items" and no serving index, and ignores
     * params and serve. NULL: the tensor table and serve. */
    int (*publish)(void *self, rs_publish *pub, json_t *manifest, rs_error *err);
    /* 1 when train_batch honours a weighted training matrix (rs_csr
     * values as soft labels, ProRec) - weight 1 training bit for bit as the
     * binary matrix; 0: the family must only be given binary data. */
    int weighted;
    /* With publish: an upper bound of the bytes its tensors take (the
     * pre-training check of the store's space); NULL: the footprint. */
    uint64_t (*publish_bytes)(const void *self);
} rs_train_model;

/* Remember / bring back the current parameters as the best so far. */
int rs_model_keep_best(rs_train_model *model, rs_error *err);
int rs_model_restore_best(rs_train_model *model, rs_error *err);
/* After each evaluation: the adaptive schedules (PIA's lambda). */
void rs_model_after_eval(rs_train_model *model, int epoch, int improved);
/* Parameters, optimiser state and buffers, in bytes. */
size_t rs_model_footprint(const rs_train_model *model);

#endif
