/* publish.h - writes a trained model as a new version of a variant in the
 * store: the model's own tensors, the item id table and popularity, the
 * known users' ids and histories, and the manifest (see proto/snapshot.md).
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

/* One encoder layer of the manifest (proto/model.md): {"kind", "weight",
 * "in", "out", "activation"} and "bias" when bias is not NULL; NULL when out
 * of memory. */
json_t *rs_manifest_layer(const char *kind, const char *weight, const char *bias, uint32_t in,
                          uint32_t out, const char *activation);

/* Writes the serving MIDX index of the item matrix the server will rank
 * with (row i = vectors[i], then bias[i] when bias is not NULL; see
 * rs_item_matrix_with_bias) as tensors "retrieval.midx.*", with
 * rs_midx_serving_k(n) codewords, and names it in the manifest:
 * "retrieval": {"midx": {"prefix", "codewords", "n_items", "dim"}}. The
 * server maps it instead of building one at load. Called by each model's
 * publish. */
int rs_publish_retrieval_index(rs_publish *pub, json_t *manifest, const float *vectors,
                               const float *bias, uint32_t n, uint32_t vector_dim, uint64_t seed,
                               rs_error *err);

#endif
