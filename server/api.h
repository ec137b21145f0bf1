/* api.h - the REST API v1 (proto/openapi.yaml): route table and handlers.
 *
 * Owns the request-time work: resolving the variant, mapping ids to item
 * indices, encoding histories into user vectors, retrieval, the popularity
 * fallback and the JSON answers. Each pool thread keeps its own scratch
 * buffers (vectors, scores, exclusion mask), grown on demand and freed when
 * the thread exits, so the request path allocates little and locks nothing.
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
/* Lets /metrics report the server's in-flight requests. */
void rs_api_attach_server(rs_api *api, rs_http_server *srv);
void rs_api_free(rs_api *api);

/* "METHOD PATH" per line, for --print-routes. */
void rs_api_print_routes(FILE *out);

#endif
