/* http.c - libmicrohttpd glue (see http.h).
 *
 * Request life cycle:
 *   request line    (MHD's URI log callback, before it parses the query)
 *                   the per-request state is made; a query of more than
 *                   RS_HTTP_MAX_QUERY_PARAMS parameters is cut off here and
 *                   refused later (414): MHD 0.9.75 parses each parameter
 *                   into its 32 KiB connection pool, and when that runs out
 *                   it queues a 431 it never sends (the client hangs);
 *   first call      strict framing (one Content-Length, not with
 *                   Transfer-Encoding, Host on HTTP/1.1), route the path,
 *                   decode its parameters, check the content type and a
 *                   declared Content-Length; refuse early (no "100
 *                   Continue", no body read, Connection: close) when any
 *                   check fails;
 *   upload calls    append the body up to max_body, growing the buffer as
 *                   bytes arrive (never by what the client declared), then
 *                   only count it;
 *   final call      run the handler and queue its response.
 * The per-request state is freed by the completion callback, which also
 * closes the request's in-flight count (graceful shutdown waits on it).
 * The connection guard (conns.h) caps connections and bounds the time a
 * request may take to arrive. What MHD answers itself (a request line or
 * header block beyond its connection pool, a malformed request line or
 * header, an HTTP version other than 1.0/1.1) keeps MHD's HTML body; the
 * logger counts those answers in the metrics.
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "accesslog.h"
#include "apikeys.h"
#include "conns.h"
#include "log.h"

struct rs_http_server {
    struct MHD_Daemon *daemon;
    const rs_http_route *routes;
    rs_route table[RS_STATS_MAX_ROUTES];
    int n_routes;
    void *ctx;
    rs_stats *stats;
    size_t max_body;
    rs_conns *conns;
    uint16_t port;
    _Atomic unsigned in_flight;
    _Atomic int stopping;
    _Atomic(const rs_api_keys *) api_keys;
    rs_access_log *access_log;
    _Atomic unsigned deferred; /* deferred requests not ended yet */
};

typedef struct query_value {
    struct query_value *next;
    char text[];
} query_value;

/* A deferred request: the handler is running (PENDING), the connection is
 * suspended (SUSPENDED), or the answer is in deferred_resp (ANSWERED). */
enum { DEFER_NONE = 0, DEFER_PENDING, DEFER_SUSPENDED, DEFER_ANSWERED };

typedef struct rs_http_state {
    rs_http_server *srv;
    struct MHD_Connection *conn;
    double start;
    int route; /* -1 until matched */
    int first_done;
    int responded;
    int too_large;
    int must_close;      /* answered before the body was read: close after */
    unsigned cut_params; /* parameters of a query cut off (0: none) */
    int deferring;       /* the handler called rs_request_defer */
    _Atomic int defer_state;
    rs_response deferred_resp; /* set by rs_deferred_answer */
    char *body;
    size_t body_len, body_cap;
    char *params; /* storage for the decoded path parameters */
    query_value *queries;
    rs_request req;
} rs_http_state;

/* ---- responses ---- */

void rs_response_json(rs_response *resp, int status, json_t *body)
{
    if (resp->json) json_decref(resp->json);
    free(resp->text);
    resp->text = NULL;
    resp->json = body;
    resp->status = status;
}

void rs_response_error(rs_response *resp, int status, const char *code, const char *fmt, ...)
{
    char message[RS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    /* Messages quote client input, which jansson insists be valid UTF-8:
     * replace anything else rather than lose the whole error. */
    json_t *msg = json_string(message);
    if (!msg) {
        for (char *p = message; *p; p++)
            if ((unsigned char)*p >= 0x80) *p = '?';
        msg = json_string(message);
    }
    json_t *body = json_pack("{s:{s:s,s:o*}}", "error", "code", code, "message", msg);
    rs_response_json(resp, status, body);
}

void rs_response_text(rs_response *resp, int status, const char *content_type, char *text,
                      size_t len)
{
    rs_response_json(resp, status, NULL);
    resp->text = text;
    resp->text_len = len;
    resp->content_type = content_type;
}

void rs_response_variant(rs_response *resp, int slot, const char *variant, uint64_t version)
{
    resp->variant_slot = slot;
    snprintf(resp->variant, sizeof(resp->variant), "%s", variant);
    resp->version = version;
}

void rs_response_header(rs_response *resp, const char *name, const char *value)
{
    if (resp->n_headers == RS_RESPONSE_MAX_HEADERS) return;
    resp->header_name[resp->n_headers] = name;
    resp->header_value[resp->n_headers++] = value;
}

/* ---- request helpers ---- */

const char *rs_request_header(rs_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->state->conn, MHD_HEADER_KIND, name);
}

int rs_request_query(rs_request *req, const char *key, const char **value, rs_error *err)
{
    rs_http_state *st = req->state;
    *value = NULL;
    const char *raw = MHD_lookup_connection_value(st->conn, MHD_GET_ARGUMENT_KIND, key);
    if (!raw) return rs_fail_kind(err, RS_ERR_NOT_FOUND, "no query parameter %s", key);
    size_t len = strlen(raw);
    query_value *q = rs_malloc(1, sizeof(*q) + len + 1, err);
    if (!q) return -1;
    size_t out_len;
    if (rs_percent_decode(raw, len, q->text, &out_len) != 0) {
        free(q);
        return rs_fail_kind(err, RS_ERR_INVALID,
                            "query parameter %s has a malformed percent-encoding", key);
    }
    q->next = st->queries;
    st->queries = q;
    *value = q->text;
    return 0;
}

/* ---- deferred answers ---- */

rs_deferred *rs_request_defer(rs_request *req)
{
    rs_http_state *st = req->state;
    st->deferring = 1;
    atomic_store(&st->defer_state, DEFER_PENDING);
    atomic_fetch_add(&st->srv->deferred, 1);
    return st;
}

void rs_deferred_answer(rs_deferred *st, rs_response *resp)
{
    st->deferred_resp = *resp;
    memset(resp, 0, sizeof(*resp));
    /* Whoever comes second resumes: here when the connection is suspended
     * already, else the handler's thread right after suspending it. */
    if (atomic_exchange(&st->defer_state, DEFER_ANSWERED) == DEFER_SUSPENDED)
        MHD_resume_connection(st->conn);
}

/* After the handler deferred: suspend the connection until the answer. */
static enum MHD_Result suspend_deferred(rs_http_state *st)
{
    MHD_suspend_connection(st->conn);
    int expected = DEFER_PENDING;
    if (!atomic_compare_exchange_strong(&st->defer_state, &expected, DEFER_SUSPENDED))
        MHD_resume_connection(st->conn); /* answered meanwhile */
    return MHD_YES;
}

/* ---- request ids ---- */

int rs_request_id_valid(const char *text, size_t len)
{
    if (!text || len < 1 || len > RS_REQUEST_ID_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

/* xoshiro256** per thread: ids must not repeat across threads or restarts,
 * so each thread seeds from the kernel once (falling back to the clock,
 * thread and address mixed by splitmix64 when getrandom fails). */
static _Thread_local uint64_t id_state[4];
static _Thread_local int id_seeded;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t id_next(void)
{
    if (!id_seeded) {
        if (getrandom(id_state, sizeof(id_state), 0) != (ssize_t)sizeof(id_state)) {
            uint64_t x = (uint64_t)(rs_now() * 1e9) ^ (uint64_t)(uintptr_t)&id_seeded ^
                         ((uint64_t)getpid() << 32);
            for (int i = 0; i < 4; i++) id_state[i] = splitmix64(&x);
        }
        id_seeded = 1;
    }
    uint64_t *s = id_state;
    uint64_t out = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

void rs_request_id_generate(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t words[2] = {id_next(), id_next()};
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 16; i++) out[w * 16 + i] = hex[(words[w] >> (60 - 4 * i)) & 15];
    out[32] = '\0';
}

/* The client's X-Request-Id when valid, else a fresh one (once). */
static void assign_request_id(rs_http_state *st)
{
    rs_request *req = &st->req;
    if (req->request_id_len) return;
    const char *given = MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t len = given ? strlen(given) : 0;
    if (rs_request_id_valid(given, len)) {
        memcpy(req->request_id, given, len + 1);
        req->request_id_len = len;
        return;
    }
    rs_request_id_generate(req->request_id);
    req->request_id_len = 32;
}

/* ---- sending ---- */

static void add_header(struct MHD_Response *r, const char *name, const char *value)
{
    if (MHD_add_response_header(r, name, value) != MHD_YES)
        rs_log(RS_LOG_WARN, "http: could not add header %s", name);
}

/* Queues resp on the connection, records metrics, and releases resp's body. */
/* One access-log line for an answer just queued. */
static void log_access(rs_http_state *st, const rs_response *resp, int route, double latency,
                       size_t bytes)
{
    char client[INET6_ADDRSTRLEN] = "-";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, client, sizeof(client));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, client, sizeof(client));
    rs_http_server *srv = st->srv;
    rs_access_entry e = {
        .request_id = st->req.request_id,
        .client = client,
        .method = st->req.method ? st->req.method : "-",
        .path = st->req.path ? st->req.path : "-",
        .route = route < srv->n_routes ? srv->table[route].pattern : "unmatched",
        .status = resp->status,
        .latency_s = latency,
        .bytes = bytes,
        .variant = resp->variant,
        .version = resp->version,
    };
    rs_access_log_write(srv->access_log, &e);
}

static enum MHD_Result send_response(rs_http_state *st, rs_response *resp, const char *allow)
{
    rs_http_server *srv = st->srv;
    char *body = resp->text;
    size_t len = resp->text_len;
    const char *ctype = resp->content_type ? resp->content_type : "text/plain; charset=utf-8";
    resp->text = NULL;
    if (!body) {
        if (!resp->json) rs_response_error(resp, 500, "internal", "the handler gave no response");
        ctype = "application/json";
        body = resp->json ? json_dumps(resp->json, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
        if (body) {
            len = strlen(body);
            /* A trailing newline keeps terminal output (curl) tidy. */
            char *grown = realloc(body, len + 2);
            if (grown) {
                body = grown;
                body[len++] = '\n';
                body[len] = '\0';
            }
        } else {
            static const char oom[] =
                "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}\n";
            resp->status = 500;
            body = strdup(oom);
            len = body ? strlen(body) : 0;
        }
    }
    if (resp->json) json_decref(resp->json);
    resp->json = NULL;

    struct MHD_Response *r =
        body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!r) {
        free(body);
        st->responded = 1;
        return MHD_NO; /* MHD closes the connection */
    }
    add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    assign_request_id(st);
    add_header(r, "X-Request-Id", st->req.request_id);
    if (allow) add_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    for (int i = 0; i < resp->n_headers; i++)
        add_header(r, resp->header_name[i], resp->header_value[i]);
    if (resp->variant[0]) {
        char version[32];
        snprintf(version, sizeof(version), "%llu", (unsigned long long)resp->version);
        add_header(r, "X-Recsys-Variant", resp->variant);
        add_header(r, "X-Recsys-Version", version);
    }
    /* While shutting down, tell keep-alive clients to go elsewhere. */
    if (atomic_load(&srv->stopping) || st->must_close)
        add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(st->conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    st->responded = 1;
    rs_conns_received(st->conn);
    int route = st->route >= 0 ? st->route : srv->n_routes;
    double latency = rs_now() - st->start;
    rs_stats_request(srv->stats, route, resp->variant[0] ? resp->variant_slot : -1, resp->status,
                     latency);
    if (rs_access_log_wants(srv->access_log, st->req.request_id, resp->status))
        log_access(st, resp, route, latency, len);
    return ret;
}

static enum MHD_Result send_error(rs_http_state *st, int status, const char *code,
                                  const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum MHD_Result send_error(rs_http_state *st, int status, const char *code,
                                  const char *allow, const char *fmt, ...)
{
    rs_response resp = {.variant_slot = -1};
    char message[RS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    rs_response_error(&resp, status, code, "%s", message);
    return send_response(st, &resp, allow);
}

/* ---- the access handler ---- */

static int content_type_is_json(const char *ctype)
{
    if (!ctype) return 0;
    while (*ctype == ' ') ctype++;
    size_t n = strlen("application/json");
    if (strncasecmp(ctype, "application/json", n) != 0) return 0;
    char next = ctype[n];
    return next == '\0' || next == ';' || next == ' ';
}

/* Decodes the matched path parameters into one buffer owned by the state. */
static int decode_params(rs_http_state *st, const rs_route_match *m)
{
    size_t total = 0;
    for (int i = 0; i < m->n_params; i++) total += m->param_len[i] + 1;
    st->params = malloc(total ? total : 1);
    if (!st->params) return -1;
    char *out = st->params;
    st->req.n_params = m->n_params;
    for (int i = 0; i < m->n_params; i++) {
        size_t len;
        if (rs_percent_decode(m->param[i], m->param_len[i], out, &len) != 0) return -1;
        st->req.param[i] = out;
        st->req.param_len[i] = len;
        out += len + 1;
    }
    return 0;
}

typedef struct framing {
    unsigned content_length, transfer_encoding, host;
    int chunked_only; /* every Transfer-Encoding is exactly "chunked" */
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    framing *f = cls;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) f->content_length++;
    if (!strcasecmp(key, MHD_HTTP_HEADER_HOST)) f->host++;
    if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        f->transfer_encoding++;
        if (!value || strcasecmp(value, "chunked") != 0) f->chunked_only = 0;
    }
    return MHD_YES;
}

/* Refuses a request whose framing is ambiguous (a body two components
 * could delimit differently: request smuggling) or incomplete; NULL when
 * it is sound, else why. */
static const char *framing_problem(struct MHD_Connection *conn, const char *version)
{
    framing f = {.chunked_only = 1};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1) return "more than one Content-Length header";
    if (f.transfer_encoding && f.content_length) return "both Transfer-Encoding and Content-Length";
    if (f.transfer_encoding > 1 || !f.chunked_only)
        return "a Transfer-Encoding other than one \"chunked\"";
    if (f.host > 1) return "more than one Host header";
    if (!f.host && version && !strcmp(version, MHD_HTTP_VERSION_1_1))
        return "no Host header (required in HTTP/1.1)";
    return NULL;
}

/* With API keys configured: 0 when the request carries one (X-Api-Key, or
 * Authorization: Bearer), else answers 401 and returns -1. */
static int check_api_key(rs_http_state *st)
{
    const rs_api_keys *keys = atomic_load_explicit(&st->srv->api_keys, memory_order_acquire);
    if (!keys) return 0;
    const char *key = MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, "X-Api-Key");
    const char *auth =
        key ? NULL
            : MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        for (key = auth + 7; *key == ' ';) key++;
    if (key && rs_api_keys_match(keys, key, strlen(key))) return 0;
    st->must_close = 1; /* its body, if any, is not read */
    rs_response resp = {.status = 0, .variant_slot = -1};
    rs_response_header(&resp, "WWW-Authenticate", "Bearer realm=\"recserve\"");
    rs_response_error(&resp, 401, "unauthorized",
                      key ? "the API key is not valid"
                          : "this server needs an API key: send 'X-Api-Key: KEY' or "
                            "'Authorization: Bearer KEY'");
    send_response(st, &resp, NULL);
    return -1;
}

static enum MHD_Result on_first_call(rs_http_state *st, const char *url, const char *method,
                                     const char *version)
{
    rs_http_server *srv = st->srv;
    assign_request_id(st);
    const char *problem = framing_problem(st->conn, version);
    if (problem) {
        st->must_close = 1;
        return send_error(st, 400, "bad_request", NULL, "malformed request framing: %s", problem);
    }
    if (st->cut_params) {
        st->must_close = 1;
        return send_error(st, 414, "uri_too_long", NULL,
                          "the query string has %u parameters; at most %d are accepted",
                          st->cut_params, RS_HTTP_MAX_QUERY_PARAMS);
    }
    st->req.method = method; /* for the access log, matched or not */
    st->req.path = url;
    rs_route_match m;
    char allow[96];
    int found = rs_router_match(srv->table, srv->n_routes, method, url, &m, allow, sizeof(allow));
    if (found == RS_ROUTE_NOT_FOUND)
        return send_error(st, 404, "not_found", NULL, "no route for %.16s %.200s", method, url);
    if (found == RS_ROUTE_BAD_METHOD) {
        return send_error(st, 405, "method_not_allowed", allow,
                          "%.16s is not allowed on %.200s; allowed: %s", method, url, allow);
    }
    st->route = m.route;
    st->req.route = m.route;
    st->req.method = method;
    st->req.path = url;
    if (decode_params(st, &m) != 0)
        return send_error(st, 400, "bad_path", NULL,
                          "malformed percent-encoding in a path segment of %.200s", url);
    if (!srv->routes[m.route].open && check_api_key(st) != 0) return MHD_YES;
    if (srv->routes[m.route].json_body) {
        const char *ctype =
            MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        st->must_close = 1; /* until the checks below pass */
        if (!content_type_is_json(ctype))
            return send_error(st, 415, "unsupported_media_type", NULL,
                              "expected Content-Type: application/json, got %.100s",
                              ctype ? ctype : "none");
        const char *clen =
            MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (clen) {
            unsigned long long declared = strtoull(clen, NULL, 10);
            if (declared > srv->max_body)
                return send_error(st, 413, "payload_too_large", NULL,
                                  "the body is %llu bytes; the limit is %zu", declared,
                                  srv->max_body);
            /* No buffer yet: a client may declare a megabyte and send
             * nothing, so memory follows the bytes that arrive. */
        }
        st->must_close = 0;
    }
    return MHD_YES;
}

/* Appends an upload chunk (or just counts it once over the limit). */
static int append_body(rs_http_state *st, const char *data, size_t size)
{
    size_t max = st->srv->max_body;
    if (st->too_large || size > max - st->body_len) {
        st->too_large = 1;
        return 0;
    }
    if (st->body_len + size + 1 > st->body_cap) {
        size_t cap = st->body_cap ? st->body_cap : 4096;
        while (cap < st->body_len + size + 1) cap *= 2;
        if (cap > max + 1) cap = max + 1;
        char *grown = realloc(st->body, cap);
        if (!grown) return -1;
        st->body = grown;
        st->body_cap = cap;
    }
    memcpy(st->body + st->body_len, data, size);
    st->body_len += size;
    st->body[st->body_len] = '\0';
    return 0;
}

static rs_http_state *new_state(rs_http_server *srv, struct MHD_Connection *conn)
{
    rs_http_state *st = calloc(1, sizeof(*st));
    if (!st) return NULL;
    st->srv = srv;
    st->conn = conn;
    st->start = rs_now();
    st->route = -1;
    st->req.state = st;
    atomic_fetch_add(&srv->in_flight, 1);
    return st;
}

/* MHD's URI log callback: runs once the request line is in, before MHD
 * parses the query. The state it returns becomes the request's *con_cls. A
 * query of too many parameters is cut off at its '?' (the line is MHD's
 * writable read buffer; the URI is not parsed yet) and refused on the first
 * call. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    rs_http_state *st = new_state(cls, conn);
    rs_conns_line(conn);
    char *query = uri ? strchr(uri, '?') : NULL;
    if (!st || !query) return st;
    unsigned params = 1;
    for (const char *p = query + 1; *p; p++) params += *p == '&';
    if (params > RS_HTTP_MAX_QUERY_PARAMS) {
        st->cut_params = params;
        query[1] = '\0';
    }
    return st;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    rs_http_server *srv = cls;
    rs_http_state *st = *con_cls;
    if (!st) {
        st = new_state(srv, conn);
        if (!st) return MHD_NO;
        *con_cls = st;
    }
    /* The guard answered this connection already (over a cap, too slow):
     * take in what the client still sends, then close. Closing with bytes
     * unread would reset the connection, and a reset can destroy the
     * answer before the client reads it. */
    if (rs_conns_answered(conn)) {
        st->responded = 1;
        if (!st->first_done || *upload_data_size) {
            st->first_done = 1;
            *upload_data_size = 0;
            return MHD_YES;
        }
        return MHD_NO;
    }
    if (!st->first_done) {
        st->first_done = 1;
        return on_first_call(st, url, method, version);
    }
    if (*upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        if (st->responded) return MHD_YES;
        /* Only routes with a JSON body keep it; others drop it unread. */
        if (!srv->routes[st->route].json_body) return MHD_YES;
        return append_body(st, upload_data, size) == 0 ? MHD_YES : MHD_NO;
    }
    if (st->responded) return MHD_YES;
    if (st->deferring) {
        /* Resumed: the answer is there (MHD calls again only then). */
        if (atomic_load(&st->defer_state) != DEFER_ANSWERED) return MHD_YES;
        return send_response(st, &st->deferred_resp, NULL);
    }
    rs_conns_received(conn);
    if (st->too_large)
        return send_error(st, 413, "payload_too_large", NULL,
                          "the body exceeds the limit of %zu bytes", srv->max_body);
    st->req.body = st->body;
    st->req.body_len = st->body_len;
    rs_response resp = {.status = 0, .variant_slot = -1};
    srv->routes[st->route].handler(srv->ctx, &st->req, &resp);
    if (st->deferring) return suspend_deferred(st);
    return send_response(st, &resp, NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    rs_http_server *srv = cls;
    rs_http_state *st = *con_cls;
    rs_conns_ready(conn);
    if (!st) return;
    *con_cls = NULL;
    if (st->deferring) atomic_fetch_sub(&srv->deferred, 1);
    if (st->deferring && !st->responded && atomic_load(&st->defer_state) == DEFER_ANSWERED) {
        json_decref(st->deferred_resp.json); /* never sent: the connection ended */
        free(st->deferred_resp.text);
    }
    while (st->queries) {
        query_value *next = st->queries->next;
        free(st->queries);
        st->queries = next;
    }
    free(st->params);
    free(st->body);
    free(st);
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* Keep the path and query raw: the router splits segments first and decodes
 * each one, so an id holding an encoded '/' stays one segment. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

/* MHD's messages come from clients' mistakes (a malformed request, a
 * closed connection), so a client can make any number of them: at most
 * LOG_BURST are written per LOG_WINDOW_S seconds, and the next window
 * begins with how many were left out. */
#define LOG_BURST    10
#define LOG_WINDOW_S 10.0

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static double log_window;
static unsigned log_written;
static unsigned long long log_dropped;

static void log_limited(const char *line)
{
    pthread_mutex_lock(&log_lock);
    double now = rs_now();
    unsigned long long dropped = 0;
    if (now - log_window >= LOG_WINDOW_S) {
        dropped = log_dropped;
        log_window = now;
        log_written = 0;
        log_dropped = 0;
    }
    int write = log_written < LOG_BURST;
    if (write)
        log_written++;
    else
        log_dropped++;
    pthread_mutex_unlock(&log_lock);
    if (dropped)
        rs_log(RS_LOG_WARN,
               "http: %llu more libmicrohttpd messages were not logged (at most %d "
               "per %.0f s)",
               dropped, LOG_BURST, LOG_WINDOW_S);
    if (write) rs_log(RS_LOG_WARN, "http: %s", line);
}

/* MHD's messages. The answers MHD sends itself are known only from here:
 * each is counted like a request of no route. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    rs_http_server *srv = cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    unsigned status;
    if (srv && sscanf(line, "Error processing request (HTTP response code is %u", &status) == 1)
        rs_stats_request(srv->stats, srv->n_routes, -1, (int)status, 0);
    log_limited(line);
}

int rs_http_stats_create(const rs_http_route *routes, int n_routes, rs_stats **out, rs_error *err)
{
    const char *names[RS_STATS_MAX_ROUTES];
    if (n_routes < 0 || n_routes + 1 > RS_STATS_MAX_ROUTES)
        return rs_fail(err, "http: %d routes; at most %d", n_routes, RS_STATS_MAX_ROUTES - 1);
    for (int i = 0; i < n_routes; i++) names[i] = routes[i].route.pattern;
    names[n_routes] = "unmatched";
    return rs_stats_create(names, n_routes + 1, out, err);
}

/* New connections while stopping are closed at once (accept_policy), not
 * served: MHD_quiesce_daemon would do that by taking the listening socket
 * out of every worker's epoll set, but in libmicrohttpd 0.9.75 it races
 * with a worker doing the same on its own and aborts the process ("Failed
 * to remove listen FD from epoll set"). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
    rs_http_server *srv = cls;
    return atomic_load(&srv->stopping) ? MHD_NO : MHD_YES;
}

int rs_http_start(const rs_http_config *cfg, const rs_http_route *routes, int n_routes, void *ctx,
                  rs_stats *stats, rs_http_server **out, rs_error *err)
{
    if (n_routes < 1 || n_routes + 1 > RS_STATS_MAX_ROUTES)
        return rs_fail(err, "http: %d routes; expected 1..%d", n_routes, RS_STATS_MAX_ROUTES - 1);
    if (cfg->max_body < 1) return rs_fail(err, "http: the body limit must be at least 1 byte");
    rs_http_server *srv = rs_calloc(1, sizeof(*srv), err);
    if (!srv) return -1;
    srv->routes = routes;
    srv->n_routes = n_routes;
    for (int i = 0; i < n_routes; i++) srv->table[i] = routes[i].route;
    srv->ctx = ctx;
    srv->stats = stats;
    srv->max_body = cfg->max_body;
    atomic_init(&srv->api_keys, cfg->api_keys);
    srv->access_log = cfg->access_log;
    unsigned max_conns = cfg->max_connections ? cfg->max_connections : 1024;
    rs_conns_config ccfg = {max_conns, cfg->max_per_address, cfg->request_timeout_s,
                            cfg->tls_cert_pem && cfg->tls_key_pem};
    if (rs_conns_create(&ccfg, stats, n_routes, &srv->conns, err) != 0) {
        free(srv);
        return -1;
    }

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
                     (cfg->poll_loop ? MHD_USE_POLL : MHD_USE_AUTO) | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (cfg->addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    int tls = cfg->tls_cert_pem && cfg->tls_key_pem;
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        rs_conns_free(srv->conns);
        free(srv);
        return rs_fail(err, "http: this libmicrohttpd was built without TLS support");
    }
    if (tls) flags |= MHD_USE_TLS;
    unsigned threads = cfg->threads ? cfg->threads : 1;
    struct MHD_OptionItem opts[] = {
        /* The logger goes first, or MHD reports option errors elsewhere. */
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, srv},
        {MHD_OPTION_SOCK_ADDR, 0, (void *)&cfg->addr},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->timeout_s, NULL},
        /* Above our cap, so that connections over it are accepted and
         * answered 503 by the guard instead of waiting in the backlog. */
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)(max_conns + max_conns / 4 + 16), NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)rs_conns_notify, srv->conns},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_request_line, srv},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)no_unescape, NULL},
        /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: it sets SO_REUSEPORT, and a
         * second server on a taken port must fail, not share the port. */
        {MHD_OPTION_END, 0, NULL}, /* the optional ones below, then END */
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    size_t n_opts = sizeof(opts) / sizeof(opts[0]) - 4;
    if (threads > 1)
        opts[n_opts++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
    if (tls) {
        /* GnuTLS parses both at start: a bad file fails here, not later. */
        opts[n_opts++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert_pem};
        opts[n_opts++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->tls_key_pem};
    }
    srv->daemon = MHD_start_daemon(flags, 0, accept_policy, srv, on_access, srv, MHD_OPTION_ARRAY,
                                   opts, MHD_OPTION_END);
    if (!srv->daemon) {
        rs_conns_free(srv->conns);
        free(srv);
        if (tls)
            return rs_fail(err, "http: could not start the HTTPS server (address in use, no "
                                "permission to bind it, or a certificate or key GnuTLS cannot "
                                "read: see the log line above)");
        return rs_fail(err, "http: could not start the server (address in use, or no permission "
                            "to bind it?)");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    *out = srv;
    return 0;
}

const rs_api_keys *rs_http_set_api_keys(rs_http_server *srv, const rs_api_keys *keys)
{
    return atomic_exchange_explicit(&srv->api_keys, keys, memory_order_acq_rel);
}

uint16_t rs_http_port(const rs_http_server *srv)
{
    return srv->port;
}

unsigned rs_http_in_flight(const rs_http_server *srv)
{
    return atomic_load(&((rs_http_server *)srv)->in_flight);
}

unsigned rs_http_connections(const rs_http_server *srv)
{
    return rs_conns_open(srv->conns);
}

unsigned rs_http_stop(rs_http_server *srv, double grace_s)
{
    if (!srv) return 0;
    atomic_store(&srv->stopping, 1);
    double deadline = rs_now() + grace_s;
    while (atomic_load(&srv->in_flight) > 0 && rs_now() < deadline) usleep(2000);
    unsigned left = atomic_load(&srv->in_flight);
    /* libmicrohttpd aborts when stopped with a suspended connection: a
     * deferred request (its answer is coming, e.g. from the events writer)
     * gets RS_HTTP_DEFER_STOP_WAIT more seconds to be answered and end. */
    deadline = rs_now() + RS_HTTP_DEFER_STOP_WAIT;
    while (atomic_load(&srv->deferred) > 0 && rs_now() < deadline) usleep(2000);
    if (atomic_load(&srv->deferred) > 0)
        rs_log(RS_LOG_ERROR, "http: %u deferred request(s) still waiting for an answer at stop",
               atomic_load(&srv->deferred));
    MHD_stop_daemon(srv->daemon);
    rs_conns_free(srv->conns);
    free(srv);
    return left;
}
