/* transpose.c - CSR transpose (see transpose.h). */
#include "transpose.h"

int rs_csr_transpose(const rs_csr *m, rs_csr *out, rs_error *err)
{
    uint64_t nnz = rs_csr_nnz(m);
    rs_csr t = {m->n_cols, m->n_rows, NULL, NULL, NULL};
    t.indptr = rs_calloc((size_t)m->n_cols + 1, sizeof(uint64_t), err);
    t.indices = rs_malloc(nnz ? nnz : 1, sizeof(uint32_t), err);
    if (m->values && t.indptr && t.indices) t.values = rs_malloc(nnz ? nnz : 1, sizeof(float), err);
    *out = (rs_csr){0};
    if (!t.indptr || !t.indices || (m->values && !t.values)) {
        rs_csr_free(&t);
        return -1;
    }
    for (uint64_t p = 0; p < nnz; p++) t.indptr[m->indices[p] + 1]++;
    for (uint32_t i = 0; i < m->n_cols; i++) t.indptr[i + 1] += t.indptr[i];
    /* Rows of m are visited in order, so each new row's columns come out
     * sorted; indptr[i] serves as row i's write cursor and ends at the start
     * of row i + 1, hence the shift back afterwards. */
    for (uint32_t u = 0; u < m->n_rows; u++)
        for (uint64_t p = m->indptr[u]; p < m->indptr[u + 1]; p++) {
            uint64_t q = t.indptr[m->indices[p]]++;
            t.indices[q] = u;
            if (t.values) t.values[q] = m->values[p];
        }
    for (uint32_t i = m->n_cols; i > 0; i--) t.indptr[i] = t.indptr[i - 1];
    t.indptr[0] = 0;
    *out = t;
    return 0;
}
