/* popularity.h - the popularity baseline: every user gets the items ranked
 * by their training interaction count. It trains nothing and cannot be
 * published; it is the reference figure the learned models must beat. */
#ifndef RS_POPULARITY_H
#define RS_POPULARITY_H

#include "trainable.h"

/* popularity (n_items) must outlive the model. */
int rs_popularity_create(const float *popularity, uint32_t n_items, rs_train_model *out,
                         rs_error *err);

#endif
