/* registry.h - the loaded models: per variant, an atomically swapped
 * pointer to a reference-counted loaded version.
 *
 * A loaded version (rs_loaded) owns its snapshot (a read transaction on the
 * store), the model built from it, its retrieval index and its parsed
 * manifest, and is immutable. Requests acquire a reference (an atomic
 * increment, no lock) and release it when done; the registry holds one more
 * reference for the variant's current version. Installing a new version
 * swaps the pointer and drops the registry's reference to the old one,
 * which is freed by whoever releases it last - an in-flight request keeps
 * the version it started with. Loading and swapping are serialised by an
 * admin lock that requests never take. Variant slots are never removed, so
 * slot numbers are stable labels for metrics (at most RS_REGISTRY_MAX).
 */
#ifndef RS_REGISTRY_H
#define RS_REGISTRY_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "common.h"
#include "model.h"
#include "recommend.h"
#include "retrieve.h"
#include "stats.h"
#include "store.h"

#define RS_REGISTRY_MAX RS_STATS_MAX_VARIANTS

typedef struct rs_loaded {
    _Atomic uint32_t refs;
    int slot;
    char variant[RS_NAME_MAX + 1];
    uint64_t version;
    rs_snapshot *snap;
    rs_model *model;
    rs_retriever *retriever; /* NULL for an item-item model (it ranks with its rows) */
    json_t *manifest;        /* parsed manifest; NULL if it is not valid JSON */
    double loaded_at;        /* Unix time */
    /* Item-to-item similarity: PIA anchors or item vectors (views into the
     * snapshot), with their row norms. */
    rs_similarity sim;
    /* The item catalogue published with the version (rectrain --items):
     * views into the snapshot; has_catalog 0 when there is none. */
    rs_catalog catalog;
    int has_catalog;
    uint64_t extent;              /* bytes of the store's data.mdb its views reach */
    rs_store *store;              /* the store it was read from */
    _Atomic uint32_t *store_live; /* that store's count of live versions */
} rs_loaded;

typedef struct rs_registry rs_registry;

/* The store and stats are borrowed and must outlive the registry; ropt
 * (NULL: defaults) says how each version's retrieval index is built. */
int rs_registry_create(rs_store *store, rs_stats *stats, const rs_retriever_options *ropt,
                       rs_registry **out, rs_error *err);
/* Drops every current version. Call only once no request can run. */
void rs_registry_free(rs_registry *reg);

/* Opens version (0: the current one) of variant, builds everything a request
 * needs and installs it as the variant's current version. On failure the
 * variant keeps what it had. Safe while requests run. */
int rs_registry_load(rs_registry *reg, const char *variant, uint64_t version, int verify,
                     rs_error *err);

/* Loads the current version of every variant in the store. Variants that
 * fail are logged and skipped; *loaded receives how many succeeded. Fails
 * when the store lists no variant with a current version. */
int rs_registry_load_all(rs_registry *reg, int verify, int *loaded, rs_error *err);

/* Creates the (empty) slot of a variant that has no version loaded yet, so
 * that it keeps its place and can be the default before its first load.
 * Does nothing when the slot exists. */
int rs_registry_reserve(rs_registry *reg, const char *variant, rs_error *err);

/* Chooses the default variant: name when given (must be loaded, unless no
 * variant is loaded yet), else the one named "default", else the first
 * loaded by name, else (none loaded yet) the first slot. */
int rs_registry_set_default(rs_registry *reg, const char *name, rs_error *err);

/* After the store directory was replaced (deploy/ship-store.sh), later loads
 * read from store. Stores stay borrowed: an earlier one may be closed once
 * rs_registry_store_users() reports that no version read from it is alive
 * (current, or still held by a request). Fails when RS_REGISTRY_MAX_STORES
 * earlier stores are still in use. */
#define RS_REGISTRY_MAX_STORES 4
int rs_registry_set_store(rs_registry *reg, rs_store *store, rs_error *err);
uint32_t rs_registry_store_users(rs_registry *reg, const rs_store *store);

/* Lists the store loads read from now (rs_store_list; free with
 * rs_store_list_free). Waits for a load in progress: not for the request
 * path. */
int rs_registry_list(rs_registry *reg, rs_variant_info **variants, uint32_t *n, rs_error *err);

/* Number of variant slots (loaded or not), and a slot's name. */
int rs_registry_slots(const rs_registry *reg);
const char *rs_registry_slot_name(const rs_registry *reg, int slot);
/* The default variant's slot, or -1. */
int rs_registry_default_slot(const rs_registry *reg);

/* A reference to a slot's current version (NULL when none). */
rs_loaded *rs_registry_acquire_slot(rs_registry *reg, int slot);
/* By name (len bytes; name NULL: the default variant). NULL when unknown
 * or not loaded. */
rs_loaded *rs_registry_acquire(rs_registry *reg, const char *name, size_t len);
void rs_loaded_release(rs_loaded *loaded);

/* How the version ranks: its retriever's method, or RS_METHOD_ITEM_ITEM
 * for an item-item model (core/itemitem.h), which has no retriever. */
#define RS_METHOD_ITEM_ITEM "item_item"
const char *rs_loaded_method(const rs_loaded *l);

/* Before a request reads a version's views: 0 when the store's data.mdb
 * still holds every byte they reach; -1 (kind RS_ERR_IO, a message naming
 * the variant and the sizes) when the file was truncated under the map, in
 * which case reading would raise SIGBUS (store.h: what remains). */
int rs_loaded_check(const rs_loaded *loaded, rs_error *err);

/* Frees a loaded version no registry holds (used by tests and on failure). */
void rs_loaded_destroy(rs_loaded *loaded);

#endif
