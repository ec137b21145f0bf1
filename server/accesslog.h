/* accesslog.h - the access log: one JSON object per answered request, on
 * its own line (time, request id, client, method, path, route, status,
 * latency, bytes, variant and version), appended to a file or stderr.
 *
 * A sample rate below 1 logs that share of requests, chosen by their request
 * id (so replicas behind a balancer that forwards X-Request-Id keep or drop
 * the same ones); answers with status 500 and above are always logged. Each
 * line goes out in one write() to a descriptor opened with O_APPEND, so lines
 * from the worker threads never interleave and no lock is taken.
 * rs_access_log_reopen (SIGHUP) opens the path again onto the same
 * descriptor, for log rotation.
 */
#ifndef RS_ACCESSLOG_H
#define RS_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct rs_access_log rs_access_log;

typedef struct rs_access_entry {
    const char *request_id;
    const char *client; /* address, no port */
    const char *method, *path;
    const char *route; /* the route pattern, or "unmatched" */
    int status;
    double latency_s;    /* request headers to queued answer */
    size_t bytes;        /* of the body */
    const char *variant; /* "" when no model answered */
    uint64_t version;
} rs_access_entry;

/* path "-" is standard error. sample in [0, 1]. */
int rs_access_log_open(const char *path, double sample, rs_access_log **out, rs_error *err);
int rs_access_log_reopen(rs_access_log *log, rs_error *err);
void rs_access_log_close(rs_access_log *log);

/* Whether a request with this id and status is logged. */
int rs_access_log_wants(const rs_access_log *log, const char *request_id, int status);
void rs_access_log_write(rs_access_log *log, const rs_access_entry *e);

#endif
