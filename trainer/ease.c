/* ease.c - EASE fit, memory guard, sparsification and scoring (see ease.h). */
#include "ease.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itemitem.h"
#include "transpose.h"

/* OpenBLAS's bundled LAPACK (no lapacke.h on Debian): Cholesky factor and
 * inverse from the factor, Fortran calling convention. */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t len);
void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t len);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t len);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t len);

void rs_ease_options_default(rs_ease_options *o)
{
    o->reg = 500.0;
    o->precision = RS_EASE_DOUBLE;
    o->max_memory = 0;
}

uint64_t rs_ease_bytes_needed(uint32_t n_items, rs_ease_precision precision)
{
    uint64_t cells = (uint64_t)n_items * n_items;
    /* The float Gram (which becomes B), plus the double copy inverted in
     * double precision. */
    return cells * sizeof(float) + (precision == RS_EASE_DOUBLE ? cells * sizeof(double) : 0);
}

/* MemAvailable in bytes, 0 when /proc/meminfo cannot be read. */
static uint64_t available_memory(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

int rs_ease_check_memory(uint32_t n_items, const rs_ease_options *o, rs_error *err)
{
    uint64_t need = rs_ease_bytes_needed(n_items, o->precision);
    uint64_t limit = o->max_memory ? o->max_memory : available_memory();
    const char *source = o->max_memory ? "the memory bound (--max-memory)" : "MemAvailable";
    if (limit == 0) return 0; /* unknown: let the allocation decide */
    if (need > limit)
        return rs_fail(err,
                       "EASE needs %u x %u item-item matrices: %.2f MiB for %u items, more "
                       "than the %.2f MiB of %s; reduce the catalogue (e.g. k-core filtering) "
                       "or use a factor model (ials)",
                       n_items, n_items, need / 1048576.0, n_items, limit / 1048576.0, source);
    return 0;
}

/* gram = XᵀX + reg I from the sparse rows: row i of the Gram counts, for
 * every user of item i, that user's items. O(Σ_u |h_u|²) instead of the
 * O(users × M²) of a dense syrk; rows are independent, so threads never
 * share a cell. */
static int sparse_gram(const rs_csr *train, double reg, float *gram, rs_error *err)
{
    rs_csr by_item;
    if (rs_csr_transpose(train, &by_item, err) != 0) return -1;
    uint32_t M = train->n_cols;
#pragma omp parallel for schedule(dynamic, 16)
    for (uint32_t i = 0; i < M; i++) {
        float *row = gram + (size_t)i * M;
        memset(row, 0, sizeof(float) * M);
        for (uint64_t p = by_item.indptr[i]; p < by_item.indptr[i + 1]; p++) {
            uint32_t u = by_item.indices[p];
            for (uint64_t q = train->indptr[u]; q < train->indptr[u + 1]; q++)
                row[train->indices[q]] += 1.0f;
        }
        row[i] += (float)reg;
    }
    rs_csr_free(&by_item);
    return 0;
}

/* B_ij = −P_ij / P_jj. LAPACK fills the column-major lower triangle of the
 * inverse, i.e. the row-major upper one, so cell (i, j) reads P's cell
 * (min, max). */
static void weights_from_inverse(const double *p, float *b, uint32_t M)
{
#pragma omp parallel for schedule(static)
    for (uint32_t i = 0; i < M; i++)
        for (uint32_t j = 0; j < M; j++) {
            size_t upper = i <= j ? (size_t)i * M + j : (size_t)j * M + i;
            b[(size_t)i * M + j] = i == j ? 0.0f : (float)(-p[upper] / p[(size_t)j * M + j]);
        }
}

static int lapack_status(const char *what, int info, rs_error *err)
{
    if (info == 0) return 0;
    return rs_fail(err,
                   "EASE: %s failed (LAPACK info %d): XᵀX + λI is not positive definite "
                   "in this precision",
                   what, info);
}

/* Inverts in double, writes B into gram (the float buffer). */
static int invert_double(float *gram, uint32_t M, rs_error *err)
{
    double *p = rs_malloc((size_t)M * M, sizeof(double), err);
    if (!p) return -1;
    for (size_t c = 0; c < (size_t)M * M; c++) p[c] = gram[c];
    int n = (int)M, info = 0;
    dpotrf_("L", &n, p, &n, &info, 1);
    if (lapack_status("dpotrf", info, err) == 0) {
        dpotri_("L", &n, p, &n, &info, 1);
        if (lapack_status("dpotri", info, err) == 0) {
            weights_from_inverse(p, gram, M);
        }
    }
    free(p);
    return info == 0 ? 0 : -1;
}

/* Inverts in float in place; B needs the full P, so the upper triangle and
 * diagonal are copied out first. */
static int invert_float(float *gram, uint32_t M, rs_error *err)
{
    int n = (int)M, info = 0;
    spotrf_("L", &n, gram, &n, &info, 1);
    if (lapack_status("spotrf", info, err) != 0) return -1;
    spotri_("L", &n, gram, &n, &info, 1);
    if (lapack_status("spotri", info, err) != 0) return -1;
    float *diag = rs_malloc(M, sizeof(float), err);
    if (!diag) return -1;
    for (uint32_t j = 0; j < M; j++) diag[j] = gram[(size_t)j * M + j];
    /* Lower cells from the upper ones first, then scale columns in place. */
    for (uint32_t i = 0; i < M; i++)
        for (uint32_t j = 0; j < i; j++) gram[(size_t)i * M + j] = gram[(size_t)j * M + i];
#pragma omp parallel for schedule(static)
    for (uint32_t i = 0; i < M; i++)
        for (uint32_t j = 0; j < M; j++)
            gram[(size_t)i * M + j] = i == j ? 0.0f : -gram[(size_t)i * M + j] / diag[j];
    free(diag);
    return 0;
}

int rs_ease_fit(const rs_csr *train, const rs_ease_options *o, rs_ease *out, rs_error *err)
{
    memset(out, 0, sizeof(*out));
    uint32_t M = train->n_cols;
    if (!(o->reg > 0)) return rs_fail(err, "EASE: the regularisation λ must be > 0");
    if (M == 0) return rs_fail(err, "EASE: the catalogue is empty");
    if (rs_ease_check_memory(M, o, err) != 0) return -1;
    float *b = rs_aligned_alloc((size_t)M * M, sizeof(float), err);
    if (!b) return rs_error_prefix(err, "EASE %u x %u weights", M, M);
    int rc = sparse_gram(train, o->reg, b, err);
    if (rc == 0)
        rc = o->precision == RS_EASE_DOUBLE ? invert_double(b, M, err) : invert_float(b, M, err);
    if (rc != 0) {
        free(b);
        return -1;
    }
    out->n_items = M;
    out->weights = b;
    return 0;
}

void rs_ease_free(rs_ease *m)
{
    free(m->weights);
    memset(m, 0, sizeof(*m));
}

void rs_ease_score(const rs_ease *m, const uint32_t *history, uint32_t n, float *scores)
{
    uint32_t M = m->n_items;
    memset(scores, 0, sizeof(float) * M);
    for (uint32_t h = 0; h < n; h++) {
        const float *row = m->weights + (size_t)history[h] * M;
        for (uint32_t j = 0; j < M; j++) scores[j] += row[j];
    }
}

int rs_ease_sparsify(const rs_ease *m, uint32_t k, rs_ease_keep keep, rs_ease_sparse *out,
                     rs_error *err)
{
    memset(out, 0, sizeof(*out));
    uint32_t M = m->n_items, kept = RS_MIN(k, M > 0 ? M - 1 : 0);
    if (k == 0) return rs_fail(err, "sparse EASE: top-k must be at least 1");
    out->n_items = M;
    out->k = kept;
    out->offsets = rs_malloc((size_t)M + 1, sizeof(uint64_t), err);
    out->columns = rs_malloc((size_t)M * kept + 1, sizeof(uint32_t), err);
    out->weights = rs_malloc((size_t)M * kept + 1, sizeof(float), err);
    rs_scored *heaps = rs_malloc((size_t)M * kept + 1, sizeof(rs_scored), err);
    if (!out->offsets || !out->columns || !out->weights || !heaps) {
        free(heaps);
        rs_ease_sparse_free(out);
        return -1;
    }
#pragma omp parallel for schedule(dynamic, 32)
    for (uint32_t i = 0; i < M; i++) {
        rs_topk top;
        rs_topk_init(&top, heaps + (size_t)i * kept, kept);
        const float *row = m->weights + (size_t)i * M;
        for (uint32_t j = 0; j < M; j++) {
            float rank = keep == RS_EASE_KEEP_MAGNITUDE ? fabsf(row[j]) : row[j];
            if (j != i && rs_topk_would_enter(&top, rank, j)) rs_topk_push(&top, rank, j);
        }
        uint32_t got = rs_topk_sorted(&top);
        for (uint32_t e = 0; e < got; e++) {
            out->columns[(size_t)i * kept + e] = top.heap[e].id;
            out->weights[(size_t)i * kept + e] = row[top.heap[e].id];
        }
    }
    for (uint32_t i = 0; i <= M; i++) out->offsets[i] = (uint64_t)i * kept;
    free(heaps);
    return 0;
}

void rs_ease_sparse_free(rs_ease_sparse *s)
{
    free(s->offsets);
    free(s->columns);
    free(s->weights);
    memset(s, 0, sizeof(*s));
}

/* The sparse rows as the serving kind's views (core/itemitem.h). */
static rs_itemitem sparse_view(const rs_ease_sparse *s)
{
    return (rs_itemitem){s->n_items, s->k, s->offsets, s->columns, s->weights};
}

void rs_ease_sparse_score(const rs_ease_sparse *s, const uint32_t *history, uint32_t n,
                          float *scores)
{
    rs_itemitem view = sparse_view(s);
    rs_itemitem_score(&view, history, n, scores);
}

uint32_t rs_ease_sparse_recommend(const rs_ease_sparse *s, const uint32_t *history, uint32_t n,
                                  uint32_t top_n, float *accumulator, uint8_t *mark,
                                  uint32_t *touched, rs_scored *out)
{
    /* The history is the skip set, marked in mark's low bits. */
    rs_itemitem view = sparse_view(s);
    for (uint32_t h = 0; h < n; h++) mark[history[h]] = 1;
    uint32_t got = rs_itemitem_recommend(&view, history, n, mark, top_n, accumulator, mark, touched,
                                         NULL, out);
    for (uint32_t h = 0; h < n; h++) mark[history[h]] = 0;
    return got;
}
