/* linalg.c - Gram matrices, Cholesky solves and fold-in (see linalg.h). */
#include "linalg.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS bundles LAPACK but Debian ships no lapacke.h for it; these are the
 * Fortran entry points (32-bit integers, hidden trailing string lengths). */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t len);
void spotrs_(const char *uplo, const int *n, const int *nrhs, const float *a, const int *lda,
             float *b, const int *ldb, int *info, size_t len);

void ssyev_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w,
            float *work, const int *lwork, int *info, size_t len_jobz, size_t len_uplo);

int rs_symmetric_eigen(float *a, uint32_t k, float *values, rs_error *err)
{
    int n = (int)k, info = 0, lwork = -1;
    float query;
    ssyev_("V", "L", &n, a, &n, values, &query, &lwork, &info, 1, 1);
    lwork = info == 0 ? (int)query : 3 * n;
    float *work = rs_malloc((size_t)RS_MAX(lwork, 1), sizeof(float), err);
    if (!work) return -1;
    ssyev_("V", "L", &n, a, &n, values, work, &lwork, &info, 1, 1);
    free(work);
    if (info != 0)
        return rs_fail(err, "eigen decomposition of a %ux%u matrix failed (%d)", k, k, info);
    return 0;
}

void rs_gram(const float *factors, uint64_t n, uint32_t k, float *gram)
{
    memset(gram, 0, sizeof(float) * k * k);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)n, 1.0f, factors, (int)k, 0.0f,
                gram, (int)k);
    for (uint32_t i = 0; i < k; i++)
        for (uint32_t j = 0; j < i; j++) gram[(size_t)i * k + j] = gram[(size_t)j * k + i];
}

/* The row-major upper triangle is the column-major lower one: LAPACK's 'L'. */
int rs_cholesky_factor(float *a, uint32_t k, rs_error *err)
{
    int n = (int)k, info = 0;
    spotrf_("L", &n, a, &n, &info, 1);
    if (info > 0)
        return rs_fail(err, "Cholesky: the %ux%u matrix is not positive definite (minor %d)", k, k,
                       info);
    if (info < 0) return rs_fail(err, "Cholesky: spotrf argument %d is invalid", -info);
    return 0;
}

void rs_cholesky_solve(const float *factor, uint32_t k, float *b)
{
    int n = (int)k, one = 1, info = 0;
    spotrs_("L", &n, &one, factor, &n, b, &n, &info, 1);
}

size_t rs_foldin_workspace_floats(uint32_t k)
{
    return (size_t)k * k + (size_t)RS_FOLDIN_CHUNK * k;
}

int rs_foldin(const float *factors, uint32_t k, const float *gram, const uint32_t *history,
              uint32_t n, const rs_foldin_weights *w, float *out, float *workspace, rs_error *err)
{
    return rs_foldin_targets(factors, k, gram, history, NULL, n, w, out, workspace, err);
}

int rs_foldin_targets(const float *factors, uint32_t k, const float *gram, const uint32_t *history,
                      const float *targets, uint32_t n, const rs_foldin_weights *w, float *out,
                      float *workspace, rs_error *err)
{
    if (k == 0 || k > RS_LINALG_MAX_K)
        return rs_fail(err, "fold-in: factor size %u outside 1..%d", k, RS_LINALG_MAX_K);
    if (!(w->reg > 0)) return rs_fail(err, "fold-in: the regularisation must be > 0");
    float *a = workspace, *rows = workspace + (size_t)k * k;
    for (size_t i = 0; i < (size_t)k * k; i++) a[i] = w->unobserved * gram[i];
    for (uint32_t i = 0; i < k; i++) a[(size_t)i * k + i] += w->reg;
    memset(out, 0, sizeof(float) * k);
    for (uint32_t start = 0; start < n; start += RS_FOLDIN_CHUNK) {
        uint32_t size = RS_MIN((uint32_t)RS_FOLDIN_CHUNK, n - start);
        for (uint32_t r = 0; r < size; r++) {
            const float *v = factors + (size_t)history[start + r] * k;
            memcpy(rows + (size_t)r * k, v, sizeof(float) * k);
            if (!targets)
                for (uint32_t j = 0; j < k; j++) out[j] += v[j];
            else
                for (uint32_t j = 0; j < k; j++) out[j] += targets[start + r] * v[j];
        }
        if (w->observed != 0)
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)size, w->observed, rows,
                        (int)k, 1.0f, a, (int)k);
    }
    if (rs_cholesky_factor(a, k, err) != 0) return rs_error_prefix(err, "fold-in");
    rs_cholesky_solve(a, k, out);
    return 0;
}
