/* family.h - a model family as rectrain sees it: its name, its options
 * (a table, see options.h) and how to create a trainable model from them.
 * Everything else - tensors, forward and backward, how it encodes a
 * history, its item matrix, bias and anchors - the created model describes
 * in rs_train_model (trainable.h), and the generic trainer/ code does the
 * rest: Adam, keeping the best epoch, evaluation, PIA, publishing and the
 * serving index.
 *
 * Adding a family: one file that defines `const rs_family rs_family_NAME`
 * and one line in families.c. */
#ifndef RS_FAMILY_H
#define RS_FAMILY_H

#include "options.h"
#include "trainable.h"

/* What a family is created from besides its options. */
typedef struct rs_family_inputs {
    uint32_t n_items;
    const float *popularity; /* n_items training interaction counts */
    uint64_t seed;           /* --seed: initialisation */
    uint32_t n_users;        /* rows of the training matrix (factor models) */
    /* The users x items matrix the model will be trained on (for a family
     * that derives something from the data before training, e.g.
     * SinkhornCF's item-item cost); may be NULL for families that need none. */
    const rs_csr *train;
} rs_family_inputs;

typedef struct rs_family {
    const char *name;    /* --model NAME */
    const char *summary; /* one line for --model's help */
    const char *title;   /* heading of the help section of its own options */
    size_t options_size;
    void (*options_default)(void *options);
    const rs_option *options;
    int n_options;
    int (*create)(const void *options, const rs_family_inputs *in, rs_train_model *out,
                  rs_error *err);
    /* Optional: why a model made with these options cannot be published
     * (NULL: it can), asked before any data is loaded so that `--store`
     * fails at once instead of after training. */
    const char *(*unpublishable)(const void *options);
} rs_family;

#define RS_FAMILY_OPTIONS(table) table, (int)(sizeof(table) / sizeof(table[0]))

/* The registered families, in registration order. */
const rs_family *const *rs_families(int *n);
const rs_family *rs_family_find(const char *name);
/* The family's option called name, or NULL. */
const rs_option *rs_family_option(const rs_family *family, const char *name);

#endif
