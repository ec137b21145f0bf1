/* vae.c - Mult-VAE training: batch assembly, forward, backward, Adam, and
 * publishing of the servable tensors (see vae.h). */
#include "vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adam.h"
#include "layers.h"
#include "publish.h"

struct rs_vae {
    rs_vae_options opt;
    uint32_t M, H, L;
    int capacity;

    size_t n_params;
    float *params, *grads, *best;
    float *W1, *b1, *W2, *b2, *W3, *b3, *W4, *b4, *A;          /* views into params */
    float *dW1, *db1, *dW2, *db2, *dW3, *db3, *dW4, *db4, *dA; /* views into grads */
    float pia_lambda;
    int evals_without_gain;
    rs_adam adam;

    /* Activations and their gradients for one batch (capacity rows). */
    float *h1, *e, *eps, *z, *h3, *logits;
    float *dh1, *de, *dz, *dh3;
    /* The sparse input batch being assembled. */
    uint64_t *x_indptr;
    uint32_t *x_indices;
    float *x_values;
    uint64_t x_capacity;
};

void rs_vae_options_default(rs_vae_options *o)
{
    o->hidden = 600;
    o->latent = 200;
    o->dropout = 0.5f;
    o->lr = 1e-3f;
    o->weight_decay = 0.0f;
    o->batch_size = 500;
    o->seed = 98765;
    o->pia_lambda = 0.0f;
    o->pia_patience = 2;
    o->pia_factor = 2.0f;
}

/* Lays out the parameter block; with base NULL only counts. */
static size_t layout(rs_vae *v, float *base, float **W1, float **b1, float **W2, float **b2,
                     float **W3, float **b3, float **W4, float **b4, float **A)
{
    size_t M = v->M, H = v->H, L = v->L, off = 0;
#define TAKE(ptr, count)                                                                           \
    do {                                                                                           \
        *(ptr) = base ? base + off : NULL;                                                         \
        off += (count);                                                                            \
    } while (0)
    TAKE(W1, M * H);
    TAKE(b1, H);
    TAKE(W2, H * 2 * L);
    TAKE(b2, 2 * L);
    TAKE(W3, L * H);
    TAKE(b3, H);
    TAKE(W4, M * H);
    TAKE(b4, M);
    TAKE(A, v->opt.pia_lambda > 0.0f ? M * L : 0);
    if (v->opt.pia_lambda <= 0.0f) *A = NULL;
#undef TAKE
    return off;
}

/* Weights ~ N(0, 2 / (fan_in + fan_out)), biases ~ N(0, 0.001^2), as in the
 * reference implementations. */
static void init_normal(float *x, size_t n, double std, rs_rng *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * rs_rng_normal(rng));
}

static void init_params(rs_vae *v)
{
    rs_rng rng;
    rs_rng_seed(&rng, v->opt.seed);
    double M = v->M, H = v->H, L = v->L;
    init_normal(v->W1, (size_t)(M * H), sqrt(2.0 / (M + H)), &rng);
    init_normal(v->b1, v->H, 0.001, &rng);
    init_normal(v->W2, (size_t)(H * 2 * L), sqrt(2.0 / (H + 2 * L)), &rng);
    init_normal(v->b2, 2 * v->L, 0.001, &rng);
    init_normal(v->W3, (size_t)(L * H), sqrt(2.0 / (L + H)), &rng);
    init_normal(v->b3, v->H, 0.001, &rng);
    init_normal(v->W4, (size_t)(M * H), sqrt(2.0 / (H + M)), &rng);
    init_normal(v->b4, v->M, 0.001, &rng);
    if (v->A) init_normal(v->A, (size_t)(M * L), sqrt(1.0 / L), &rng);
}

static void vae_free(void *self)
{
    rs_vae *v = self;
    if (!v) return;
    free(v->params);
    free(v->grads);
    free(v->best);
    rs_adam_free(&v->adam);
    free(v->h1);
    free(v->e);
    free(v->eps);
    free(v->z);
    free(v->h3);
    free(v->logits);
    free(v->dh1);
    free(v->de);
    free(v->dz);
    free(v->dh3);
    free(v->x_indptr);
    free(v->x_indices);
    free(v->x_values);
    free(v);
}

static int alloc_buffers(rs_vae *v, rs_error *err)
{
    size_t B = (size_t)v->capacity, M = v->M, H = v->H, L = v->L;
    v->n_params =
        layout(v, NULL, &v->W1, &v->b1, &v->W2, &v->b2, &v->W3, &v->b3, &v->W4, &v->b4, &v->A);
    if (!(v->params = rs_aligned_alloc(v->n_params, sizeof(float), err))) return -1;
    if (!(v->grads = rs_aligned_alloc(v->n_params, sizeof(float), err))) return -1;
    layout(v, v->params, &v->W1, &v->b1, &v->W2, &v->b2, &v->W3, &v->b3, &v->W4, &v->b4, &v->A);
    layout(v, v->grads, &v->dW1, &v->db1, &v->dW2, &v->db2, &v->dW3, &v->db3, &v->dW4, &v->db4,
           &v->dA);
    if (rs_adam_init(&v->adam, v->n_params, v->opt.lr, v->opt.weight_decay, err) != 0) return -1;
    float **bufs[] = {&v->h1, &v->dh1, &v->h3, &v->dh3};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        if (!(*bufs[i] = rs_aligned_alloc(B * H, sizeof(float), err))) return -1;
    if (!(v->e = rs_aligned_alloc(B * 2 * L, sizeof(float), err))) return -1;
    if (!(v->de = rs_aligned_alloc(B * 2 * L, sizeof(float), err))) return -1;
    if (!(v->eps = rs_aligned_alloc(B * L, sizeof(float), err))) return -1;
    if (!(v->z = rs_aligned_alloc(B * L, sizeof(float), err))) return -1;
    if (!(v->dz = rs_aligned_alloc(B * L, sizeof(float), err))) return -1;
    if (!(v->logits = rs_aligned_alloc(B * M, sizeof(float), err))) return -1;
    if (!(v->x_indptr = rs_malloc(B + 1, sizeof(uint64_t), err))) return -1;
    return 0;
}

/* Makes room for nnz non-zeros in the input batch. */
static int reserve_input(rs_vae *v, uint64_t nnz, rs_error *err)
{
    if (nnz <= v->x_capacity) return 0;
    uint64_t cap = nnz + nnz / 2 + 1024;
    uint32_t *indices = realloc(v->x_indices, cap * sizeof(uint32_t));
    if (!indices)
        return rs_fail(err, "out of memory for a batch of %llu interactions",
                       (unsigned long long)nnz);
    v->x_indices = indices;
    float *values = realloc(v->x_values, cap * sizeof(float));
    if (!values)
        return rs_fail(err, "out of memory for a batch of %llu interactions",
                       (unsigned long long)nnz);
    v->x_values = values;
    v->x_capacity = cap;
    return 0;
}

/* Gathers the rows of users into the input batch: values 1/sqrt(n) (the L2
 * normalisation of a binary row), then, when training, inverted dropout
 * (kept entries scaled by 1/(1-p)). Each user's randomness comes from its
 * own stream split off epoch_rng by user id, so results do not depend on
 * the batch order or the thread count. eps receives the latent noise. */
static int build_input(rs_vae *v, const rs_csr *data, const uint32_t *users, int size,
                       const rs_rng *epoch_rng, float dropout, rs_sparse_batch *X, rs_error *err)
{
    uint64_t nnz = 0;
    v->x_indptr[0] = 0;
    for (int r = 0; r < size; r++) {
        uint32_t u = users[r];
        nnz += data->indptr[u + 1] - data->indptr[u];
        v->x_indptr[r + 1] = nnz;
    }
    if (reserve_input(v, nnz, err) != 0) return -1;
    float keep_scale = dropout > 0.0f ? 1.0f / (1.0f - dropout) : 1.0f;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < size; r++) {
        uint32_t u = users[r];
        const uint32_t *row = data->indices + data->indptr[u];
        uint64_t n = data->indptr[u + 1] - data->indptr[u], out = v->x_indptr[r];
        float value = n ? 1.0f / sqrtf((float)n) : 0.0f;
        rs_rng rng;
        if (epoch_rng) rs_rng_split(epoch_rng, u, &rng);
        for (uint64_t p = 0; p < n; p++) {
            int kept = !epoch_rng || dropout <= 0.0f || rs_rng_uniform_f(&rng) >= dropout;
            v->x_indices[out + p] = row[p];
            v->x_values[out + p] = kept ? value * keep_scale : 0.0f;
        }
        if (epoch_rng)
            for (uint32_t j = 0; j < v->L; j++)
                v->eps[(long)r * v->L + j] = (float)rs_rng_normal(&rng);
    }
    X->n_rows = (uint32_t)size;
    X->indptr = v->x_indptr;
    X->indices = v->x_indices;
    X->values = v->x_values;
    return 0;
}

/* Forward from the input batch to logits; eps NULL means evaluation (z = mu). */
static void forward(rs_vae *v, const rs_sparse_batch *X, const float *eps, float *logits)
{
    int B = (int)X->n_rows, M = (int)v->M, H = (int)v->H, L = (int)v->L;
    rs_sparse_forward(v->h1, X, v->W1, v->b1, H);
    rs_tanh_forward(v->h1, v->h1, (long)B * H);
    rs_dense_forward(v->e, v->h1, v->W2, v->b2, B, H, 2 * L);
    rs_gaussian_forward(v->z, v->e, eps, B, L);
    rs_dense_forward(v->h3, v->z, v->W3, v->b3, B, L, H);
    rs_tanh_forward(v->h3, v->h3, (long)B * H);
    rs_dense_t_forward(logits, v->h3, v->W4, v->b4, B, H, M);
}

/* PIA: adds scale * R(u) to the gradients of (mu, logvar) in de and of the
 * anchors of each user's positives; returns the sum of R(u) over the batch.
 *   R = mean_i ||mu - a_i||^2 + sum exp(logvar)
 *   dR/dmu = 2 (mu - c), dR/dlogvar = exp(logvar), dR/da_i = 2 (a_i - mu) / |P|
 * Serial over rows because rows share anchors. */
static double pia_backward(rs_vae *v, const rs_sparse_batch *X, float scale)
{
    int L = (int)v->L;
    double total = 0.0;
    for (uint32_t r = 0; r < X->n_rows; r++) {
        uint64_t n = X->indptr[r + 1] - X->indptr[r];
        if (n == 0) continue;
        const float *mu = v->e + (size_t)r * 2 * L, *logvar = mu + L;
        float *dmu = v->de + (size_t)r * 2 * L, *dlogvar = dmu + L;
        double reg = 0.0;
        for (uint64_t p = X->indptr[r]; p < X->indptr[r + 1]; p++) {
            const float *a = v->A + (size_t)X->indices[p] * L;
            float *da = v->dA + (size_t)X->indices[p] * L;
            for (int j = 0; j < L; j++) {
                float diff = mu[j] - a[j];
                reg += (double)diff * diff / (double)n;
                dmu[j] += scale * 2.0f * diff / (float)n;
                da[j] -= scale * 2.0f * diff / (float)n;
            }
        }
        for (int j = 0; j < L; j++) {
            float var = expf(logvar[j]);
            reg += var;
            dlogvar[j] += scale * var;
        }
        total += reg;
    }
    return total;
}

/* Backward from dlogits (in v->logits) to every parameter gradient. The
 * gradients are accumulated; the caller zeroes them. Returns the KL sum;
 * *pia receives the PIA regulariser sum (0 when off). */
static double backward(rs_vae *v, const rs_sparse_batch *X, const float *eps, float kl_scale,
                       float pia_scale, double *pia)
{
    int B = (int)X->n_rows, M = (int)v->M, H = (int)v->H, L = (int)v->L;
    rs_dense_t_backward(v->dh3, v->dW4, v->db4, v->logits, v->h3, v->W4, B, H, M);
    rs_tanh_backward(v->dh3, v->dh3, v->h3, (long)B * H);
    rs_dense_backward(v->dz, v->dW3, v->db3, v->dh3, v->z, v->W3, B, L, H);
    double kl = rs_gaussian_backward(v->de, v->dz, v->e, eps, B, L, kl_scale);
    *pia = v->A ? pia_backward(v, X, pia_scale) : 0.0;
    rs_dense_backward(v->dh1, v->dW2, v->db2, v->de, v->h1, v->W2, B, H, 2 * L);
    rs_tanh_backward(v->dh1, v->dh1, v->h1, (long)B * H);
    rs_sparse_backward(v->dW1, v->db1, v->dh1, X, H);
    return kl;
}

/* Forward + backward of the objective (nll + beta * KL) / size. */
static int compute_gradient(rs_vae *v, const rs_train_batch *batch, const float *eps, float dropout,
                            rs_step_stats *stats, rs_error *err)
{
    if (batch->size > v->capacity)
        return rs_fail(err, "batch of %d users exceeds capacity %d", batch->size, v->capacity);
    rs_sparse_batch X;
    if (build_input(v, batch->data, batch->users, batch->size, batch->epoch_rng, dropout, &X,
                    err) != 0)
        return -1;
    if (!batch->epoch_rng) {
        if (eps)
            memcpy(v->eps, eps, sizeof(float) * (size_t)batch->size * v->L);
        else
            memset(v->eps, 0, sizeof(float) * (size_t)batch->size * v->L);
    }
    forward(v, &X, v->eps, v->logits);
    /* The likelihood targets are the user's positives with weight 1. */
    rs_sparse_batch T = {X.n_rows, X.indptr, X.indices, NULL};
    float scale = 1.0f / (float)batch->size;
    stats->loss = rs_softmax_nll(v->logits, v->logits, &T, (int)v->M, scale);
    memset(v->grads, 0, v->n_params * sizeof(float));
    stats->kl = backward(v, &X, v->eps, batch->beta * scale, v->pia_lambda * scale, &stats->reg);
    stats->reg *= v->pia_lambda;
    return 0;
}

static int vae_train_batch(void *self, const rs_train_batch *batch, rs_step_stats *stats,
                           rs_error *err)
{
    rs_vae *v = self;
    if (compute_gradient(v, batch, NULL, v->opt.dropout, stats, err) != 0) return -1;
    rs_adam_step(&v->adam, v->params, v->grads);
    return 0;
}

static int vae_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                     float *scores, rs_error *err)
{
    rs_vae *v = self;
    if (size > v->capacity)
        return rs_fail(err, "batch of %d users exceeds capacity %d", size, v->capacity);
    rs_sparse_batch X;
    if (build_input(v, input, users, size, NULL, 0.0f, &X, err) != 0) return -1;
    forward(v, &X, NULL, scores);
    return 0;
}

static int vae_keep_best(void *self, rs_error *err)
{
    rs_vae *v = self;
    return rs_params_keep(&v->best, v->params, v->n_params, err);
}

static int vae_restore_best(void *self, rs_error *err)
{
    rs_vae *v = self;
    return rs_params_restore(v->params, v->best, v->n_params, err);
}

static int vae_publish(void *self, rs_publish *pub, json_t *manifest, rs_error *err)
{
    rs_vae *v = self;
    uint64_t M = v->M, H = v->H, L = v->L;
    struct {
        const char *name;
        const float *data;
        uint32_t ndim;
        uint64_t shape[2];
    } tensors[] = {
        {"encoder.0.weight", v->W1, 2, {M, H}},     {"encoder.0.bias", v->b1, 1, {H, 0}},
        {"encoder.1.weight", v->W2, 2, {H, 2 * L}}, {"encoder.1.bias", v->b2, 1, {2 * L, 0}},
        {"decoder.0.weight", v->W3, 2, {L, H}},     {"decoder.0.bias", v->b3, 1, {H, 0}},
        {"items.vectors", v->W4, 2, {M, H}},        {"items.bias", v->b4, 1, {M, 0}},
    };
    for (size_t i = 0; i < sizeof(tensors) / sizeof(tensors[0]); i++)
        if (rs_publish_tensor(pub, tensors[i].name, RS_F32, tensors[i].ndim, tensors[i].shape,
                              tensors[i].data, err) != 0)
            return -1;
    json_t *layers = json_array();
    json_array_append_new(layers, rs_manifest_layer("sparse_linear", "encoder.0.weight",
                                                    "encoder.0.bias", v->M, v->H, "tanh"));
    json_array_append_new(layers, rs_manifest_layer("linear", "encoder.1.weight", "encoder.1.bias",
                                                    v->H, 2 * v->L, "none"));
    json_array_append_new(layers,
                          rs_manifest_layer("gaussian_mean", "", NULL, 2 * v->L, v->L, "none"));
    json_array_append_new(layers, rs_manifest_layer("linear", "decoder.0.weight", "decoder.0.bias",
                                                    v->L, v->H, "tanh"));
    json_t *encoder = json_pack("{s:s, s:o}", "input", "l2", "layers", layers);
    json_t *items = json_pack("{s:s, s:s, s:I}", "vectors", "items.vectors", "bias", "items.bias",
                              "dim", (json_int_t)v->H);
    json_t *hyper =
        json_pack("{s:I, s:I, s:f, s:f, s:f, s:i}", "hidden", (json_int_t)v->H, "latent",
                  (json_int_t)v->L, "dropout", (double)v->opt.dropout, "lr", (double)v->opt.lr,
                  "weight_decay", (double)v->opt.weight_decay, "batch_size", v->opt.batch_size);
    if (!encoder || !items || !hyper) {
        json_decref(encoder);
        json_decref(items);
        json_decref(hyper);
        return rs_fail(err, "out of memory building the manifest");
    }
    if (v->A) {
        uint64_t shape[2] = {M, L};
        if (rs_publish_tensor(pub, "items.anchors", RS_F32, 2, shape, v->A, err) != 0) {
            json_decref(encoder);
            json_decref(items);
            json_decref(hyper);
            return -1;
        }
        json_object_set_new(items, "anchors", json_string("items.anchors"));
        json_object_set_new(hyper, "pia_lambda", json_real(v->opt.pia_lambda));
        json_object_set_new(hyper, "pia_lambda_final", json_real(v->pia_lambda));
    }
    json_object_set_new(manifest, "family", json_string("vae"));
    json_object_set_new(manifest, "encoder", encoder);
    json_object_set_new(manifest, "items", items);
    json_object_set_new(manifest, "model_options", hyper);
    return rs_publish_retrieval_index(pub, manifest, v->W4, v->b4, v->M, v->H, v->opt.seed, err);
}

/* PIA's adaptive schedule: lambda grows after pia_patience evaluations
 * without a validation gain. */
static void vae_after_eval(void *self, int epoch, double selection_value, int improved)
{
    rs_vae *v = self;
    if (!v->A) return;
    v->evals_without_gain = improved ? 0 : v->evals_without_gain + 1;
    if (v->evals_without_gain >= v->opt.pia_patience) {
        v->pia_lambda *= v->opt.pia_factor;
        v->evals_without_gain = 0;
        fprintf(stderr, "epoch %d: no validation gain for %d evaluations, PIA lambda -> %g\n",
                epoch, v->opt.pia_patience, (double)v->pia_lambda);
    }
}

static size_t vae_footprint(const void *self)
{
    const rs_vae *v = self;
    size_t B = (size_t)v->capacity;
    size_t floats = v->n_params * (v->best ? 5 : 4) /* params, grads, adam m, v */ +
                    B * (4 * v->H + 4 * v->L + 2 * v->L + v->M);
    return floats * sizeof(float) + v->x_capacity * 8;
}

int rs_vae_create(const rs_vae_options *o, uint32_t n_items, rs_train_model *out, rs_error *err)
{
    if (n_items == 0 || o->hidden == 0 || o->latent == 0 || o->batch_size <= 0)
        return rs_fail(err, "vae: items, hidden, latent and batch size must be positive");
    if (o->dropout < 0.0f || o->dropout >= 1.0f)
        return rs_fail(err, "vae: dropout must be in [0, 1), got %g", (double)o->dropout);
    rs_vae *v = rs_calloc(1, sizeof(*v), err);
    if (!v) return -1;
    v->opt = *o;
    v->M = n_items;
    v->H = o->hidden;
    v->L = o->latent;
    v->capacity = o->batch_size;
    v->pia_lambda = o->pia_lambda;
    if (alloc_buffers(v, err) != 0) {
        vae_free(v);
        return -1;
    }
    init_params(v);
    memset(out, 0, sizeof(*out));
    out->family = "vae";
    out->self = v;
    out->batch_capacity = v->capacity;
    out->n_items = n_items;
    out->train_batch = vae_train_batch;
    out->score = vae_score;
    out->keep_best = vae_keep_best;
    out->restore_best = vae_restore_best;
    out->publish = vae_publish;
    out->footprint = vae_footprint;
    out->after_eval = vae_after_eval;
    out->free = vae_free;
    return 0;
}

rs_vae *rs_vae_of(rs_train_model *model)
{
    return model->self;
}

float *rs_vae_params(rs_vae *vae, size_t *n)
{
    *n = vae->n_params;
    return vae->params;
}

float *rs_vae_grads(rs_vae *vae)
{
    return vae->grads;
}

int rs_vae_gradient(rs_vae *vae, const rs_train_batch *batch, const float *fixed_eps,
                    double *objective, rs_error *err)
{
    rs_step_stats stats;
    rs_train_batch b = *batch;
    b.epoch_rng = NULL; /* deterministic: no dropout, eps from fixed_eps */
    if (compute_gradient(vae, &b, fixed_eps, 0.0f, &stats, err) != 0) return -1;
    *objective = (stats.loss + batch->beta * stats.kl + stats.reg) / batch->size;
    return 0;
}
