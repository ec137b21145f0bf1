/* api.h - the REST API v1 (proto/openapi.yaml): route table and handlers.
 *
 * Each handler parses the request (request.c, query parameters), acquires
 * the variant's loaded version (registry.c, or the experiments in ops.c),
 * has recommend.c rank (which owns the per-thread scratch) and writes the
 * answer (jsonbuf.c for recommendations, the hot path). Failures are
 * answered by their rs_error kind through request.c's one status table.
 * The api borrows the registry and stats, which must outlive it.
 */
#ifndef RS_API_H
#define RS_API_H

#include <stdio.h>

#include "http.h"
#include "registry.h"
#include "request.h"
#include "stats.h"

typedef struct rs_api rs_api;

extern const rs_http_route rs_api_routes[];
extern const int rs_api_n_routes;

int rs_api_create(rs_registry *reg, rs_stats *stats, const rs_limits *limits, rs_api **out,
                  rs_error *err);
/* Routes requests that name no variant through the experiments, and enables
 * the assignment and admin endpoints (before the server starts). */
struct rs_ops;
void rs_api_attach_ops(rs_api *api, struct rs_ops *ops);
/* Enables POST /v1/events, fresh histories and the experiment reports
 * (before the server starts; NULL: they answer 404 events_disabled). */
struct rs_events;
void rs_api_attach_events(rs_api *api, struct rs_events *events);
/* Lets /metrics report the server's in-flight requests. */
void rs_api_attach_server(rs_api *api, rs_http_server *srv);
void rs_api_free(rs_api *api);

/* "METHOD PATH" per line, for --print-routes. */
void rs_api_print_routes(FILE *out);

#endif
