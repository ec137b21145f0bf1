/* retrieve.c - brute-force exact top-N (see retrieve.h). */
#include "retrieve.h"

#include <cblas.h>
#include <stdlib.h>

struct rs_retriever {
    const float *items;
    uint32_t n_items;
    uint32_t dim;
};

int rs_retriever_create(const float *items, uint32_t n_items, uint32_t dim, rs_retriever **out,
                        rs_error *err)
{
    if (!items || n_items == 0 || dim == 0)
        return rs_fail(err, "retriever: empty item matrix (%u x %u)", n_items, dim);
    rs_retriever *r = rs_calloc(1, sizeof(*r), err);
    if (!r) return -1;
    r->items = items;
    r->n_items = n_items;
    r->dim = dim;
    *out = r;
    return 0;
}

void rs_retriever_free(rs_retriever *r)
{
    free(r);
}

const char *rs_retriever_method(const rs_retriever *r)
{
    return "bruteforce";
}

size_t rs_retriever_scratch_floats(const rs_retriever *r)
{
    return r->n_items;
}

uint32_t rs_retrieve_topn(const rs_retriever *r, const float *u, const uint8_t *skip, uint32_t n,
                          rs_scored *out, float *scratch, uint64_t *scored)
{
    /* scores = Q u: one pass over the item matrix, memory-bound. */
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)r->n_items, (int)r->dim, 1.0f, r->items,
                (int)r->dim, u, 1, 0.0f, scratch, 1);
    *scored = r->n_items;
    return rs_topk_dense(scratch, r->n_items, skip, n, out);
}
