/* watcher.h - hot reload: notices new versions in the store and swaps them
 * in, off the request path.
 *
 * A watcher thread polls each served variant's `current` pointer (a cheap
 * read transaction) every interval, and also checks at once when asked
 * (SIGHUP, POST /v1/admin/reload). A new version is loaded and validated
 * (manifest, dimensions, every tensor checksum when verifying) by the
 * registry before it is swapped in; a version that fails is refused: logged,
 * counted, shown in /v1/models, and not retried until it changes or a reload
 * is asked for explicitly. The previous version keeps serving.
 *
 * The watcher also follows the store directory: when the path now names
 * another directory (deploy/ship-store.sh renames a fresh copy over a
 * symbolic link), it opens that store, reloads every variant from it, and
 * closes the old store once no loaded version uses it.
 *
 * Ownership: the watcher owns the store handed to rs_watcher_create and every
 * store it opens later; rs_watcher_free closes them, so call it after
 * rs_registry_free. The registry is borrowed. Per-variant status is guarded
 * by a mutex that only the watcher, /v1/models, /metrics and admin requests
 * take - never a recommendation request.
 */
#ifndef RS_WATCHER_H
#define RS_WATCHER_H

#include <jansson.h>
#include <stdio.h>

#include "common.h"
#include "registry.h"
#include "store.h"

/* A variant served at a fixed version, not at the store's `current`. */
typedef struct rs_watcher_pin_entry {
    const char *variant;
    uint64_t version;
} rs_watcher_pin_entry;

typedef struct rs_watcher_options {
    const char *store_dir;       /* the path the store was opened from (copied) */
    const char *const *variants; /* variants to serve (copied); NULL: all in the store */
    int n_variants;
    double interval;                  /* seconds between polls; 0: only on request */
    int verify;                       /* verify tensor checksums when loading */
    size_t map_size;                  /* for stores opened later (0: the default) */
    const rs_watcher_pin_entry *pins; /* pins from the config (copied) */
    int n_pins;
} rs_watcher_options;

typedef struct rs_watcher rs_watcher;

int rs_watcher_create(rs_registry *reg, rs_store *store, const rs_watcher_options *opt,
                      rs_watcher **out, rs_error *err);

/* The first load, on the calling thread: every variant's current version.
 * Variants that fail are logged and refused; *loaded counts the others.
 * Fails when the variants come from the store and it has none published, or when variants are
 * published but none could be loaded. With variants from the config and none published yet,
 * succeeds with *loaded 0: the server starts not ready and the watcher loads them when published.
 */
int rs_watcher_load_initial(rs_watcher *w, int *loaded, rs_error *err);

/* Starts the polling thread. */
int rs_watcher_start(rs_watcher *w, rs_error *err);

/* Asks for a check as soon as possible, retrying refused versions (for
 * SIGHUP; returns at once). */
void rs_watcher_request(rs_watcher *w);

/* Runs a check now (retrying refused versions) and waits up to timeout
 * seconds for it. Returns a new JSON object {"completed": bool, "variants":
 * [per-variant outcome]} (NULL when out of memory). */
json_t *rs_watcher_reload(rs_watcher *w, double timeout);

/* Pins variant to version (0: unpins, the variant follows the store's
 * `current` again), checks at once and waits up to timeout seconds. 0 and a
 * new JSON report (as rs_watcher_reload's) when the pinned version now
 * serves, or the unpin was checked; -1 otherwise, the previous pin kept:
 * kind RS_ERR_NOT_FOUND for a variant not served here, RS_ERR_INVALID when
 * the version cannot be loaded (the message says why), RS_ERR_GENERIC on
 * timeout. A pin lives in this process until unpinned or restarted (the
 * config's "pins" survive restarts). Calls are serialised. */
int rs_watcher_pin(rs_watcher *w, const char *variant, uint64_t version, double timeout,
                   json_t **report, rs_error *err);

/* The version variant is pinned to (0: none, or not served here). */
uint64_t rs_watcher_pinned(rs_watcher *w, const char *variant);

/* Per-variant reload status for /v1/models: a new JSON array. */
json_t *rs_watcher_status(rs_watcher *w);

/* Reload counters and gauges in Prometheus text format. */
void rs_watcher_render(rs_watcher *w, FILE *out);

/* Stops the thread (waits for a check in progress). */
void rs_watcher_stop(rs_watcher *w);
/* Stops, then closes every store. Call after rs_registry_free. */
void rs_watcher_free(rs_watcher *w);

#endif
