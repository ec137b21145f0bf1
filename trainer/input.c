/* input.c - sparse input batches (see input.h). */
#include "input.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int rs_input_init(rs_input *in, int rows, rs_error *err)
{
    memset(in, 0, sizeof(*in));
    in->rows = rows;
    in->indptr = rs_malloc((size_t)rows + 1, sizeof(uint64_t), err);
    return in->indptr ? 0 : -1;
}

void rs_input_free(rs_input *in)
{
    free(in->indptr);
    free(in->indices);
    free(in->values);
    free(in->weights);
    memset(in, 0, sizeof(*in));
}

static int reserve(rs_input *in, uint64_t nnz, int weighted, rs_error *err)
{
    if (weighted && !in->weights && in->cap) {
        in->weights = malloc(in->cap * sizeof(float));
        if (!in->weights)
            return rs_fail(err, "out of memory for a batch of %llu interactions",
                           (unsigned long long)nnz);
    }
    if (nnz <= in->cap) return 0;
    uint64_t cap = nnz + nnz / 2 + 1024;
    uint32_t *indices = realloc(in->indices, cap * sizeof(uint32_t));
    if (!indices)
        return rs_fail(err, "out of memory for a batch of %llu interactions",
                       (unsigned long long)nnz);
    in->indices = indices;
    float *values = realloc(in->values, cap * sizeof(float));
    if (!values)
        return rs_fail(err, "out of memory for a batch of %llu interactions",
                       (unsigned long long)nnz);
    in->values = values;
    if (weighted || in->weights) {
        float *weights = realloc(in->weights, cap * sizeof(float));
        if (!weights)
            return rs_fail(err, "out of memory for a batch of %llu interactions",
                           (unsigned long long)nnz);
        in->weights = weights;
    }
    in->cap = cap;
    return 0;
}

int rs_input_gather(rs_input *in, const rs_csr *data, const uint32_t *users, int size,
                    rs_sparse_batch *X, rs_error *err)
{
    if (size > in->rows)
        return rs_fail(err, "batch of %d users exceeds capacity %d", size, in->rows);
    uint64_t nnz = 0;
    in->indptr[0] = 0;
    for (int r = 0; r < size; r++) {
        uint32_t u = users[r];
        if (u >= data->n_rows)
            return rs_fail(err, "batch user %u out of range (%u rows)", u, data->n_rows);
        nnz += data->indptr[u + 1] - data->indptr[u];
        in->indptr[r + 1] = nnz;
    }
    in->weighted = data->values != NULL;
    if (reserve(in, nnz, in->weighted, err) != 0) return -1;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < size; r++) {
        uint32_t u = users[r];
        const uint32_t *row = data->indices + data->indptr[u];
        uint64_t n = data->indptr[u + 1] - data->indptr[u], out = in->indptr[r];
        float value = n ? 1.0f / sqrtf((float)n) : 0.0f;
        for (uint64_t p = 0; p < n; p++) {
            in->indices[out + p] = row[p];
            in->values[out + p] = value;
        }
        if (in->weighted)
            memcpy(in->weights + out, data->values + data->indptr[u], n * sizeof(float));
    }
    X->n_rows = (uint32_t)size;
    X->indptr = in->indptr;
    X->indices = in->indices;
    X->values = in->values;
    return 0;
}

void rs_input_dropout(rs_input *in, const rs_sparse_batch *X, const uint32_t *users,
                      const rs_rng *epoch_rng, float p, rs_rng *streams)
{
    float keep_scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f, *values = in->values;
    int size = (int)X->n_rows;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < size; r++) {
        rs_rng rng;
        rs_rng_split(epoch_rng, users[r], &rng);
        if (p > 0.0f)
            for (uint64_t k = X->indptr[r]; k < X->indptr[r + 1]; k++)
                values[k] = rs_rng_uniform_f(&rng) >= p ? values[k] * keep_scale : 0.0f;
        if (streams) streams[r] = rng;
    }
}

void rs_input_fixed_noise(float *eps, const float *fixed, size_t n)
{
    if (fixed)
        memcpy(eps, fixed, sizeof(float) * n);
    else
        memset(eps, 0, sizeof(float) * n);
}

int rs_grow_floats(float **p, uint64_t *cap, uint64_t need, rs_error *err)
{
    if (need <= *cap) return 0;
    uint64_t c = need + need / 2 + 1024;
    float *q = realloc(*p, c * sizeof(float));
    if (!q) return rs_fail(err, "out of memory for %llu values", (unsigned long long)c);
    *p = q;
    *cap = c;
    return 0;
}
