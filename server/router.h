/* router.h - the route table: matches (method, raw path) to a route.
 *
 * A route is a method plus a pattern of '/'-separated segments where a
 * segment "{name}" captures one non-empty raw segment. The router owns no
 * memory: the table is the caller's (usually static), and captures point
 * into the path being matched. Percent-decoding of captures is the caller's
 * job, so that an encoded '/' inside an id never splits a segment. HEAD
 * matches GET routes.
 */
#ifndef RS_ROUTER_H
#define RS_ROUTER_H

#include <stddef.h>

#define RS_ROUTE_MAX_PARAMS 4

typedef struct rs_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* e.g. "/v1/items/{id}/similar" */
} rs_route;

typedef struct rs_route_match {
    int route; /* index into the table, or -1 */
    int n_params;
    const char *param[RS_ROUTE_MAX_PARAMS]; /* raw (still percent-encoded) */
    size_t param_len[RS_ROUTE_MAX_PARAMS];
} rs_route_match;

enum { RS_ROUTE_FOUND = 0, RS_ROUTE_NOT_FOUND = 1, RS_ROUTE_BAD_METHOD = 2 };

/* Matches path (without the query string) against the table. Returns
 * RS_ROUTE_FOUND with m filled; RS_ROUTE_BAD_METHOD when the path matches
 * only routes of other methods, writing their methods ("GET, HEAD, POST") to
 * allow (a buffer of allow_cap bytes); RS_ROUTE_NOT_FOUND otherwise. */
int rs_router_match(const rs_route *table, int n_routes, const char *method, const char *path,
                    rs_route_match *m, char *allow, size_t allow_cap);

/* Decodes %XX escapes of src[0..len) into dst (at least len + 1 bytes),
 * NUL-terminated; *out_len receives the decoded length. Returns -1 for a
 * malformed escape or an escape that decodes to NUL. '+' is kept as is. */
int rs_percent_decode(const char *src, size_t len, char *dst, size_t *out_len);

#endif
