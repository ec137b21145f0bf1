/* factor_family.c - shared pieces of the factor-model families (see
 * factor_family.h). */
#include "factor_family.h"

#include <cblas.h>

rs_servable rs_factor_servable(uint32_t n_items, uint32_t k, const rs_foldin_spec *foldin)
{
    return (rs_servable){
        "binary",        1,    {{"foldin", "items.vectors", NULL, n_items, k, "none"}},
        "items.vectors", NULL, NULL,
        foldin};
}

void rs_factor_scores(const float *users, int size, const float *items, uint32_t n_items,
                      uint32_t k, float *scores)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, size, (int)n_items, (int)k, 1.0f, users,
                (int)k, items, (int)k, 0.0f, scores, (int)n_items);
}
