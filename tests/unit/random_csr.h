/* random_csr.h - a random binary interaction matrix for the unit tests of
 * the closed-form and factor models (header only: each test_*.c is its own
 * program). */
#ifndef RS_RANDOM_CSR_H
#define RS_RANDOM_CSR_H

#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "dataset.h"
#include "rng.h"

/* rows x cols with each cell present with probability density, plus one
 * guaranteed cell per row (column r mod cols) so that no row is empty. */
static inline void random_csr(uint32_t rows, uint32_t cols, double density, uint64_t seed,
                              rs_csr *m)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    m->n_rows = rows;
    m->n_cols = cols;
    m->values = NULL;
    m->indptr = calloc((size_t)rows + 1, sizeof(uint64_t));
    m->indices = malloc(sizeof(uint32_t) * (size_t)rows * cols);
    ck_assert(m->indptr && m->indices);
    uint64_t nnz = 0;
    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t c = 0; c < cols; c++)
            if (c == r % cols || rs_rng_uniform(&rng) < density) m->indices[nnz++] = c;
        m->indptr[r + 1] = nnz;
    }
}

/* Dense double copy (rows x cols, 0/1). */
static inline double *csr_to_dense(const rs_csr *m)
{
    double *x = calloc((size_t)m->n_rows * m->n_cols, sizeof(double));
    ck_assert_ptr_nonnull(x);
    for (uint32_t r = 0; r < m->n_rows; r++)
        for (uint64_t p = m->indptr[r]; p < m->indptr[r + 1]; p++)
            x[(size_t)r * m->n_cols + m->indices[p]] = 1.0;
    return x;
}

/* Solves a x = b in double by Gauss-Jordan with partial pivoting (n x n,
 * row-major, a and b overwritten; b becomes x). nrhs right-hand sides as
 * the columns of b (n x nrhs). The brute-force reference for the Cholesky
 * and inverse paths. */
static inline void gauss_solve(double *a, double *b, int n, int nrhs)
{
    for (int c = 0; c < n; c++) {
        int pivot = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[(size_t)r * n + c]) > fabs(a[(size_t)pivot * n + c])) pivot = r;
        for (int j = 0; j < n; j++) {
            double t = a[(size_t)c * n + j];
            a[(size_t)c * n + j] = a[(size_t)pivot * n + j], a[(size_t)pivot * n + j] = t;
        }
        for (int j = 0; j < nrhs; j++) {
            double t = b[(size_t)c * nrhs + j];
            b[(size_t)c * nrhs + j] = b[(size_t)pivot * nrhs + j], b[(size_t)pivot * nrhs + j] = t;
        }
        for (int r = 0; r < n; r++) {
            if (r == c) continue;
            double f = a[(size_t)r * n + c] / a[(size_t)c * n + c];
            for (int j = 0; j < n; j++) a[(size_t)r * n + j] -= f * a[(size_t)c * n + j];
            for (int j = 0; j < nrhs; j++) b[(size_t)r * nrhs + j] -= f * b[(size_t)c * nrhs + j];
        }
    }
    for (int r = 0; r < n; r++)
        for (int j = 0; j < nrhs; j++) b[(size_t)r * nrhs + j] /= a[(size_t)r * n + r];
}

#endif
