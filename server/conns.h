/* conns.h - the connection guard in front of the HTTP layer: caps on
 * connections (in all and per client address) and a deadline for each
 * request's line, headers and body, each answered with a JSON error.
 *
 * libmicrohttpd has neither a request deadline (its timeout is an idle
 * timeout: one byte a second keeps a connection forever) nor an answer over
 * its connection limit (it stops accepting, and clients wait in the listen
 * backlog). So the daemon's own limit is set above ours and this guard
 * keeps one record per connection (libmicrohttpd's connection notifications):
 *   - a connection over --max-connections, or over
 *     --max-per-address from one address, is answered 503 at
 *     once (Connection: close) and closed;
 *   - a reaper thread answers 408 to a connection whose request has not
 *     arrived whole within the deadline of the connection being ready for it
 *     (accepted, or its previous answer sent), and closes it; when not even
 *     the request line arrived, it closes the connection without an answer,
 *     as an idle one (an answer nobody asked for could be read as the
 *     answer to a request a keep-alive client sends at that moment).
 * These answers are written on the socket directly (nothing else writes to
 * it while a request is being received) and counted in the request metrics
 * as the "unmatched" route.
 *
 * Owns the records and the reaper thread. The HTTP layer tells it when a
 * request has been received (or answered early) and when it completed.
 */
#ifndef RS_CONNS_H
#define RS_CONNS_H

#include <microhttpd.h>

#include "common.h"
#include "stats.h"

typedef struct rs_conns rs_conns;

typedef struct rs_conns_config {
    unsigned max_connections; /* 0: no cap */
    unsigned max_per_address; /* 0: no cap */
    double deadline_s;        /* 0: no deadline */
    /* The connections speak TLS: the guard, which sits below it, cannot
     * write an HTTP answer, so it closes instead of answering 503 or 408. */
    int tls;
} rs_conns_config;

/* stats and route (the metrics label for answers outside a request) are
 * borrowed. Starts the reaper thread when there is a deadline. */
int rs_conns_create(const rs_conns_config *cfg, rs_stats *stats, int route, rs_conns **out,
                    rs_error *err);
/* Stops the reaper; call after the daemon stopped (no record is left). */
void rs_conns_free(rs_conns *c);

/* The MHD_OPTION_NOTIFY_CONNECTION callback (cls: the rs_conns). */
void rs_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);

/* True when the guard already answered this connection (503 or 408): the
 * access handler only closes it. */
int rs_conns_answered(struct MHD_Connection *conn);
/* The request line of the request now being received arrived. */
void rs_conns_line(struct MHD_Connection *conn);
/* The request now being received arrived whole, or was answered early: its
 * deadline no longer runs. */
void rs_conns_received(struct MHD_Connection *conn);
/* The request completed; the connection waits for the next one, whose
 * deadline starts now. */
void rs_conns_ready(struct MHD_Connection *conn);

/* Connections open now. */
unsigned rs_conns_open(rs_conns *c);

#endif
