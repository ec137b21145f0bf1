/* pq.c - two-codebook product quantisation in cell order (see pq.h). */
#include "pq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

rs_pq_options rs_pq_defaults(void)
{
    rs_pq_options o = {.k = 16, .kmeans = rs_kmeans_defaults()};
    return o;
}

void rs_pq_free(rs_pq *pq)
{
    if (!pq) return;
    free(pq->c1);
    free(pq->c2);
    free(pq->code);
    free(pq->offsets);
    free(pq->ids);
    free(pq->vectors);
    free(pq->res1);
    free(pq->res2);
    free(pq->cell_r);
    free(pq->cell_r1);
    free(pq->cell_r2);
    free(pq->r1max);
    free(pq->r2max);
    memset(pq, 0, sizeof(*pq));
}

size_t rs_pq_bytes(const rs_pq *pq)
{
    size_t n = pq->n, c = pq->n_cells, k = pq->k;
    return n * pq->d * sizeof(float) + n * 4 * 4 + (c + 1) * 4 + c * 3 * 4 +
           k * (pq->d1 + pq->d2) * sizeof(float) + 2 * k * sizeof(float);
}

/* sqrt(s) as a float that is never below the exact value. */
static float norm_up(double s)
{
    double r = sqrt(s);
    float f = (float)r;
    if ((double)f < r) f = nextafterf(f, INFINITY);
    return f;
}

static float dist_up(const float *a, const float *b, uint32_t d)
{
    double s = 0;
    for (uint32_t j = 0; j < d; j++) {
        double t = (double)a[j] - (double)b[j];
        s += t * t;
    }
    return norm_up(s);
}

void rs_pq_residual(const rs_pq *pq, uint32_t pos, float *out)
{
    uint32_t cell = pq->code[pq->ids[pos]];
    const float *v = pq->vectors + (size_t)pos * pq->d;
    const float *a = pq->c1 + (size_t)rs_pq_k1(pq, cell) * pq->d1;
    const float *b = pq->c2 + (size_t)rs_pq_k2(pq, cell) * pq->d2;
    for (uint32_t j = 0; j < pq->d1; j++) out[j] = v[j] - a[j];
    for (uint32_t j = 0; j < pq->d2; j++) out[pq->d1 + j] = v[pq->d1 + j] - b[j];
}

static int alloc_all(rs_pq *pq, rs_error *err)
{
    size_t n = pq->n, c = pq->n_cells, k = pq->k;
    if (!(pq->c1 = rs_aligned_alloc(k * pq->d1, sizeof(float), err))) return -1;
    if (!(pq->c2 = rs_aligned_alloc(k * pq->d2, sizeof(float), err))) return -1;
    if (!(pq->code = rs_malloc(n, sizeof(uint32_t), err))) return -1;
    if (!(pq->offsets = rs_calloc(c + 1, sizeof(uint32_t), err))) return -1;
    if (!(pq->ids = rs_malloc(n, sizeof(uint32_t), err))) return -1;
    if (!(pq->vectors = rs_aligned_alloc(n * pq->d, sizeof(float), err))) return -1;
    if (!(pq->res1 = rs_malloc(n, sizeof(float), err))) return -1;
    if (!(pq->res2 = rs_malloc(n, sizeof(float), err))) return -1;
    if (!(pq->cell_r = rs_calloc(c, sizeof(float), err))) return -1;
    if (!(pq->cell_r1 = rs_calloc(c, sizeof(float), err))) return -1;
    if (!(pq->cell_r2 = rs_calloc(c, sizeof(float), err))) return -1;
    if (!(pq->r1max = rs_calloc(k, sizeof(float), err))) return -1;
    if (!(pq->r2max = rs_calloc(k, sizeof(float), err))) return -1;
    return 0;
}

/* Counting sort of items by cell: offsets, ids, permuted vectors and the
 * residual bounds. */
static void order_by_cell(rs_pq *pq, const float *q, const uint32_t *a1, const uint32_t *a2)
{
    uint32_t n = pq->n, d = pq->d, k = pq->k;
    for (uint32_t i = 0; i < n; i++) {
        pq->code[i] = a1[i] * k + a2[i];
        pq->offsets[pq->code[i] + 1]++;
    }
    for (uint32_t c = 0; c < pq->n_cells; c++) pq->offsets[c + 1] += pq->offsets[c];
    /* Fill cells in ascending item id; offsets[c] serves as cell c's cursor. */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = pq->code[i];
        uint32_t pos = pq->offsets[c]++;
        pq->ids[pos] = i;
    }
    /* Shift the offsets back: offsets[c] now holds the end of cell c. */
    for (uint32_t c = pq->n_cells; c > 0; c--) pq->offsets[c] = pq->offsets[c - 1];
    pq->offsets[0] = 0;

    for (uint32_t pos = 0; pos < n; pos++) {
        uint32_t i = pq->ids[pos], c = pq->code[i];
        uint32_t k1 = c / k, k2 = c % k;
        const float *src = q + (size_t)i * d;
        memcpy(pq->vectors + (size_t)pos * d, src, d * sizeof(float));
        float r1 = dist_up(src, pq->c1 + (size_t)k1 * pq->d1, pq->d1);
        float r2 = dist_up(src + pq->d1, pq->c2 + (size_t)k2 * pq->d2, pq->d2);
        float r = norm_up((double)r1 * r1 + (double)r2 * r2);
        pq->res1[pos] = r1;
        pq->res2[pos] = r2;
        pq->cell_r[c] = RS_MAX(pq->cell_r[c], r);
        pq->cell_r1[c] = RS_MAX(pq->cell_r1[c], r1);
        pq->cell_r2[c] = RS_MAX(pq->cell_r2[c], r2);
        pq->r1max[k1] = RS_MAX(pq->r1max[k1], r1);
        pq->r2max[k2] = RS_MAX(pq->r2max[k2], r2);
    }
}

int rs_pq_build(const float *q, uint32_t n, uint32_t d, const rs_pq_options *o, rs_pq *pq,
                rs_error *err)
{
    memset(pq, 0, sizeof(*pq));
    rs_pq_options opt = o ? *o : rs_pq_defaults();
    if (!q) return rs_fail(err, "pq build: NULL item matrix");
    if (n == 0) return rs_fail(err, "pq build: no items");
    if (d < 2) return rs_fail(err, "pq build: dimension %u is below 2", d);
    if (opt.k == 0 || opt.k > RS_PQ_MAX_K)
        return rs_fail(err, "pq build: codebook size %u must be in [1, %u]", opt.k, RS_PQ_MAX_K);
    pq->n = n;
    pq->d = d;
    pq->d1 = (d + 1) / 2;
    pq->d2 = d - pq->d1;
    pq->k = RS_MIN(opt.k, n);
    pq->n_cells = pq->k * pq->k;

    uint32_t *a1 = rs_malloc(n, sizeof(uint32_t), err);
    uint32_t *a2 = a1 ? rs_malloc(n, sizeof(uint32_t), err) : NULL;
    if (!a2 || alloc_all(pq, err) != 0) goto fail;

    rs_kmeans_options ko = opt.kmeans;
    ko.stride = d;
    if (rs_kmeans(q, n, pq->d1, pq->k, &ko, pq->c1, a1, NULL, err) != 0) {
        rs_error_prefix(err, "pq build, first half");
        goto fail;
    }
    ko.seed = opt.kmeans.seed + 1;
    if (rs_kmeans(q + pq->d1, n, pq->d2, pq->k, &ko, pq->c2, a2, NULL, err) != 0) {
        rs_error_prefix(err, "pq build, second half");
        goto fail;
    }
    order_by_cell(pq, q, a1, a2);
    free(a1);
    free(a2);
    return 0;
fail:
    free(a1);
    free(a2);
    rs_pq_free(pq);
    return -1;
}
