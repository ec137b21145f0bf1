/* outcomes.h - experiment outcomes: per experiment and variant (arm), the
 * impressions served, the users who saw them, the events attributed to
 * them by request id (by type), hits (an attributed positive event whose
 * item was in the list: the hit rate is hits / attributed positive events)
 * and converted users (an attributed positive event), with the statistics
 * of GET /v1/experiments/{name}/report: Wilson 95% intervals and a pooled
 * two-proportion z-test of each variant's conversion rate per user against
 * the control (the experiment's first variant).
 *
 * Owns relaxed atomic counters per (experiment, arm, figure) and a table of
 * the users seen per experiment (a 64-bit hash of experiment and key, the
 * arm and whether the user converted), sharded in RS_OUTCOME_SHARDS
 * segments with a spin lock each. The table holds at most max_users users
 * (16 bytes each); users beyond it are counted as untracked, not as users.
 * The figures are this process's since it started: behind a load balancer
 * each replica counts the users routed to it (disjoint when the user key
 * picks the replica, deploy/README.md), and Prometheus sums the counters.
 */
#ifndef RS_OUTCOMES_H
#define RS_OUTCOMES_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "experiment.h"

#define RS_OUTCOME_SHARDS   64
#define RS_OUTCOME_MAX_ARMS 64
#define RS_EVENT_TYPES_MAX  16

typedef struct rs_outcomes rs_outcomes;

/* type_names: the configured event types (n_types, at most
 * RS_EVENT_TYPES_MAX), for the figures by type. ab may be NULL. */
int rs_outcomes_create(const rs_ab *ab, const char *const *type_names, int n_types,
                       size_t max_users, rs_outcomes **out, rs_error *err);
void rs_outcomes_free(rs_outcomes *o);

/* An answer an experiment routed: counts the impression and, the first
 * time, the user. */
void rs_outcomes_impression(rs_outcomes *o, int experiment, int arm, uint64_t key_hash);
/* An event attributed to an impression of (experiment, arm) served to
 * key_hash: counted by type; a positive one converts the user and is a hit
 * when its item was in the list. */
void rs_outcomes_event(rs_outcomes *o, int experiment, int arm, uint64_t key_hash, int type,
                       int positive, int hit);

/* The experiment's index by name (-1: none). */
int rs_outcomes_find(const rs_outcomes *o, const char *name, size_t len);
/* The report body of GET /v1/experiments/{name}/report (a new object). */
json_t *rs_outcomes_report(rs_outcomes *o, int experiment);
/* recsys_outcome_* series for /metrics. */
void rs_outcomes_render(rs_outcomes *o, FILE *out);

/* ---- statistics (pure functions) ---- */

/* Wilson score interval of x successes in n at 95% (0, 0 when n is 0). */
void rs_wilson95(uint64_t x, uint64_t n, double *lo, double *hi);
/* Pooled two-proportion z-test of x1/n1 against x2/n2: the two-sided p
 * value and *z (1 and 0 when either n is 0 or nothing varies). */
double rs_two_proportion_p(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double *z);

#endif
