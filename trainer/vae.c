/* vae.c - Mult-VAE: its tensor table, forward and backward, and its
 * manifest description (see vae.h); Adam, best-epoch keeping, PIA and
 * publishing are the generic spine's (params.c, pia.c, publish.c). */
#include "vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "family.h"
#include "input.h"
#include "layers.h"

enum { W1, B1, W2, B2, W3, B3, W4, B4, ANCHORS, N_TENSORS };

struct rs_vae {
    rs_vae_options opt;
    uint32_t M, H, L;
    int capacity;
    rs_params params;
    rs_param *t; /* params.t: t[W1].value, t[W1].grad, ... */
    rs_pia pia;
    /* Activations and their gradients for one batch (capacity rows). */
    float *h1, *e, *eps, *z, *h3, *logits;
    float *dh1, *de, *dz, *dh3;
    rs_input input;
    rs_rng *user_rng; /* capacity per-user streams */
    rs_vae_loss loss; /* compute NULL: the multinomial likelihood */
};

/* The command line's options of the family, and their defaults. */
static const rs_option vae_options[] = {RS_OPT_VAE};

void rs_vae_options_default(rs_vae_options *o)
{
    memset(o, 0, sizeof(*o));
    rs_options_default(vae_options, sizeof(vae_options) / sizeof(vae_options[0]), o);
    o->seed = 98765;
}

/* Weights ~ N(0, 2 / (fan_in + fan_out)), biases ~ N(0, 0.001^2), as in the
 * reference implementations; anchors ~ N(0, 1 / L). */
static int init_params(rs_vae *v, rs_error *err)
{
    uint64_t M = v->M, H = v->H, L = v->L;
    double m = M, h = H, l = L;
    rs_tensor_spec specs[N_TENSORS] = {
        [W1] = {"encoder.0.weight", M, H, RS_INIT_NORMAL, sqrt(2.0 / (m + h)), RS_OPTIM_DENSE},
        [B1] = {"encoder.0.bias", H, 0, RS_INIT_NORMAL, 0.001, RS_OPTIM_DENSE},
        [W2] = {"encoder.1.weight", H, 2 * L, RS_INIT_NORMAL, sqrt(2.0 / (h + 2 * l)),
                RS_OPTIM_DENSE},
        [B2] = {"encoder.1.bias", 2 * L, 0, RS_INIT_NORMAL, 0.001, RS_OPTIM_DENSE},
        [W3] = {"decoder.0.weight", L, H, RS_INIT_NORMAL, sqrt(2.0 / (l + h)), RS_OPTIM_DENSE},
        [B3] = {"decoder.0.bias", H, 0, RS_INIT_NORMAL, 0.001, RS_OPTIM_DENSE},
        [W4] = {"items.vectors", M, H, RS_INIT_NORMAL, sqrt(2.0 / (h + m)), RS_OPTIM_DENSE},
        [B4] = {"items.bias", M, 0, RS_INIT_NORMAL, 0.001, RS_OPTIM_DENSE},
        [ANCHORS] = {"items.anchors", v->opt.pia_lambda > 0.0f ? M : 0, L, RS_INIT_NORMAL,
                     sqrt(1.0 / l), RS_OPTIM_DENSE},
    };
    if (rs_params_init(&v->params, specs, N_TENSORS, v->opt.seed, v->opt.lr, v->opt.weight_decay,
                       err) != 0)
        return -1;
    v->t = v->params.t;
    return 0;
}

static void vae_free(void *self)
{
    rs_vae *v = self;
    if (!v) return;
    rs_params_free(&v->params);
    float *bufs[] = {v->h1, v->e, v->eps, v->z, v->h3, v->logits, v->dh1, v->de, v->dz, v->dh3};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) free(bufs[i]);
    rs_input_free(&v->input);
    free(v->user_rng);
    if (v->loss.free) v->loss.free(v->loss.self);
    free(v);
}

static int alloc_buffers(rs_vae *v, rs_error *err)
{
    size_t B = (size_t)v->capacity, M = v->M, H = v->H, L = v->L;
    struct {
        float **buf;
        size_t n;
    } bufs[] = {{&v->h1, B * H},    {&v->dh1, B * H},    {&v->h3, B * H},  {&v->dh3, B * H},
                {&v->e, B * 2 * L}, {&v->de, B * 2 * L}, {&v->eps, B * L}, {&v->z, B * L},
                {&v->dz, B * L},    {&v->logits, B * M}};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        if (!(*bufs[i].buf = rs_aligned_alloc(bufs[i].n, sizeof(float), err))) return -1;
    if (!(v->user_rng = rs_malloc(B, sizeof(rs_rng), err))) return -1;
    return rs_input_init(&v->input, v->capacity, err);
}

/* The rows of users as the input batch, then, when training, inverted
 * dropout (kept entries scaled by 1/(1-p)). Each user's randomness comes
 * from its own stream split off epoch_rng by user id, so results do not
 * depend on the batch order or the thread count. eps receives the latent
 * noise. */
static int build_input(rs_vae *v, const rs_csr *data, const uint32_t *users, int size,
                       const rs_rng *epoch_rng, float dropout, rs_sparse_batch *X, rs_error *err)
{
    if (rs_input_gather(&v->input, data, users, size, X, err) != 0) return -1;
    if (!epoch_rng) return 0;
    rs_input_dropout(&v->input, X, users, epoch_rng, dropout, v->user_rng);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < size; r++)
        for (uint32_t j = 0; j < v->L; j++)
            v->eps[(long)r * v->L + j] = (float)rs_rng_normal(&v->user_rng[r]);
    return 0;
}

/* Forward from the input batch to logits; eps NULL means evaluation (z = mu). */
static void forward(rs_vae *v, const rs_sparse_batch *X, const float *eps, float *logits)
{
    int B = (int)X->n_rows, M = (int)v->M, H = (int)v->H, L = (int)v->L;
    const rs_param *t = v->t;
    rs_sparse_forward(v->h1, X, t[W1].value, t[B1].value, H);
    rs_tanh_forward(v->h1, v->h1, (long)B * H);
    rs_dense_forward(v->e, v->h1, t[W2].value, t[B2].value, B, H, 2 * L);
    rs_gaussian_forward(v->z, v->e, eps, B, L);
    rs_dense_forward(v->h3, v->z, t[W3].value, t[B3].value, B, L, H);
    rs_tanh_forward(v->h3, v->h3, (long)B * H);
    rs_dense_t_forward(logits, v->h3, t[W4].value, t[B4].value, B, H, M);
}

/* Backward from dlogits (in v->logits) to every parameter gradient. The
 * gradients are accumulated; the caller zeroes them. Returns the KL sum;
 * *pia receives the PIA regulariser sum (0 when off). */
static double backward(rs_vae *v, const rs_sparse_batch *X, const float *eps, float kl_scale,
                       float pia_scale, double *pia, rs_error *err)
{
    int B = (int)X->n_rows, M = (int)v->M, H = (int)v->H, L = (int)v->L;
    rs_param *t = v->t;
    rs_dense_t_backward(v->dh3, t[W4].grad, t[B4].grad, v->logits, v->h3, t[W4].value, B, H, M);
    rs_tanh_backward(v->dh3, v->dh3, v->h3, (long)B * H);
    rs_dense_backward(v->dz, t[W3].grad, t[B3].grad, v->dh3, v->z, t[W3].value, B, L, H);
    double kl = rs_gaussian_backward(v->de, v->dz, v->e, eps, B, L, kl_scale);
    *pia = 0.0;
    if (t[ANCHORS].size)
        rs_pia_backward(X, v->e, v->de, v->L, &t[ANCHORS], pia_scale, pia,
                        err); /* dense: no fail */
    rs_dense_backward(v->dh1, t[W2].grad, t[B2].grad, v->de, v->h1, t[W2].value, B, H, 2 * L);
    rs_tanh_backward(v->dh1, v->dh1, v->h1, (long)B * H);
    rs_sparse_backward(t[W1].grad, t[B1].grad, v->dh1, X, H);
    return kl;
}

/* Forward + backward of the objective (nll + beta * KL) / size. */
static int compute_gradient(rs_vae *v, const rs_train_batch *batch, const float *eps, float dropout,
                            rs_step_stats *stats, rs_error *err)
{
    rs_sparse_batch X;
    if (build_input(v, batch->data, batch->users, batch->size, batch->epoch_rng, dropout, &X,
                    err) != 0)
        return -1;
    if (!batch->epoch_rng) rs_input_fixed_noise(v->eps, eps, (size_t)batch->size * v->L);
    forward(v, &X, v->eps, v->logits);
    /* The likelihood targets are the user's positives, each with its
     * weight (1 for a binary matrix; ProRec's soft labels otherwise). */
    rs_sparse_batch T = {X.n_rows, X.indptr, X.indices, rs_input_weights(&v->input)};
    float scale = 1.0f / (float)batch->size;
    if (!v->loss.compute)
        stats->loss = rs_softmax_nll(v->logits, v->logits, &T, (int)v->M, scale);
    else if (v->loss.compute(v->loss.self, v->logits, v->logits, &T, scale, &stats->loss, err) != 0)
        return -1;
    rs_params_zero_grad(&v->params);
    stats->kl =
        backward(v, &X, v->eps, batch->beta * scale, v->pia.lambda * scale, &stats->reg, err);
    stats->reg *= v->pia.lambda;
    return 0;
}

static int vae_train_batch(void *self, const rs_train_batch *batch, rs_step_stats *stats,
                           rs_error *err)
{
    rs_vae *v = self;
    if (compute_gradient(v, batch, NULL, v->opt.dropout, stats, err) != 0) return -1;
    rs_params_step(&v->params);
    return 0;
}

static int vae_begin_epoch(void *self, int epoch, rs_rng *rng, rs_error *err)
{
    (void)rng, (void)err;
    rs_vae *v = self;
    v->loss.begin_epoch(v->loss.self, epoch);
    return 0;
}

static int vae_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                     float *scores, rs_error *err)
{
    rs_vae *v = self;
    rs_sparse_batch X;
    if (build_input(v, input, users, size, NULL, 0.0f, &X, err) != 0) return -1;
    forward(v, &X, NULL, scores);
    return 0;
}

static int vae_gradient(void *self, const rs_train_batch *batch, double *objective, rs_error *err)
{
    return rs_vae_gradient(self, batch, NULL, objective, err);
}

static json_t *vae_options_json(const void *self)
{
    const rs_vae *v = self;
    json_t *o =
        json_pack("{s:I, s:I, s:f, s:f, s:f, s:i}", "hidden", (json_int_t)v->H, "latent",
                  (json_int_t)v->L, "dropout", (double)v->opt.dropout, "lr", (double)v->opt.lr,
                  "weight_decay", (double)v->opt.weight_decay, "batch_size", v->opt.batch_size);
    if (o && v->loss.options_json &&
        json_object_set_new(o, "loss", v->loss.options_json(v->loss.self)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static size_t vae_footprint(const void *self)
{
    const rs_vae *v = self;
    size_t B = (size_t)v->capacity;
    size_t loss = v->loss.footprint ? v->loss.footprint(v->loss.self) : 0;
    return B * (4 * v->H + 4 * v->L + 2 * v->L + v->M) * sizeof(float) + v->input.cap * 8 + loss;
}

/* The manifest's encoder: [M -> H tanh] -> [H -> 2L] -> mu -> [L -> H tanh]. */
static void describe(rs_vae *v, rs_servable *s)
{
    uint32_t M = v->M, H = v->H, L = v->L;
    *s = (rs_servable){
        "l2",
        4,
        {{"sparse_linear", "encoder.0.weight", "encoder.0.bias", M, H, "tanh"},
         {"linear", "encoder.1.weight", "encoder.1.bias", H, 2 * L, "none"},
         {"gaussian_mean", "", NULL, 2 * L, L, "none"},
         {"linear", "decoder.0.weight", "decoder.0.bias", L, H, "tanh"}},
        "items.vectors",
        "items.bias",
        "items.anchors",
        NULL,
    };
}

int rs_vae_create(const rs_vae_options *o, uint32_t n_items, rs_train_model *out, rs_error *err)
{
    return rs_vae_create_with_loss(o, n_items, NULL, out, err);
}

static int check_options(const rs_vae_options *o, uint32_t n_items, rs_error *err)
{
    if (n_items == 0 || o->hidden == 0 || o->latent == 0 || o->batch_size <= 0)
        return rs_fail(err, "vae: items, hidden, latent and batch size must be positive");
    if (o->dropout < 0.0f || o->dropout >= 1.0f)
        return rs_fail(err, "vae: dropout must be in [0, 1), got %g", (double)o->dropout);
    return 0;
}

int rs_vae_create_with_loss(const rs_vae_options *o, uint32_t n_items, const rs_vae_loss *loss,
                            rs_train_model *out, rs_error *err)
{
    rs_vae *v = NULL;
    if (check_options(o, n_items, err) != 0 || !(v = rs_calloc(1, sizeof(*v), err))) {
        if (loss && loss->free) loss->free(loss->self);
        return -1;
    }
    if (loss) v->loss = *loss;
    v->opt = *o;
    v->M = n_items, v->H = o->hidden, v->L = o->latent, v->capacity = o->batch_size;
    rs_pia_init(&v->pia, o->pia_lambda, o->pia_patience, o->pia_factor);
    if (init_params(v, err) != 0 || alloc_buffers(v, err) != 0) {
        vae_free(v);
        return -1;
    }
    *out = (rs_train_model){
        .family = loss ? loss->family : "vae",
        .self = v,
        .batch_capacity = v->capacity,
        .n_items = n_items,
        .params = &v->params,
        .pia = v->t[ANCHORS].size ? &v->pia : NULL,
        .begin_epoch = v->loss.begin_epoch ? vae_begin_epoch : NULL,
        .train_batch = vae_train_batch,
        .score = vae_score,
        .gradient = vae_gradient,
        .options_json = vae_options_json,
        .footprint = vae_footprint,
        .free = vae_free,
        .weighted = loss == NULL, /* the built-in likelihood reads the weights */
    };
    describe(v, &out->serve);
    return 0;
}

rs_vae *rs_vae_of(rs_train_model *model)
{
    return model->self;
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

/* --- the family (family.h) --- */

static void vae_options_default(void *options)
{
    rs_vae_options_default(options);
}

static int vae_family_create(const void *options, const rs_family_inputs *in, rs_train_model *out,
                             rs_error *err)
{
    rs_vae_options o = *(const rs_vae_options *)options;
    o.seed = in->seed;
    return rs_vae_create(&o, in->n_items, out, err);
}

const rs_family rs_family_vae = {
    "vae",
    "Mult-VAE, full softmax",
    "Mult-VAE (--model vae)",
    sizeof(rs_vae_options),
    vae_options_default,
    RS_FAMILY_OPTIONS(vae_options),
    vae_family_create,
    NULL,
};
