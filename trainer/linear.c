/* linear.c - the linear item-embedding family (--model linear), the
 * smallest publishable model: a user is the sum of the embeddings of the
 * items in their history divided by sqrt(count), u = x E, and an item
 * scores u . q_j + b_j. Trained on the multinomial likelihood over all
 * items (Mult-VAE's loss) with input dropout. Servable as it is: the
 * encoder is one sparse_linear layer on the "sqrt_count" input, the item
 * matrix Q with bias b. Everything else - Adam, best epoch, publishing,
 * the serving index - is the generic spine's.
 *
 *   E (M x D)  encoder.0.weight   history item embeddings
 *   Q (M x D)  items.vectors      item vectors
 *   b (M)      items.bias
 */
#include <math.h>
#include <stdlib.h>

#include "family.h"
#include "input.h"

typedef struct linear_options {
    uint32_t dim;
    float dropout, lr, weight_decay;
    int batch_size;
} linear_options;

enum { E, Q, BIAS, N_TENSORS };

typedef struct linear {
    linear_options opt;
    uint32_t M, D;
    rs_params params;
    rs_input input;
    float *h, *dh, *logits; /* capacity x D, x D, x M */
} linear;

static void linear_free(void *self)
{
    linear *m = self;
    rs_params_free(&m->params);
    rs_input_free(&m->input);
    free(m->h);
    free(m->dh);
    free(m->logits);
    free(m);
}

/* Input batch to logits: h = X E, logits = h Q^T + b. */
static int forward(linear *m, const rs_csr *data, const uint32_t *users, int size,
                   const rs_rng *epoch_rng, float *logits, rs_sparse_batch *X, rs_error *err)
{
    if (rs_input_gather(&m->input, data, users, size, X, err) != 0) return -1;
    if (epoch_rng) rs_input_dropout(&m->input, X, users, epoch_rng, m->opt.dropout, NULL);
    const rs_param *t = m->params.t;
    rs_sparse_forward(m->h, X, t[E].value, NULL, (int)m->D);
    rs_dense_t_forward(logits, m->h, t[Q].value, t[BIAS].value, size, (int)m->D, (int)m->M);
    return 0;
}

/* Forward, loss and gradient; dropout only when training (epoch_rng). */
static int compute_gradient(linear *m, const rs_train_batch *batch, rs_step_stats *stats,
                            rs_error *err)
{
    rs_sparse_batch X;
    if (forward(m, batch->data, batch->users, batch->size, batch->epoch_rng, m->logits, &X, err))
        return -1;
    rs_sparse_batch targets = {X.n_rows, X.indptr, X.indices, NULL};
    *stats = (rs_step_stats){0};
    stats->loss = rs_softmax_nll(m->logits, m->logits, &targets, (int)m->M, 1.0f / batch->size);
    rs_params_zero_grad(&m->params);
    rs_param *t = m->params.t;
    rs_dense_t_backward(m->dh, t[Q].grad, t[BIAS].grad, m->logits, m->h, t[Q].value, batch->size,
                        (int)m->D, (int)m->M);
    rs_sparse_backward(t[E].grad, NULL, m->dh, &X, (int)m->D);
    return 0;
}

static int linear_train_batch(void *self, const rs_train_batch *batch, rs_step_stats *stats,
                              rs_error *err)
{
    linear *m = self;
    if (compute_gradient(m, batch, stats, err) != 0) return -1;
    rs_params_step(&m->params);
    return 0;
}

static int linear_gradient(void *self, const rs_train_batch *batch, double *objective,
                           rs_error *err)
{
    rs_train_batch b = *batch;
    b.epoch_rng = NULL;
    rs_step_stats stats;
    if (compute_gradient(self, &b, &stats, err) != 0) return -1;
    *objective = stats.loss / batch->size;
    return 0;
}

static int linear_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                        float *scores, rs_error *err)
{
    rs_sparse_batch X;
    return forward(self, input, users, size, NULL, scores, &X, err);
}

static json_t *linear_options_json(const void *self)
{
    const linear *m = self;
    return json_pack("{s:I, s:f, s:f, s:f, s:i}", "dim", (json_int_t)m->D, "dropout",
                     (double)m->opt.dropout, "lr", (double)m->opt.lr, "weight_decay",
                     (double)m->opt.weight_decay, "batch_size", m->opt.batch_size);
}

static int linear_create(const void *options, const rs_family_inputs *in, rs_train_model *out,
                         rs_error *err)
{
    const linear_options *o = options;
    linear *m = rs_calloc(1, sizeof(*m), err);
    if (!m) return -1;
    m->opt = *o;
    m->M = in->n_items;
    m->D = o->dim;
    size_t B = (size_t)o->batch_size, M = m->M, D = m->D;
    rs_tensor_spec specs[N_TENSORS] = {
        [E] = {"encoder.0.weight", M, D, RS_INIT_UNIFORM, 1.0 / sqrt((double)D), RS_OPTIM_DENSE},
        [Q] = {"items.vectors", M, D, RS_INIT_UNIFORM, 1.0 / sqrt((double)D), RS_OPTIM_DENSE},
        [BIAS] = {"items.bias", M, 0, RS_INIT_NORMAL, 0.001, RS_OPTIM_DENSE},
    };
    if (rs_params_init(&m->params, specs, N_TENSORS, in->seed, o->lr, o->weight_decay, err) ||
        rs_input_init(&m->input, o->batch_size, err) ||
        !(m->h = rs_aligned_alloc(B * D, sizeof(float), err)) ||
        !(m->dh = rs_aligned_alloc(B * D, sizeof(float), err)) ||
        !(m->logits = rs_aligned_alloc(B * M, sizeof(float), err))) {
        linear_free(m);
        return -1;
    }
    *out = (rs_train_model){
        .family = "linear",
        .self = m,
        .batch_capacity = o->batch_size,
        .n_items = m->M,
        .params = &m->params,
        .serve = {"sqrt_count",
                  1,
                  {{"sparse_linear", "encoder.0.weight", NULL, m->M, m->D, "none"}},
                  "items.vectors",
                  "items.bias",
                  NULL,
                  NULL},
        .train_batch = linear_train_batch,
        .score = linear_score,
        .gradient = linear_gradient,
        .options_json = linear_options_json,
        .free = linear_free,
    };
    return 0;
}

static const rs_option linear_option_table[] = {
    RS_OPT_HIDDEN(linear_options, dim, "embedding width", "64"),
    RS_OPT_DROPOUT(linear_options, dropout, "dropout probability on the input"),
    RS_OPT_LR(linear_options, lr, "3e-3"),
    RS_OPT_WEIGHT_DECAY(linear_options, weight_decay),
    RS_OPT_BATCH(linear_options, batch_size, "256"),
};

static void linear_default(void *options)
{
    rs_options_default(RS_FAMILY_OPTIONS(linear_option_table), options);
}

const rs_family rs_family_linear = {
    "linear",
    "linear item embeddings, full softmax",
    "Linear (--model linear)",
    sizeof(linear_options),
    linear_default,
    RS_FAMILY_OPTIONS(linear_option_table),
    linear_create,
    NULL,
};
