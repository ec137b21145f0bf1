/* ops.h - the operations side of the API: which variant serves a request
 * that names none (A/B experiments), GET /v1/users/{id}/assignment, POST
 * /v1/admin/reload behind a bearer token, and the reload and experiment
 * figures added to /v1/models and /metrics.
 *
 * Borrows the registry, the watcher (may be NULL) and the experiments, which
 * must outlive it; owns a copy of the admin token and its counters. The
 * request path only reads immutable data (the experiments in force, behind
 * one atomic pointer that a config reload swaps) and bumps relaxed atomic
 * counters.
 */
#ifndef RS_OPS_H
#define RS_OPS_H

#include <jansson.h>
#include <stdio.h>

#include "experiment.h"
#include "http.h"
#include "registry.h"
#include "watcher.h"

typedef struct rs_ops rs_ops;

/* admin_token NULL disables the admin endpoints (they answer 403). */
int rs_ops_create(rs_registry *reg, rs_watcher *watcher, const rs_ab *ab, const char *admin_token,
                  rs_ops **out, rs_error *err);
void rs_ops_free(rs_ops *ops);

/* Installs new experiments (a config reload): requests from now on are
 * assigned by ab, which must outlive ops, like the first one. Counters carry
 * over for the (experiment, variant) pairs that stay. The previous
 * experiments stay allocated until rs_ops_free, as requests in flight may
 * still read their names. */
int rs_ops_set_experiments(rs_ops *ops, const rs_ab *ab, rs_error *err);

/* Counts a config reload in recsys_config_reloads_total{result}. */
void rs_ops_count_config_reload(rs_ops *ops, int applied);

/* How a request without an explicit variant was routed. */
typedef struct rs_ops_choice {
    const char *experiment; /* the deciding experiment, or NULL */
    const char *assigned;   /* the variant the experiment chose, or NULL */
    int fell_back;          /* that variant is not loaded: the default answered */
    int experiment_index;   /* with experiment: its index in the config, and */
    int arm_index;          /* the index of the assigned variant in it */
} rs_ops_choice;

/* A reference to the version that serves key (a user id or session key,
 * len bytes; NULL for none): its experiment variant when one applies and is
 * loaded, else the default variant. NULL when nothing is loaded. */
rs_loaded *rs_ops_acquire(rs_ops *ops, const char *key, size_t len, rs_ops_choice *choice);

/* Handlers (the route table lives in api.c). */
void rs_ops_reload(rs_ops *ops, rs_request *req, rs_response *resp);
void rs_ops_assignment(rs_ops *ops, rs_request *req, rs_response *resp);
void rs_ops_pin(rs_ops *ops, rs_request *req, rs_response *resp);
void rs_ops_unpin(rs_ops *ops, rs_request *req, rs_response *resp);
void rs_ops_versions(rs_ops *ops, rs_request *req, rs_response *resp);

/* Adds "experiments" and "reload" to a /v1/models body. */
void rs_ops_models(rs_ops *ops, json_t *body);
/* Experiment and reload series for /metrics. */
void rs_ops_render(rs_ops *ops, FILE *out);

/* The body's "experiment" value for a choice: a new JSON string or null. */
json_t *rs_ops_choice_json(const rs_ops_choice *choice);

#endif
