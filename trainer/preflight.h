/* preflight.h - what publishing needs, checked before the first epoch so
 * that a run that cannot publish fails in a second instead of after
 * training: the variant name, whether the family can be published, whether
 * the store is writable (or creatable), and whether its map has room for
 * the version the run will write (an estimate from the model's tensors and
 * the data). The trainer exits with status 2 on any of them. */
#ifndef RS_PREFLIGHT_H
#define RS_PREFLIGHT_H

#include <stdint.h>

#include "cli.h"
#include "dataset.h"
#include "trainable.h"

/* What the store check found, for the space check. */
typedef struct rs_preflight {
    int store_exists;
    uint64_t map_size; /* what the publish will map */
    uint64_t used;     /* bytes the store's pages reach now (0: no store yet) */
} rs_preflight;

/* Before the data is loaded (options only): variant name, family
 * publishable, store writable or creatable (an existing store is opened
 * for writing and closed again; nothing is created). No-op without --store. */
int rs_preflight_store(const rs_cli *c, rs_preflight *out, rs_error *err);

/* An upper bound of the bytes a version of model trained on d takes in the
 * store: the model's tensors and serving index, ids, popularity,
 * histories, seen-set, manifest with curves of up to `epochs` epochs, and
 * LMDB's page overhead. */
uint64_t rs_preflight_version_bytes(const rs_train_model *model, const rs_dataset *d, int epochs);

/* After the model is created, before training: the estimate fits in the
 * map beyond what the store already uses. */
int rs_preflight_space(const rs_cli *c, const rs_preflight *pf, uint64_t estimate, rs_error *err);

#endif
