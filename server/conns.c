/* conns.c - the connection guard (see conns.h).
 *
 * Records live in one list under one lock: libmicrohttpd's worker threads
 * add and remove them (connection notifications) and mark their phase; the
 * reaper walks them. The lock is held while the reaper writes to or shuts
 * down a socket, and the "closed" notification takes it before
 * libmicrohttpd closes the descriptor, so the reaper never touches a
 * descriptor that was closed or reused. shutdown() from another thread is
 * safe: libmicrohttpd's thread then reads end-of-file and closes.
 */
#include "conns.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h" /* rs_request_id_generate */

#define REAPER_PERIOD_S 0.1
#define ANSWERED_GRACE  1.0 /* seconds an answered client gets to close first */
#define EOF_SWEEPS      2   /* sweeps that must see an idle client's end of input */

typedef struct conn_rec {
    struct conn_rec *prev, *next;
    struct rs_conns *owner;
    int fd;
    struct sockaddr_storage addr;
    double ready_at;    /* when the connection became ready for the request */
    double answered_at; /* when the guard answered it (0: not) */
    int receiving;      /* the request is not received whole yet */
    int line_seen;      /* its request line arrived */
    int admitted;       /* counted against the caps */
    int closing;        /* shut down for reading too */
    int eof_sweeps;     /* sweeps in a row that found the client's end of input */
} conn_rec;

struct rs_conns {
    rs_conns_config cfg;
    rs_stats *stats;
    int route;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    conn_rec *head;
    unsigned open, admitted;
    int stop, started;
    pthread_t reaper;
};

/* Same client address (the port is not part of it). */
static int same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return 1; /* other families: one "address" */
}

/* Writes a whole JSON error answer and ends the sending side; lock held.
 * Head and body go out in one send, so that a client reading up to the
 * blank line does not see the head alone. */
static void answer(rs_conns *c, conn_rec *r, int status, const char *reason, const char *code,
                   const char *message)
{
    char body[384], whole[1024], rid[33];
    rs_request_id_generate(rid); /* no request was read: a fresh id */
    int blen = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
                        code, message);
    if (blen < 0 || (size_t)blen >= sizeof(body)) /* callers' messages are shorter */
        blen = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\"}}\n", code);
    int len = snprintf(whole, sizeof(whole),
                       "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                       "Cache-Control: no-store\r\nConnection: close\r\nX-Request-Id: %s\r\n%s"
                       "Content-Length: %d\r\n\r\n%s",
                       status, reason, rid, status == 503 ? "Retry-After: 1\r\n" : "", blen, body);
    /* A fresh or idle socket has room for these few hundred bytes; if it
     * has not, the client was not reading and loses the answer. Plain
     * bytes on a TLS connection would be garbage to the client: close. */
    if (c->cfg.tls) {
        shutdown(r->fd, SHUT_RDWR);
        r->closing = 1;
    } else {
        if (len > 0 && (size_t)len < sizeof(whole))
            (void)send(r->fd, whole, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
        shutdown(r->fd, SHUT_WR);
    }
    r->answered_at = rs_now();
    r->receiving = 0;
    rs_stats_request(c->stats, c->route, -1, status, 0);
}

/* Over a cap? Then answers 503, else counts r in; lock held, r not yet in
 * the list. Connections already refused do not count: they are on their
 * way out. */
static void admit(rs_conns *c, conn_rec *r)
{
    char message[160];
    unsigned same = 0;
    for (conn_rec *o = c->head; o; o = o->next)
        same += o->admitted && same_host(&o->addr, &r->addr);
    if (c->cfg.max_connections && c->admitted >= c->cfg.max_connections) {
        snprintf(message, sizeof(message),
                 "the server has %u connections open, its limit (--max-connections); retry later",
                 c->admitted);
        answer(c, r, 503, "Service Unavailable", "too_many_connections", message);
    } else if (c->cfg.max_per_address && same >= c->cfg.max_per_address) {
        snprintf(message, sizeof(message),
                 "this address has %u connections open, the limit per address "
                 "(--max-per-address); retry later",
                 same);
        answer(c, r, 503, "Service Unavailable", "too_many_connections", message);
    } else {
        r->admitted = 1;
        c->admitted++;
    }
}

static void on_started(rs_conns *c, struct MHD_Connection *conn, void **socket_context)
{
    conn_rec *r = calloc(1, sizeof(*r));
    if (!r) return; /* unguarded; the idle timeout still applies */
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *addr =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    r->fd = fd ? fd->connect_fd : -1;
    if (addr && addr->client_addr) {
        size_t len = addr->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                              : sizeof(struct sockaddr_in);
        memcpy(&r->addr, addr->client_addr, len);
    }
    r->owner = c;
    r->ready_at = rs_now();
    r->receiving = 1;
    pthread_mutex_lock(&c->lock);
    if (r->fd >= 0) admit(c, r);
    r->next = c->head;
    if (c->head) c->head->prev = r;
    c->head = r;
    c->open++;
    pthread_mutex_unlock(&c->lock);
    *socket_context = r;
}

static void on_closed(rs_conns *c, void **socket_context)
{
    conn_rec *r = *socket_context;
    if (!r) return;
    pthread_mutex_lock(&c->lock);
    if (r->prev)
        r->prev->next = r->next;
    else
        c->head = r->next;
    if (r->next) r->next->prev = r->prev;
    c->open--;
    c->admitted -= (unsigned)r->admitted;
    pthread_mutex_unlock(&c->lock);
    free(r);
    *socket_context = NULL;
}

void rs_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        on_started(cls, conn, socket_context);
    else
        on_closed(cls, socket_context);
}

static conn_rec *rec_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

int rs_conns_answered(struct MHD_Connection *conn)
{
    conn_rec *r = rec_of(conn);
    if (!r) return 0;
    pthread_mutex_lock(&r->owner->lock);
    int answered = r->answered_at > 0;
    pthread_mutex_unlock(&r->owner->lock);
    return answered;
}

void rs_conns_line(struct MHD_Connection *conn)
{
    conn_rec *r = rec_of(conn);
    if (!r) return;
    pthread_mutex_lock(&r->owner->lock);
    r->line_seen = 1;
    pthread_mutex_unlock(&r->owner->lock);
}

void rs_conns_received(struct MHD_Connection *conn)
{
    conn_rec *r = rec_of(conn);
    if (!r) return;
    pthread_mutex_lock(&r->owner->lock);
    r->receiving = 0;
    pthread_mutex_unlock(&r->owner->lock);
}

void rs_conns_ready(struct MHD_Connection *conn)
{
    conn_rec *r = rec_of(conn);
    if (!r) return;
    pthread_mutex_lock(&r->owner->lock);
    if (!r->answered_at) {
        r->receiving = 1;
        r->line_seen = 0;
        r->eof_sweeps = 0;
        r->ready_at = rs_now();
    }
    pthread_mutex_unlock(&r->owner->lock);
}

unsigned rs_conns_open(rs_conns *c)
{
    pthread_mutex_lock(&c->lock);
    unsigned n = c->open;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Whether an idle connection's client has ended its input: nothing to
 * read and end-of-file. libmicrohttpd 0.9.75's epoll loop can miss an
 * end-of-input that arrives while it answers a request (a client that
 * sends its last request and half-closes at once), and the connection
 * would then stay open until the deadline. Only connections waiting for a
 * request line are looked at, and only EOF_SWEEPS sweeps in a row count:
 * the request line callback runs right after libmicrohttpd reads a line,
 * so a line read but not yet seen cannot last that long. MSG_PEEK leaves
 * any bytes for libmicrohttpd. */
static int idle_client_gone(conn_rec *r)
{
    if (!r->receiving || r->line_seen || r->answered_at || r->fd < 0) return 0;
    char byte;
    ssize_t n = recv(r->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    r->eof_sweeps = n == 0 ? r->eof_sweeps + 1 : 0;
    return r->eof_sweeps >= EOF_SWEEPS;
}

/* Closes a connection without an answer: libmicrohttpd's thread then
 * reads end-of-file and closes the descriptor. */
static void close_silently(conn_rec *r, double now)
{
    shutdown(r->fd, SHUT_RDWR);
    r->receiving = 0;
    r->answered_at = now;
    r->closing = 1;
}

/* One sweep: past the deadline, 408 for a request whose line arrived, and
 * a silent close (as for an idle connection) when none did; a silent
 * close for an idle connection whose client has gone; a full shutdown for
 * answered connections whose client did not close within the grace. Cost:
 * one recv(MSG_PEEK) per idle connection per sweep (about 10,000 system
 * calls a second for 1,000 idle keep-alive connections). */
static void sweep(rs_conns *c)
{
    double now = rs_now();
    char message[160];
    snprintf(message, sizeof(message),
             "the request did not arrive whole within %g s (--request-timeout)", c->cfg.deadline_s);
    for (conn_rec *r = c->head; r; r = r->next) {
        if (c->cfg.deadline_s > 0 && r->receiving && now - r->ready_at > c->cfg.deadline_s) {
            if (r->line_seen)
                answer(c, r, 408, "Request Timeout", "request_timeout", message);
            else
                close_silently(r, now);
        } else if (idle_client_gone(r)) {
            close_silently(r, now);
        } else if (r->answered_at && !r->closing && now - r->answered_at > ANSWERED_GRACE) {
            shutdown(r->fd, SHUT_RDWR);
            r->closing = 1;
        }
    }
}

static void *reap(void *arg)
{
    rs_conns *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(REAPER_PERIOD_S * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->wake, &c->lock, &ts);
        if (!c->stop) sweep(c);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int rs_conns_create(const rs_conns_config *cfg, rs_stats *stats, int route, rs_conns **out,
                    rs_error *err)
{
    rs_conns *c = rs_calloc(1, sizeof(*c), err);
    if (!c) return -1;
    c->cfg = *cfg;
    c->stats = stats;
    c->route = route;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&c->reaper, NULL, reap, c);
    if (rc != 0) {
        rs_conns_free(c);
        return rs_fail(err, "cannot start the connection reaper: %s", strerror(rc));
    }
    c->started = 1;
    *out = c;
    return 0;
}

void rs_conns_free(rs_conns *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->lock);
    if (c->started) pthread_join(c->reaper, NULL);
    while (c->head) {
        conn_rec *next = c->head->next;
        free(c->head);
        c->head = next;
    }
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
