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

/* 1 when the data's seen-set (rs_dataset.seen) differs from the known
 * histories, so that the version stores it as users.seen.* (otherwise
 * the histories are the seen-set and it is not stored twice). */
int rs_publish_has_own_seen(const rs_dataset *d);

#endif
