/* factor_family.h - what the factor-model families (ials_family.c,
 * ganmf_family.c) share: their servable description (one "foldin" layer
 * over items.vectors with stored users.factors, proto/model.md "Factor
 * models") and scoring user factors against the item factors. */
#ifndef RS_FACTOR_FAMILY_H
#define RS_FACTOR_FAMILY_H

#include "trainable.h"

/* The servable of a factor model with n_items x k item factors; foldin
 * must outlive the model. */
rs_servable rs_factor_servable(uint32_t n_items, uint32_t k, const rs_foldin_spec *foldin);

/* scores (size x n_items) = users (size x k) itemsᵀ. */
void rs_factor_scores(const float *users, int size, const float *items, uint32_t n_items,
                      uint32_t k, float *scores);

#endif
