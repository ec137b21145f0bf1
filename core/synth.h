/* synth.h - a deterministic synthetic interaction data set with real
 * structure, so that the quick start and tests need no external data.
 *
 * Items belong to taste clusters and have a long-tailed (Zipf-like)
 * popularity within and across clusters; each user has 1-3 tastes and draws
 * most of their items from them, the rest from global popularity; history
 * lengths are long-tailed with a minimum of 5. The output is two TSV files
 * with a `user\titem` header and ids `u<N>` / `i<N>`, split per user 80/20
 * into train and test (users with fewer than 5 items wholly in train). The
 * same options always give byte-identical files.
 */
#ifndef RS_SYNTH_H
#define RS_SYNTH_H

#include <stdint.h>

#include "common.h"

typedef struct rs_synth_options {
    uint32_t n_users;     /* default 2000 */
    uint32_t n_items;     /* default 1000 */
    uint32_t n_tastes;    /* taste clusters, default 12 */
    double mean_history;  /* mean items per user, default 30 */
    double taste_share;   /* expected share of a user's items drawn from the
                             user's tastes, default 0.8 */
    double test_fraction; /* default 0.2 */
    uint64_t seed;        /* default 2026 */
} rs_synth_options;

void rs_synth_options_default(rs_synth_options *o);

/* The generated data in memory, with its hidden structure (for tests and
 * for checking what a model learns). User u is "u<u+1>", item i is "i<i+1>". */
typedef struct rs_synth_data {
    uint32_t n_users, n_items, n_tastes;
    uint32_t *item_taste;  /* n_items: the item's cluster */
    float *item_weight;    /* n_items: the item's global popularity weight
                              (sums to 1) */
    uint32_t *user_tastes; /* n_users x 3: the user's clusters, UINT32_MAX
                              for unused slots */
    uint64_t *indptr;      /* n_users + 1: user u's items are
                              items[indptr[u] .. indptr[u+1]) */
    uint32_t *items;       /* distinct within a user, in random order */
    uint8_t *is_test;      /* per entry of items: 1 when in the test file */
} rs_synth_data;

/* Generates the data (what rs_synth_write writes). Free with
 * rs_synth_data_free (safe on a zeroed struct). */
int rs_synth_generate(const rs_synth_options *o, rs_synth_data *out, rs_error *err);
void rs_synth_data_free(rs_synth_data *d);

/* Writes the train and test files (each replaced atomically: written to a
 * temporary name in the same directory, then renamed). */
int rs_synth_write(const rs_synth_options *o, const char *train_path, const char *test_path,
                   rs_error *err);

#endif
