/* midx_store.c - the store format of an MIDX index (see midx_store.h): the
 * eleven tensors rs_midx_publish writes into a publish transaction and
 * rs_midx_load maps back zero-copy. The search itself (midx.c) knows
 * nothing of the store.
 */
#include "midx_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TENSORS 11

static const char *const tensor_suffix[N_TENSORS] = {
    "c1", "c2", "offsets", "ids", "pos", "vectors", "res1", "res2", "cell_r1", "cell_r2", "rmax"};

static int tensor_name(char *buf, size_t size, const char *prefix, const char *suffix,
                       rs_error *err)
{
    int len = snprintf(buf, size, "%s.%s", prefix, suffix);
    if (len < 0 || (size_t)len >= size || len > RS_NAME_MAX)
        return rs_fail(err, "midx: tensor name \"%s.%s\" is longer than %d characters", prefix,
                       suffix, RS_NAME_MAX);
    return 0;
}

uint32_t rs_midx_serving_k(uint64_t n)
{
    double k = floor(sqrt((double)n / 4.0) + 0.5);
    if (k < 1) k = 1;
    if (k > 1024) k = 1024;
    if (k > (double)n && n > 0) k = (double)n;
    return (uint32_t)k;
}

int rs_midx_publish(rs_publish *pub, const char *prefix, const rs_pq *pq, rs_error *err)
{
    if (!pub || !prefix || !pq || !pq->vectors) return rs_fail(err, "midx publish: bad argument");
    /* The view validates what is about to be written and supplies pos. */
    rs_midx view;
    if (rs_midx_from_pq(pq, &view, err) != 0) return rs_error_prefix(err, "midx publish");
    const uint32_t *pos = view.pos;
    float *rmax = rs_malloc(2 * (size_t)pq->k, sizeof(float), err);
    if (!rmax) {
        rs_midx_release(&view);
        return rs_error_prefix(err, "midx publish");
    }
    memcpy(rmax, pq->r1max, pq->k * sizeof(float));
    memcpy(rmax + pq->k, pq->r2max, pq->k * sizeof(float));
    uint64_t n = pq->n, k = pq->k, c = pq->n_cells;
    struct {
        rs_dtype dtype;
        uint32_t ndim;
        uint64_t shape[2];
        const void *data;
    } t[N_TENSORS] = {
        {RS_F32, 2, {k, pq->d1}, pq->c1},
        {RS_F32, 2, {k, pq->d2}, pq->c2},
        {RS_U32, 1, {c + 1, 0}, pq->offsets},
        {RS_U32, 1, {n, 0}, pq->ids},
        {RS_U32, 1, {n, 0}, pos},
        {RS_F32, 2, {n, pq->d}, pq->vectors},
        {RS_F32, 1, {n, 0}, pq->res1},
        {RS_F32, 1, {n, 0}, pq->res2},
        {RS_F32, 2, {k, k}, pq->cell_r1},
        {RS_F32, 2, {k, k}, pq->cell_r2},
        {RS_F32, 2, {2, k}, rmax},
    };
    int rc = 0;
    char name[RS_NAME_MAX + 16];
    for (int i = 0; i < N_TENSORS && rc == 0; i++) {
        rc = tensor_name(name, sizeof(name), prefix, tensor_suffix[i], err);
        if (rc == 0)
            rc = rs_publish_tensor(pub, name, t[i].dtype, t[i].ndim, t[i].shape, t[i].data, err);
    }
    free(rmax);
    rs_midx_release(&view);
    return rc == 0 ? 0 : rs_error_prefix(err, "midx publish");
}

/* Fetches PREFIX.suffix with the given dtype and rank, checks 4-byte
 * alignment (the map is read in place). */
static int get_tensor(const rs_snapshot *snap, const char *prefix, int which, rs_dtype dtype,
                      uint32_t ndim, rs_tensor_view *v, rs_error *err)
{
    char name[RS_NAME_MAX + 16];
    if (tensor_name(name, sizeof(name), prefix, tensor_suffix[which], err) != 0) return -1;
    if (rs_snapshot_tensor(snap, name, dtype, v, err) != 0) return -1;
    if (v->ndim != ndim)
        return rs_fail(err, "midx: tensor %s has %u dimensions, expected %u", name, v->ndim, ndim);
    if ((uintptr_t)v->data % 4 != 0)
        return rs_fail(err, "midx: tensor %s is not 4-byte aligned in the store", name);
    return 0;
}

static int shape_is(const rs_tensor_view *v, uint64_t a, uint64_t b)
{
    return v->shape[0] == a && (v->ndim < 2 || v->shape[1] == b);
}

int rs_midx_load(const rs_snapshot *snap, const char *prefix, int verify, rs_midx *idx,
                 rs_error *err)
{
    memset(idx, 0, sizeof(*idx));
    if (!snap || !prefix) return rs_fail(err, "midx load: bad argument");
    static const rs_dtype dt[N_TENSORS] = {RS_F32, RS_F32, RS_U32, RS_U32, RS_U32, RS_F32,
                                           RS_F32, RS_F32, RS_F32, RS_F32, RS_F32};
    static const uint32_t nd[N_TENSORS] = {2, 2, 1, 1, 1, 2, 1, 1, 2, 2, 2};
    rs_tensor_view v[N_TENSORS];
    for (int i = 0; i < N_TENSORS; i++)
        if (get_tensor(snap, prefix, i, dt[i], nd[i], &v[i], err) != 0)
            return rs_error_prefix(err, "midx load");
    uint64_t k = v[0].shape[0], d1 = v[0].shape[1], d2 = v[1].shape[1];
    uint64_t n = v[5].shape[0], d = v[5].shape[1];
    if (k == 0 || k > RS_PQ_MAX_K || n == 0 || n > UINT32_MAX || d < 2 || d1 != (d + 1) / 2 ||
        d1 + d2 != d)
        return rs_fail(err,
                       "midx load: inconsistent sizes (k=%llu, n=%llu, d=%llu, halves %llu+%llu)",
                       (unsigned long long)k, (unsigned long long)n, (unsigned long long)d,
                       (unsigned long long)d1, (unsigned long long)d2);
    uint64_t c = k * k;
    if (!shape_is(&v[1], k, d2) || !shape_is(&v[2], c + 1, 0) || !shape_is(&v[3], n, 0) ||
        !shape_is(&v[4], n, 0) || !shape_is(&v[6], n, 0) || !shape_is(&v[7], n, 0) ||
        !shape_is(&v[8], k, k) || !shape_is(&v[9], k, k) || !shape_is(&v[10], 2, k))
        return rs_fail(err, "midx load: tensor shapes of \"%s\" disagree with k=%llu, n=%llu",
                       prefix, (unsigned long long)k, (unsigned long long)n);
    const float *rmax = v[10].data;
    *idx = (rs_midx){.n = (uint32_t)n,
                     .d = (uint32_t)d,
                     .d1 = (uint32_t)d1,
                     .d2 = (uint32_t)d2,
                     .k = (uint32_t)k,
                     .n_cells = (uint32_t)c,
                     .c1 = v[0].data,
                     .c2 = v[1].data,
                     .offsets = v[2].data,
                     .ids = v[3].data,
                     .pos = v[4].data,
                     .vectors = v[5].data,
                     .res1 = v[6].data,
                     .res2 = v[7].data,
                     .cell_r1 = v[8].data,
                     .cell_r2 = v[9].data,
                     .r1max = rmax,
                     .r2max = rmax + k};
    if (rs_midx_finish(idx, verify, err) != 0) {
        rs_midx_release(idx);
        return rs_error_prefix(err, "midx load \"%s\"", prefix);
    }
    return 0;
}
