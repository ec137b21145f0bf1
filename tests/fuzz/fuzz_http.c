/* fuzz_http.c - libFuzzer target for HTTP framing through a real socket:
 * libmicrohttpd's parser as the server configures it, the connection
 * guard (conns.c), and the HTTP layer's own checks (http.c: framing,
 * routing, content type, body limits, percent-decoding, query counts).
 *
 * One server runs in the fuzzing process on a loopback port with a small
 * route table of its own (a JSON echo, a path parameter, a health check),
 * on libmicrohttpd's poll() loop (http.h, poll_loop).
 * Each input is sent raw on a fresh connection, whose sending side is then
 * closed; the target reads until the server closes.
 *
 * Invariants, not just "no crash": the server closes within a few seconds
 * of the client's end of input; everything it sends is a sequence of whole
 * HTTP/1.1 answers (status line, headers, a Content-Length body); and
 * every error is JSON except the few libmicrohttpd writes itself (see
 * library_error).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#define CLOSE_WITHIN_S 5

static void h_echo(void *ctx, rs_request *req, rs_response *resp)
{
    (void)ctx;
    rs_response_json(resp, 200, json_pack("{s:I}", "bytes", (json_int_t)req->body_len));
}

static void h_item(void *ctx, rs_request *req, rs_response *resp)
{
    (void)ctx;
    const char *n = NULL;
    rs_error err = {0};
    if (rs_request_query(req, "n", &n, &err) != 0 && err.kind != RS_ERR_NOT_FOUND) {
        rs_response_error(resp, 400, "bad_request", "%s", err.msg);
        return;
    }
    rs_response_json(resp, 200, json_pack("{s:s%}", "id", req->param[0], req->param_len[0]));
}

static void h_health(void *ctx, rs_request *req, rs_response *resp)
{
    (void)ctx, (void)req;
    rs_response_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static const rs_http_route routes[] = {
    {{"POST", "/v1/echo"}, h_echo, 1, "echo the body size", 0},
    {{"GET", "/v1/items/{id}"}, h_item, 0, "echo a path parameter", 0},
    {{"GET", "/healthz"}, h_health, 0, "liveness", 1},
};
#define N_ROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

static uint16_t port;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    rs_log_set_level(RS_LOG_ERROR); /* malformed input is the point: no WARN flood */
    rs_http_config cfg = {0};
    struct sockaddr_in *a = (struct sockaddr_in *)&cfg.addr;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cfg.addr_len = sizeof(*a);
    cfg.threads = 2;
    cfg.max_body = 4096;
    cfg.timeout_s = 3;
    cfg.max_connections = 64;
    cfg.request_timeout_s = 2.0;
    cfg.poll_loop = 1; /* see http.h: the one difference from recserve's setup */
    rs_stats *stats;
    rs_http_server *srv;
    rs_error err = {0};
    if (rs_http_stats_create(routes, N_ROUTES, &stats, &err) != 0 ||
        rs_http_start(&cfg, routes, N_ROUTES, NULL, stats, &srv, &err) != 0) {
        fprintf(stderr, "fuzz_http: cannot start the server: %s\n", err.msg);
        abort();
    }
    port = rs_http_port(srv);
    return 0; /* the server lives as long as the process */
}

/* Sends all of data (a reset by the server ends it early) and half-closes. */
static int send_input(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) abort();
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Thousands of connections a second can still run out of ephemeral
     * ports for a moment (EADDRNOTAVAIL): wait and retry, for at most 5 s. */
    int tries = 0;
    while (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (errno != EADDRNOTAVAIL || ++tries > 500) {
            perror("fuzz_http: connect");
            abort();
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    struct timeval tv = {.tv_sec = CLOSE_WITHIN_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    size_t done = 0;
    while (done < size) {
        ssize_t n = send(fd, data + done, size - done, MSG_NOSIGNAL);
        if (n <= 0) break;
        done += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    return fd;
}

/* The value of header name in the head [p, end), or NULL. */
static const char *header(const char *p, const char *end, const char *name)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(p, "\r\n"); line && line < end; line = strstr(line, "\r\n")) {
        line += 2;
        if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':')
            return line + nl + 1;
    }
    return NULL;
}

/* An error answer the project wrote: JSON. */
static int json_error(const char *p, const char *head_end, const char *body_at, size_t body)
{
    const char *type = header(p, head_end, "Content-Type");
    while (type && *type == ' ') type++;
    return type && strncmp(type, "application/json", 16) == 0 && body >= 2 && body_at[0] == '{';
}

/* An error libmicrohttpd answers itself before any callback runs (a
 * header line it cannot parse, a bad Content-Length value, an unsupported
 * version, a head too large): no Content-Type (every answer the project
 * writes has one), an HTML body, and the connection closed after it.
 * Debian's 0.9.75 has no hook for these bodies; http.c counts them. It can
 * also send its head twice before the body (seen for "Content-Length:
 * ngth: 3"), so the bytes after such a head are not parsed. */
static int library_error(int status, const char *p, const char *head_end)
{
    if (status != 400 && status != 413 && status != 414 && status != 431 && status != 505) return 0;
    const char *conn = header(p, head_end, "Connection");
    return !header(p, head_end, "Content-Type") && conn && strstr(conn, "close");
}

enum { MALFORMED = -1, INCOMPLETE = 0, WHOLE = 1 };

/* Whether buf (NUL-terminated) is a sequence of whole answers. An answer
 * to HEAD declares a length and sends no body, so after a HEAD request the
 * body is not looked for. */
static int answers(const char *buf, size_t len, int head_sent)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        if ((size_t)(end - p) < 13) return INCOMPLETE;
        if (memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ') return MALFORMED;
        int status = atoi(p + 9);
        if (status < 100 || status > 599) return MALFORMED;
        const char *head_end = strstr(p, "\r\n\r\n");
        if (!head_end) return INCOMPLETE;
        const char *body_at = head_end + 4;
        if (library_error(status, p, head_end)) return WHOLE; /* the last answer */
        if (status < 200 || status == 204 || status == 304) { /* no body by definition */
            p = body_at;
            continue;
        }
        const char *cl = header(p, head_end, "Content-Length");
        if (!cl) return MALFORMED;
        size_t body = strtoul(cl, NULL, 10);
        if (head_sent) return WHOLE;
        if ((size_t)(end - body_at) < body) return INCOMPLETE;
        if (status >= 400 && !json_error(p, head_end, body_at, body)) return MALFORMED;
        p = body_at + body;
    }
    return WHOLE;
}

/* Everything the server sends until it closes, or until whole answers are
 * followed by a pause; aborts when neither happens in time. The pause
 * matters because libmicrohttpd's epoll loop can miss a client's
 * end-of-input that arrives while a request is being answered: the
 * connection then stays open until the request deadline (conns.c), which
 * bounds it. */
static char *read_all(int fd, int head_sent, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) abort();
    struct timeval pause = {.tv_usec = 30 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &pause, sizeof(pause));
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            if (!(buf = realloc(buf, cap + 1))) abort();
        }
        ssize_t got = recv(fd, buf + n, cap - n, 0);
        if (got == 0 || (got < 0 && errno == ECONNRESET)) break;
        if (got > 0) {
            n += (size_t)got;
            continue;
        }
        buf[n] = '\0';
        if (n > 0 && answers(buf, n, head_sent) == WHOLE) break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > CLOSE_WITHIN_S) {
            fprintf(stderr, "fuzz_http: neither whole answers nor a close within %d s\n",
                    CLOSE_WITHIN_S);
            abort();
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int head_sent = memmem(data, size, "HEAD", 4) != NULL;
    int fd = send_input(data, size);
    size_t len;
    char *buf = read_all(fd, head_sent, &len);
    /* Close with a reset: the answer is read, and a reset leaves no
     * TIME_WAIT socket holding the ephemeral port for a minute (at ~8,000
     * inputs a second the ports run out within seconds otherwise). */
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
    if (answers(buf, len, head_sent) != WHOLE) {
        fprintf(stderr, "fuzz_http: not a sequence of whole answers (%zu bytes)\n", len);
        abort();
    }
    free(buf);
    return 0;
}
