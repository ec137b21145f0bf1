/* test_server_http.c - the HTTP layer over real sockets: routing errors,
 * content types, body limits, keep-alive, decoding, timeouts and graceful
 * shutdown, with stand-in handlers. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "http.h"

/* ---- stand-in handlers ---- */

static void h_health(void *ctx, rs_request *req, rs_response *resp)
{
    rs_response_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_echo(void *ctx, rs_request *req, rs_response *resp)
{
    json_error_t jerr;
    json_t *doc = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
    rs_response_json(resp, 200,
                     json_pack("{s:I,s:o*}", "len", (json_int_t)req->body_len, "doc", doc));
}

static void h_item(void *ctx, rs_request *req, rs_response *resp)
{
    const char *q = NULL, *n = NULL;
    rs_error err;
    /* Absent parameters leave NULL; a malformed one is the only INVALID. */
    if ((rs_request_query(req, "q", &q, &err) != 0 && err.kind != RS_ERR_NOT_FOUND) ||
        (rs_request_query(req, "n", &n, &err) != 0 && err.kind != RS_ERR_NOT_FOUND)) {
        rs_response_error(resp, 400, err.kind == RS_ERR_INVALID ? "bad_query" : "other", "%s",
                          err.msg);
        return;
    }
    rs_response_variant(resp, 0, "v1", 7);
    rs_response_json(
        resp, 200,
        json_pack("{s:s%,s:s?,s:s?}", "id", req->param[0], req->param_len[0], "q", q, "n", n));
}

static void h_slow(void *ctx, rs_request *req, rs_response *resp)
{
    usleep(300 * 1000);
    rs_response_json(resp, 200, json_pack("{s:b}", "slow", 1));
}

static void h_none(void *ctx, rs_request *req, rs_response *resp) {}

/* Deferred answers: the handler queues its request; a thread answers the
 * queue once the test releases it. */
#define MAX_DEFERRED 8
static pthread_mutex_t defer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t defer_cond = PTHREAD_COND_INITIALIZER;
static rs_deferred *deferred[MAX_DEFERRED];
static int n_deferred, defer_released;

static void h_defer(void *ctx, rs_request *req, rs_response *resp)
{
    pthread_mutex_lock(&defer_lock);
    if (n_deferred < MAX_DEFERRED) deferred[n_deferred++] = rs_request_defer(req);
    pthread_cond_broadcast(&defer_cond);
    pthread_mutex_unlock(&defer_lock);
}

static void *answerer(void *want)
{
    pthread_mutex_lock(&defer_lock);
    while (!defer_released || n_deferred < *(int *)want)
        pthread_cond_wait(&defer_cond, &defer_lock);
    for (int i = 0; i < n_deferred; i++) {
        rs_response resp = {.variant_slot = -1};
        rs_response_json(&resp, 200, json_pack("{s:i}", "deferred", i));
        rs_deferred_answer(deferred[i], &resp);
    }
    n_deferred = 0;
    pthread_mutex_unlock(&defer_lock);
    return NULL;
}

static const rs_http_route routes[] = {
    {{"GET", "/healthz"}, h_health, 0, "health", 1}, {{"POST", "/echo"}, h_echo, 1, "echo", 0},
    {{"GET", "/items/{id}"}, h_item, 0, "item", 0},  {{"GET", "/slow"}, h_slow, 0, "slow", 0},
    {{"GET", "/none"}, h_none, 0, "none", 0},        {{"GET", "/defer"}, h_defer, 0, "defer", 0},
};
#define N_ROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

static rs_http_server *srv;
static rs_stats *metrics;
static uint16_t port;

static void start(unsigned timeout_s)
{
    rs_error err;
    rs_http_config cfg = {0};
    ck_assert_int_eq(rs_parse_listen("127.0.0.1:0", &cfg.addr, &cfg.addr_len, &err), 0);
    cfg.threads = 2;
    cfg.max_body = 1024;
    cfg.timeout_s = timeout_s;
    cfg.max_connections = 64;
    ck_assert_int_eq(rs_http_stats_create(routes, N_ROUTES, &metrics, &err), 0);
    ck_assert_msg(rs_http_start(&cfg, routes, N_ROUTES, NULL, metrics, &srv, &err) == 0, "%s",
                  err.msg);
    port = rs_http_port(srv);
    ck_assert_uint_gt(port, 0);
}

static void setup(void)
{
    start(5);
}

static void teardown(void)
{
    if (srv) rs_http_stop(srv, 1.0);
    srv = NULL;
    rs_stats_free(metrics);
    metrics = NULL;
}

/* ---- a minimal HTTP/1.1 client ---- */

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w <= 0) return; /* the server may close early (413): fine */
        buf += w;
        len -= (size_t)w;
    }
}

typedef struct response {
    int head_only; /* the request was HEAD: no body follows */
    int status;
    char head[4096];
    char body[8192];
    size_t body_len;
} response;

/* Reads one response (headers, then Content-Length bytes). 0 on success,
 * -1 when the connection closed or timed out first. */
static int read_response(int fd, response *r)
{
    size_t used = 0;
    char buf[16384];
    char *end = NULL;
    while (!(end = memmem(buf, used, "\r\n\r\n", 4))) {
        if (used == sizeof(buf)) return -1;
        ssize_t n = recv(fd, buf + used, sizeof(buf) - used, 0);
        if (n <= 0) return -1;
        used += (size_t)n;
    }
    size_t head_len = (size_t)(end - buf) + 4;
    ck_assert_uint_lt(head_len, sizeof(r->head));
    memcpy(r->head, buf, head_len);
    r->head[head_len] = '\0';
    r->status = atoi(r->head + 9);
    const char *cl = strcasestr(r->head, "\r\nContent-Length:");
    size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
    if (r->head_only) want = 0;
    ck_assert_uint_lt(want, sizeof(r->body));
    size_t have = used - head_len;
    memcpy(r->body, buf + head_len, have);
    while (have < want) {
        ssize_t n = recv(fd, r->body + have, want - have, 0);
        if (n <= 0) return -1;
        have += (size_t)n;
    }
    r->body_len = want;
    r->body[want] = '\0';
    return 0;
}

static void do_request(const char *raw, response *r)
{
    int fd = connect_local();
    send_all(fd, raw, strlen(raw));
    ck_assert_msg(read_response(fd, r) == 0, "no response to %s", raw);
    close(fd);
}

static const char *header(response *r, const char *name)
{
    static char value[256];
    char key[64];
    snprintf(key, sizeof(key), "\r\n%s:", name);
    const char *p = strcasestr(r->head, key);
    if (!p) return NULL;
    p += strlen(key);
    while (*p == ' ') p++;
    size_t n = strcspn(p, "\r");
    snprintf(value, sizeof(value), "%.*s", (int)n, p);
    return value;
}

static const char *error_code(response *r)
{
    static char code[64];
    json_t *doc = json_loads(r->body, 0, NULL);
    ck_assert_msg(doc != NULL, "error body is not JSON: %s", r->body);
    const char *c = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(
        json_string_value(json_object_get(json_object_get(doc, "error"), "message")));
    snprintf(code, sizeof(code), "%s", c);
    json_decref(doc);
    return code;
}

/* ---- tests ---- */

START_TEST(test_ok_and_headers)
{
    response r = {0};
    do_request("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "Content-Type"), "application/json");
    ck_assert_str_eq(r.body, "{\"status\":\"ok\"}\n");
    ck_assert_ptr_null(header(&r, "X-Recsys-Variant"));
    do_request("GET /items/abc HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "X-Recsys-Variant"), "v1");
    ck_assert_str_eq(header(&r, "X-Recsys-Version"), "7");
    /* HEAD: headers only. */
    r.head_only = 1;
    do_request("HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
    r.head_only = 0;
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "Content-Length"), "16");
    ck_assert_uint_eq(rs_stats_count(metrics, 0, -1, 200), 2);
    ck_assert_uint_eq(rs_stats_count(metrics, 2, 0, 200), 1);
}
END_TEST

START_TEST(test_routing_errors)
{
    response r = {0};
    do_request("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(error_code(&r), "not_found");
    do_request("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(error_code(&r), "method_not_allowed");
    ck_assert_str_eq(header(&r, "Allow"), "POST");
    do_request("DELETE /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(header(&r, "Allow"), "GET, HEAD");
    do_request("GET /items/%zz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(error_code(&r), "bad_path");
    do_request("GET /none HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 500);
    ck_assert_str_eq(error_code(&r), "internal");
    /* Unmatched requests are counted under the extra "unmatched" route. */
    ck_assert_uint_eq(rs_stats_count(metrics, N_ROUTES, -1, 404), 1);
}
END_TEST

START_TEST(test_content_type_and_body)
{
    response r = {0};
    do_request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
               "Content-Length: 2\r\n\r\n{}",
               &r);
    ck_assert_int_eq(r.status, 415);
    ck_assert_str_eq(error_code(&r), "unsupported_media_type");
    do_request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}", &r);
    ck_assert_int_eq(r.status, 415);
    do_request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: Application/JSON; charset=utf-8\r\n"
               "Content-Length: 9\r\n\r\n{\"a\": 1}\n",
               &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"len\":9,\"doc\":{\"a\":1}}\n");
    /* Chunked upload in three pieces. */
    do_request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n3\r\n{\"b\r\n2\r\n\":\r\n3\r\n 2}\r\n0\r\n\r\n",
               &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"len\":8,\"doc\":{\"b\":2}}\n");
}
END_TEST

START_TEST(test_body_limit)
{
    response r = {0};
    /* Declared too large: refused before the body is read. */
    do_request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               "Content-Length: 5000\r\n\r\n",
               &r);
    ck_assert_int_eq(r.status, 413);
    ck_assert_str_eq(error_code(&r), "payload_too_large");
    /* Exactly at the limit: accepted. */
    char req[4096], body[1025];
    memset(body, ' ', 1024);
    body[0] = '[';
    body[1022] = ']';
    body[1024] = '\0';
    snprintf(req, sizeof(req),
             "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "Content-Length: 1024\r\n\r\n%s",
             body);
    do_request(req, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"len\":1024"));
    /* Chunked, growing past the limit: counted, then refused. */
    int fd = connect_local();
    const char *headers = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n";
    send_all(fd, headers, strlen(headers));
    char chunk[600];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 3; i++) {
        char size_line[16];
        snprintf(size_line, sizeof(size_line), "%zx\r\n", sizeof(chunk));
        send_all(fd, size_line, strlen(size_line));
        send_all(fd, chunk, sizeof(chunk));
        send_all(fd, "\r\n", 2);
    }
    send_all(fd, "0\r\n\r\n", 5);
    ck_assert_int_eq(read_response(fd, &r), 0);
    ck_assert_int_eq(r.status, 413);
    close(fd);
}
END_TEST

START_TEST(test_keep_alive_and_decoding)
{
    response r = {0};
    int fd = connect_local();
    const char *a = "GET /items/a%2Fb%20c?q=x%20y&n=5 HTTP/1.1\r\nHost: t\r\n\r\n";
    do_request(a, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"id\":\"a/b c\",\"q\":\"x y\",\"n\":\"5\"}\n");
    /* Same connection, second request. */
    const char *b = "GET /items/%C3%A9?q=%zz HTTP/1.1\r\nHost: t\r\n\r\n";
    do_request(b, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(error_code(&r), "bad_query");
    const char *c = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    do_request(c, &r);
    ck_assert_int_eq(r.status, 200);
    close(fd);
}
END_TEST

/* The X-Request-Id header of a response head ("" when absent). */
static void request_id_of(const response *r, char *out, size_t cap)
{
    out[0] = '\0';
    const char *h = strcasestr(r->head, "\r\nX-Request-Id: ");
    if (!h) return;
    h += strlen("\r\nX-Request-Id: ");
    size_t n = strcspn(h, "\r");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), h);
}

START_TEST(test_request_ids)
{
    ck_assert(rs_request_id_valid("a", 1));
    ck_assert(rs_request_id_valid("Az09._:-", 8));
    ck_assert(!rs_request_id_valid("", 0));
    ck_assert(!rs_request_id_valid("a b", 3));
    ck_assert(!rs_request_id_valid("a/b", 3));
    char long_id[66];
    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    ck_assert(rs_request_id_valid(long_id, 64));
    ck_assert(!rs_request_id_valid(long_id, 65));

    response r = {0};
    char id[128], first[128];
    /* A valid id is kept, on a success and on an error. */
    const char *a = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: client-1.a:b_c\r\n\r\n";
    do_request(a, &r);
    request_id_of(&r, id, sizeof(id));
    ck_assert_str_eq(id, "client-1.a:b_c");
    const char *b = "GET /nowhere HTTP/1.1\r\nHost: t\r\nX-Request-Id: e-2\r\n\r\n";
    do_request(b, &r);
    ck_assert_int_eq(r.status, 404);
    request_id_of(&r, id, sizeof(id));
    ck_assert_str_eq(id, "e-2");
    /* An invalid one (a space) or none: a fresh 32-digit hex id, each new. */
    const char *c = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: bad id\r\n\r\n";
    do_request(c, &r);
    request_id_of(&r, first, sizeof(first));
    ck_assert_uint_eq(strlen(first), 32);
    ck_assert_uint_eq(strspn(first, "0123456789abcdef"), 32);
    const char *d = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    do_request(d, &r);
    request_id_of(&r, id, sizeof(id));
    ck_assert_uint_eq(strlen(id), 32);
    ck_assert_str_ne(id, first);
    /* Generated ids do not repeat. */
    char seen[64][33];
    for (int i = 0; i < 64; i++) {
        rs_request_id_generate(seen[i]);
        for (int k = 0; k < i; k++) ck_assert_str_ne(seen[i], seen[k]);
    }
}
END_TEST

/* Three deferred requests on a pool of two threads do not hold it: another
 * request is answered while they wait, then they get their answers. */
START_TEST(test_deferred_answers)
{
    static int want = 3;
    defer_released = 0;
    pthread_t t;
    pthread_create(&t, NULL, answerer, &want);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = connect_local();
        const char *d = "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n";
        send_all(fds[i], d, strlen(d));
    }
    pthread_mutex_lock(&defer_lock);
    while (n_deferred < 3) pthread_cond_wait(&defer_cond, &defer_lock);
    pthread_mutex_unlock(&defer_lock);
    response r = {0};
    do_request("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_ge(rs_http_in_flight(srv), 3); /* the deferred ones (+ healthz closing) */
    pthread_mutex_lock(&defer_lock);
    defer_released = 1;
    pthread_cond_broadcast(&defer_cond);
    pthread_mutex_unlock(&defer_lock);
    pthread_join(t, NULL);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(read_response(fds[i], &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_msg(strstr(r.body, "\"deferred\":") != NULL, "body %s", r.body);
        close(fds[i]);
    }
}
END_TEST

START_TEST(test_idle_timeout)
{
    teardown();
    start(1);
    int fd = connect_local();
    const char *partial = "GET /healthz HTTP/1.1\r\nHo";
    send_all(fd, partial, strlen(partial));
    double t0 = rs_now();
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf), 0); /* blocks until the server hangs up */
    double waited = rs_now() - t0;
    ck_assert_int_le(n, 0);
    ck_assert_msg(waited >= 0.5 && waited < 4.5, "closed after %.2fs", waited);
    close(fd);
}
END_TEST

static void *slow_client(void *p)
{
    response *r = p;
    int fd = connect_local();
    const char *q = "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n";
    send_all(fd, q, strlen(q));
    if (read_response(fd, r) != 0) r->status = -1;
    close(fd);
    return NULL;
}

START_TEST(test_graceful_stop)
{
    response r = {0};
    pthread_t th;
    pthread_create(&th, NULL, slow_client, &r);
    double t0 = rs_now();
    while (rs_http_in_flight(srv) == 0 && rs_now() - t0 < 5) usleep(1000);
    ck_assert_uint_eq(rs_http_in_flight(srv), 1);
    /* The in-flight request finishes; then the server stops. */
    ck_assert_uint_eq(rs_http_stop(srv, 5.0), 0);
    srv = NULL;
    pthread_join(th, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"slow\":true}\n");
    ck_assert_str_eq(header(&r, "Connection"), "close");
    /* Nothing listens any more. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ne(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    close(fd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_http");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ok_and_headers);
    tcase_add_test(tc, test_routing_errors);
    tcase_add_test(tc, test_content_type_and_body);
    tcase_add_test(tc, test_body_limit);
    tcase_add_test(tc, test_keep_alive_and_decoding);
    tcase_add_test(tc, test_request_ids);
    tcase_add_test(tc, test_deferred_answers);
    tcase_add_test(tc, test_idle_timeout);
    tcase_add_test(tc, test_graceful_stop);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
