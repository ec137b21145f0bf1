/* events_parse.h - the rules and the parser of POST /v1/events bodies:
 * the configured event types (and which of them are positive), and a batch
 * validated whole into events (views into the parsed document).
 *
 * Owns the parsed document of a batch (rs_event_batch.root) and the event
 * array; nothing else. Every input is treated as hostile: nesting depth,
 * sizes, types, id bytes and encodings are checked, unknown fields refused.
 * Pure: no I/O, no global state (the fuzz target drives it directly).
 */
#ifndef RS_EVENTS_PARSE_H
#define RS_EVENTS_PARSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "eventlog.h"

#define RS_EVENT_TYPES_MAX     16
#define RS_EVENT_ERRORS_LISTED 20    /* bad events named in one 422 */
#define RS_EVENT_FUTURE_SLACK  86400 /* timestamps at most this far ahead (s) */

typedef struct rs_event_rules {
    int n_types;
    char types[RS_EVENT_TYPES_MAX][RS_EVENT_TYPE_MAX + 1];
    const char *type_names[RS_EVENT_TYPES_MAX];                        /* -> types */
    uint32_t positive;                                                 /* bit per type */
    char types_text[RS_EVENT_TYPES_MAX * (RS_EVENT_TYPE_MAX + 1) + 1]; /* "view,click,..." */
    uint32_t max_batch;
} rs_event_rules;

/* types and positive are comma-separated lists of names (a-z, 0-9, _; at
 * most RS_EVENT_TYPES_MAX); every positive type must be one of types. */
int rs_event_rules_init(rs_event_rules *r, const char *types, const char *positive,
                        uint32_t max_batch, rs_error *err);
/* The type's index, -1 when it is not one. */
int rs_event_type_index(const rs_event_rules *r, const char *name, size_t len);
static inline int rs_event_type_positive(const rs_event_rules *r, int type)
{
    return type >= 0 && ((r->positive >> type) & 1);
}

typedef struct rs_event_batch {
    json_t *root;     /* owns the strings the events point to */
    rs_event *events; /* n of them */
    size_t n;
} rs_event_batch;

/* Parses {"events": [...]} (1 to max_batch events, each validated; an event
 * without a timestamp gets now). 0 and *out; else -1, *status (400
 * bad_json / invalid_request, 422 out_of_range / invalid_event, 503 out of
 * memory) and *error, a new {"error": {"code", "message", "errors"?}}
 * body whose errors list each bad event's index and reason. */
int rs_event_batch_parse(const rs_event_rules *r, const char *body, size_t len, double now,
                         rs_event_batch *out, int *status, json_t **error);
void rs_event_batch_free(rs_event_batch *b);

#endif
