/* accesslog.c - JSON-lines access log (see accesslog.h). */
#include "accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES  8192 /* fits every field escaped at its cap */
#define PATH_MAX_LOGGED 1024

struct rs_access_log {
    char *path; /* NULL: standard error */
    int fd;
    uint32_t threshold; /* ids hashing below it are logged */
    int all;            /* sample 1: every request */
};

static int open_path(const char *path, rs_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return rs_fail(err, "access log %s: %s", path, strerror(errno));
    return fd;
}

int rs_access_log_open(const char *path, double sample, rs_access_log **out, rs_error *err)
{
    *out = NULL;
    if (!(sample >= 0 && sample <= 1)) return rs_fail(err, "access log sample must be in [0, 1]");
    rs_access_log *log = rs_calloc(1, sizeof(*log), err);
    if (!log) return -1;
    log->all = sample >= 1;
    log->threshold = (uint32_t)(sample * 4294967295.0);
    if (strcmp(path, "-") == 0) {
        log->fd = STDERR_FILENO;
    } else if (!(log->path = strdup(path)) || (log->fd = open_path(path, err)) < 0) {
        if (!log->path) rs_fail(err, "out of memory");
        free(log->path);
        free(log);
        return -1;
    }
    *out = log;
    return 0;
}

int rs_access_log_reopen(rs_access_log *log, rs_error *err)
{
    if (!log || !log->path) return 0;
    int fd = open_path(log->path, err);
    if (fd < 0) return -1;
    /* dup2 swaps the file under the same descriptor atomically: a writer
     * uses either the old file or the new one, never a closed descriptor. */
    int rc =
        dup2(fd, log->fd) < 0 ? rs_fail(err, "access log %s: %s", log->path, strerror(errno)) : 0;
    close(fd);
    return rc;
}

void rs_access_log_close(rs_access_log *log)
{
    if (!log) return;
    if (log->path) close(log->fd);
    free(log->path);
    free(log);
}

/* FNV-1a of the id: ids are random hex or client-chosen, either way spread. */
static uint32_t id_hash(const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++) h = (h ^ (unsigned char)*id) * 16777619u;
    return h;
}

int rs_access_log_wants(const rs_access_log *log, const char *request_id, int status)
{
    if (!log) return 0;
    if (log->all || status >= 500) return 1;
    return id_hash(request_id ? request_id : "") < log->threshold;
}

/* Appends s as a JSON string (quoted, escaped, cut at max bytes of input). */
static size_t put_string(char *out, size_t at, size_t cap, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    if (at < cap) out[at++] = '"';
    for (size_t i = 0; s && s[i] && i < max && at + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[at++] = '\\';
            out[at++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(out + at, "\\u00", 4);
            out[at + 4] = hex[c >> 4];
            out[at + 5] = hex[c & 15];
            at += 6;
        } else {
            out[at++] = (char)c; /* UTF-8 passes through; invalid bytes too */
        }
    }
    if (at < cap) out[at++] = '"';
    return at;
}

void rs_access_log_write(rs_access_log *log, const rs_access_entry *e)
{
    char line[LINE_MAX_BYTES], when[40];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000L);
    size_t at = (size_t)snprintf(line, sizeof(line), "{\"time\":\"%s\",\"request_id\":", when);
    at = put_string(line, at, sizeof(line), e->request_id, 64);
    at += (size_t)snprintf(line + at, sizeof(line) - at, ",\"client\":");
    at = put_string(line, at, sizeof(line), e->client, 64);
    at += (size_t)snprintf(line + at, sizeof(line) - at, ",\"method\":");
    at = put_string(line, at, sizeof(line), e->method, 16);
    at += (size_t)snprintf(line + at, sizeof(line) - at, ",\"path\":");
    at = put_string(line, at, sizeof(line), e->path, PATH_MAX_LOGGED);
    at += (size_t)snprintf(line + at, sizeof(line) - at, ",\"route\":");
    at = put_string(line, at, sizeof(line), e->route, 128);
    at +=
        (size_t)snprintf(line + at, sizeof(line) - at,
                         ",\"status\":%d,\"latency_ms\":%.3f,\"bytes\":%zu,\"variant\":", e->status,
                         e->latency_s * 1000.0, e->bytes);
    if (e->variant && e->variant[0]) {
        at = put_string(line, at, sizeof(line), e->variant, 64);
        at += (size_t)snprintf(line + at, sizeof(line) - at, ",\"version\":%llu}\n",
                               (unsigned long long)e->version);
    } else {
        at += (size_t)snprintf(line + at, sizeof(line) - at, "null,\"version\":null}\n");
    }
    if (at >= sizeof(line)) return; /* cannot happen with the caps above */
    ssize_t w = write(log->fd, line, at);
    (void)w; /* a full disk must not fail requests */
}
