/* request.h - parsing and validation of API requests (JSON bodies, query
 * parameters) into plain structs, with the HTTP status and stable error code
 * each kind of bad input maps to.
 *
 * Owns nothing beyond the parsed request: an rs_reco_request keeps the parsed
 * JSON document alive and its ids point into it, so they stay valid until
 * rs_reco_request_free(). Every input is treated as hostile: depth, sizes,
 * types and encodings are checked before anything else looks at them.
 */
#ifndef RS_REQUEST_H
#define RS_REQUEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct rs_limits {
    uint32_t max_n;       /* largest n a client may ask for */
    uint32_t max_history; /* longest ad-hoc history */
    uint32_t max_exclude; /* longest exclusion list */
    uint32_t max_depth;   /* deepest JSON nesting accepted */
    uint32_t max_batch;   /* most queries in one POST /v1/recommend/batch */
} rs_limits;

/* The defaults documented in proto/openapi.yaml. */
#define RS_DEFAULT_N           10
#define RS_DEFAULT_MAX_N       1000
#define RS_DEFAULT_MAX_HISTORY 10000
#define RS_DEFAULT_MAX_EXCLUDE 10000
#define RS_DEFAULT_MAX_DEPTH   32
#define RS_DEFAULT_MAX_BATCH   64

void rs_limits_default(rs_limits *lim);

/* A client-supplied id: bytes inside the parsed document (no NUL inside,
 * valid UTF-8, NUL-terminated at ptr[len]). */
typedef struct rs_id {
    const char *ptr;
    size_t len;
} rs_id;

/* Why a request was refused: HTTP status, stable code, human message. */
typedef struct rs_request_error {
    int status;
    const char *code; /* "bad_json", "invalid_request", "out_of_range", "out_of_memory" */
    char message[RS_ERROR_MAX];
} rs_request_error;

/* A numeric range of a filter: field within [min, max] (inclusive; open
 * ends are -INFINITY / INFINITY). */
typedef struct rs_filter_range {
    rs_id field;
    double min, max;
} rs_filter_range;

/* "filter" of a recommend body (or the similar route's filter parameter),
 * by name: proto/openapi.yaml's Filter. Resolved against a version's item
 * ids and catalogue by recommend.c. */
typedef struct rs_filter_request {
    int given;
    json_t *root; /* owns the strings when parsed from text (else NULL) */
    int any_given;
    rs_id *any, *all, *none; /* categories */
    uint32_t n_any, n_all, n_none;
    rs_filter_range *ranges;
    uint32_t n_ranges;
    int allow_given;
    rs_id *allow, *deny; /* item ids */
    uint32_t n_allow, n_deny;
} rs_filter_request;

/* Longest category list and most ranges a filter may hold. */
#define RS_FILTER_MAX_CATEGORIES 1000
#define RS_FILTER_MAX_RANGES     32

/* Parses a filter object v (strings stay in v's document). 400 for wrong
 * types and unknown keys, 422 for lists over their limits (allow and deny:
 * lim->max_exclude each) and min > max. On failure nothing needs freeing. */
int rs_filter_parse(json_t *v, const rs_limits *lim, rs_filter_request *out, rs_request_error *e);
/* The same from JSON text (a query parameter). */
int rs_filter_parse_text(const char *text, const rs_limits *lim, rs_filter_request *out,
                         rs_request_error *e);
void rs_filter_request_free(rs_filter_request *f);

/* How a recommend body asks for its items. */
typedef enum rs_reco_mode {
    RS_MODE_TOP = 0, /* the best n (after offset) */
    RS_MODE_SAMPLE,  /* n distinct items drawn from softmax(score / temperature) */
} rs_reco_mode;

/* POST /v1/recommend body. */
typedef struct rs_reco_request {
    json_t *root; /* owns every string below */
    int has_user;
    rs_id user;
    int has_history; /* "history" was given (possibly empty) */
    rs_id *history;
    uint32_t n_history;
    rs_id *exclude;
    uint32_t n_exclude;
    uint32_t n;
    int filter_history;
    int has_variant;
    rs_id variant;
    int has_session; /* an anonymous caller's key for A/B assignment */
    rs_id session;
    rs_filter_request filter;
    uint32_t offset; /* items skipped before the n returned (pagination) */
    rs_reco_mode mode;
    double temperature; /* sample mode; default 1 */
    int has_seed;       /* sample mode: a seed makes the draw repeatable */
    uint64_t seed;
    int explain; /* per item, the history items that contributed most */
} rs_reco_request;

/* Largest offset + n a request may ask for (the ranking behind a page is
 * top-(offset + n)). */
#define RS_MAX_OFFSET 10000
/* Temperatures a sample request may ask for. */
#define RS_MIN_TEMPERATURE 1e-3
#define RS_MAX_TEMPERATURE 1e3

/* Parses and validates a recommend body. Returns 0 and fills out, or -1 and
 * fills e (400 bad_json for malformed JSON, 400 invalid_request for JSON
 * that is not an object, wrong types, unknown fields or neither user nor
 * history; 422 for n, a number or list lengths out of range, and for a body
 * of more values than the lists allow, refused before it is parsed; 503
 * when out of memory). On failure nothing needs freeing. */
int rs_reco_request_parse(const char *body, size_t len, const rs_limits *lim, rs_reco_request *out,
                          rs_request_error *e);
void rs_reco_request_free(rs_reco_request *r);

/* POST /v1/recommend/batch body: {"queries": [recommend body, ...]}, 1 to
 * lim->max_batch of them, each validated as rs_reco_request_parse does (an
 * error names the query: "queries[3]: ..."); the whole body holds at most
 * as many values as one recommend body may. The requests' strings live in
 * *root (free with rs_reco_batch_request_free). */
int rs_reco_batch_parse(const char *body, size_t len, const rs_limits *lim, rs_reco_request **out,
                        uint32_t *n, json_t **root, rs_request_error *e);
void rs_reco_batch_request_free(rs_reco_request *reqs, uint32_t n, json_t *root);

/* True when no array or object in text[0..len) nests deeper than max_depth
 * (strings and escapes are skipped correctly). Runs before the parser so a
 * hostile document cannot make it recurse deeply. */
int rs_json_depth_ok(const char *text, size_t len, uint32_t max_depth);

/* About how many values text holds (commas outside strings, plus one):
 * cheap, for refusing a document before parsing it. */
size_t rs_json_values(const char *text, size_t len);

/* "an object", "an array", "a string", "an integer", "a number", "a boolean"
 * or "null": a JSON value's kind, for error messages. */
const char *rs_json_type_name(const json_t *v);

/* Query parameter "n": NULL (absent) gives RS_DEFAULT_N capped at max_n; a
 * non-integer is 400, an integer outside 1..max_n is 422. */
int rs_parse_n_param(const char *value, const rs_limits *lim, uint32_t *n, rs_request_error *e);

/* Boolean query parameter: NULL gives dflt; "true"/"1" and "false"/"0". */
int rs_parse_bool_param(const char *name, const char *value, int dflt, int *out,
                        rs_request_error *e);

/* The HTTP status and stable error code for a failure of kind: the one
 * table the API answers failures with (invalid input 400 invalid_request,
 * not found 404 not_found, no memory 503 out_of_memory, anything else 500
 * internal). */
int rs_error_http_status(rs_error_kind kind, const char **code);

/* Fills e from err by rs_error_http_status and returns -1. */
int rs_request_fail_from(rs_request_error *e, const rs_error *err);

/* Fills e and returns -1 (for "return rs_request_fail(...)"). */
int rs_request_fail(rs_request_error *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
