/* ganmf_family.c - GANMF (--model ganmf) on the family spine: the
 * generator/discriminator pair of trainer/ganmf.h, served as a factor
 * model (proto/model.md, "Factor models").
 *
 * Epoch mapping. A GANMF epoch (the authors' code) is a discriminator pass
 * over all users in batches, then a generator pass over the same shuffled
 * order (or, with --alternate-per-batch, D then G per batch). That is
 * rs_ganmf_train_epoch: begin_epoch marks the epoch, its first train_batch
 * runs the whole epoch over batch->data and the other batches do nothing.
 * Its loss is L_G (mean over steps) and its "reg" L_D. After the epoch the
 * generator's factors are copied into the tensor table, which the spine
 * keeps (best epoch), restores and publishes.
 *
 * Scoring: GANMF is transductive. A known user is scored by their own
 * generated profile Sigma[u] V^T, whatever the input row (the paper's and
 * bench/ganmf_eval.c's protocol), and so does the server for a known user.
 * Any other history is folded in by ridge over V at request time,
 * u = (VᵀV + λ I)⁻¹ Vᵀ x with λ = --foldin-reg (bench/ganmf_eval.c measured
 * this fold-in at +0.01 NDCG@50 over Sigma on ml100k with λ 30).
 *
 *   users.factors  (n_users x K)  Sigma
 *   items.vectors  (n_items x K)  V
 */
#include <stdlib.h>
#include <string.h>

#include "factor_family.h"
#include "family.h"
#include "ganmf.h"

typedef struct ganmf_options {
    uint32_t factors, hidden;
    int batch_size, alternate_per_batch, lazy_users;
    float margin, lr_d, lr_g, reg_d, alpha, foldin_reg;
} ganmf_options;

enum { USERS, ITEMS, N_TENSORS };

typedef struct ganmf_family {
    ganmf_options opt;
    rs_ganmf g;
    rs_params params; /* the generator's factors after the last epoch */
    rs_foldin_spec foldin;
    int epoch_pending;
    float *user_rows; /* batch_size x K */
} ganmf_family;

static void ganmf_family_free(void *self)
{
    ganmf_family *m = self;
    rs_ganmf_free(&m->g);
    rs_params_free(&m->params);
    free(m->user_rows);
    free(m);
}

static int ganmf_begin_epoch(void *self, int epoch, rs_rng *rng, rs_error *err)
{
    ((ganmf_family *)self)->epoch_pending = 1;
    return 0;
}

static int ganmf_train_batch(void *self, const rs_train_batch *batch, rs_step_stats *stats,
                             rs_error *err)
{
    ganmf_family *m = self;
    *stats = (rs_step_stats){0};
    if (!m->epoch_pending) return 0;
    if (batch->data->n_rows != m->g.n_users || batch->data->n_cols != m->g.n_items)
        return rs_fail(err, "GANMF: training matrix %u x %u, model %u x %u", batch->data->n_rows,
                       batch->data->n_cols, m->g.n_users, m->g.n_items);
    rs_ganmf_epoch_stats e;
    rs_ganmf_train_epoch(&m->g, batch->data, &e);
    m->epoch_pending = 0;
    size_t K = m->g.config.factors;
    memcpy(m->params.t[USERS].value, m->g.user_factors, sizeof(float) * m->g.n_users * K);
    memcpy(m->params.t[ITEMS].value, m->g.item_factors, sizeof(float) * m->g.n_items * K);
    /* The spine divides by the users: report the step means per user. */
    stats->loss = e.loss_g * m->g.n_users;
    stats->reg = e.loss_d * m->g.n_users;
    return 0;
}

/* scores = Sigma[users] V^T from the tensor table (the kept epoch). */
static int ganmf_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                       float *scores, rs_error *err)
{
    ganmf_family *m = self;
    uint32_t K = m->g.config.factors, M = m->g.n_items;
    const float *sigma = m->params.t[USERS].value, *v = m->params.t[ITEMS].value;
    for (int r = 0; r < size; r++) {
        if (users[r] >= m->g.n_users)
            return rs_fail(err, "GANMF: user %u is not a training user", users[r]);
        memcpy(m->user_rows + (size_t)r * K, sigma + (size_t)users[r] * K, sizeof(float) * K);
    }
    rs_factor_scores(m->user_rows, size, v, M, K, scores);
    return 0;
}

static json_t *ganmf_options_json(const void *self)
{
    const ganmf_family *m = self;
    const ganmf_options *o = &m->opt;
    return json_pack("{s:I, s:I, s:i, s:f, s:f, s:f, s:f, s:f, s:b, s:b, s:f}", "factors",
                     (json_int_t)o->factors, "hidden", (json_int_t)o->hidden, "batch_size",
                     o->batch_size, "margin", (double)o->margin, "lr_d", (double)o->lr_d, "lr_g",
                     (double)o->lr_g, "reg_d", (double)o->reg_d, "alpha", (double)o->alpha,
                     "alternate_per_batch", o->alternate_per_batch, "lazy_users", o->lazy_users,
                     "foldin_reg", (double)o->foldin_reg);
}

static size_t ganmf_footprint(const void *self)
{
    const ganmf_family *m = self;
    return (2 * m->g.gen_count + 2 * m->g.disc_count) * sizeof(float) * 2;
}

static int ganmf_create(const void *options, const rs_family_inputs *in, rs_train_model *out,
                        rs_error *err)
{
    const ganmf_options *o = options;
    if (in->n_users == 0) return rs_fail(err, "GANMF needs the number of users");
    ganmf_family *m = rs_calloc(1, sizeof(*m), err);
    if (!m) return -1;
    m->opt = *o;
    rs_ganmf_config c;
    rs_ganmf_config_default(&c);
    c.factors = o->factors, c.hidden = o->hidden, c.batch = o->batch_size, c.margin = o->margin;
    c.lr_discriminator = o->lr_d, c.lr_generator = o->lr_g, c.reg_discriminator = o->reg_d;
    c.feature_matching = o->alpha, c.alternate_per_batch = o->alternate_per_batch;
    c.lazy_user_rows = o->lazy_users, c.seed = in->seed;
    uint32_t K = o->factors, M = in->n_items;
    rs_tensor_spec specs[N_TENSORS] = {
        [USERS] = {"users.factors", in->n_users, K, RS_INIT_NORMAL, 0.0, RS_OPTIM_NONE},
        [ITEMS] = {"items.vectors", M, K, RS_INIT_NORMAL, 0.0, RS_OPTIM_NONE},
    };
    if (rs_ganmf_init(&m->g, &c, in->n_users, M, err) != 0) {
        free(m);
        return -1;
    }
    if (rs_params_init(&m->params, specs, N_TENSORS, in->seed, 1e-3f, 0.0f, err) ||
        !(m->user_rows = rs_aligned_alloc((size_t)o->batch_size * K, sizeof(float), err))) {
        ganmf_family_free(m);
        return -1;
    }
    memcpy(m->params.t[USERS].value, m->g.user_factors, sizeof(float) * in->n_users * K);
    memcpy(m->params.t[ITEMS].value, m->g.item_factors, sizeof(float) * (size_t)M * K);
    m->foldin = (rs_foldin_spec){"users.factors", 1.0f, 0.0f, o->foldin_reg, 0.0f};
    *out = (rs_train_model){
        .family = "ganmf",
        .self = m,
        .batch_capacity = o->batch_size,
        .n_items = M,
        .params = &m->params,
        .serve = rs_factor_servable(M, K, &m->foldin),
        .begin_epoch = ganmf_begin_epoch,
        .train_batch = ganmf_train_batch,
        .score = ganmf_score,
        .options_json = ganmf_options_json,
        .footprint = ganmf_footprint,
        .free = ganmf_family_free,
    };
    return 0;
}

/* Defaults: the authors' tuned ML1M user-mode values (ganmf.h). */
static const rs_option ganmf_option_table[] = {
    RS_OPT_INT_("factors", RS_OPT_U32, ganmf_options, factors, "K", 1, 100000,
                "latent factors of Sigma and V (paper's tuned ML1M value)", "250"),
    RS_OPT_HIDDEN(ganmf_options, hidden,
                  "units in the autoencoder discriminator's coding layer (ML1M: 992; on ml100k "
                  "50 with --lr-d 1e-3 --lr-g 1.65e-3 --lazy-users was best)",
                  "992"),
    RS_OPT_BATCH(ganmf_options, batch_size, "64"),
    RS_OPT_REAL_("margin", RS_OPT_FLOAT, ganmf_options, margin, "M", 0, 1e6,
                 "hinge margin coefficient m of L_D", "10"),
    RS_OPT_REAL_("lr-d", RS_OPT_FLOAT, ganmf_options, lr_d, "X", 1e-9, 10,
                 "discriminator Adam learning rate", "1e-4"),
    RS_OPT_REAL_("lr-g", RS_OPT_FLOAT, ganmf_options, lr_g, "X", 1e-9, 10,
                 "generator Adam learning rate", "1.653e-4"),
    RS_OPT_REAL_("reg-d", RS_OPT_FLOAT, ganmf_options, reg_d, "X", 0, 10,
                 "lambda_D on ||W||^2/2 of the discriminator", "1e-4"),
    RS_OPT_REAL_("alpha", RS_OPT_FLOAT, ganmf_options, alpha, "X", 0, 1,
                 "feature-matching weight alpha of L_G", "0.01"),
    {.name = "alternate-per-batch",
     .type = RS_OPT_FLAG,
     .offset = offsetof(ganmf_options, alternate_per_batch),
     .help = "a D step then a G step per batch (Algorithm 1); default: a D pass then a G pass "
             "per epoch, as the authors' code"},
    {.name = "lazy-users",
     .type = RS_OPT_FLAG,
     .offset = offsetof(ganmf_options, lazy_users),
     .help = "Adam moves only the batch's rows of Sigma; default: every row, as TF1's Adam in "
             "the authors' code"},
    RS_OPT_REAL_("foldin-reg", RS_OPT_FLOAT, ganmf_options, foldin_reg, "L", 1e-9, 1e9,
                 "ridge lambda of the server's fold-in of a history without a stored factor", "30"),
};

static void ganmf_default(void *options)
{
    rs_options_default(RS_FAMILY_OPTIONS(ganmf_option_table), options);
}

const rs_family rs_family_ganmf = {
    "ganmf",
    "GANMF (Dervishaj & Cremonesi), served as a factor model",
    "GANMF (--model ganmf; defaults: the paper's tuned ML1M user-mode values; --epochs 66 there)",
    sizeof(ganmf_options),
    ganmf_default,
    RS_FAMILY_OPTIONS(ganmf_option_table),
    ganmf_create,
    NULL,
};
