/* http.h - the HTTP layer: a libmicrohttpd daemon with an internal thread
 * pool (epoll), routing, request bodies, JSON responses and errors.
 *
 * Owns the daemon and each request's state (decoded path parameters, the body
 * buffer, decoded query values), all released when the request completes.
 * Handlers run on the pool's threads, any number at once; they get a parsed
 * rs_request and fill an rs_response. The layer itself answers what needs no
 * handler: 404 unknown route, 405 wrong method (with Allow), 415 wrong
 * content type, 413 body too large, 400 malformed path encoding or framing,
 * 414 too many query parameters; the connection guard (conns.h) answers 503
 * over the connection caps and 408 past the request deadline. Every
 * response is recorded in the metrics (route, status, variant, latency)
 * and carries the request's id in X-Request-Id (rs_request.request_id).
 *
 * Memory per connection: MHD's pool (32 KiB: request line, headers, query
 * parameters), this layer's request state, and the body buffer, which grows
 * with the bytes received up to max_body + 1 (so at most about
 * max_connections x (max_body + 32 KiB) in all).
 * Shutdown stops accepting, lets in-flight requests finish, then stops.
 */
#ifndef RS_HTTP_H
#define RS_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common.h"
#include "stats.h"
#include "router.h"
#include "names.h"

typedef struct rs_http_server rs_http_server;

/* Longest request id kept from a client's X-Request-Id header. */
#define RS_REQUEST_ID_MAX 64

typedef struct rs_request {
    const char *method;
    const char *path; /* raw, without the query string */
    int route;        /* index into the route table */
    int n_params;
    const char *param[RS_ROUTE_MAX_PARAMS]; /* percent-decoded, NUL-terminated */
    size_t param_len[RS_ROUTE_MAX_PARAMS];
    const char *body; /* NULL when empty; NUL-terminated */
    size_t body_len;
    /* The request's id: the client's X-Request-Id when it is a valid one
     * (rs_request_id_valid), else 32 random hex digits; echoed in the
     * answer's X-Request-Id header. NUL-terminated. */
    char request_id[RS_REQUEST_ID_MAX + 1];
    size_t request_id_len;
    struct rs_http_state *state; /* private */
} rs_request;

/* 1 when text[0..len) may be kept as a request id: 1 to RS_REQUEST_ID_MAX
 * bytes of [A-Za-z0-9._:-]. */
int rs_request_id_valid(const char *text, size_t len);

/* Writes a fresh id (32 lowercase hex digits: 128 random bits from a
 * per-thread generator seeded from getrandom, no lock) and a NUL into out
 * (at least 33 bytes). */
void rs_request_id_generate(char out[33]);

#define RS_RESPONSE_MAX_HEADERS 4

typedef struct rs_response {
    int status;
    json_t *json;             /* owned; the body unless text is set */
    char *text;               /* owned (malloc); alternative body */
    size_t text_len;          /* length of text */
    const char *content_type; /* for text; JSON sets application/json */
    int variant_slot;         /* metrics label; -1 when no model answered */
    char variant[RS_NAME_MAX + 1];
    uint64_t version; /* with variant: X-Recsys-Variant / X-Recsys-Version */
    int n_headers;    /* extra headers (static strings) */
    const char *header_name[RS_RESPONSE_MAX_HEADERS], *header_value[RS_RESPONSE_MAX_HEADERS];
} rs_response;

/* Sets a JSON body (stolen, even on failure) and status. */
void rs_response_json(rs_response *resp, int status, json_t *body);
/* Sets {"error": {"code": code, "message": ...}} and status. */
void rs_response_error(rs_response *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets a text body (stolen: malloc'd by the caller). */
void rs_response_text(rs_response *resp, int status, const char *content_type, char *text,
                      size_t len);
/* Records which model version answered (headers and metrics label). */
void rs_response_variant(rs_response *resp, int slot, const char *variant, uint64_t version);

/* Adds an extra header (e.g. WWW-Authenticate); name and value must be
 * static strings. At most RS_RESPONSE_MAX_HEADERS; later ones are dropped. */
void rs_response_header(rs_response *resp, const char *name, const char *value);

/* Answering later, from another thread (e.g. after a group commit): the
 * handler calls rs_request_defer and returns without a response; the pool
 * thread is free at once (MHD suspends the connection). Later, exactly once,
 * any thread calls rs_deferred_answer with the response (its bodies are
 * stolen), and the answer is sent. The request (body, parameters) must not
 * be used after the handler returns; the deferred handle stays valid until
 * rs_deferred_answer. A deferred request counts as in flight until then,
 * so rs_http_stop waits for it. */
typedef struct rs_http_state rs_deferred;
rs_deferred *rs_request_defer(rs_request *req);
void rs_deferred_answer(rs_deferred *d, rs_response *resp);

/* A request header's value (NULL when absent); lives as long as the request. */
const char *rs_request_header(rs_request *req, const char *name);

/* Percent-decoded query parameter (the first value when repeated): 0 and
 * *value when present; else -1, *value NULL and err's kind RS_ERR_NOT_FOUND
 * when absent, RS_ERR_INVALID when its encoding is malformed, or
 * RS_ERR_NO_MEMORY. The string lives as long as the request. */
int rs_request_query(rs_request *req, const char *key, const char **value, rs_error *err);

typedef void (*rs_handler_fn)(void *ctx, rs_request *req, rs_response *resp);

typedef struct rs_http_route {
    rs_route route;
    rs_handler_fn handler;
    int json_body; /* the route takes a JSON body: enforce Content-Type */
    const char *summary;
    int open; /* answered without an API key when keys are configured */
} rs_http_route;

typedef struct rs_http_config {
    struct sockaddr_storage addr; /* address to listen on (port 0: any free port) */
    socklen_t addr_len;
    unsigned threads;         /* worker threads (pool size) */
    size_t max_body;          /* largest request body, bytes */
    unsigned timeout_s;       /* idle connection timeout, seconds */
    unsigned max_connections; /* concurrent connections (over it: 503) */
    unsigned max_per_address; /* concurrent connections per client address (0: any) */
    double request_timeout_s; /* a request's line, headers and body arrive within this (0: none) */
    /* libmicrohttpd's poll() loop instead of epoll (0, the default). For the
     * HTTP fuzz target: epoll in 0.9.75 can miss a client's end of input
     * while it answers (conns.c closes such connections within a few
     * sweeps), which would cost that target most of its speed. */
    int poll_loop;
    /* PEM certificate chain and private key (NUL-terminated, borrowed; must
     * outlive the server): HTTPS with both, plain HTTP with neither. */
    const char *tls_cert_pem, *tls_key_pem;
    /* API keys for the routes not marked open (NULL: none needed). Borrowed;
     * replaced with rs_http_set_api_keys. */
    const struct rs_api_keys *api_keys;
    struct rs_access_log *access_log; /* NULL: no access log; borrowed */
} rs_http_config;

/* Seconds rs_http_stop waits, after the grace, for deferred requests to be
 * answered (libmicrohttpd cannot stop with a connection suspended). */
#define RS_HTTP_DEFER_STOP_WAIT 30.0

/* A query string with more parameters is refused (414 uri_too_long). */
#define RS_HTTP_MAX_QUERY_PARAMS 64

/* Names for rs_stats_create: each route's pattern, then "unmatched". */
int rs_http_stats_create(const rs_http_route *routes, int n_routes, rs_stats **out, rs_error *err);

/* Starts the daemon. routes and ctx are borrowed and must outlive the
 * server; metrics (from rs_http_stats_create on the same table) too. */
int rs_http_start(const rs_http_config *cfg, const rs_http_route *routes, int n_routes, void *ctx,
                  rs_stats *stats, rs_http_server **out, rs_error *err);

/* Replaces the API keys (NULL: none needed) for requests from now on and
 * returns the previous set, which requests in flight may still read: keep it
 * until rs_http_stop. */
const struct rs_api_keys *rs_http_set_api_keys(rs_http_server *srv, const struct rs_api_keys *keys);

/* The bound port (useful after listening on port 0). */
uint16_t rs_http_port(const rs_http_server *srv);

/* Requests being processed right now. */
unsigned rs_http_in_flight(const rs_http_server *srv);
/* Connections open right now (those the guard answered included). */
unsigned rs_http_connections(const rs_http_server *srv);

/* Graceful stop: stop accepting connections, let in-flight requests finish
 * (at most grace_s seconds; deferred ones, whose answers are on their way,
 * up to RS_HTTP_DEFER_STOP_WAIT more), close the rest and free the server.
 * Returns the number of requests still in flight when the grace period ran
 * out. */
unsigned rs_http_stop(rs_http_server *srv, double grace_s);

#endif
