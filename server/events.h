/* events.h - feedback events into the server, outcomes out: POST /v1/events
 * (validated, appended durably to the events environment with group commit),
 * fresh histories for the recommendation routes, the impressions every
 * recommendation answer leaves, and GET /v1/experiments/{name}/report.
 *
 * Owns the events environment (core/eventlog.h, a directory of its own: the
 * model store stays read-only), the writer thread, the fresh-history table
 * (fresh.h), the impressions (impressions.h) and the outcome counters
 * (outcomes.h). A POST is parsed and every event validated before anything
 * is queued (one bad event refuses the whole batch: 422 naming each bad
 * event's index); the batch then goes to the writer's queue and the
 * request is deferred (http.h: the pool thread serves other requests, the
 * connection waits suspended), so any number of batches can wait for one
 * commit whatever the size of the HTTP pool. The writer
 * takes every batch queued, appends them in one LMDB write transaction and
 * commits it with one sync (group commit: concurrent writers share the
 * sync), then applies the events to the fresh histories and the outcomes,
 * and only then are the batches answered. A failed commit fails every batch
 * of its group (503) and applies nothing. The queue is bounded (max_pending
 * events: 503 events_busy) and so is the rate (events per second over the
 * server: 429 with Retry-After).
 *
 * At start the environment is scanned, every record verified (a damaged
 * record or a truncated data.mdb refuses the start), and the positive
 * events of the fresh window fill the fresh histories.
 */
#ifndef RS_EVENTS_H
#define RS_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "experiment.h"
#include "http.h"

#define RS_EVENTS_DEFAULT_TYPES    "view,click,purchase"
#define RS_EVENTS_DEFAULT_POSITIVE "click,purchase"

typedef struct rs_events_options {
    const char *dir; /* the events environment; NULL: events are off */
    size_t map_size;
    uint32_t max_batch;   /* events per POST */
    uint32_t rate;        /* events accepted per second (0: no limit) */
    uint32_t max_pending; /* events queued for the writer */
    const char *types;    /* the accepted types, comma-separated */
    const char *positive; /* the types that count (fresh histories, conversions) */
    double fresh_window;  /* seconds back a fresh history reaches (0: none) */
    uint32_t fresh_max_items;
    uint32_t fresh_max_keys;
    uint64_t impressions; /* answers remembered (0: none) */
    double impression_ttl;
    uint32_t impression_items;
    uint64_t outcome_users;
} rs_events_options;

typedef struct rs_events rs_events;

/* Opens (creating) the environment, verifies and loads it, starts the
 * writer. ab (may be NULL) must outlive the events. */
int rs_events_open(const rs_events_options *opt, const rs_ab *ab, rs_events **out, rs_error *err);
/* Stops the writer (queued batches are committed first) and frees. */
void rs_events_close(rs_events *ev);

/* Handlers (the route table is api.c's). */
void rs_events_post(rs_events *ev, rs_request *req, rs_response *resp);
void rs_events_report(rs_events *ev, rs_request *req, rs_response *resp);
/* recsys_events_*, recsys_fresh_*, recsys_impressions_* and
 * recsys_outcome_* series for /metrics. */
void rs_events_render(rs_events *ev, FILE *out);

/* ---- the recommendation path (api.c) ---- */

struct rs_loaded;
struct rs_reco_query;
struct rs_reco_result;
struct rs_ops_choice;

/* When key has fresh events the model does not hold yet (sequence above
 * the version's manifest training.events.cutoff_seq, within the window),
 * gives q an explicit history: the key's stored training history followed
 * by those items (thread-local storage, valid until this thread's next
 * call). Returns 1 when it did, 0 when there is nothing fresh, -1 when out
 * of memory. */
int rs_events_fresh_history(rs_events *ev, const struct rs_loaded *l, const char *key,
                            size_t key_len, struct rs_reco_query *q, rs_error *err);

/* Records the answer as an impression under the request's id and counts
 * it for its experiment (choice; key is the A/B key, NULL for none). */
void rs_events_served(rs_events *ev, const rs_request *req, const struct rs_ops_choice *choice,
                      const struct rs_loaded *l, const struct rs_reco_result *res, const char *key,
                      size_t key_len);

#endif
