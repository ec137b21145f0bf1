/* popularity.c - the popularity baseline (see popularity.h). */
#include "popularity.h"

#include "family.h"

#include <stdlib.h>
#include <string.h>

typedef struct popularity_model {
    const float *popularity;
    uint32_t n_items;
} popularity_model;

static int pop_train_batch(void *self, const rs_train_batch *batch, rs_step_stats *stats,
                           rs_error *err)
{
    memset(stats, 0, sizeof(*stats));
    return 0;
}

static int pop_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                     float *scores, rs_error *err)
{
    const popularity_model *p = self;
    for (int r = 0; r < size; r++)
        memcpy(scores + (size_t)r * p->n_items, p->popularity, sizeof(float) * p->n_items);
    return 0;
}

static size_t pop_footprint(const void *self)
{
    return sizeof(popularity_model);
}

int rs_popularity_create(const float *popularity, uint32_t n_items, rs_train_model *out,
                         rs_error *err)
{
    popularity_model *p = rs_calloc(1, sizeof(*p), err);
    if (!p) return -1;
    p->popularity = popularity;
    p->n_items = n_items;
    memset(out, 0, sizeof(*out));
    out->family = "popularity";
    out->self = p;
    out->batch_capacity = 256;
    out->n_items = n_items;
    out->train_batch = pop_train_batch;
    out->score = pop_score;
    out->footprint = pop_footprint;
    out->free = free;
    return 0;
}

static int popularity_family_create(const void *options, const rs_family_inputs *in,
                                    rs_train_model *out, rs_error *err)
{
    return rs_popularity_create(in->popularity, in->n_items, out, err);
}

static const char *popularity_unpublishable(const void *options)
{
    (void)options;
    return "--model popularity is a baseline for reference figures and cannot be published "
           "(it has no encoder; recserve's popularity fallback already serves it)";
}

const rs_family rs_family_popularity = {
    "popularity",
    "baseline, not publishable",
    "",
    0,
    NULL,
    NULL,
    0,
    popularity_family_create,
    popularity_unpublishable,
};
