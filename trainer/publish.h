/* publish.h - writes a trained model as a new version of a variant in the
 * store: the model's own tensors, the item id table and popularity, the
 * known users' ids, histories and seen-sets, the manifest (see proto/snapshot.md) and
 * the serving MIDX index of the item matrix. The model describes itself
 * (its tensor table and rs_servable); nothing here is family-specific.
 * Everything goes into one LMDB write transaction that ends by moving the
 * variant's `current` pointer. */
#ifndef RS_PUBLISH_H
#define RS_PUBLISH_H

#include <jansson.h>

#include "dataset.h"
#include "store.h"
#include "trainable.h"

/* training: a JSON object describing the run (options, metrics, timings);
 * it is embedded in the manifest (reference taken, not stolen). */
int rs_publish_model(const char *store_dir, const char *variant, rs_train_model *model,
                     const rs_dataset *d, json_t *training, uint32_t keep_last, uint64_t *version,
                     rs_error *err);

/* The publish gate (--gate METRIC[:TOLERANCE]): `current` moves to the new
 * version only when its validation figure `value` is at least the serving
 * version's (its manifest's training.valid_metrics[metric]) minus
 * tolerance. A first version always becomes current; a serving version
 * without that figure lets the new one pass; a new version without one
 * (NaN) does not. */
typedef struct rs_publish_gate {
    const char *metric; /* e.g. "ndcg@50" */
    double tolerance;
    double value;
} rs_publish_gate;

typedef struct rs_gate_outcome {
    int passed;
    uint64_t serving_version; /* `current` before the publish (0: none) */
    int compared;             /* the serving version had the figure */
    double serving_value;     /* NaN when not compared */
} rs_gate_outcome;

/* The gate's decision for a serving version and its manifest text (NULL:
 * none); a NULL gate always passes. Pure (no store): the unit tests' view. */
int rs_publish_gate_decide(const rs_publish_gate *gate, uint64_t serving_version,
                           const char *serving_manifest, rs_gate_outcome *out);

typedef struct rs_publish_settings {
    size_t map_size;             /* the store's map (0: the default) */
    uint32_t keep_last;          /* retention (0 keeps all) */
    const rs_publish_gate *gate; /* NULL: always move current */
} rs_publish_settings;

typedef struct rs_publish_result {
    uint64_t version;     /* the version written */
    int moved;            /* `current` now names it */
    rs_gate_outcome gate; /* what the gate found (passed with no gate) */
} rs_publish_result;

/* rs_publish_model with a map size and a gate: the version is written in
 * every case (an operator can still promote it with `rectrain store
 * set-current`); a refused gate leaves `current` where it was, in the same
 * transaction, and records the gate in the manifest ("gate"). */
int rs_publish_model_with(const char *store_dir, const rs_publish_settings *settings,
                          const char *variant, rs_train_model *model, const rs_dataset *d,
                          json_t *training, rs_publish_result *result, rs_error *err);

/* 1 when the data's seen-set (rs_dataset.seen) differs from the known
 * histories, so that the version stores it as users.seen.* (otherwise
 * the histories are the seen-set and it is not stored twice). */
int rs_publish_has_own_seen(const rs_dataset *d);

#endif
