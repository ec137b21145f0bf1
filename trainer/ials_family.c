/* ials_family.c - implicit ALS (--model ials) on the family spine: the
 * exact solver of trainer/ials.h, served as a factor model (proto/model.md,
 * "Factor models").
 *
 * Epoch mapping. An iALS epoch is one full alternation: every user solved
 * against the item Gramian, then every item against the user Gramian. Each
 * half-step is an exact solve over all rows, so it cannot be cut into the
 * spine's shuffled mini-batches without changing the algorithm: begin_epoch
 * marks the epoch, the epoch's first train_batch runs the alternation over
 * batch->data (the whole training matrix), and its other batches do nothing.
 * That batch reports the objective L of ials.h as its loss, so the spine's
 * "loss" is L / users.
 *
 * Scoring (evaluation, --rankings-out) folds each input row in against the
 * current item factors (rs_ials_foldin): after an epoch that is exactly the
 * next user half-step, i.e. what rs_ials_fit's closing user step stores. At
 * publish time the stored user factors become the fold-ins of the known
 * histories the store holds (train + validation items), so a known user's
 * stored factor and their stored history folded in by the server are the
 * same solve.
 *
 * --alpha A is Hu et al.'s confidence (observed pairs weigh 1 + A): it sets
 * the unobserved weight α0 = 1/A (ials.h explains why the rankings are
 * those of Hu et al.'s objective). --alpha0 sets α0 directly.
 *
 *   users.factors  (n_users x K)  W, published as the stored user factors
 *   items.vectors  (n_items x K)  H, the item factors (no item bias)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "factor_family.h"
#include "family.h"
#include "ials.h"
#include "linalg.h"
#include "transpose.h"

typedef struct ials_options {
    uint32_t factors;
    float reg, alpha0, alpha, reg_exponent, init_stddev;
    int batch_size;
} ials_options;

enum { USERS, ITEMS, N_TENSORS };

typedef struct ials_family {
    ials_options opt;
    rs_ials core; /* its factor pointers are views into params */
    rs_params params;
    rs_foldin_spec foldin; /* what the server's fold-in needs */
    int epoch_pending;
    const rs_csr *transposed; /* the matrix by_item was built from */
    rs_csr by_item;
    float *gram, *gram_items; /* HᵀH and the H it was computed from */
    float *user_rows;         /* batch_size x K */
} ials_family;

static void ials_family_free(void *self)
{
    ials_family *m = self;
    rs_params_free(&m->params);
    rs_csr_free(&m->by_item);
    free(m->gram);
    free(m->gram_items);
    free(m->user_rows);
    free(m);
}

/* HᵀH of the current item factors, recomputed only when they changed
 * (training, or the spine restoring the best epoch). */
static const float *item_gram(ials_family *m)
{
    size_t n = (size_t)m->core.n_items * m->core.k;
    if (memcmp(m->gram_items, m->core.item_factors, n * sizeof(float)) != 0) {
        memcpy(m->gram_items, m->core.item_factors, n * sizeof(float));
        rs_gram(m->core.item_factors, m->core.n_items, m->core.k, m->gram);
    }
    return m->gram;
}

/* out (size x K) = the fold-ins of rows users[0..size) of input (users
 * NULL: rows 0..size). */
static int foldin_rows(ials_family *m, const rs_csr *input, const uint32_t *users, uint32_t size,
                       float *out, rs_error *err)
{
    return rs_ials_foldin_rows(&m->core, item_gram(m), input, users, size, out, err);
}

static int ials_begin_epoch(void *self, int epoch, rs_rng *rng, rs_error *err)
{
    ((ials_family *)self)->epoch_pending = 1;
    return 0;
}

/* The epoch's first batch: one user + item alternation over the whole
 * training matrix (see the top of the file); later batches: nothing. */
static int ials_train_batch(void *self, const rs_train_batch *batch, rs_step_stats *stats,
                            rs_error *err)
{
    ials_family *m = self;
    *stats = (rs_step_stats){0};
    if (!m->epoch_pending) return 0;
    const rs_csr *train = batch->data;
    if (train->n_rows != m->core.n_users || train->n_cols != m->core.n_items)
        return rs_fail(err, "iALS: training matrix %u x %u, model %u x %u", train->n_rows,
                       train->n_cols, m->core.n_users, m->core.n_items);
    if (m->transposed != train) {
        rs_csr_free(&m->by_item);
        m->transposed = NULL;
        if (rs_csr_transpose(train, &m->by_item, err) != 0) return -1;
        m->transposed = train;
    }
    if (rs_ials_update_users(&m->core, train, err) != 0 ||
        rs_ials_update_items(&m->core, &m->by_item, err) != 0)
        return -1;
    m->epoch_pending = 0;
    stats->loss = rs_ials_objective(&m->core, train);
    return 0;
}

static int ials_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                      float *scores, rs_error *err)
{
    ials_family *m = self;
    uint32_t K = m->core.k, M = m->core.n_items;
    if (foldin_rows(m, input, users, (uint32_t)size, m->user_rows, err) != 0) return -1;
    rs_factor_scores(m->user_rows, size, m->core.item_factors, M, K, scores);
    return 0;
}

/* The stored user factors become the fold-ins of the known histories. */
static int ials_before_publish(void *self, const rs_csr *known, rs_error *err)
{
    ials_family *m = self;
    if (known->n_rows != m->core.n_users || known->n_cols != m->core.n_items)
        return rs_fail(err, "iALS: known matrix %u x %u, model %u x %u", known->n_rows,
                       known->n_cols, m->core.n_users, m->core.n_items);
    return foldin_rows(m, known, NULL, known->n_rows, m->core.user_factors, err);
}

static json_t *ials_options_json(const void *self)
{
    const ials_family *m = self;
    return json_pack("{s:I, s:f, s:f, s:f, s:f}", "factors", (json_int_t)m->core.k, "reg",
                     (double)m->core.reg, "unobserved_weight", (double)m->core.unobserved_weight,
                     "reg_exponent", (double)m->core.reg_exponent, "init_stddev",
                     (double)m->opt.init_stddev);
}

static size_t ials_footprint(const void *self)
{
    const ials_family *m = self;
    size_t k = m->core.k;
    return rs_csr_nnz(&m->by_item) * sizeof(uint32_t) +
           ((size_t)m->core.n_items + 1) * sizeof(uint64_t) +
           (k * k + (size_t)m->core.n_items * k + (size_t)m->opt.batch_size * k) * sizeof(float);
}

static int ials_create(const void *options, const rs_family_inputs *in, rs_train_model *out,
                       rs_error *err)
{
    const ials_options *o = options;
    if (in->n_users == 0) return rs_fail(err, "iALS needs the number of users");
    if (o->factors > RS_LINALG_MAX_K)
        return rs_fail(err, "iALS: --factors must be at most %d", RS_LINALG_MAX_K);
    ials_family *m = rs_calloc(1, sizeof(*m), err);
    if (!m) return -1;
    m->opt = *o;
    uint32_t K = o->factors, M = in->n_items;
    float alpha0 = o->alpha > 0 ? 1.0f / o->alpha : o->alpha0;
    double scale = o->init_stddev / sqrt((double)K);
    rs_tensor_spec specs[N_TENSORS] = {
        [USERS] = {"users.factors", in->n_users, K, RS_INIT_NORMAL, scale, RS_OPTIM_NONE},
        [ITEMS] = {"items.vectors", M, K, RS_INIT_NORMAL, scale, RS_OPTIM_NONE},
    };
    size_t gram_floats = (size_t)K * K, items_floats = (size_t)M * K;
    if (rs_params_init(&m->params, specs, N_TENSORS, in->seed, 1e-3f, 0.0f, err) ||
        !(m->gram = rs_aligned_alloc(gram_floats, sizeof(float), err)) ||
        !(m->gram_items = rs_aligned_alloc(items_floats, sizeof(float), err)) ||
        !(m->user_rows = rs_aligned_alloc((size_t)o->batch_size * K, sizeof(float), err))) {
        ials_family_free(m);
        return -1;
    }
    m->core = (rs_ials){in->n_users,
                        M,
                        K,
                        o->reg,
                        alpha0,
                        o->reg_exponent,
                        m->params.t[USERS].value,
                        m->params.t[ITEMS].value};
    m->foldin = (rs_foldin_spec){"users.factors", alpha0, 1.0f, o->reg, o->reg_exponent};
    /* Not the current items' Gram until item_gram() computes it. */
    for (size_t i = 0; i < items_floats; i++) m->gram_items[i] = NAN;
    *out = (rs_train_model){
        .family = "ials",
        .self = m,
        .batch_capacity = o->batch_size,
        .n_items = M,
        .params = &m->params,
        .serve = rs_factor_servable(M, K, &m->foldin),
        .begin_epoch = ials_begin_epoch,
        .train_batch = ials_train_batch,
        .score = ials_score,
        .before_publish = ials_before_publish,
        .options_json = ials_options_json,
        .footprint = ials_footprint,
        .free = ials_family_free,
        .weighted = 1, /* soft labels are the observed targets (ials.h) */
    };
    return 0;
}

static const rs_option ials_option_table[] = {
    RS_OPT_INT_("factors", RS_OPT_U32, ials_options, factors, "K", 1, RS_LINALG_MAX_K,
                "factor dimension K (served fold-ins cost about K^3/3 flops each)", "64"),
    RS_OPT_REAL_("reg", RS_OPT_FLOAT, ials_options, reg, "L", 1e-12, 1e6,
                 "regularisation lambda (scaled by (n + alpha0 N)^nu per row, ials.h)", "0.003"),
    RS_OPT_REAL_("alpha0", RS_OPT_FLOAT, ials_options, alpha0, "W", 1e-9, 1e6,
                 "weight of every unobserved (user, item) pair (Rendle et al. 2021)", "0.1"),
    RS_OPT_REAL_("alpha", RS_OPT_FLOAT, ials_options, alpha, "A", 0, 1e9,
                 "confidence of an observed pair, Hu et al. 2008 (c = 1 + A); when > 0 it sets "
                 "--alpha0 to 1/A",
                 "0"),
    RS_OPT_REAL_("reg-exponent", RS_OPT_FLOAT, ials_options, reg_exponent, "NU", 0, 4,
                 "frequency exponent nu of the regularisation (0: plain lambda)", "1"),
    RS_OPT_REAL_("init-stddev", RS_OPT_FLOAT, ials_options, init_stddev, "S", 0, 10,
                 "initial factors N(0, S^2 / K)", "0.1"),
    RS_OPT_BATCH(ials_options, batch_size, "256"),
};

static void ials_default(void *options)
{
    rs_options_default(RS_FAMILY_OPTIONS(ials_option_table), options);
}

const rs_family rs_family_ials = {
    "ials",
    "implicit ALS (Rendle et al. 2021), exact solves, served as a factor model",
    "iALS (--model ials; --epochs: user + item alternations; --batch: users per scoring batch)",
    sizeof(ials_options),
    ials_default,
    RS_FAMILY_OPTIONS(ials_option_table),
    ials_create,
    NULL,
};
