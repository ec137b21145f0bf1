/* prorec.c - ProRec's streaming matching, split and relabelling (see
 * prorec.h). */
#include "prorec.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Items per chunk of the column pass (one thread's share at a time). */
#define COLUMN_CHUNK 1024

void rs_prorec_options_default(rs_prorec_options *o)
{
    o->gamma = 0.1f;
    o->beta = 20.0f;
    o->lambda = 0.5f;
    o->rounds = 1;
    o->log_domain = 1; /* see prorec.h: ρ's split flags nearly everything */
}

void rs_prorec_columns_add(double *max, double *sum, const float *scores, int rows, uint32_t n,
                           double inv_gamma)
{
    uint32_t chunks = (n + COLUMN_CHUNK - 1) / COLUMN_CHUNK;
#pragma omp parallel for schedule(static)
    for (uint32_t c = 0; c < chunks; c++) {
        uint32_t lo = c * COLUMN_CHUNK, hi = RS_MIN(n, lo + COLUMN_CHUNK);
        for (int r = 0; r < rows; r++) {
            const float *row = scores + (size_t)r * n;
            for (uint32_t i = lo; i < hi; i++) {
                double x = (double)row[i] * inv_gamma;
                if (x > max[i]) {
                    sum[i] = sum[i] * exp(max[i] - x) + 1.0;
                    max[i] = x;
                } else {
                    sum[i] += exp(x - max[i]);
                }
            }
        }
    }
}

/* log Σ_i exp(scores[i] / γ) over a whole row. */
static double row_lse(const float *scores, uint32_t n, double inv_gamma)
{
    double mx = -INFINITY, s = 0.0;
    for (uint32_t i = 0; i < n; i++) mx = RS_MAX(mx, (double)scores[i] * inv_gamma);
    for (uint32_t i = 0; i < n; i++) s += exp((double)scores[i] * inv_gamma - mx);
    return mx + log(s);
}

void rs_prorec_row(const float *scores, uint32_t n_items, const uint32_t *observed, uint32_t n_obs,
                   double log_q, const double *log_p, const double *col_lse, double inv_gamma,
                   double *log_rho)
{
    if (n_obs == 0) return;
    double lse_u = row_lse(scores, n_items, inv_gamma), mx = -INFINITY;
    for (uint32_t k = 0; k < n_obs; k++) {
        uint32_t i = observed[k];
        double x = (double)scores[i] * inv_gamma;
        double v = log_q + x - lse_u, u = log_p[i] + x - col_lse[i];
        log_rho[k] = RS_MAX(u, v);
        mx = RS_MAX(mx, log_rho[k]);
    }
    double s = 0.0;
    for (uint32_t k = 0; k < n_obs; k++) s += exp(log_rho[k] - mx);
    double norm = mx + log(s);
    for (uint32_t k = 0; k < n_obs; k++) log_rho[k] -= norm;
}

/* The users with interactions, and log q / log p from train's counts. */
static int marginals(const rs_csr *train, uint32_t **users, uint32_t *n_users, double *log_q,
                     double *log_p, rs_error *err)
{
    double nnz = (double)rs_csr_nnz(train);
    if (!(*users = rs_malloc((size_t)train->n_rows + 1, sizeof(uint32_t), err))) return -1;
    *n_users = 0;
    for (uint32_t i = 0; i < train->n_cols; i++) log_p[i] = 0.0;
    for (uint64_t p = 0; p < rs_csr_nnz(train); p++) log_p[train->indices[p]] += 1.0;
    for (uint32_t i = 0; i < train->n_cols; i++) log_p[i] = log(log_p[i] / nnz);
    for (uint32_t u = 0; u < train->n_rows; u++) {
        uint32_t n = rs_csr_row_len(train, u);
        log_q[u] = log((double)n / nnz);
        if (n) (*users)[(*n_users)++] = u;
    }
    return 0;
}

/* Pass 1: col_lse[i] = log Σ_u exp(S_ui / γ) over the users. */
static int column_pass(const uint32_t *users, uint32_t n_users, uint32_t n_items, int block,
                       double inv_gamma, rs_prorec_scorer score, void *ctx, float *scores,
                       double *col_lse, double *sum, rs_error *err)
{
    for (uint32_t i = 0; i < n_items; i++) col_lse[i] = -INFINITY, sum[i] = 0.0;
    for (uint32_t start = 0; start < n_users; start += (uint32_t)block) {
        int size = (int)RS_MIN((uint32_t)block, n_users - start);
        if (score(ctx, users + start, size, scores, err) != 0) return -1;
        rs_prorec_columns_add(col_lse, sum, scores, size, n_items, inv_gamma);
    }
    for (uint32_t i = 0; i < n_items; i++) col_lse[i] += log(sum[i]);
    return 0;
}

/* Pass 2: each block's scores again, each row's observed entries' log ρ. */
static int row_pass(const rs_csr *train, const uint32_t *users, uint32_t n_users, int block,
                    double inv_gamma, rs_prorec_scorer score, void *ctx, float *scores,
                    const double *log_q, const double *log_p, const double *col_lse,
                    double *log_rho, rs_error *err)
{
    uint32_t M = train->n_cols;
    for (uint32_t start = 0; start < n_users; start += (uint32_t)block) {
        int size = (int)RS_MIN((uint32_t)block, n_users - start);
        if (score(ctx, users + start, size, scores, err) != 0) return -1;
#pragma omp parallel for schedule(dynamic, 4)
        for (int r = 0; r < size; r++) {
            uint32_t u = users[start + (uint32_t)r];
            uint64_t p0 = train->indptr[u];
            rs_prorec_row(scores + (size_t)r * M, M, train->indices + p0, rs_csr_row_len(train, u),
                          log_q[u], log_p, col_lse, inv_gamma, log_rho + p0);
        }
    }
    return 0;
}

int rs_prorec_matching(const rs_csr *train, double gamma, int block, rs_prorec_scorer score,
                       void *ctx, double *log_rho, rs_error *err)
{
    if (!(gamma > 0) || block <= 0)
        return rs_fail_kind(err, RS_ERR_INVALID, "prorec: gamma must be > 0 and the block >= 1");
    uint32_t M = train->n_cols, n_users = 0, *users = NULL;
    double inv_gamma = 1.0 / gamma;
    double *log_q = rs_malloc((size_t)train->n_rows + 1, sizeof(double), err);
    double *log_p = log_q ? rs_malloc((size_t)M + 1, sizeof(double), err) : NULL;
    double *col_lse = log_p ? rs_malloc((size_t)M + 1, sizeof(double), err) : NULL;
    double *sum = col_lse ? rs_malloc((size_t)M + 1, sizeof(double), err) : NULL;
    float *scores = sum ? rs_aligned_alloc((size_t)block * M, sizeof(float), err) : NULL;
    int rc = -1;
    if (scores && marginals(train, &users, &n_users, log_q, log_p, err) == 0 &&
        column_pass(users, n_users, M, block, inv_gamma, score, ctx, scores, col_lse, sum, err) ==
            0 &&
        row_pass(train, users, n_users, block, inv_gamma, score, ctx, scores, log_q, log_p, col_lse,
                 log_rho, err) == 0)
        rc = 0;
    free(users);
    free(log_q);
    free(log_p);
    free(col_lse);
    free(sum);
    free(scores);
    return rc;
}

uint32_t rs_prorec_split(const double *sorted, uint32_t n)
{
    if (n < 2) return n;
    double total = 0.0;
    for (uint32_t j = 0; j < n; j++) total += sorted[j];
    /* SSE(η) = Σv² - S1²/η - (S - S1)²/(n - η): the minimum SSE is the
     * maximum of the two parts' between terms. */
    double best = -INFINITY, s1 = 0.0;
    uint32_t kappa = 1;
    for (uint32_t eta = 1; eta < n; eta++) {
        s1 += sorted[eta - 1];
        double rest = total - s1;
        double between = s1 * s1 / eta + rest * rest / (n - eta);
        if (between > best) best = between, kappa = eta;
    }
    return kappa;
}

static int descending(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* One user's entries: values (n, the split's domain), sorted a scratch
 * copy; updates weights and flagged, returns the number flagged. */
static uint32_t relabel_row(const double *values, uint32_t n, double *sorted,
                            const rs_prorec_options *o, float *weights, uint8_t *flagged)
{
    memcpy(sorted, values, n * sizeof(double));
    qsort(sorted, n, sizeof(double), descending);
    double threshold = sorted[rs_prorec_split(sorted, n) - 1];
    uint32_t count = 0;
    for (uint32_t k = 0; k < n; k++) {
        double r = 1.0 / (1.0 + exp(-(double)o->beta * (values[k] - threshold)));
        weights[k] = (float)(o->lambda * weights[k] + (1.0 - o->lambda) * r * weights[k]);
        int below = values[k] < threshold;
        if (flagged) flagged[k] = (uint8_t)below;
        count += (uint32_t)below;
    }
    return count;
}

int64_t rs_prorec_relabel(const rs_csr *train, const double *log_rho, const rs_prorec_options *o,
                          float *weights, uint8_t *flagged, rs_error *err)
{
    uint32_t longest = 0;
    for (uint32_t u = 0; u < train->n_rows; u++)
        longest = RS_MAX(longest, rs_csr_row_len(train, u));
    int failed = 0;
    int64_t total = 0;
#pragma omp parallel reduction(+ : total)
    {
        double *buf = malloc(2 * ((size_t)longest + 1) * sizeof(double));
        if (!buf) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 64)
        for (uint32_t u = 0; u < train->n_rows; u++) {
            uint64_t p0 = train->indptr[u];
            uint32_t n = rs_csr_row_len(train, u);
            if (!buf || n == 0) continue;
            double *values = buf + longest + 1;
            for (uint32_t k = 0; k < n; k++)
                values[k] = o->log_domain ? log_rho[p0 + k] : exp(log_rho[p0 + k]);
            total += relabel_row(values, n, buf, o, weights + p0, flagged ? flagged + p0 : NULL);
        }
        free(buf);
    }
    if (failed) return rs_fail_kind(err, RS_ERR_NO_MEMORY, "prorec: out of memory for a row");
    return total;
}

int rs_prorec_write(const char *path, const rs_csr *train, const rs_idtable *users,
                    const rs_idtable *items, const float *original, const float *weights,
                    const uint8_t *flagged, rs_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return rs_fail(err, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "user\titem\toriginal\tweight\tflagged\n");
    for (uint32_t u = 0; u < train->n_rows; u++) {
        size_t ul, il;
        const char *uid = rs_idtable_name(users, u, &ul);
        for (uint64_t p = train->indptr[u]; p < train->indptr[u + 1]; p++) {
            const char *iid = rs_idtable_name(items, train->indices[p], &il);
            fprintf(f, "%.*s\t%.*s\t%.6g\t%.6g\t%s\n", (int)ul, uid, (int)il, iid,
                    original ? (double)original[p] : 1.0, (double)weights[p],
                    flagged[p] ? "yes" : "no");
        }
    }
    if (fclose(f) != 0) return rs_fail(err, "%s: write failed: %s", path, strerror(errno));
    return 0;
}
