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

#include "adam.h"
#include "layers.h"
#include "pq.h"
#include "publish.h"

/* rng stream ids for sampler rebuilds: above every user id (< 2^32). */
#define REBUILD_STREAM 0x100000000ULL
/* Full softmax: logits buffer of at most this many floats (chunks of users). */
#define FULL_LOGITS_FLOATS (1UL << 26)

/* The gradient rows of an item table touched by one batch. */
typedef struct rowgrad {
    uint32_t width, n, cap;
    uint32_t *rows; /* n touched table rows, in first-touch order */
    int32_t *slot;  /* by table row: its index in rows / grad, or -1 */
    float *grad;    /* cap x width */
} rowgrad;

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

    size_t n_params, n_small;
    float *params, *best;
    float *E, *Wenc, *benc, *Wdec, *bdec, *Q, *A; /* views into params */
    float *small_grads;                           /* dWenc | dbenc | dWdec | dbdec */
    float *dWenc, *dbenc, *dWdec, *dbdec;
    rowgrad gE, gQ, gA;
    float *dQ_dense;    /* full softmax: M x H */
    float *dense_grads; /* rs_fastvae_grads: allocated on first use */
    rs_adam adam_E, adam_small, adam_Q, adam_A;
    float pia_lambda;
    int evals_without_gain;
    long step;

    rs_sampler *sampler; /* NULL in full softmax mode */
    int sampler_built;
    rs_sampler_user **su; /* one per thread */
    double *thread_seconds;
    int n_su;
    rs_fastvae_timing timing;

    /* The sparse input batch. */
    uint64_t *x_indptr;
    uint32_t *x_indices;
    float *x_values, *pos_lq, *pos_coef; /* x_cap each */
    uint64_t x_cap;
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

void rs_fastvae_options_default(rs_fastvae_options *o)
{
    o->hidden = 200;
    o->latent = 32;
    o->dropout = 0.5f;
    o->item_dropout = 0.5f;
    o->lr = 1e-3f;
    o->weight_decay = 0.0f;
    o->lr_step = 5;
    o->lr_gamma = 0.95f;
    o->batch_size = 256;
    o->full_softmax = 0;
    o->sampler = RS_SAMPLER_MIDX_POP;
    o->samples = 200;
    o->codewords = 16;
    o->rebuild_every = 0;
    o->seed = 98765;
    o->pia_lambda = 0.0f;
    o->pia_patience = 2;
    o->pia_factor = 2.0f;
}

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

/* --- item-table gradient rows --- */

static int rowgrad_init(rowgrad *g, uint32_t n_rows, uint32_t width, rs_error *err)
{
    g->width = width;
    g->n = 0;
    g->cap = RS_MIN(n_rows, 1024u);
    if (!(g->slot = rs_malloc(n_rows, sizeof(int32_t), err))) return -1;
    for (uint32_t i = 0; i < n_rows; i++) g->slot[i] = -1;
    if (!(g->rows = rs_malloc(g->cap, sizeof(uint32_t), err))) return -1;
    if (!(g->grad = rs_malloc((size_t)g->cap * width, sizeof(float), err))) return -1;
    return 0;
}

static void rowgrad_free(rowgrad *g)
{
    free(g->slot);
    free(g->rows);
    free(g->grad);
    memset(g, 0, sizeof(*g));
}

/* Room for `more` new rows (at most the table's), so touches cannot fail. */
static int rowgrad_reserve(rowgrad *g, uint64_t more, uint32_t n_table, rs_error *err)
{
    uint64_t need = RS_MIN((uint64_t)g->n + more, (uint64_t)n_table);
    if (need <= g->cap) return 0;
    uint64_t cap = RS_MIN(RS_MAX(need, (uint64_t)g->cap * 2), (uint64_t)n_table);
    uint32_t *rows = realloc(g->rows, cap * sizeof(uint32_t));
    if (!rows) return rs_fail(err, "out of memory for %llu gradient rows", (unsigned long long)cap);
    g->rows = rows;
    float *grad = realloc(g->grad, cap * g->width * sizeof(float));
    if (!grad) return rs_fail(err, "out of memory for %llu gradient rows", (unsigned long long)cap);
    g->grad = grad;
    g->cap = (uint32_t)cap;
    return 0;
}

/* The slot of a table row, claiming a zeroed one on first touch. */
static inline uint32_t rowgrad_touch(rowgrad *g, uint32_t row)
{
    int32_t s = g->slot[row];
    if (s >= 0) return (uint32_t)s;
    s = (int32_t)g->n++;
    g->slot[row] = s;
    g->rows[s] = row;
    memset(g->grad + (size_t)s * g->width, 0, sizeof(float) * g->width);
    return (uint32_t)s;
}

static void rowgrad_clear(rowgrad *g)
{
    for (uint32_t k = 0; k < g->n; k++) g->slot[g->rows[k]] = -1;
    g->n = 0;
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
static int accumulate_rows(rs_fastvae *f, rowgrad *g, uint32_t n_table, uint64_t n,
                           const float *src, rs_error *err)
{
    const uint32_t *item = f->ent_item, *user = f->ent_user;
    const float *coef = f->ent_coef;
    if (rowgrad_reserve(g, n, n_table, err) != 0) return -1;
    for (uint64_t k = 0; k < n; k++) rowgrad_touch(g, item[k]);
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

static size_t layout(rs_fastvae *f, float *base)
{
    size_t M = f->M, H = f->H, L = f->L, off = 0;
#define TAKE(ptr, count)                                                                           \
    do {                                                                                           \
        f->ptr = base ? base + off : NULL;                                                         \
        off += (count);                                                                            \
    } while (0)
    TAKE(E, M * H);
    TAKE(Wenc, H * 2 * L);
    TAKE(benc, 2 * L);
    TAKE(Wdec, L * H);
    TAKE(bdec, H);
    TAKE(Q, M * H);
    TAKE(A, f->opt.pia_lambda > 0.0f ? M * L : 0);
#undef TAKE
    if (f->opt.pia_lambda <= 0.0f) f->A = NULL;
    return off;
}

/* Zero-mean uniform values of standard deviation std (cheaper than normal
 * draws for the M x H tables: a million-item model has 4e8 of them). */
static void init_uniform(float *x, size_t n, double std, rs_rng *rng)
{
    float a = (float)(std * sqrt(3.0));
    for (size_t i = 0; i < n; i++) x[i] = a * (2.0f * rs_rng_uniform_f(rng) - 1.0f);
}

/* Item tables: std 1/sqrt(H) (unit expected row norm); dense weights: std
 * sqrt(2 / (fan_in + fan_out)); biases: std 0.001; anchors: std 1/sqrt(L). */
static void init_params(rs_fastvae *f)
{
    rs_rng rng;
    rs_rng_seed(&rng, f->opt.seed);
    double M = f->M, H = f->H, L = f->L;
    init_uniform(f->E, (size_t)(M * H), 1.0 / sqrt(H), &rng);
    init_uniform(f->Wenc, (size_t)(H * 2 * L), sqrt(2.0 / (H + 2 * L)), &rng);
    init_uniform(f->benc, 2 * f->L, 0.001, &rng);
    init_uniform(f->Wdec, (size_t)(L * H), sqrt(2.0 / (L + H)), &rng);
    init_uniform(f->bdec, f->H, 0.001, &rng);
    init_uniform(f->Q, (size_t)(M * H), 1.0 / sqrt(H), &rng);
    if (f->A) init_uniform(f->A, (size_t)(M * L), sqrt(1.0 / L), &rng);
}

static void fastvae_free(void *self)
{
    rs_fastvae *f = self;
    if (!f) return;
    free(f->counts);
    free(f->params);
    free(f->best);
    free(f->small_grads);
    rowgrad_free(&f->gE);
    rowgrad_free(&f->gQ);
    rowgrad_free(&f->gA);
    free(f->dQ_dense);
    free(f->dense_grads);
    rs_adam_free(&f->adam_E);
    rs_adam_free(&f->adam_small);
    rs_adam_free(&f->adam_Q);
    rs_adam_free(&f->adam_A);
    rs_sampler_free(f->sampler);
    for (int t = 0; t < f->n_su; t++) rs_sampler_user_free(f->su[t]);
    free(f->su);
    free(f->thread_seconds);
    free(f->x_indptr);
    free(f->x_indices);
    free(f->x_values);
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
    f->n_params = layout(f, NULL);
    if (!(f->params = rs_aligned_alloc(f->n_params, sizeof(float), err))) return -1;
    layout(f, f->params);
    f->n_small = H * 2 * L + 2 * L + L * H + H;
    if (!(f->small_grads = rs_aligned_alloc(f->n_small, sizeof(float), err))) return -1;
    f->dWenc = f->small_grads;
    f->dbenc = f->dWenc + H * 2 * L;
    f->dWdec = f->dbenc + 2 * L;
    f->dbdec = f->dWdec + L * H;
    if (rowgrad_init(&f->gE, f->M, f->H, err) != 0) return -1;
    if (rs_adam_init(&f->adam_E, M * H, f->opt.lr, f->opt.weight_decay, err) != 0) return -1;
    if (rs_adam_init(&f->adam_small, f->n_small, f->opt.lr, f->opt.weight_decay, err) != 0)
        return -1;
    if (rs_adam_init(&f->adam_Q, M * H, f->opt.lr, f->opt.weight_decay, err) != 0) return -1;
    if (f->opt.full_softmax) {
        if (!(f->dQ_dense = rs_aligned_alloc(M * H, sizeof(float), err))) return -1;
        f->chunk = (int)RS_MAX(1UL, RS_MIN((size_t)B, FULL_LOGITS_FLOATS / M));
        if (!(f->logits = rs_aligned_alloc((size_t)f->chunk * M, sizeof(float), err))) return -1;
    } else {
        if (rowgrad_init(&f->gQ, f->M, f->H, err) != 0) return -1;
        if (!(f->samp = rs_malloc(B * T, sizeof(uint32_t), err))) return -1;
        if (!(f->samp_lq = rs_malloc(B * T, sizeof(float), err))) return -1;
        if (!(f->samp_coef = rs_malloc(B * T, sizeof(float), err))) return -1;
    }
    if (f->A) {
        if (rowgrad_init(&f->gA, f->M, f->L, err) != 0) return -1;
        if (rs_adam_init(&f->adam_A, M * L, f->opt.lr, f->opt.weight_decay, err) != 0) return -1;
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
    if (!(f->x_indptr = rs_malloc(B + 1, sizeof(uint64_t), err))) return -1;
    return ensure_thread_states(f, err);
}

static int reserve_input(rs_fastvae *f, uint64_t nnz, rs_error *err)
{
    if (nnz <= f->x_cap) return 0;
    uint64_t cap = nnz + nnz / 2 + 1024;
    float **fl[] = {&f->x_values, &f->pos_lq, &f->pos_coef};
    for (size_t i = 0; i < 3; i++) {
        float *p = realloc(*fl[i], cap * sizeof(float));
        if (!p)
            return rs_fail(err, "out of memory for a batch of %llu interactions",
                           (unsigned long long)nnz);
        *fl[i] = p;
    }
    uint32_t *ix = realloc(f->x_indices, cap * sizeof(uint32_t));
    if (!ix)
        return rs_fail(err, "out of memory for a batch of %llu interactions",
                       (unsigned long long)nnz);
    f->x_indices = ix;
    f->x_cap = cap;
    return 0;
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
    uint64_t nnz = 0;
    f->x_indptr[0] = 0;
    for (int r = 0; r < size; r++) {
        uint32_t u = users[r];
        if (u >= data->n_rows)
            return rs_fail(err, "batch user %u out of range (%u rows)", u, data->n_rows);
        nnz += data->indptr[u + 1] - data->indptr[u];
        f->x_indptr[r + 1] = nnz;
    }
    if (reserve_input(f, nnz, err) != 0) return -1;
    uint32_t H = f->H, L = f->L;
    float keep_scale = dropout > 0.0f ? 1.0f / (1.0f - dropout) : 1.0f;
    float item_scale = item_dropout > 0.0f ? 1.0f / (1.0f - item_dropout) : 1.0f;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < size; r++) {
        uint32_t u = users[r];
        const uint32_t *row = data->indices + data->indptr[u];
        uint64_t n = data->indptr[u + 1] - data->indptr[u], out = f->x_indptr[r];
        float value = n ? 1.0f / sqrtf((float)n) : 0.0f;
        for (uint64_t p = 0; p < n; p++) {
            f->x_indices[out + p] = row[p];
            f->x_values[out + p] = value;
        }
        float *mask = f->mask + (size_t)r * H;
        if (!epoch_rng) {
            for (uint32_t j = 0; j < H; j++) mask[j] = 1.0f;
            continue;
        }
        rs_rng rng;
        rs_rng_split(epoch_rng, u, &rng);
        if (item_dropout > 0.0f)
            for (uint64_t p = 0; p < n; p++)
                f->x_values[out + p] =
                    rs_rng_uniform_f(&rng) >= item_dropout ? value * item_scale : 0.0f;
        for (uint32_t j = 0; j < H; j++)
            mask[j] = dropout <= 0.0f || rs_rng_uniform_f(&rng) >= dropout ? keep_scale : 0.0f;
        for (uint32_t j = 0; j < L; j++) f->eps[(size_t)r * L + j] = (float)rs_rng_normal(&rng);
        f->user_rng[r] = rng;
    }
    X->n_rows = (uint32_t)size;
    X->indptr = f->x_indptr;
    X->indices = f->x_indices;
    X->values = f->x_values;
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
 * scaled dL/du. lq_pos / lq_samp hold log Q. */
static double sampled_user(const rs_fastvae *f, const float *ur, const uint32_t *pos, uint32_t n,
                           const float *lq_pos, const uint32_t *samp, const float *lq_samp,
                           float scale, float *coef_pos, float *coef_samp, float *du)
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
        double a = coef_pos[i], ea = exp(a - mx), d = ea + S;
        loss += -a + mx + log(d);
        coef_pos[i] = scale * (float)(ea / d - 1.0);
        inv += 1.0 / d;
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
        f->user_loss[r] = sampled_user(f, ur, pos, n, lq_pos, samp, lq, scale, f->pos_coef + p0,
                                       f->samp_coef + (size_t)r * T, f->du + (size_t)r * H);
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
    return accumulate_rows(f, &f->gQ, M, k, f->u, err);
}

/* The exact softmax over all items, chunk by chunk of users: dU and the
 * dense dQ. */
static double full_softmax(rs_fastvae *f, const rs_sparse_batch *X, float scale)
{
    int B = (int)X->n_rows, H = (int)f->H, M = (int)f->M;
    memset(f->dQ_dense, 0, sizeof(float) * (size_t)f->M * f->H);
    double loss = 0.0;
    for (int start = 0; start < B; start += f->chunk) {
        int sb = RS_MIN(f->chunk, B - start);
        const float *u = f->u + (size_t)start * H;
        rs_dense_t_forward(f->logits, u, f->Q, NULL, sb, H, M);
        rs_sparse_batch T = {(uint32_t)sb, X->indptr + start, X->indices, NULL};
        loss += rs_softmax_nll(f->logits, f->logits, &T, M, scale);
        rs_dense_t_backward(f->du + (size_t)start * H, f->dQ_dense, NULL, f->logits, u, f->Q, sb, H,
                            M);
    }
    return loss;
}

/* --- backward --- */

/* PIA (as in vae.c): R = mean_i ||mu - a_i||^2 + sum exp(logvar); adds
 * scale * dR to de and to the anchor rows. Serial: rows share anchors. */
static int pia_backward(rs_fastvae *f, const rs_sparse_batch *X, float scale, double *reg,
                        rs_error *err)
{
    int L = (int)f->L;
    *reg = 0.0;
    if (rowgrad_reserve(&f->gA, X->indptr[X->n_rows] - X->indptr[0], f->M, err) != 0) return -1;
    for (uint32_t r = 0; r < X->n_rows; r++) {
        uint64_t n = X->indptr[r + 1] - X->indptr[r];
        if (n == 0) continue;
        const float *mu = f->e + (size_t)r * 2 * L, *logvar = mu + L;
        float *dmu = f->de + (size_t)r * 2 * L, *dlogvar = dmu + L;
        double sum = 0.0;
        for (uint64_t p = X->indptr[r]; p < X->indptr[r + 1]; p++) {
            const float *a = f->A + (size_t)X->indices[p] * L;
            float *da = f->gA.grad + (size_t)rowgrad_touch(&f->gA, X->indices[p]) * L;
            for (int j = 0; j < L; j++) {
                float diff = mu[j] - a[j];
                sum += (double)diff * diff / (double)n;
                dmu[j] += scale * 2.0f * diff / (float)n;
                da[j] -= scale * 2.0f * diff / (float)n;
            }
        }
        for (int j = 0; j < L; j++) {
            float var = expf(logvar[j]);
            sum += var;
            dlogvar[j] += scale * var;
        }
        *reg += sum;
    }
    return 0;
}

/* From dL/du (in du) to every gradient. Returns -1 on allocation failure. */
static int backward(rs_fastvae *f, const rs_sparse_batch *X, float kl_scale, float pia_scale,
                    double *kl, double *reg, rs_error *err)
{
    int B = (int)X->n_rows, H = (int)f->H, L = (int)f->L;
    memset(f->small_grads, 0, sizeof(float) * f->n_small);
    rs_dense_backward(f->dz, f->dWdec, f->dbdec, f->du, f->z, f->Wdec, B, L, H);
    *kl = rs_gaussian_backward(f->de, f->dz, f->e, f->eps, B, L, kl_scale);
    *reg = 0.0;
    if (f->A && pia_backward(f, X, pia_scale, reg, err) != 0) return -1;
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
    return accumulate_rows(f, &f->gE, f->M, k, f->dh1, err);
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

static void set_lr(rs_fastvae *f, float lr)
{
    f->adam_E.lr = f->adam_small.lr = f->adam_Q.lr = f->adam_A.lr = lr;
}

static int fastvae_begin_epoch(void *self, int epoch, rs_rng *rng, rs_error *err)
{
    rs_fastvae *f = self;
    if (f->opt.lr_step > 0)
        set_lr(f, f->opt.lr * powf(f->opt.lr_gamma, (float)((epoch - 1) / f->opt.lr_step)));
    if (f->opt.rebuild_every > 0 && f->sampler_built) return 0;
    rs_rng r;
    rs_rng_split(rng, REBUILD_STREAM, &r); /* leaves the epoch stream as it was */
    return rebuild_sampler(f, &r, err);
}

/* --- one step --- */

static void clear_rows(rs_fastvae *f)
{
    rowgrad_clear(&f->gE);
    if (!f->opt.full_softmax) rowgrad_clear(&f->gQ);
    if (f->A) rowgrad_clear(&f->gA);
}

static int compute_gradient(rs_fastvae *f, const rs_train_batch *batch, const float *fixed_eps,
                            const uint32_t *fixed_samples, const float *fixed_log_q,
                            rs_step_stats *stats, rs_error *err)
{
    if (batch->size <= 0 || batch->size > f->capacity)
        return rs_fail(err, "batch of %d users (capacity %d)", batch->size, f->capacity);
    if (batch->data->n_cols != f->M)
        return rs_fail(err, "batch data has %u items, the model %u", batch->data->n_cols, f->M);
    clear_rows(f);
    rs_sparse_batch X;
    float dropout = batch->epoch_rng ? f->opt.dropout : 0.0f;
    float item_dropout = batch->epoch_rng ? f->opt.item_dropout : 0.0f;
    if (build_input(f, batch->data, batch->users, batch->size, batch->epoch_rng, dropout,
                    item_dropout, &X, err) != 0)
        return -1;
    if (!batch->epoch_rng) {
        size_t n = (size_t)batch->size * f->L;
        if (fixed_eps)
            memcpy(f->eps, fixed_eps, sizeof(float) * n);
        else
            memset(f->eps, 0, sizeof(float) * n);
    }
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
    if (backward(f, &X, batch->beta * scale, f->pia_lambda * scale, &stats->kl, &stats->reg, err) !=
        0)
        return -1;
    stats->reg *= f->pia_lambda;
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
    rs_adam_step_rows(&f->adam_E, f->E, f->gE.grad, f->gE.rows, f->gE.n, f->H);
    rs_adam_step(&f->adam_small, f->Wenc, f->small_grads);
    if (f->opt.full_softmax)
        rs_adam_step(&f->adam_Q, f->Q, f->dQ_dense);
    else
        rs_adam_step_rows(&f->adam_Q, f->Q, f->gQ.grad, f->gQ.rows, f->gQ.n, f->H);
    if (f->A) rs_adam_step_rows(&f->adam_A, f->A, f->gA.grad, f->gA.rows, f->gA.n, f->L);
    clear_rows(f);
    f->step++;
    return 0;
}

static int fastvae_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                         float *scores, rs_error *err)
{
    rs_fastvae *f = self;
    if (size > f->capacity)
        return rs_fail(err, "batch of %d users exceeds capacity %d", size, f->capacity);
    if (size <= 0) return 0;
    rs_sparse_batch X;
    if (build_input(f, input, users, size, NULL, 0.0f, 0.0f, &X, err) != 0) return -1;
    forward(f, &X, NULL);
    rs_dense_t_forward(scores, f->u, f->Q, NULL, size, (int)f->H, (int)f->M);
    return 0;
}

static int fastvae_keep_best(void *self, rs_error *err)
{
    rs_fastvae *f = self;
    return rs_params_keep(&f->best, f->params, f->n_params, err);
}

static int fastvae_restore_best(void *self, rs_error *err)
{
    rs_fastvae *f = self;
    return rs_params_restore(f->params, f->best, f->n_params, err);
}

/* --- publishing --- */

static int fastvae_publish(void *self, rs_publish *pub, json_t *manifest, rs_error *err)
{
    rs_fastvae *f = self;
    uint64_t M = f->M, H = f->H, L = f->L;
    struct {
        const char *name;
        const float *data;
        uint32_t ndim;
        uint64_t shape[2];
    } tensors[] = {
        {"encoder.0.weight", f->E, 2, {M, H}},      {"encoder.1.weight", f->Wenc, 2, {H, 2 * L}},
        {"encoder.1.bias", f->benc, 1, {2 * L, 0}}, {"decoder.0.weight", f->Wdec, 2, {L, H}},
        {"decoder.0.bias", f->bdec, 1, {H, 0}},     {"items.vectors", f->Q, 2, {M, H}},
        {"items.anchors", f->A, 2, {M, L}},
    };
    size_t n_tensors = sizeof(tensors) / sizeof(tensors[0]) - (f->A ? 0 : 1);
    for (size_t i = 0; i < n_tensors; i++)
        if (rs_publish_tensor(pub, tensors[i].name, RS_F32, tensors[i].ndim, tensors[i].shape,
                              tensors[i].data, err) != 0)
            return -1;
    json_t *layers = json_array();
    if (layers) {
        json_array_append_new(layers, rs_manifest_layer("sparse_linear", "encoder.0.weight", NULL,
                                                        f->M, f->H, "relu"));
        json_array_append_new(layers, rs_manifest_layer("linear", "encoder.1.weight",
                                                        "encoder.1.bias", f->H, 2 * f->L, "none"));
        json_array_append_new(layers,
                              rs_manifest_layer("gaussian_mean", "", NULL, 2 * f->L, f->L, "none"));
        json_array_append_new(layers, rs_manifest_layer("linear", "decoder.0.weight",
                                                        "decoder.0.bias", f->L, f->H, "none"));
    }
    json_t *encoder =
        layers ? json_pack("{s:s, s:o}", "input", "sqrt_count", "layers", layers) : NULL;
    json_t *items = json_pack("{s:s, s:I}", "vectors", "items.vectors", "dim", (json_int_t)f->H);
    json_t *hyper = json_pack(
        "{s:I, s:I, s:f, s:f, s:f, s:i, s:f, s:i, s:s, s:I, s:I, s:I, s:s}", "hidden",
        (json_int_t)f->H, "latent", (json_int_t)f->L, "dropout", (double)f->opt.dropout, "lr",
        (double)f->opt.lr, "weight_decay", (double)f->opt.weight_decay, "lr_step", f->opt.lr_step,
        "lr_gamma", (double)f->opt.lr_gamma, "batch_size", f->opt.batch_size, "sampler",
        rs_fastvae_sampler_name(&f->opt), "samples", (json_int_t)f->opt.samples, "codewords",
        (json_int_t)f->opt.codewords, "rebuild_every", (json_int_t)f->opt.rebuild_every,
        "optimizer", "adam, lazy rows for item tables");
    if (!encoder || !items || !hyper) {
        json_decref(encoder);
        json_decref(items);
        json_decref(hyper);
        return rs_fail(err, "out of memory building the manifest");
    }
    json_object_set_new(hyper, "item_dropout", json_real(f->opt.item_dropout));
    if (f->A) {
        json_object_set_new(items, "anchors", json_string("items.anchors"));
        json_object_set_new(hyper, "pia_lambda", json_real(f->opt.pia_lambda));
        json_object_set_new(hyper, "pia_lambda_final", json_real(f->pia_lambda));
    }
    json_object_set_new(manifest, "family", json_string("fastvae"));
    json_object_set_new(manifest, "encoder", encoder);
    json_object_set_new(manifest, "items", items);
    json_object_set_new(manifest, "model_options", hyper);
    return rs_publish_retrieval_index(pub, manifest, f->Q, NULL, f->M, f->H, f->opt.seed, err);
}

static void fastvae_after_eval(void *self, int epoch, double selection_value, int improved)
{
    rs_fastvae *f = self;
    if (!f->A) return;
    f->evals_without_gain = improved ? 0 : f->evals_without_gain + 1;
    if (f->evals_without_gain >= f->opt.pia_patience) {
        f->pia_lambda *= f->opt.pia_factor;
        f->evals_without_gain = 0;
        fprintf(stderr, "epoch %d: no validation gain for %d evaluations, PIA lambda -> %g\n",
                epoch, f->opt.pia_patience, (double)f->pia_lambda);
    }
}

static size_t fastvae_footprint(const void *self)
{
    const rs_fastvae *f = self;
    size_t B = (size_t)f->capacity, M = f->M, H = f->H, L = f->L;
    size_t floats = f->n_params * (f->best ? 4 : 3) /* params, adam m, v (+ best) */ + f->n_small +
                    B * (7 * H + 7 * L);
    if (f->opt.full_softmax)
        floats += M * H + (size_t)f->chunk * M;
    else
        floats += (size_t)f->gQ.cap * H + 3 * B * f->T;
    floats += (size_t)f->gE.cap * H + (size_t)f->gA.cap * L;
    size_t bytes = floats * sizeof(float) + f->x_cap * 16 + f->ent_cap * 12 +
                   (f->A ? 3 : 2) * M * sizeof(int32_t);
    if (f->sampler) bytes += rs_sampler_bytes(f->sampler);
    return bytes;
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
    f->pia_lambda = o->pia_lambda;
    if (item_counts) {
        if (!(f->counts = rs_malloc(n_items, sizeof(float), err))) goto fail;
        memcpy(f->counts, item_counts, sizeof(float) * n_items);
    }
    if (!o->full_softmax) {
        rs_sampler_options so = rs_sampler_defaults();
        so.k = o->codewords;
        if (!(f->sampler = rs_sampler_new(o->sampler, &so, err))) goto fail;
    }
    if (alloc_buffers(f, err) != 0) goto fail;
    init_params(f);
    memset(out, 0, sizeof(*out));
    out->family = "fastvae";
    out->self = f;
    out->batch_capacity = f->capacity;
    out->n_items = n_items;
    out->begin_epoch = fastvae_begin_epoch;
    out->train_batch = fastvae_train_batch;
    out->score = fastvae_score;
    out->keep_best = fastvae_keep_best;
    out->restore_best = fastvae_restore_best;
    out->publish = fastvae_publish;
    out->after_eval = fastvae_after_eval;
    out->footprint = fastvae_footprint;
    out->free = fastvae_free;
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
    *n = f->n_params;
    return f->params;
}

float *rs_fastvae_grads(rs_fastvae *f)
{
    return f->dense_grads;
}

/* Scatters the row gradients of a table into a dense block. */
static void scatter_rows(float *dense, const rowgrad *g)
{
    for (uint32_t k = 0; k < g->n; k++)
        memcpy(dense + (size_t)g->rows[k] * g->width, g->grad + (size_t)k * g->width,
               sizeof(float) * g->width);
}

int rs_fastvae_gradient(rs_fastvae *f, const rs_train_batch *batch, const float *fixed_eps,
                        const uint32_t *fixed_samples, const float *fixed_log_q, double *objective,
                        rs_error *err)
{
    if (!f->opt.full_softmax && (!fixed_samples || !fixed_log_q))
        return rs_fail(err, "fastvae gradient: the sampled softmax needs fixed samples and log Q");
    if (!f->dense_grads && !(f->dense_grads = rs_aligned_alloc(f->n_params, sizeof(float), err)))
        return -1;
    rs_train_batch b = *batch;
    b.epoch_rng = NULL; /* deterministic: no dropout, eps from fixed_eps */
    rs_step_stats stats;
    if (compute_gradient(f, &b, fixed_eps, fixed_samples, fixed_log_q, &stats, err) != 0) return -1;
    float *d = f->dense_grads;
    memset(d, 0, sizeof(float) * f->n_params);
    scatter_rows(d + (f->E - f->params), &f->gE);
    memcpy(d + (f->Wenc - f->params), f->small_grads, sizeof(float) * f->n_small);
    if (f->opt.full_softmax)
        memcpy(d + (f->Q - f->params), f->dQ_dense, sizeof(float) * (size_t)f->M * f->H);
    else
        scatter_rows(d + (f->Q - f->params), &f->gQ);
    if (f->A) scatter_rows(d + (f->A - f->params), &f->gA);
    clear_rows(f);
    *objective = (stats.loss + batch->beta * stats.kl + stats.reg) / batch->size;
    return 0;
}

void rs_fastvae_get_timing(const rs_fastvae *f, rs_fastvae_timing *t)
{
    *t = f->timing;
}
