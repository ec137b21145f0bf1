/* sinkhorn.c - the accelerated Sinkhorn loss and its reverse pass (see
 * sinkhorn.h for the formulas and the choices made). */
#include "sinkhorn.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "topk.h"

/* Sample size of the float path's top-k pre-filter (see select_top_float). */
#define TOPK_SAMPLE 512

/* What forward iteration l (1..L) used, for the reverse pass. Vectors of
 * length n_rows (|I1|) or n_cols (|Ik|), each at a stride of the capacity. */
typedef struct sinkhorn_step {
    double *f;       /* f_l = log a_l */
    double *row_exp; /* exp(g_{l-1} - max g_{l-1}), n_cols */
    double *row_sum; /* sum_j K_ij row_exp_j, n_rows */
    double *col_exp; /* exp(f_l - max f_l), n_rows */
    double *col_sum; /* sum_i K_ij col_exp_i, n_cols */
    double *g;       /* g_l = log b_l, n_cols */
} sinkhorn_step;

struct rs_sinkhorn_workspace {
    rs_sinkhorn_options o;
    uint32_t n_items, max_history, k; /* k = min(o.k, n_items) */
    /* n_items */
    double *logits, *prob, *grad;
    double log_normaliser; /* logsumexp of the current logits */
    int32_t *column_of;    /* item -> position in Ik, -1 otherwise */
    /* top-k */
    rs_scored *heap;
    uint32_t *top;
    uint32_t n_top;
    /* the float path (rs_sinkhorn_loss_float): exp(z - max z) per item,
     * the items past the top-k pre-filter, the pre-filter's sample heap */
    float *shifted;
    uint32_t *candidates;
    rs_scored *sample;
    /* the transport problem: max_history x k */
    double *cost, *kernel;
    double *log_mu, *log_nu, *nu;
    sinkhorn_step *steps; /* o.iterations */
    /* reverse pass */
    double *grad_f, *grad_g, *grad_log_nu, *row_tmp, *col_tmp;
    size_t bytes;
};

void rs_sinkhorn_options_default(rs_sinkhorn_options *o)
{
    o->k = 200;
    o->iterations = 5;
    o->epsilon = 1.0;
    o->alpha = 0.03;
    o->renormalise_topk = 0;
    o->transport_weight = 1.0;
}

static int check_options(const rs_sinkhorn_options *o, rs_error *err)
{
    if (o->k == 0) return rs_fail(err, "sinkhorn: k must be at least 1");
    if (o->iterations < 1 || o->iterations > 1000)
        return rs_fail(err, "sinkhorn: iterations must be in 1..1000 (got %d)", o->iterations);
    if (!(o->epsilon >= 0.01))
        return rs_fail(err, "sinkhorn: epsilon must be >= 0.01 (got %g)", o->epsilon);
    if (!(o->alpha >= 0.0 && o->alpha < 1.0))
        return rs_fail(err, "sinkhorn: alpha must be in [0, 1) (got %g)", o->alpha);
    if (!(o->transport_weight >= 0.0))
        return rs_fail(err, "sinkhorn: the transport weight must be >= 0 (got %g)",
                       o->transport_weight);
    return 0;
}

/* Takes count doubles from the workspace's single block. */
static double *take(double **cursor, size_t count)
{
    double *p = *cursor;
    *cursor += count;
    return p;
}

void rs_sinkhorn_workspace_free(rs_sinkhorn_workspace *ws)
{
    if (!ws) return;
    free(ws->logits); /* the double block: every double buffer points into it */
    free(ws->column_of);
    free(ws->heap);
    free(ws->top);
    free(ws->shifted);
    free(ws->candidates);
    free(ws->sample);
    free(ws->steps);
    free(ws);
}

static int alloc_buffers(rs_sinkhorn_workspace *ws, rs_error *err)
{
    size_t rows = ws->max_history ? ws->max_history : 1, cols = ws->k;
    size_t L = (size_t)ws->o.iterations;
    size_t doubles = 3 * (size_t)ws->n_items + 2 * rows * cols + 1 + rows + 2 * cols +
                     L * (3 * rows + 3 * cols) + 2 * rows + 3 * cols;
    double *block = rs_malloc(doubles, sizeof(double), err);
    ws->column_of = rs_malloc(ws->n_items, sizeof(int32_t), err);
    ws->heap = rs_malloc(cols, sizeof(rs_scored), err);
    ws->top = rs_malloc(cols, sizeof(uint32_t), err);
    ws->steps = rs_calloc(L, sizeof(sinkhorn_step), err);
    ws->shifted = rs_malloc(ws->n_items, sizeof(float), err);
    ws->candidates = rs_malloc(ws->n_items, sizeof(uint32_t), err);
    ws->sample = rs_malloc(TOPK_SAMPLE, sizeof(rs_scored), err);
    ws->logits = block;
    if (!block || !ws->column_of || !ws->heap || !ws->top || !ws->steps || !ws->shifted ||
        !ws->candidates || !ws->sample)
        return -1;
    double *cur = block;
    ws->logits = take(&cur, ws->n_items);
    ws->prob = take(&cur, ws->n_items);
    ws->grad = take(&cur, ws->n_items);
    ws->cost = take(&cur, rows * cols + 1); /* + 1: see gather_cost_fast */
    ws->kernel = take(&cur, rows * cols);
    ws->log_mu = take(&cur, rows);
    ws->log_nu = take(&cur, cols);
    ws->nu = take(&cur, cols);
    for (size_t l = 0; l < L; l++) {
        sinkhorn_step *s = &ws->steps[l];
        s->f = take(&cur, rows);
        s->row_sum = take(&cur, rows);
        s->col_exp = take(&cur, rows);
        s->row_exp = take(&cur, cols);
        s->col_sum = take(&cur, cols);
        s->g = take(&cur, cols);
    }
    ws->grad_f = take(&cur, rows);
    ws->row_tmp = take(&cur, rows);
    ws->grad_g = take(&cur, cols);
    ws->grad_log_nu = take(&cur, cols);
    ws->col_tmp = take(&cur, cols);
    ws->bytes = doubles * sizeof(double) + ws->n_items * sizeof(int32_t) +
                cols * (sizeof(rs_scored) + sizeof(uint32_t)) + L * sizeof(sinkhorn_step) +
                ws->n_items * (sizeof(float) + sizeof(uint32_t)) + TOPK_SAMPLE * sizeof(rs_scored);
    for (uint32_t i = 0; i < ws->n_items; i++) ws->column_of[i] = -1;
    return 0;
}

rs_sinkhorn_workspace *rs_sinkhorn_workspace_create(const rs_sinkhorn_options *o, uint32_t n_items,
                                                    uint32_t max_history, rs_error *err)
{
    if (check_options(o, err) != 0) return NULL;
    if (n_items == 0) {
        rs_fail(err, "sinkhorn: no items");
        return NULL;
    }
    rs_sinkhorn_workspace *ws = rs_calloc(1, sizeof(*ws), err);
    if (!ws) return NULL;
    ws->o = *o;
    ws->n_items = n_items;
    ws->max_history = max_history;
    ws->k = RS_MIN(o->k, n_items);
    if (alloc_buffers(ws, err) != 0) {
        rs_sinkhorn_workspace_free(ws);
        rs_error_prefix(err, "sinkhorn workspace");
        return NULL;
    }
    return ws;
}

size_t rs_sinkhorn_workspace_bytes(const rs_sinkhorn_workspace *ws)
{
    return ws->bytes;
}

uint32_t rs_sinkhorn_last_topk(const rs_sinkhorn_workspace *ws, const uint32_t **items)
{
    *items = ws->top;
    return ws->n_top;
}

/* --- the transport problem on ws->cost / kernel / log_mu / log_nu --- */

static double max_of(const double *v, uint32_t n)
{
    double m = -INFINITY;
    for (uint32_t i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

/* out_i = sum_j K_ij v_j */
static void kernel_times(const double *kernel, uint32_t rows, uint32_t cols, const double *v,
                         double *out)
{
    for (uint32_t i = 0; i < rows; i++) {
        const double *k = kernel + (size_t)i * cols;
        double acc = 0.0;
#pragma omp simd reduction(+ : acc)
        for (uint32_t j = 0; j < cols; j++) acc += k[j] * v[j];
        out[i] = acc;
    }
}

/* out_j = sum_i K_ij v_i */
static void kernel_transposed_times(const double *kernel, uint32_t rows, uint32_t cols,
                                    const double *v, double *out)
{
    for (uint32_t j = 0; j < cols; j++) out[j] = 0.0;
    for (uint32_t i = 0; i < rows; i++) {
        const double *k = kernel + (size_t)i * cols;
        double vi = v[i];
#pragma omp simd
        for (uint32_t j = 0; j < cols; j++) out[j] += k[j] * vi;
    }
}

/* The L iterations, recording each on the tape (ws->steps). */
static void sinkhorn_forward(rs_sinkhorn_workspace *ws, uint32_t rows, uint32_t cols)
{
    for (int l = 0; l < ws->o.iterations; l++) {
        sinkhorn_step *s = &ws->steps[l];
        /* f_l = log mu - max g - log sum_j K_ij exp(g_{l-1,j} - max g); g_0 = 0 */
        double max_g = 0.0;
        if (l == 0) {
            for (uint32_t j = 0; j < cols; j++) s->row_exp[j] = 1.0;
        } else {
            const double *g = ws->steps[l - 1].g;
            max_g = max_of(g, cols);
            for (uint32_t j = 0; j < cols; j++) s->row_exp[j] = exp(g[j] - max_g);
        }
        kernel_times(ws->kernel, rows, cols, s->row_exp, s->row_sum);
        for (uint32_t i = 0; i < rows; i++) s->f[i] = ws->log_mu[i] - max_g - log(s->row_sum[i]);
        /* g_l = log nu - max f - log sum_i K_ij exp(f_l,i - max f) */
        double max_f = max_of(s->f, rows);
        for (uint32_t i = 0; i < rows; i++) s->col_exp[i] = exp(s->f[i] - max_f);
        kernel_transposed_times(ws->kernel, rows, cols, s->col_exp, s->col_sum);
        for (uint32_t j = 0; j < cols; j++) s->g[j] = ws->log_nu[j] - max_f - log(s->col_sum[j]);
    }
}

/* P_ij of the last iteration: K_ij col_exp_i nu_j / col_sum_j. */
static inline double plan_entry(const rs_sinkhorn_workspace *ws, const sinkhorn_step *last,
                                uint32_t cols, uint32_t i, uint32_t j)
{
    return ws->kernel[(size_t)i * cols + j] * last->col_exp[i] * (ws->nu[j] / last->col_sum[j]);
}

/* <C, P> and, if with_grad, its gradient w.r.t. log nu into ws->grad_log_nu. */
static double sinkhorn_transport(rs_sinkhorn_workspace *ws, uint32_t rows, uint32_t cols,
                                 int with_grad)
{
    const sinkhorn_step *last = &ws->steps[ws->o.iterations - 1];
    double transport = 0.0, *ratio = ws->col_tmp;
    for (uint32_t j = 0; j < cols; j++) {
        ws->grad_g[j] = 0.0;
        ratio[j] = ws->nu[j] / last->col_sum[j];
    }
    for (uint32_t i = 0; i < rows; i++) {
        const double *c = ws->cost + (size_t)i * cols, *k = ws->kernel + (size_t)i * cols;
        double row = 0.0, a = last->col_exp[i];
#pragma omp simd reduction(+ : row)
        for (uint32_t j = 0; j < cols; j++) {
            double cp = c[j] * (k[j] * a * ratio[j]); /* C_ij P_ij, as plan_entry */
            row += cp;
            ws->grad_g[j] += cp; /* d <C, P> / d g_L,j */
        }
        ws->grad_f[i] = row; /* d <C, P> / d f_L,i */
        transport += row;
    }
    if (!with_grad) return transport;
    for (uint32_t j = 0; j < cols; j++) ws->grad_log_nu[j] = 0.0;
    for (int l = ws->o.iterations - 1; l >= 0; l--) {
        const sinkhorn_step *s = &ws->steps[l];
        /* through g_l = log nu - max f - log col_sum: d/d log nu = 1,
         * d g_l,j / d f_l,i = -K_ij col_exp_i / col_sum_j */
        for (uint32_t j = 0; j < cols; j++) {
            ws->grad_log_nu[j] += ws->grad_g[j];
            ws->col_tmp[j] = ws->grad_g[j] / s->col_sum[j];
        }
        kernel_times(ws->kernel, rows, cols, ws->col_tmp, ws->row_tmp);
        for (uint32_t i = 0; i < rows; i++) ws->grad_f[i] -= s->col_exp[i] * ws->row_tmp[i];
        if (l == 0) break; /* f_1 depends on the constant g_0 only */
        /* through f_l = log mu - max g - log row_sum:
         * d f_l,i / d g_{l-1},j = -K_ij row_exp_j / row_sum_i */
        for (uint32_t i = 0; i < rows; i++) ws->row_tmp[i] = ws->grad_f[i] / s->row_sum[i];
        kernel_transposed_times(ws->kernel, rows, cols, ws->row_tmp, ws->col_tmp);
        for (uint32_t j = 0; j < cols; j++) ws->grad_g[j] = -s->row_exp[j] * ws->col_tmp[j];
        for (uint32_t i = 0; i < rows; i++) ws->grad_f[i] = 0.0; /* f_{l-1} feeds only g_{l-1} */
    }
    return transport;
}

static void fill_kernel(rs_sinkhorn_workspace *ws, uint32_t rows, uint32_t cols)
{
    double inv_eps = 1.0 / ws->o.epsilon;
    for (size_t e = 0; e < (size_t)rows * cols; e++) ws->kernel[e] = exp(-ws->cost[e] * inv_eps);
}

int rs_sinkhorn_plan(rs_sinkhorn_workspace *ws, const double *cost, uint32_t n_rows,
                     uint32_t n_cols, const double *log_mu, const double *log_nu, double *plan,
                     double *transport, rs_error *err)
{
    if (n_rows == 0 || n_rows > ws->max_history || n_cols == 0 || n_cols > ws->k)
        return rs_fail(err, "sinkhorn: a %u x %u problem does not fit the workspace (%u x %u)",
                       n_rows, n_cols, ws->max_history, ws->k);
    memcpy(ws->cost, cost, (size_t)n_rows * n_cols * sizeof(double));
    memcpy(ws->log_mu, log_mu, n_rows * sizeof(double));
    for (uint32_t j = 0; j < n_cols; j++) {
        ws->log_nu[j] = log_nu[j];
        ws->nu[j] = exp(log_nu[j]);
    }
    fill_kernel(ws, n_rows, n_cols);
    sinkhorn_forward(ws, n_rows, n_cols);
    const sinkhorn_step *last = &ws->steps[ws->o.iterations - 1];
    for (uint32_t i = 0; i < n_rows; i++)
        for (uint32_t j = 0; j < n_cols; j++)
            plan[(size_t)i * n_cols + j] = plan_entry(ws, last, n_cols, i, j);
    *transport = sinkhorn_transport(ws, n_rows, n_cols, 0);
    return 0;
}

/* --- the user's loss --- */

/* prob = softmax(logits), with one exponential per item; log x^_i is
 * logits_i - ws->log_normaliser wherever a log is needed. */
static void softmax(rs_sinkhorn_workspace *ws, const double *logits)
{
    uint32_t n = ws->n_items;
    double m = max_of(logits, n), sum = 0.0;
    for (uint32_t i = 0; i < n; i++) sum += ws->prob[i] = exp(logits[i] - m);
    double inv = 1.0 / sum;
    for (uint32_t i = 0; i < n; i++) ws->prob[i] *= inv;
    ws->log_normaliser = m + log(sum);
}

/* Ik from a filled heap: best first, and column_of for them. */
static void finish_top(rs_sinkhorn_workspace *ws, rs_topk *top)
{
    ws->n_top = rs_topk_sorted(top);
    for (uint32_t c = 0; c < ws->n_top; c++) {
        ws->top[c] = ws->heap[c].id;
        ws->column_of[ws->top[c]] = (int32_t)c;
    }
}

/* Ik: the k largest logits, best first, and column_of for them. */
static void select_top(rs_sinkhorn_workspace *ws, const double *logits)
{
    rs_topk top;
    rs_topk_init(&top, ws->heap, ws->k);
    for (uint32_t i = 0; i < ws->n_items; i++) {
        float score = (float)logits[i];
        if (rs_topk_would_enter(&top, score, i)) rs_topk_push(&top, score, i);
    }
    finish_top(ws, &top);
}

/* log nu over Ik (raw or renormalised, see sinkhorn.h); returns s. */
static double topk_marginal(rs_sinkhorn_workspace *ws, const double *logits)
{
    uint32_t k = ws->n_top;
    double mass = 0.0;
    for (uint32_t c = 0; c < k; c++) mass += ws->prob[ws->top[c]];
    double shift = ws->log_normaliser + (ws->o.renormalise_topk ? log(mass) : 0.0);
    for (uint32_t c = 0; c < k; c++) {
        ws->log_nu[c] = logits[ws->top[c]] - shift;
        ws->nu[c] = exp(ws->log_nu[c]);
    }
    return mass;
}

/* L2 = -sum_{I1} log x^ - alpha sum_{I2} log x^, with log x^ = z - lse,
 * from the sums of z over all items and over the history. */
static double concentration_of_sums(const rs_sinkhorn_workspace *ws, double all, double in_history,
                                    uint32_t n_history)
{
    all -= ws->n_items * ws->log_normaliser;
    in_history -= n_history * ws->log_normaliser;
    return -in_history - ws->o.alpha * (all - in_history);
}

static double concentration(const rs_sinkhorn_workspace *ws, const double *logits,
                            const uint32_t *history, uint32_t n_history)
{
    double all = 0.0, in_history = 0.0;
    for (uint32_t i = 0; i < ws->n_items; i++) all += logits[i];
    for (uint32_t t = 0; t < n_history; t++) in_history += logits[history[t]];
    return concentration_of_sums(ws, all, in_history, n_history);
}

/* grad = d(L1 + L2)/dz from d L1 / d log nu (ws->grad_log_nu):
 * L2: d/dz_m = W x^_m - w_m, w = 1 on I1 and alpha on I2, W = sum w;
 * L1 raw: d/dz_m = G_m [m in Ik] - x^_m sum G;
 * L1 renormalised: d/dz_m = (G_m - nu_m sum G) [m in Ik]. */
static void logits_gradient(rs_sinkhorn_workspace *ws, const uint32_t *history, uint32_t n_history,
                            double *grad)
{
    double alpha = ws->o.alpha, grad_sum = 0.0;
    for (uint32_t c = 0; c < ws->n_top; c++) grad_sum += ws->grad_log_nu[c];
    double weight = n_history + alpha * (ws->n_items - n_history);
    double prob_factor = weight - (ws->o.renormalise_topk ? 0.0 : grad_sum);
    for (uint32_t m = 0; m < ws->n_items; m++) grad[m] = prob_factor * ws->prob[m] - alpha;
    for (uint32_t t = 0; t < n_history; t++) grad[history[t]] -= 1.0 - alpha;
    for (uint32_t c = 0; c < ws->n_top; c++) {
        double g = ws->grad_log_nu[c];
        if (ws->o.renormalise_topk) g -= ws->nu[c] * grad_sum;
        grad[ws->top[c]] += g;
    }
}

static void clear_columns(rs_sinkhorn_workspace *ws)
{
    for (uint32_t c = 0; c < ws->n_top; c++) ws->column_of[ws->top[c]] = -1;
}

/* C[I1, Ik] into ws->cost; clears column_of. */
static void gather_cost(rs_sinkhorn_workspace *ws, const rs_cooccur *cost, const uint32_t *history,
                        uint32_t rows)
{
    uint32_t cols = ws->n_top;
    for (uint32_t t = 0; t < rows; t++)
        rs_cooccur_cost_gather(cost, history[t], cols, ws->column_of, ws->cost + (size_t)t * cols);
    clear_columns(ws);
}

static int check_history(const rs_sinkhorn_workspace *ws, const uint32_t *history,
                         uint32_t n_history, rs_error *err)
{
    if (n_history > ws->max_history)
        return rs_fail(err, "sinkhorn: a history of %u items exceeds the workspace's %u", n_history,
                       ws->max_history);
    for (uint32_t t = 0; t < n_history; t++)
        if (history[t] >= ws->n_items)
            return rs_fail(err, "sinkhorn: history item %u out of range (%u items)", history[t],
                           ws->n_items);
    return 0;
}

static int check_call(const rs_sinkhorn_workspace *ws, const rs_cooccur *cost,
                      const uint32_t *history, uint32_t n_history, rs_error *err)
{
    if (check_history(ws, history, n_history, err) != 0) return -1;
    if (cost->n_items != ws->n_items)
        return rs_fail(err, "sinkhorn: cost matrix has %u items, model %u", cost->n_items,
                       ws->n_items);
    return 0;
}

int rs_sinkhorn_loss(rs_sinkhorn_workspace *ws, const rs_cooccur *cost, const double *logits,
                     const uint32_t *history, uint32_t n_history, double *loss, double *grad,
                     rs_sinkhorn_parts *parts, rs_error *err)
{
    if (check_call(ws, cost, history, n_history, err) != 0) return -1;
    rs_sinkhorn_parts p = {0};
    if (n_history == 0) {
        for (uint32_t m = 0; m < ws->n_items; m++) grad[m] = 0.0;
        ws->n_top = 0;
        *loss = 0.0;
        if (parts) *parts = p;
        return 0;
    }
    softmax(ws, logits);
    select_top(ws, logits);
    p.topk_mass = topk_marginal(ws, logits);
    uint32_t rows = n_history, cols = ws->n_top;
    double log_mu = -log((double)n_history);
    for (uint32_t t = 0; t < rows; t++) ws->log_mu[t] = log_mu;
    gather_cost(ws, cost, history, rows);
    fill_kernel(ws, rows, cols);
    sinkhorn_forward(ws, rows, cols);
    p.transport = sinkhorn_transport(ws, rows, cols, 1);
    double weight = ws->o.transport_weight;
    for (uint32_t c = 0; c < cols; c++) ws->grad_log_nu[c] *= weight;
    p.concentration = concentration(ws, logits, history, n_history);
    logits_gradient(ws, history, n_history, grad);
    *loss = weight * p.transport + p.concentration;
    if (parts) *parts = p;
    return 0;
}

/* --- the float path: what training runs --- */

/* e^x for x <= 0 in float, written so that a loop over it vectorises
 * (glibc's expf does not): x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in
 * two for an exact reduction), e^r by its degree-6 Taylor polynomial
 * (truncation below 2e-8 relative), 2^n from the exponent bits. Relative
 * error below 3e-7 over [-87, 0]; below -87 it returns e^-87 ~ 1.6e-38,
 * a probability that is nil next to any other in a softmax. */
static inline float exp_nonpositive(float x)
{
    x = x > -87.0f ? x : -87.0f;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504f + shifter) - shifter;
    float r = fmaf(n, -0.693145752f, x);
    r = fmaf(n, -1.42860677e-6f, r);
    float p = 1.0f / 720.0f;
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

/* e^x in double for x in [-745, 0], written to vectorise like
 * exp_nonpositive: x = n ln2 + r, e^r by its degree-12 Taylor polynomial
 * (truncation below 2e-16 relative on |r| <= ln2 / 2), 2^n from the
 * exponent bits. Within a few ulp of glibc's exp (the tests compare the
 * paths); below -708 the result is 0 instead of a subnormal (the kernel's
 * arguments stay above -100, eps >= 0.01). */
static inline double exp_nonpositive_double(double x)
{
    x = x > -708.0 ? x : -708.0;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    double n = (x * 1.4426950408889634 + shifter) - shifter;
    double r = fma(n, -6.93147180369123816490e-01, x);
    r = fma(n, -1.90821492927058770002e-10, r);
    double p = 1.0 / 479001600; /* 1 / 12! */
    p = fma(p, r, 1.0 / 39916800);
    p = fma(p, r, 1.0 / 3628800);
    p = fma(p, r, 1.0 / 362880);
    p = fma(p, r, 1.0 / 40320);
    p = fma(p, r, 1.0 / 5040);
    p = fma(p, r, 1.0 / 720);
    p = fma(p, r, 1.0 / 120);
    p = fma(p, r, 1.0 / 24);
    p = fma(p, r, 1.0 / 6);
    p = fma(p, r, 0.5);
    p = fma(p, r, 1.0);
    p = fma(p, r, 1.0);
    int64_t bits = ((int64_t)n + 1023) * ((int64_t)1 << 52);
    double scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

/* fill_kernel with the vectorised exponential. */
static void fill_kernel_fast(rs_sinkhorn_workspace *ws, uint32_t rows, uint32_t cols)
{
    double inv_eps = 1.0 / ws->o.epsilon;
    const double *c = ws->cost;
    double *k = ws->kernel;
#pragma omp simd
    for (size_t e = 0; e < (size_t)rows * cols; e++) k[e] = exp_nonpositive_double(-c[e] * inv_eps);
}

/* ws->shifted = exp(z - max z); *sum_exp and *sum_logits get the sums of
 * those and of z (double accumulators). Returns max z. */
static float shifted_exponentials(rs_sinkhorn_workspace *ws, const float *z, double *sum_exp,
                                  double *sum_logits)
{
    uint32_t n = ws->n_items;
    float max = z[0], *e = ws->shifted;
#pragma omp simd reduction(max : max)
    for (uint32_t i = 1; i < n; i++) max = z[i] > max ? z[i] : max;
    double se = 0.0, sz = 0.0;
#pragma omp simd reduction(+ : se, sz)
    for (uint32_t i = 0; i < n; i++) {
        e[i] = exp_nonpositive(z[i] - max);
        se += e[i];
        sz += z[i];
    }
    *sum_exp = se;
    *sum_logits = sz;
    return max;
}

/* A threshold t that, very likely, at least k logits reach, and not many
 * more: the r-th largest of TOPK_SAMPLE logits at a fixed stride, with r
 * the number of top-k items such a sample holds on average (lambda) plus
 * four standard deviations plus 4. -INFINITY (no filter) when there are
 * few items or k is a large share of them. */
static float topk_prefilter(rs_sinkhorn_workspace *ws, const float *z)
{
    uint32_t n = ws->n_items;
    if (n < 8 * TOPK_SAMPLE) return -INFINITY;
    double lambda = (double)ws->k * TOPK_SAMPLE / n;
    uint32_t r = (uint32_t)ceil(lambda + 4.0 * sqrt(lambda) + 4.0);
    if (r >= TOPK_SAMPLE / 2) return -INFINITY;
    uint32_t stride = n / TOPK_SAMPLE;
    rs_topk top;
    rs_topk_init(&top, ws->sample, r);
    for (uint32_t s = 0; s < TOPK_SAMPLE; s++) {
        uint32_t i = s * stride;
        if (rs_topk_would_enter(&top, z[i], i)) rs_topk_push(&top, z[i], i);
    }
    return rs_topk_threshold(&top);
}

/* Ik, the same as select_top: if at least k items reach the pre-filter's
 * threshold, the k-th largest logit is at or above it, so the top-k are
 * all among them and the heap runs over those only (in id order, as over
 * all items: the same result, ties to the smaller id); otherwise over all
 * items. */
static void select_top_float(rs_sinkhorn_workspace *ws, const float *z)
{
    uint32_t n = ws->n_items, count = 0;
    float threshold = topk_prefilter(ws, z);
    if (threshold > -INFINITY)
        for (uint32_t i = 0; i < n; i++) {
            ws->candidates[count] = i;
            count += z[i] >= threshold;
        }
    const uint32_t *ids = count >= ws->k ? ws->candidates : NULL;
    if (!ids) count = n;
    rs_topk top;
    rs_topk_init(&top, ws->heap, ws->k);
    for (uint32_t e = 0; e < count; e++) {
        uint32_t i = ids ? ids[e] : e;
        if (rs_topk_would_enter(&top, z[i], i)) rs_topk_push(&top, z[i], i);
    }
    finish_top(ws, &top);
}

/* nu over Ik in double from the float logits (ws->log_normaliser set);
 * returns s. log nu is not needed: the float path iterates in the plain
 * domain. */
static double topk_nu_float(rs_sinkhorn_workspace *ws, const float *z)
{
    double mass = 0.0;
    for (uint32_t c = 0; c < ws->n_top; c++)
        mass += ws->nu[c] = exp((double)z[ws->top[c]] - ws->log_normaliser);
    if (ws->o.renormalise_topk)
        for (uint32_t c = 0; c < ws->n_top; c++) ws->nu[c] /= mass;
    return mass;
}

/* sinkhorn_forward's iterations in the plain domain: the tape's shifted
 * exponentials exp(f_l - max f_l) and exp(g_l - max g_l) are the scalings
 * a_l = mu / row_sum and b_l = nu / col_sum over their largest entry (mu
 * is uniform, so it cancels), the same numbers to rounding without an exp
 * or a log per entry. sinkhorn_transport then runs on this tape as on the
 * log-domain one. The ratio stays in double's range while nu does within
 * e^DOUBLE_RANGE of its largest entry (the caller checks): kernel sums lie
 * in [exp(-1/eps), n_rows] with eps >= 0.01. */
#define DOUBLE_RANGE 500.0

static void sinkhorn_forward_scaled(rs_sinkhorn_workspace *ws, uint32_t rows, uint32_t cols)
{
    for (int l = 0; l < ws->o.iterations; l++) {
        sinkhorn_step *s = &ws->steps[l];
        if (l == 0) {
            for (uint32_t j = 0; j < cols; j++) s->row_exp[j] = 1.0;
        } else {
            const double *col_sum = ws->steps[l - 1].col_sum;
            double largest = 0.0;
            for (uint32_t j = 0; j < cols; j++) {
                s->row_exp[j] = ws->nu[j] / col_sum[j];
                largest = s->row_exp[j] > largest ? s->row_exp[j] : largest;
            }
            double inv = 1.0 / largest;
            for (uint32_t j = 0; j < cols; j++) s->row_exp[j] *= inv;
        }
        kernel_times(ws->kernel, rows, cols, s->row_exp, s->row_sum);
        double least = s->row_sum[0];
        for (uint32_t i = 1; i < rows; i++) least = s->row_sum[i] < least ? s->row_sum[i] : least;
        for (uint32_t i = 0; i < rows; i++) s->col_exp[i] = least / s->row_sum[i];
        kernel_transposed_times(ws->kernel, rows, cols, s->col_exp, s->col_sum);
    }
}

/* logits_gradient in float, times scale: the O(n_items) part from the
 * float exponentials, the history and top-k corrections on top. */
static void logits_gradient_float(rs_sinkhorn_workspace *ws, const uint32_t *history,
                                  uint32_t n_history, double sum_exp, float scale, float *grad)
{
    double alpha = ws->o.alpha, grad_sum = 0.0;
    for (uint32_t c = 0; c < ws->n_top; c++) grad_sum += ws->grad_log_nu[c];
    double weight = n_history + alpha * (ws->n_items - n_history);
    double prob_factor = weight - (ws->o.renormalise_topk ? 0.0 : grad_sum);
    float a = (float)(scale * prob_factor / sum_exp), b = (float)(scale * alpha);
    const float *e = ws->shifted;
#pragma omp simd
    for (uint32_t m = 0; m < ws->n_items; m++) grad[m] = a * e[m] - b;
    float in_history = (float)(scale * (1.0 - alpha));
    for (uint32_t t = 0; t < n_history; t++) grad[history[t]] -= in_history;
    for (uint32_t c = 0; c < ws->n_top; c++) {
        double g = ws->grad_log_nu[c];
        if (ws->o.renormalise_topk) g -= ws->nu[c] * grad_sum;
        grad[ws->top[c]] += (float)(scale * g);
    }
}

/* gather_cost with the neighbour loop free of branches (whether a
 * neighbour is among Ik is a coin toss): one outside Ik is written to the
 * slot after the row, which the next row's fill overwrites (the block has
 * a spare double after the last row). The same values as
 * rs_cooccur_cost_gather. */
static void gather_cost_fast(rs_sinkhorn_workspace *ws, const rs_cooccur *cost,
                             const uint32_t *history, uint32_t rows)
{
    uint32_t cols = ws->n_top;
    const int32_t *column_of = ws->column_of;
    for (uint32_t t = 0; t < rows; t++) {
        double *out = ws->cost + (size_t)t * cols;
        for (uint32_t j = 0; j < cols; j++) out[j] = 1.0;
        uint32_t i = history[t];
        for (uint64_t e = cost->indptr[i]; e < cost->indptr[i + 1]; e++) {
            int32_t col = column_of[cost->ids[e]];
            out[col >= 0 ? (uint32_t)col : cols] = 1.0 - (double)cost->similarity[e];
        }
        if (column_of[i] >= 0) out[column_of[i]] = 0.0;
    }
    clear_columns(ws);
}

/* The reference on converted logits (for logits beyond DOUBLE_RANGE). */
static int loss_through_double(rs_sinkhorn_workspace *ws, const rs_cooccur *cost, const float *z,
                               const uint32_t *history, uint32_t n_history, float scale,
                               double *loss, float *grad, rs_sinkhorn_parts *parts, rs_error *err)
{
    for (uint32_t m = 0; m < ws->n_items; m++) ws->logits[m] = z[m];
    if (rs_sinkhorn_loss(ws, cost, ws->logits, history, n_history, loss, ws->grad, parts, err) != 0)
        return -1;
    for (uint32_t m = 0; m < ws->n_items; m++) grad[m] = (float)ws->grad[m] * scale;
    return 0;
}

/* One user's loss and scale * gradient from float logits; grad may equal
 * z (every read of z comes before the first write to grad). */
static int loss_float(rs_sinkhorn_workspace *ws, const rs_cooccur *cost, const float *z,
                      const uint32_t *history, uint32_t n_history, float scale, double *loss,
                      float *grad, rs_sinkhorn_parts *parts, rs_error *err)
{
    if (check_call(ws, cost, history, n_history, err) != 0) return -1;
    rs_sinkhorn_parts p = {0};
    if (n_history == 0) {
        for (uint32_t m = 0; m < ws->n_items; m++) grad[m] = 0.0f;
        ws->n_top = 0;
        *loss = 0.0;
        if (parts) *parts = p;
        return 0;
    }
    double sum_exp, sum_logits, sum_history = 0.0;
    float max = shifted_exponentials(ws, z, &sum_exp, &sum_logits);
    select_top_float(ws, z);
    uint32_t rows = n_history, cols = ws->n_top;
    if ((double)z[ws->top[0]] - z[ws->top[cols - 1]] > DOUBLE_RANGE) {
        clear_columns(ws);
        return loss_through_double(ws, cost, z, history, n_history, scale, loss, grad, parts, err);
    }
    ws->log_normaliser = max + log(sum_exp);
    p.topk_mass = topk_nu_float(ws, z);
    for (uint32_t t = 0; t < n_history; t++) sum_history += z[history[t]];
    gather_cost_fast(ws, cost, history, rows);
    fill_kernel_fast(ws, rows, cols);
    sinkhorn_forward_scaled(ws, rows, cols);
    p.transport = sinkhorn_transport(ws, rows, cols, 1);
    double weight = ws->o.transport_weight;
    for (uint32_t c = 0; c < cols; c++) ws->grad_log_nu[c] *= weight;
    p.concentration = concentration_of_sums(ws, sum_logits, sum_history, n_history);
    logits_gradient_float(ws, history, n_history, sum_exp, scale, grad);
    *loss = weight * p.transport + p.concentration;
    if (parts) *parts = p;
    return 0;
}

int rs_sinkhorn_loss_float(rs_sinkhorn_workspace *ws, const rs_cooccur *cost, const float *logits,
                           const uint32_t *history, uint32_t n_history, double *loss, float *grad,
                           rs_sinkhorn_parts *parts, rs_error *err)
{
    return loss_float(ws, cost, logits, history, n_history, 1.0f, loss, grad, parts, err);
}

/* --- batches --- */

struct rs_sinkhorn_batch {
    int n_workspaces;
    rs_sinkhorn_workspace **ws; /* one per OpenMP thread */
    int max_rows;
    double *row_loss;
    uint64_t *order; /* rows to hand out, see order_rows */
    rs_sinkhorn_parts *row_parts;
    int *row_failed;
    rs_error *thread_error;
};

void rs_sinkhorn_batch_free(rs_sinkhorn_batch *b)
{
    if (!b) return;
    for (int t = 0; b->ws && t < b->n_workspaces; t++) rs_sinkhorn_workspace_free(b->ws[t]);
    free(b->ws);
    free(b->row_loss);
    free(b->order);
    free(b->row_parts);
    free(b->row_failed);
    free(b->thread_error);
    free(b);
}

rs_sinkhorn_batch *rs_sinkhorn_batch_create(const rs_sinkhorn_options *o, uint32_t n_items,
                                            uint32_t max_history, int max_rows, rs_error *err)
{
    rs_sinkhorn_batch *b = rs_calloc(1, sizeof(*b), err);
    if (!b) return NULL;
    b->n_workspaces = omp_get_max_threads();
    b->max_rows = max_rows > 0 ? max_rows : 1;
    b->ws = rs_calloc((size_t)b->n_workspaces, sizeof(*b->ws), err);
    b->row_loss = rs_malloc((size_t)b->max_rows, sizeof(double), err);
    b->order = rs_malloc((size_t)b->max_rows, sizeof(uint64_t), err);
    b->row_parts = rs_malloc((size_t)b->max_rows, sizeof(rs_sinkhorn_parts), err);
    b->row_failed = rs_malloc((size_t)b->max_rows, sizeof(int), err);
    b->thread_error = rs_malloc((size_t)b->n_workspaces, sizeof(rs_error), err);
    if (!b->ws || !b->row_loss || !b->order || !b->row_parts || !b->row_failed ||
        !b->thread_error) {
        rs_sinkhorn_batch_free(b);
        return NULL;
    }
    for (int t = 0; t < b->n_workspaces; t++)
        if (!(b->ws[t] = rs_sinkhorn_workspace_create(o, n_items, max_history, err))) {
            rs_sinkhorn_batch_free(b);
            return NULL;
        }
    return b;
}

size_t rs_sinkhorn_batch_bytes(const rs_sinkhorn_batch *b)
{
    size_t bytes = (size_t)b->max_rows *
                   (sizeof(double) + sizeof(uint64_t) + sizeof(rs_sinkhorn_parts) + sizeof(int));
    for (int t = 0; t < b->n_workspaces; t++) bytes += rs_sinkhorn_workspace_bytes(b->ws[t]);
    return bytes;
}

/* Row order, longest history first (key: length << 32 | row, sorted
 * descending in length, ascending in row): a row costs O(|I1| k L) in the
 * iterations, a long history dozens of short ones, and handing the long
 * ones out first keeps a thread from finishing the batch alone on one. */
static int by_length_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    uint64_t lx = x >> 32, ly = y >> 32;
    if (lx != ly) return lx < ly ? 1 : -1;
    return (x > y) - (x < y);
}

static void order_rows(rs_sinkhorn_batch *b, const rs_sparse_batch *targets)
{
    for (uint32_t r = 0; r < targets->n_rows; r++)
        b->order[r] = (targets->indptr[r + 1] - targets->indptr[r]) << 32 | r;
    qsort(b->order, targets->n_rows, sizeof(b->order[0]), by_length_desc);
}

int rs_sinkhorn_batch_loss(rs_sinkhorn_batch *b, const rs_cooccur *cost, float *dlogits,
                           const float *logits, const rs_sparse_batch *targets, float scale,
                           double *loss, rs_sinkhorn_parts *sum, rs_error *err)
{
    int rows = (int)targets->n_rows;
    if (rows > b->max_rows)
        return rs_fail(err, "sinkhorn: batch of %d rows exceeds %d", rows, b->max_rows);
    if (omp_get_max_threads() > b->n_workspaces)
        return rs_fail(err, "sinkhorn: %d threads but %d workspaces", omp_get_max_threads(),
                       b->n_workspaces);
    size_t n = b->ws[0]->n_items;
    order_rows(b, targets);
#pragma omp parallel for schedule(dynamic, 1)
    for (int q = 0; q < rows; q++) {
        int t = omp_get_thread_num(), r = (int)(b->order[q] & 0xffffffffu);
        uint64_t start = targets->indptr[r];
        uint32_t len = (uint32_t)(targets->indptr[r + 1] - start);
        b->row_failed[r] = loss_float(
            b->ws[t], cost, logits + (size_t)r * n, targets->indices + start, len, scale,
            &b->row_loss[r], dlogits + (size_t)r * n, &b->row_parts[r], &b->thread_error[t]);
        if (b->row_failed[r]) b->row_failed[r] = t + 1; /* where its message is */
    }
    rs_sinkhorn_parts total = {0};
    double total_loss = 0.0;
    for (int r = 0; r < rows; r++) {
        if (b->row_failed[r]) {
            if (err) *err = b->thread_error[b->row_failed[r] - 1];
            return rs_error_prefix(err, "batch row %d", r);
        }
        total_loss += b->row_loss[r];
        total.transport += b->row_parts[r].transport;
        total.concentration += b->row_parts[r].concentration;
        total.topk_mass += b->row_parts[r].topk_mass;
    }
    *loss = total_loss;
    if (sum) *sum = total;
    return 0;
}
