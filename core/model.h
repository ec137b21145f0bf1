/* model.h - a servable model, loaded from a snapshot.
 *
 * Owns what a request needs: the encoder that turns a history (item indices)
 * into a user vector, the item vectors that vector is scored against, the
 * item and user id tables, item popularity and known users' histories.
 * Every model family the trainer publishes (Mult-VAE "vae", FastVAE
 * "fastvae") is scored the same way: score(i) = <user_vector, item_row(i)>,
 * where an item bias, when the model has one, is folded in as the last
 * coordinate (the user vector then ends with 1). Factor models ("ials",
 * "ganmf") encode a history by a least-squares fold-in onto their item
 * factors and keep known users' factors (core/model_factor.h). Item-item
 * models ("kind": "item_item", sparse EASE) have no encoder: a history is
 * ranked by summing its items' kept rows (core/itemitem.h).
 *
 * Thread safety: after rs_model_load() the model is read-only; any number of
 * threads may call rs_model_encode() at once, each with its own scratch.
 * Tensors are views into the snapshot's memory map, so the snapshot must stay
 * open while the model lives.
 */
#ifndef RS_MODEL_H
#define RS_MODEL_H

#include <stdint.h>

#include "common.h"
#include "itemitem.h"
#include "store.h"

typedef struct rs_model rs_model;

/* Builds the model from an open snapshot, validating every tensor's shape
 * against the manifest. The snapshot must outlive the model. */
int rs_model_load(const rs_snapshot *snap, rs_model **out, rs_error *err);
void rs_model_free(rs_model *model);

const char *rs_model_family(const rs_model *model);
uint32_t rs_model_n_items(const rs_model *model);
uint32_t rs_model_n_users(const rs_model *model);
/* Length of user vectors and item rows (bias coordinate included). */
uint32_t rs_model_dim(const rs_model *model);

/* n_items x dim, row-major; NULL for an item-item model. */
const float *rs_model_item_matrix(const rs_model *model);

/* An item-item model's rows ("kind": "item_item", core/itemitem.h), or
 * NULL for a model ranked by user vector and item matrix. Such a model has
 * dim 0 and no encoder: requests rank with rs_itemitem_recommend. */
const rs_itemitem *rs_model_itemitem(const rs_model *model);

/* The item matrix every family is scored with, from a snapshot's item
 * tensors: row i = vectors[i] (vector_dim floats), then bias[i] when bias is
 * not NULL. Returns an aligned n x (vector_dim + 1) copy to free() (the
 * trainer builds the published retrieval index from the same rows), or
 * NULL on failure. */
float *rs_item_matrix_with_bias(const float *vectors, const float *bias, uint32_t n,
                                uint32_t vector_dim, rs_error *err);

/* Floats of scratch memory rs_model_encode needs. */
size_t rs_model_scratch_floats(const rs_model *model);

/* Encodes a history into user_vector (dim floats). Duplicate indices count
 * once. An empty history is valid (the encoder's output for no input). */
int rs_model_encode(const rs_model *model, const uint32_t *items, uint32_t n, float *user_vector,
                    float *scratch, rs_error *err);

/* A known user's vector: their stored factor when the model keeps one (a
 * factor model, proto/model.md), else the encoding of their stored history.
 * RS_ERR_NOT_FOUND for an unknown id. */
int rs_model_encode_user(const rs_model *model, const char *id, size_t len, float *user_vector,
                         float *scratch, rs_error *err);

/* Item id <-> index. rs_model_item_index returns 0 when found, -1 when not. */
int rs_model_item_index(const rs_model *model, const char *id, size_t len, uint32_t *index);
const char *rs_model_item_id(const rs_model *model, uint32_t index, size_t *len);

/* Training interaction count of each item (n_items floats). */
const float *rs_model_popularity(const rs_model *model);
/* Item indices by descending popularity (n_items). */
const uint32_t *rs_model_popular_order(const rs_model *model);

/* Known user's training history: 0 and the items when found, -1 when not. */
int rs_model_user_history(const rs_model *model, const char *id, size_t len, const uint32_t **items,
                          uint32_t *n);
/* Known user's seen-set (users.seen: every input interaction, whatever its
 * rating or split, ascending), which the server leaves out of their
 * recommendations; a version without one answers the history. 0 when the
 * user is known, -1 when not. */
int rs_model_user_seen(const rs_model *model, const char *id, size_t len, const uint32_t **items,
                       uint32_t *n);

#endif
