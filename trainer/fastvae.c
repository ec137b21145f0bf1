/* fastvae.c - FastVAE training: batch assembly, forward, sampled or full
 * softmax, backward, dense + lazy Adam, sampler rebuilds, publishing (see
 * fastvae.h).
 *
 * One step, B users:
 *   1. input rows (value 1/sqrt(n)), per-user rng: dropout mask, noise
 *   2. forward with GEMMs: h0 = X E, h1 = relu(h0 * mask), e = h1 Wenc + benc,
 *      z = mu + eps sigma, u = z Wdec + bdec
 *   3. loss and dL/du: sampled softmax per user in an OpenMP loop (prepare
 *      the sampler with u, draw T items, O((n + T) H) dot products), or the
 *      full softmax by GEMMs in chunks of users
 *   4. backward through the small layers with GEMMs; item-table gradients
 *      (E, Q, A) are kept as rows (struct rowgrad) and reduced row by row in
 *      batch order (accumulate_rows), so no result depends on threads
 *   5. dense Adam on the small layers, lazy Adam on the touched table rows.
 */
#include "fastvae.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "family.h"
#include "input.h"
#include "layers.h"
#include "pq.h"

/* rng stream ids for sampler rebuilds: above every user id (< 2^32). */
#define REBUILD_STREAM 0x100000000ULL
/* Full softmax: logits buffer of at most this many floats (chunks of users). */
#define FULL_LOGITS_FLOATS (1UL << 26)

/* Dot product and axpy over H floats, vectorised (the summation order is
 * fixed by the code, not by the thread count). */
static inline float dotf(const float *restrict a, const float *restrict b, uint32_t n)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (uint32_t j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

static inline void axpyf(float *restrict y, float c, const float *restrict x, uint32_t n)
{
#pragma omp simd
    for (uint32_t j = 0; j < n; j++) y[j] += c * x[j];
}

struct rs_fastvae {
    rs_fastvae_options opt;
    uint32_t M, H, L, T;
    int capacity;
    float *counts; /* M training counts (NULL when not given) */

    rs_params params;
    float *E, *Wenc, *benc, *Wdec, *bdec, *Q, *A; /* the tensors' values */
    float *dWenc, *dbenc, *dWdec, *dbdec;         /* dense gradients */
    rs_rowgrad *gE, *gQ, *gA;                     /* item-table gradient rows */
    float *dQ_dense;                              /* full softmax: M x H */
    float *dense_grads;                           /* rs_fastvae_grads */
    rs_pia pia;
    long step;

    rs_sampler *sampler; /* NULL in full softmax mode */
    int sampler_built;
    rs_sampler_user **su; /* one per thread */
    double *thread_seconds;
    int n_su;
    rs_fastvae_timing timing;

    /* The sparse input batch and per-positive sampled-softmax state. */
    rs_input input;
    float *pos_lq, *pos_coef;
    uint64_t pos_lq_cap, pos_coef_cap;
    /* Activations and gradients (capacity rows). */
    rs_rng *user_rng;
    float *h0, *mask, *h1, *e, *eps, *z, *u;
    float *du, *dz, *de, *dh1;
    double *user_loss;
    /* Sampled softmax: capacity x T. */
    uint32_t *samp;
    float *samp_lq, *samp_coef;
    /* Full softmax. */
    float *logits;
    int chunk;
    /* Entries (item, user, coefficient) for accumulate_rows and its scratch. */
    uint32_t *ent_item, *ent_user;
    float *ent_coef;
    uint64_t ent_cap;
    uint64_t *acc_start, *acc_perm;
    uint64_t acc_start_cap, acc_perm_cap;
};

int rs_fastvae_sampler_parse(const char *name, rs_fastvae_options *o, rs_error *err)
{
    if (name && strcmp(name, "full") == 0) {
        o->full_softmax = 1;
        return 0;
    }
    if (rs_sampler_kind_parse(name, &o->sampler, err) != 0)
        return rs_error_prefix(err, "--sampler (or 'full' for the exact softmax)");
    o->full_softmax = 0;
    return 0;
}

const char *rs_fastvae_sampler_name(const rs_fastvae_options *o)
{
    return o->full_softmax ? "full" : rs_sampler_kind_name(o->sampler);
}

/* The command line's options of the family, and their defaults. */
static int parse_sampler(const char *value, void *options)
{
    rs_error err;
    if (rs_fastvae_sampler_parse(value, options, &err) == 0) return 0;
    fprintf(stderr, "rectrain: %s\n", err.msg);
    return -1;
}

#define FV_INT(nm, ty, field, a, lo, hi, h, d)                                                     \
    RS_OPT_INT_(nm, ty, rs_fastvae_options, field, a, lo, hi, h, d)
static const rs_option fastvae_options[] = {
    RS_OPT_PIA(rs_fastvae_options),
    RS_OPT_HIDDEN(rs_fastvae_options, hidden, "item and user vector width", "200"),
    {.name = "sampler",
     .type = RS_OPT_CUSTOM,
     .arg = "NAME",
     .parse = parse_sampler,
     .def = "midx-pop",
     .default_text = "midx-pop",
     .help = "negative sampler of the sampled softmax: uniform | pop | midx-uni | midx-pop | "
             "midx-exact (the exact softmax drawn through MIDX, O(M) per user: diagnostics) | "
             "full (no sampling: exact softmax over all items)"},
    FV_INT("samples", RS_OPT_U32, samples, "T", 1, 1000000,
           "items drawn per user, shared by its positives", "200"),
    RS_OPT_LATENT(rs_fastvae_options, latent, "32"),
    FV_INT("codewords", RS_OPT_U32, codewords, "K", 1, 4096,
           "codewords per codebook of the sampler's MIDX; the published serving index sizes its "
           "own (sqrt(items / 4))",
           "16"),
    RS_OPT_BATCH(rs_fastvae_options, batch_size, "256"),
    FV_INT("rebuild-every", RS_OPT_LONG, rebuild_every, "N", 0, 1L << 40,
           "rebuild the sampler from the current item vectors every N steps (0 = at the start "
           "of every epoch)",
           "0"),
    RS_OPT_LR(rs_fastvae_options, lr, "1e-3"),
    FV_INT("lr-step", RS_OPT_INT, lr_step, "N", 0, 100000,
           "StepLR: multiply the learning rate by --lr-gamma every N epochs (0 = constant rate)",
           "5"),
    RS_OPT_WEIGHT_DECAY(rs_fastvae_options, weight_decay),
    RS_OPT_REAL_("lr-gamma", RS_OPT_FLOAT, rs_fastvae_options, lr_gamma, "G", 1e-6, 1,
                 "StepLR factor", "0.95"),
    RS_OPT_DROPOUT(rs_fastvae_options, dropout,
                   "dropout probability on the pooled history embedding"),
    RS_OPT_REAL_("item-dropout", RS_OPT_FLOAT, rs_fastvae_options, item_dropout, "P", 0, 0.99,
                 "drop history items before pooling, as the paper's input dropout (0 = off, as "
                 "the authors' code); item tables use lazy Adam (only rows a batch touches are "
                 "updated)",
                 "0.5"),
};

void rs_fastvae_options_default(rs_fastvae_options *o)
{
    memset(o, 0, sizeof(*o));
    rs_options_default(fastvae_options, sizeof(fastvae_options) / sizeof(fastvae_options[0]), o);
    o->seed = 98765;
}

static int grow_u64(uint64_t **p, uint64_t *cap, uint64_t need, rs_error *err)
{
    if (need <= *cap) return 0;
    uint64_t c = need + need / 2 + 1024;
    uint64_t *q = realloc(*p, c * sizeof(uint64_t));
    if (!q) return rs_fail(err, "out of memory for %llu entries", (unsigned long long)c);
    *p = q;
    *cap = c;
    return 0;
}

/* g.grad[slot(item[k])] += coef[k] * src[user[k]] (rows of g.width floats)
 * for k < n. Entries are grouped by row with a stable counting sort; each
 * row is then summed in entry order by one thread, so the result is the
 * same for any thread count. */
static int accumulate_rows(rs_fastvae *f, rs_rowgrad *g, uint64_t n, const float *src,
                           rs_error *err)
{
    const uint32_t *item = f->ent_item, *user = f->ent_user;
    const float *coef = f->ent_coef;
    if (rs_rowgrad_reserve(g, n, err) != 0) return -1;
    for (uint64_t k = 0; k < n; k++) rs_rowgrad_touch(g, item[k]);
    uint32_t rows = g->n, w = g->width;
    if (grow_u64(&f->acc_start, &f->acc_start_cap, (uint64_t)rows + 1, err) != 0) return -1;
    if (grow_u64(&f->acc_perm, &f->acc_perm_cap, n, err) != 0) return -1;
    uint64_t *start = f->acc_start, *perm = f->acc_perm;
    memset(start, 0, sizeof(uint64_t) * ((size_t)rows + 1));
    for (uint64_t k = 0; k < n; k++) start[g->slot[item[k]] + 1]++;
    for (uint32_t s = 0; s < rows; s++) start[s + 1] += start[s];
    /* Fill backwards from each row's end: stable, and leaves start[s + 1]
     * at the beginning of row s. */
    for (uint64_t k = n; k-- > 0;) perm[--start[g->slot[item[k]] + 1]] = k;
#pragma omp parallel for schedule(dynamic, 64)
    for (uint32_t s = 0; s < rows; s++) {
        uint64_t lo = start[s + 1], hi = s + 1 < rows ? start[s + 2] : n;
        float *out = g->grad + (size_t)s * w;
        for (uint64_t p = lo; p < hi; p++) {
            uint64_t k = perm[p];
            axpyf(out, coef[k], src + (size_t)user[k] * w, w);
        }
    }
    return 0;
}

static int reserve_entries(rs_fastvae *f, uint64_t n, rs_error *err)
{
    if (n <= f->ent_cap) return 0;
    uint64_t cap = n + n / 2 + 1024;
    uint32_t *item = realloc(f->ent_item, cap * sizeof(uint32_t));
    if (!item) return rs_fail(err, "out of memory for %llu entries", (unsigned long long)cap);
    f->ent_item = item;
    uint32_t *user = realloc(f->ent_user, cap * sizeof(uint32_t));
    if (!user) return rs_fail(err, "out of memory for %llu entries", (unsigned long long)cap);
    f->ent_user = user;
    float *coef = realloc(f->ent_coef, cap * sizeof(float));
    if (!coef) return rs_fail(err, "out of memory for %llu entries", (unsigned long long)cap);
    f->ent_coef = coef;
    f->ent_cap = cap;
    return 0;
}

/* --- parameters and buffers --- */

enum { T_E, T_WENC, T_BENC, T_WDEC, T_BDEC, T_Q, T_A, N_TENSORS };

/* Uniform values. Item tables: std 1/sqrt(H) (unit expected row norm);
 * dense weights: std sqrt(2 / (fan_in + fan_out)); biases: std 0.001;
 * anchors: std 1/sqrt(L). The item tables get lazy Adam; Q gets dense Adam
 * in full softmax mode, where every row is touched. */
static int init_params(rs_fastvae *f, rs_error *err)
{
    uint64_t M = f->M, H = f->H, L = f->L;
    double h = H, l = L;
    rs_optim_kind q_optim = f->opt.full_softmax ? RS_OPTIM_DENSE : RS_OPTIM_ROWS;
    rs_tensor_spec specs[N_TENSORS] = {
        [T_E] = {"encoder.0.weight", M, H, RS_INIT_UNIFORM, 1.0 / sqrt(h), RS_OPTIM_ROWS},
        [T_WENC] = {"encoder.1.weight", H, 2 * L, RS_INIT_UNIFORM, sqrt(2.0 / (h + 2 * l)),
                    RS_OPTIM_DENSE},
        [T_BENC] = {"encoder.1.bias", 2 * L, 0, RS_INIT_UNIFORM, 0.001, RS_OPTIM_DENSE},
        [T_WDEC] = {"decoder.0.weight", L, H, RS_INIT_UNIFORM, sqrt(2.0 / (l + h)), RS_OPTIM_DENSE},
        [T_BDEC] = {"decoder.0.bias", H, 0, RS_INIT_UNIFORM, 0.001, RS_OPTIM_DENSE},
        [T_Q] = {"items.vectors", M, H, RS_INIT_UNIFORM, 1.0 / sqrt(h), q_optim},
        [T_A] = {"items.anchors", f->opt.pia_lambda > 0.0f ? M : 0, L, RS_INIT_UNIFORM,
                 sqrt(1.0 / l), RS_OPTIM_ROWS},
    };
    if (rs_params_init(&f->params, specs, N_TENSORS, f->opt.seed, f->opt.lr, f->opt.weight_decay,
                       err) != 0)
        return -1;
    rs_param *t = f->params.t;
    f->E = t[T_E].value, f->gE = &t[T_E].rowgrad;
    f->Wenc = t[T_WENC].value, f->dWenc = t[T_WENC].grad;
    f->benc = t[T_BENC].value, f->dbenc = t[T_BENC].grad;
    f->Wdec = t[T_WDEC].value, f->dWdec = t[T_WDEC].grad;
    f->bdec = t[T_BDEC].value, f->dbdec = t[T_BDEC].grad;
    f->Q = t[T_Q].value, f->gQ = &t[T_Q].rowgrad, f->dQ_dense = t[T_Q].grad;
    f->A = t[T_A].value, f->gA = &t[T_A].rowgrad;
    return 0;
}

static void fastvae_free(void *self)
{
    rs_fastvae *f = self;
    if (!f) return;
    free(f->counts);
    rs_params_free(&f->params);
    rs_sampler_free(f->sampler);
    for (int t = 0; t < f->n_su; t++) rs_sampler_user_free(f->su[t]);
    free(f->su);
    free(f->thread_seconds);
    rs_input_free(&f->input);
    free(f->pos_lq);
    free(f->pos_coef);
    free(f->user_rng);
    float *bufs[] = {f->h0, f->mask, f->h1,  f->e,       f->eps,       f->z,      f->u,       f->du,
                     f->dz, f->de,   f->dh1, f->samp_lq, f->samp_coef, f->logits, f->ent_coef};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) free(bufs[i]);
    free(f->user_loss);
    free(f->samp);
    free(f->ent_item);
    free(f->ent_user);
    free(f->acc_start);
    free(f->acc_perm);
    free(f);
}

/* Per-thread sampler states, grown to the current OpenMP thread count. */
static int ensure_thread_states(rs_fastvae *f, rs_error *err)
{
    int want = omp_get_max_threads();
    if (want <= f->n_su) return 0;
    rs_sampler_user **su = realloc(f->su, sizeof(*su) * (size_t)want);
    if (!su) return rs_fail(err, "out of memory for %d sampler states", want);
    f->su = su;
    double *secs = realloc(f->thread_seconds, sizeof(double) * (size_t)want);
    if (!secs) return rs_fail(err, "out of memory for %d sampler states", want);
    f->thread_seconds = secs;
    for (; f->n_su < want; f->n_su++)
        if (!(f->su[f->n_su] = rs_sampler_user_new(err))) return -1;
    return 0;
}

static int alloc_buffers(rs_fastvae *f, rs_error *err)
{
    size_t B = (size_t)f->capacity, M = f->M, H = f->H, L = f->L, T = f->T;
    if (f->opt.full_softmax) {
        f->chunk = (int)RS_MAX(1UL, RS_MIN((size_t)B, FULL_LOGITS_FLOATS / M));
        if (!(f->logits = rs_aligned_alloc((size_t)f->chunk * M, sizeof(float), err))) return -1;
    } else {
        if (!(f->samp = rs_malloc(B * T, sizeof(uint32_t), err))) return -1;
        if (!(f->samp_lq = rs_malloc(B * T, sizeof(float), err))) return -1;
        if (!(f->samp_coef = rs_malloc(B * T, sizeof(float), err))) return -1;
    }
    float **bh[] = {&f->h0, &f->mask, &f->h1, &f->u, &f->du, &f->dh1};
    for (size_t i = 0; i < sizeof(bh) / sizeof(bh[0]); i++)
        if (!(*bh[i] = rs_aligned_alloc(B * H, sizeof(float), err))) return -1;
    float **b2l[] = {&f->e, &f->de};
    for (size_t i = 0; i < 2; i++)
        if (!(*b2l[i] = rs_aligned_alloc(B * 2 * L, sizeof(float), err))) return -1;
    float **bl[] = {&f->eps, &f->z, &f->dz};
    for (size_t i = 0; i < 3; i++)
        if (!(*bl[i] = rs_aligned_alloc(B * L, sizeof(float), err))) return -1;
    if (!(f->user_rng = rs_malloc(B, sizeof(rs_rng), err))) return -1;
    if (!(f->user_loss = rs_malloc(B, sizeof(double), err))) return -1;
    if (rs_input_init(&f->input, f->capacity, err) != 0) return -1;
    return ensure_thread_states(f, err);
}

/* --- forward --- */

/* Gathers the users' rows (value 1/sqrt(n)); with epoch_rng, draws from
 * the user's own stream: the item dropout (history items dropped with
 * probability item_dropout, kept ones scaled by 1/(1-p), as Mult-VAE's input
 * dropout), the dropout mask over the H pooled coordinates (inverted
 * dropout) and the latent noise; the stream is kept for the sampler.
 * Without epoch_rng nothing is dropped and the mask is 1. */
static int build_input(rs_fastvae *f, const rs_csr *data, const uint32_t *users, int size,
                       const rs_rng *epoch_rng, float dropout, float item_dropout,
                       rs_sparse_batch *X, rs_error *err)
{
    if (rs_input_gather(&f->input, data, users, size, X, err) != 0) return -1;
    uint64_t nnz = X->indptr[size];
    if (rs_grow_floats(&f->pos_lq, &f->pos_lq_cap, nnz, err) != 0 ||
        rs_grow_floats(&f->pos_coef, &f->pos_coef_cap, nnz, err) != 0)
        return -1;
    uint32_t H = f->H, L = f->L;
    if (epoch_rng) rs_input_dropout(&f->input, X, users, epoch_rng, item_dropout, f->user_rng);
    float keep_scale = dropout > 0.0f ? 1.0f / (1.0f - dropout) : 1.0f;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < size; r++) {
        float *mask = f->mask + (size_t)r * H;
        if (!epoch_rng) {
            for (uint32_t j = 0; j < H; j++) mask[j] = 1.0f;
            continue;
        }
        rs_rng *rng = &f->user_rng[r];
        for (uint32_t j = 0; j < H; j++)
            mask[j] = dropout <= 0.0f || rs_rng_uniform_f(rng) >= dropout ? keep_scale : 0.0f;
        for (uint32_t j = 0; j < L; j++) f->eps[(size_t)r * L + j] = (float)rs_rng_normal(rng);
    }
    return 0;
}

/* Input batch to user vectors u; eps NULL means evaluation (z = mu). */
static void forward(rs_fastvae *f, const rs_sparse_batch *X, const float *eps)
{
    int B = (int)X->n_rows, H = (int)f->H, L = (int)f->L;
    rs_sparse_forward(f->h0, X, f->E, NULL, H);
    long n = (long)B * H;
    for (long i = 0; i < n; i++) {
        float x = f->h0[i] * f->mask[i];
        f->h1[i] = x > 0.0f ? x : 0.0f;
    }
    rs_dense_forward(f->e, f->h1, f->Wenc, f->benc, B, H, 2 * L);
    rs_gaussian_forward(f->z, f->e, eps, B, L);
    rs_dense_forward(f->u, f->z, f->Wdec, f->bdec, B, L, H);
}

/* --- the sampled softmax --- */

/* One user's sampled-softmax loss (see fastvae.h) and its gradient:
 * coef_pos / coef_samp receive scale * dL/do per positive / sample, du the
 * scaled dL/du. lq_pos / lq_samp hold log Q. w_pos (NULL: all 1) weighs
 * each positive's term (ProRec's soft labels). */
static double sampled_user(const rs_fastvae *f, const float *ur, const uint32_t *pos,
                           const float *w_pos, uint32_t n, const float *lq_pos,
                           const uint32_t *samp, const float *lq_samp, float scale, float *coef_pos,
                           float *coef_samp, float *du)
{
    uint32_t H = f->H, T = f->T;
    double mx = -INFINITY;
    /* Corrected logits first, kept in the coefficient arrays. */
    for (uint32_t i = 0; i < n; i++) {
        coef_pos[i] = dotf(ur, f->Q + (size_t)pos[i] * H, H) - lq_pos[i];
        mx = RS_MAX(mx, (double)coef_pos[i]);
    }
    for (uint32_t t = 0; t < T; t++) {
        coef_samp[t] = dotf(ur, f->Q + (size_t)samp[t] * H, H) - lq_samp[t];
        mx = RS_MAX(mx, (double)coef_samp[t]);
    }
    double S = 0.0;
    for (uint32_t t = 0; t < T; t++) S += exp((double)coef_samp[t] - mx);
    double loss = 0.0, inv = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        double a = coef_pos[i], ea = exp(a - mx), d = ea + S, w = w_pos ? w_pos[i] : 1.0;
        loss += w * (-a + mx + log(d));
        coef_pos[i] = scale * (float)(w * (ea / d - 1.0));
        inv += w / d;
    }
    for (uint32_t t = 0; t < T; t++)
        coef_samp[t] = scale * (float)(exp((double)coef_samp[t] - mx) * inv);
    memset(du, 0, sizeof(float) * H);
    for (uint32_t i = 0; i < n; i++) axpyf(du, coef_pos[i], f->Q + (size_t)pos[i] * H, H);
    for (uint32_t t = 0; t < T; t++) axpyf(du, coef_samp[t], f->Q + (size_t)samp[t] * H, H);
    return loss;
}

/* Samples, loss and dL/du for every user of the batch (in parallel), then
 * the Q rows' gradient. fixed_samples / fixed_log_q replace the sampler
 * (tests). Returns -1 with err filled when a user fails. */
static int sampled_softmax(rs_fastvae *f, const rs_sparse_batch *X, float scale,
                           const uint32_t *fixed_samples, const float *fixed_log_q, double *loss,
                           rs_error *err)
{
    int B = (int)X->n_rows;
    uint32_t H = f->H, T = f->T, M = f->M;
    if (ensure_thread_states(f, err) != 0) return -1;
    for (int t = 0; t < f->n_su; t++) f->thread_seconds[t] = 0.0;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 4)
    for (int r = 0; r < B; r++) {
        int stop;
#pragma omp atomic read
        stop = failed;
        if (stop) continue;
        uint64_t p0 = X->indptr[r];
        uint32_t n = (uint32_t)(X->indptr[r + 1] - p0);
        const uint32_t *pos = X->indices + p0;
        const float *ur = f->u + (size_t)r * H;
        uint32_t *samp = f->samp + (size_t)r * T;
        float *lq = f->samp_lq + (size_t)r * T, *lq_pos = f->pos_lq + p0;
        rs_error e;
        int rc = 0;
        if (fixed_samples) {
            const float *row = fixed_log_q + (size_t)r * M;
            for (uint32_t t = 0; t < T; t++) {
                samp[t] = fixed_samples[(size_t)r * T + t];
                lq[t] = row[samp[t]];
            }
            for (uint32_t i = 0; i < n; i++) lq_pos[i] = row[pos[i]];
        } else {
            int tid = omp_get_thread_num();
            double t0 = rs_now();
            rs_sampler_user *su = f->su[tid];
            rc = rs_sampler_prepare(f->sampler, ur, su, &e);
            if (rc == 0) rc = rs_sampler_draw(f->sampler, su, T, &f->user_rng[r], samp, lq, &e);
            for (uint32_t i = 0; rc == 0 && i < n; i++)
                lq_pos[i] = rs_sampler_log_q(f->sampler, su, pos[i]);
            f->thread_seconds[tid] += rs_now() - t0;
        }
        for (uint32_t i = 0; rc == 0 && i < n; i++)
            if (!isfinite(lq_pos[i]))
                rc = rs_fail(&e,
                             "positive item %u has log Q = %g under the %s proposal (it "
                             "can never be drawn; is its training count 0?)",
                             pos[i], (double)lq_pos[i], rs_sampler_kind_name(f->opt.sampler));
        if (rc != 0) {
#pragma omp critical(fastvae_error)
            {
                if (!failed) *err = e;
#pragma omp atomic write
                failed = 1;
            }
            continue;
        }
        const float *w = rs_input_weights(&f->input);
        f->user_loss[r] =
            sampled_user(f, ur, pos, w ? w + p0 : NULL, n, lq_pos, samp, lq, scale,
                         f->pos_coef + p0, f->samp_coef + (size_t)r * T, f->du + (size_t)r * H);
    }
    if (failed) return -1;
    if (!fixed_samples) {
        for (int t = 0; t < f->n_su; t++) f->timing.sample_seconds += f->thread_seconds[t];
        f->timing.sampled_users += (uint64_t)B;
    }
    *loss = 0.0;
    for (int r = 0; r < B; r++) *loss += f->user_loss[r];
    /* dQ rows: every (positive or sample, user) pair, in batch order. */
    uint64_t n_ent = X->indptr[B] - X->indptr[0] + (uint64_t)B * T, k = 0;
    if (reserve_entries(f, n_ent, err) != 0) return -1;
    for (int r = 0; r < B; r++) {
        for (uint64_t p = X->indptr[r]; p < X->indptr[r + 1]; p++, k++) {
            f->ent_item[k] = X->indices[p];
            f->ent_user[k] = (uint32_t)r;
            f->ent_coef[k] = f->pos_coef[p];
        }
        for (uint32_t t = 0; t < T; t++, k++) {
            f->ent_item[k] = f->samp[(size_t)r * T + t];
            f->ent_user[k] = (uint32_t)r;
            f->ent_coef[k] = f->samp_coef[(size_t)r * T + t];
        }
    }
    return accumulate_rows(f, f->gQ, k, f->u, err);
}

/* The exact softmax over all items, chunk by chunk of users: dU and the
 * dense dQ. */
static double full_softmax(rs_fastvae *f, const rs_sparse_batch *X, float scale)
{
    int B = (int)X->n_rows, H = (int)f->H, M = (int)f->M;
    double loss = 0.0;
    for (int start = 0; start < B; start += f->chunk) {
        int sb = RS_MIN(f->chunk, B - start);
        const float *u = f->u + (size_t)start * H;
        rs_dense_t_forward(f->logits, u, f->Q, NULL, sb, H, M);
        rs_sparse_batch T = {(uint32_t)sb, X->indptr + start, X->indices,
                             rs_input_weights(&f->input)};
        loss += rs_softmax_nll(f->logits, f->logits, &T, M, scale);
        rs_dense_t_backward(f->du + (size_t)start * H, f->dQ_dense, NULL, f->logits, u, f->Q, sb, H,
                            M);
    }
    return loss;
}

/* --- backward --- */

/* From dL/du (in du) to every gradient. Returns -1 on allocation failure. */
static int backward(rs_fastvae *f, const rs_sparse_batch *X, float kl_scale, float pia_scale,
                    double *kl, double *reg, rs_error *err)
{
    int B = (int)X->n_rows, H = (int)f->H, L = (int)f->L;
    rs_dense_backward(f->dz, f->dWdec, f->dbdec, f->du, f->z, f->Wdec, B, L, H);
    *kl = rs_gaussian_backward(f->de, f->dz, f->e, f->eps, B, L, kl_scale);
    *reg = 0.0;
    if (f->A && rs_pia_backward(X, f->e, f->de, f->L, &f->params.t[T_A], pia_scale, reg, err) != 0)
        return -1;
    rs_dense_backward(f->dh1, f->dWenc, f->dbenc, f->de, f->h1, f->Wenc, B, H, 2 * L);
    /* Through ReLU and dropout: h1 = relu(h0 * mask). */
    long n = (long)B * H;
    for (long i = 0; i < n; i++) f->dh1[i] = f->h1[i] > 0.0f ? f->dh1[i] * f->mask[i] : 0.0f;
    /* dE rows: each positive's input value times its user's dh0. */
    uint64_t n_ent = X->indptr[B] - X->indptr[0], k = 0;
    if (reserve_entries(f, n_ent, err) != 0) return -1;
    for (int r = 0; r < B; r++)
        for (uint64_t p = X->indptr[r]; p < X->indptr[r + 1]; p++) {
            if (X->values[p] == 0.0f) continue; /* dropped: the row is not touched */
            f->ent_item[k] = X->indices[p];
            f->ent_user[k] = (uint32_t)r;
            f->ent_coef[k++] = X->values[p];
        }
    return accumulate_rows(f, f->gE, k, f->dh1, err);
}

/* --- the sampler --- */

static int rebuild_sampler(rs_fastvae *f, rs_rng *rng, rs_error *err)
{
    if (!f->sampler) return 0;
    if (f->sampler_built && !rs_sampler_kind_uses_vectors(f->opt.sampler)) return 0;
    double t0 = rs_now();
    if (rs_sampler_rebuild(f->sampler, f->Q, f->M, f->H, f->counts, rng, err) != 0)
        return rs_error_prefix(err, "fastvae");
    f->sampler_built = 1;
    f->timing.rebuild_seconds += rs_now() - t0;
    f->timing.rebuilds++;
    return 0;
}

static int fastvae_begin_epoch(void *self, int epoch, rs_rng *rng, rs_error *err)
{
    rs_fastvae *f = self;
    if (f->opt.lr_step > 0)
        rs_params_set_lr(&f->params,
                         f->opt.lr * powf(f->opt.lr_gamma, (float)((epoch - 1) / f->opt.lr_step)));
    if (f->opt.rebuild_every > 0 && f->sampler_built) return 0;
    rs_rng r;
    rs_rng_split(rng, REBUILD_STREAM, &r); /* leaves the epoch stream as it was */
    return rebuild_sampler(f, &r, err);
}

/* --- one step --- */

static int compute_gradient(rs_fastvae *f, const rs_train_batch *batch, const float *fixed_eps,
                            const uint32_t *fixed_samples, const float *fixed_log_q,
                            rs_step_stats *stats, rs_error *err)
{
    if (batch->size <= 0 || batch->size > f->capacity)
        return rs_fail(err, "batch of %d users (capacity %d)", batch->size, f->capacity);
    if (batch->data->n_cols != f->M)
        return rs_fail(err, "batch data has %u items, the model %u", batch->data->n_cols, f->M);
    rs_params_zero_grad(&f->params);
    rs_sparse_batch X;
    float dropout = batch->epoch_rng ? f->opt.dropout : 0.0f;
    float item_dropout = batch->epoch_rng ? f->opt.item_dropout : 0.0f;
    if (build_input(f, batch->data, batch->users, batch->size, batch->epoch_rng, dropout,
                    item_dropout, &X, err) != 0)
        return -1;
    if (!batch->epoch_rng) rs_input_fixed_noise(f->eps, fixed_eps, (size_t)batch->size * f->L);
    forward(f, &X, f->eps);
    float scale = 1.0f / (float)batch->size;
    if (f->opt.full_softmax) {
        stats->loss = full_softmax(f, &X, scale);
    } else {
        if (!fixed_samples && !f->sampler_built) {
            rs_rng r;
            rs_rng_seed(&r, f->opt.seed ^ REBUILD_STREAM);
            if (rebuild_sampler(f, &r, err) != 0) return -1;
        }
        if (sampled_softmax(f, &X, scale, fixed_samples, fixed_log_q, &stats->loss, err) != 0)
            return -1;
    }
    if (backward(f, &X, batch->beta * scale, f->pia.lambda * scale, &stats->kl, &stats->reg, err) !=
        0)
        return -1;
    stats->reg *= f->pia.lambda;
    return 0;
}

static int fastvae_train_batch(void *self, const rs_train_batch *batch, rs_step_stats *stats,
                               rs_error *err)
{
    rs_fastvae *f = self;
    if (f->sampler && f->opt.rebuild_every > 0 && f->step % f->opt.rebuild_every == 0 &&
        f->step > 0) {
        rs_rng r;
        if (batch->epoch_rng)
            rs_rng_split(batch->epoch_rng, REBUILD_STREAM + (uint64_t)f->step, &r);
        else
            rs_rng_seed(&r, f->opt.seed ^ (REBUILD_STREAM + (uint64_t)f->step));
        if (rebuild_sampler(f, &r, err) != 0) return -1;
    }
    if (compute_gradient(f, batch, NULL, NULL, NULL, stats, err) != 0) return -1;
    rs_params_step(&f->params);
    f->step++;
    return 0;
}

static int fastvae_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                         float *scores, rs_error *err)
{
    rs_fastvae *f = self;
    if (size <= 0) return 0;
    rs_sparse_batch X;
    if (build_input(f, input, users, size, NULL, 0.0f, 0.0f, &X, err) != 0) return -1;
    forward(f, &X, NULL);
    rs_dense_t_forward(scores, f->u, f->Q, NULL, size, (int)f->H, (int)f->M);
    return 0;
}

/* Full softmax only: the sampled softmax's gradient needs fixed samples
 * (rs_fastvae_gradient). */
static int fastvae_gradient(void *self, const rs_train_batch *batch, double *objective,
                            rs_error *err)
{
    return rs_fastvae_gradient(self, batch, NULL, NULL, NULL, objective, err);
}

static json_t *fastvae_options_json(const void *self)
{
    const rs_fastvae *f = self;
    json_t *hyper = json_pack(
        "{s:I, s:I, s:f, s:f, s:f, s:i, s:f, s:i, s:s, s:I, s:I, s:I, s:s}", "hidden",
        (json_int_t)f->H, "latent", (json_int_t)f->L, "dropout", (double)f->opt.dropout, "lr",
        (double)f->opt.lr, "weight_decay", (double)f->opt.weight_decay, "lr_step", f->opt.lr_step,
        "lr_gamma", (double)f->opt.lr_gamma, "batch_size", f->opt.batch_size, "sampler",
        rs_fastvae_sampler_name(&f->opt), "samples", (json_int_t)f->opt.samples, "codewords",
        (json_int_t)f->opt.codewords, "rebuild_every", (json_int_t)f->opt.rebuild_every,
        "optimizer", "adam, lazy rows for item tables");
    if (hyper) json_object_set_new(hyper, "item_dropout", json_real(f->opt.item_dropout));
    return hyper;
}

static size_t fastvae_footprint(const void *self)
{
    const rs_fastvae *f = self;
    size_t B = (size_t)f->capacity, M = f->M, H = f->H, L = f->L;
    size_t floats = B * (7 * H + 7 * L);
    floats += f->opt.full_softmax ? (size_t)f->chunk * M : 3 * B * f->T;
    size_t bytes = floats * sizeof(float) + f->input.cap * 8 +
                   (f->pos_lq_cap + f->pos_coef_cap) * 4 + f->ent_cap * 12;
    if (f->sampler) bytes += rs_sampler_bytes(f->sampler);
    return bytes;
}

/* The manifest's encoder: pooled embeddings [M -> H relu] -> [H -> 2L] ->
 * mu -> [L -> H]: the user vector, scored against items.vectors. */
static void describe(const rs_fastvae *f, rs_servable *s)
{
    uint32_t M = f->M, H = f->H, L = f->L;
    *s = (rs_servable){
        "sqrt_count",
        4,
        {{"sparse_linear", "encoder.0.weight", NULL, M, H, "relu"},
         {"linear", "encoder.1.weight", "encoder.1.bias", H, 2 * L, "none"},
         {"gaussian_mean", "", NULL, 2 * L, L, "none"},
         {"linear", "decoder.0.weight", "decoder.0.bias", L, H, "none"}},
        "items.vectors",
        NULL,
        "items.anchors",
        NULL,
    };
}

int rs_fastvae_create(const rs_fastvae_options *o, uint32_t n_items, const float *item_counts,
                      rs_train_model *out, rs_error *err)
{
    if (n_items == 0 || n_items > (uint32_t)INT32_MAX)
        return rs_fail(err, "fastvae: %u items (expected 1 .. %d)", n_items, INT32_MAX);
    if (o->hidden < 2 || o->latent == 0 || o->batch_size <= 0)
        return rs_fail(err, "fastvae: hidden must be >= 2, latent and batch size positive");
    if (o->dropout < 0.0f || o->dropout >= 1.0f)
        return rs_fail(err, "fastvae: dropout must be in [0, 1), got %g", (double)o->dropout);
    if (o->item_dropout < 0.0f || o->item_dropout >= 1.0f)
        return rs_fail(err, "fastvae: item dropout must be in [0, 1), got %g",
                       (double)o->item_dropout);
    if (!o->full_softmax && o->samples == 0)
        return rs_fail(err, "fastvae: the sampled softmax needs at least 1 sample");
    if (o->codewords == 0 || o->codewords > RS_PQ_MAX_K)
        return rs_fail(err, "fastvae: codewords %u must be in [1, %u]", o->codewords, RS_PQ_MAX_K);
    if (!o->full_softmax && rs_sampler_kind_uses_pop(o->sampler) && !item_counts)
        return rs_fail(err, "fastvae: the %s sampler needs item counts",
                       rs_sampler_kind_name(o->sampler));
    rs_fastvae *f = rs_calloc(1, sizeof(*f), err);
    if (!f) return -1;
    f->opt = *o;
    f->M = n_items;
    f->H = o->hidden;
    f->L = o->latent;
    f->T = o->full_softmax ? 0 : o->samples;
    f->capacity = o->batch_size;
    rs_pia_init(&f->pia, o->pia_lambda, o->pia_patience, o->pia_factor);
    if (item_counts) {
        if (!(f->counts = rs_malloc(n_items, sizeof(float), err))) goto fail;
        memcpy(f->counts, item_counts, sizeof(float) * n_items);
    }
    if (!o->full_softmax) {
        rs_sampler_options so = rs_sampler_defaults();
        so.k = o->codewords;
        if (!(f->sampler = rs_sampler_new(o->sampler, &so, err))) goto fail;
    }
    if (init_params(f, err) != 0 || alloc_buffers(f, err) != 0) goto fail;
    *out = (rs_train_model){"fastvae",
                            f,
                            f->capacity,
                            n_items,
                            &f->params,
                            f->A ? &f->pia : NULL,
                            {0},
                            fastvae_begin_epoch,
                            fastvae_train_batch,
                            fastvae_score,
                            fastvae_gradient,
                            fastvae_options_json,
                            fastvae_footprint,
                            fastvae_free,
                            NULL,
                            NULL,
                            1,
                            NULL};
    describe(f, &out->serve);
    return 0;
fail:
    fastvae_free(f);
    return -1;
}

/* --- tests and benchmarks --- */

rs_fastvae *rs_fastvae_of(rs_train_model *model)
{
    return model->self;
}

float *rs_fastvae_params(rs_fastvae *f, size_t *n)
{
    *n = f->params.n_floats;
    return f->params.block;
}

float *rs_fastvae_grads(rs_fastvae *f)
{
    return f->dense_grads;
}

int rs_fastvae_gradient(rs_fastvae *f, const rs_train_batch *batch, const float *fixed_eps,
                        const uint32_t *fixed_samples, const float *fixed_log_q, double *objective,
                        rs_error *err)
{
    if (!f->opt.full_softmax && (!fixed_samples || !fixed_log_q))
        return rs_fail(err, "fastvae gradient: the sampled softmax needs fixed samples and log Q");
    rs_train_batch b = *batch;
    b.epoch_rng = NULL; /* deterministic: no dropout, eps from fixed_eps */
    rs_step_stats stats;
    if (compute_gradient(f, &b, fixed_eps, fixed_samples, fixed_log_q, &stats, err) != 0) return -1;
    if (!(f->dense_grads = rs_params_dense_gradient(&f->params, err))) return -1;
    *objective = (stats.loss + batch->beta * stats.kl + stats.reg) / batch->size;
    return 0;
}

void rs_fastvae_get_timing(const rs_fastvae *f, rs_fastvae_timing *t)
{
    *t = f->timing;
}

/* --- the family (family.h) --- */

static void fastvae_options_default(void *options)
{
    rs_fastvae_options_default(options);
}

static int fastvae_family_create(const void *options, const rs_family_inputs *in,
                                 rs_train_model *out, rs_error *err)
{
    rs_fastvae_options o = *(const rs_fastvae_options *)options;
    o.seed = in->seed;
    if (rs_fastvae_create(&o, in->n_items, in->popularity, out, err) != 0) return -1;
    fprintf(stderr, "fastvae: sampler %s, %u samples, %u codewords, batch %d, lr %g\n",
            rs_fastvae_sampler_name(&o), o.samples, o.codewords, o.batch_size, (double)o.lr);
    return 0;
}

const rs_family rs_family_fastvae = {
    "fastvae",
    "FastVAE: sampled softmax with MIDX samplers",
    "FastVAE (--model fastvae)",
    sizeof(rs_fastvae_options),
    fastvae_options_default,
    RS_FAMILY_OPTIONS(fastvae_options),
    fastvae_family_create,
    NULL,
};
