/* loadgen.c - a small bounded HTTP/1.1 load generator for the integration
 * tests (loopback only): keep-alive connections, one thread each, requests
 * from a path template, and a summary of statuses and of the model versions
 * that answered (X-Recsys-Variant / X-Recsys-Version) with the wall-clock
 * time each was first and last seen.
 *
 *   loadgen --port P --path '/v1/users/u{u}/recommendations?n=5'
 *           [--host 127.0.0.1] [--connections 4] [--users 1000] [--first 0]
 *           [--duration SECS | --requests N] [--body TEMPLATE] [--log FILE]
 *
 * {u} in the path (and body) is replaced by a user number: request k (0, 1,
 * 2, ... over all connections) uses number first + k % users. With --body
 * the requests are POSTs of that JSON. It stops after --requests, after
 * --duration, or on SIGINT/SIGTERM, then prints:
 *   requests N / failed N / retried N / status CODE N / rate R /
 *   version VARIANT VERSION FIRST_SEEN LAST_SEEN COUNT
 * A request fails when it gets no complete response or a status other than
 * 200. A request whose reused keep-alive connection was closed before any
 * byte of the answer arrived is retried once on a new connection, as HTTP
 * clients do. --log writes "NUMBER STATUS VARIANT VERSION" per response.
 * Exit status: 0 when nothing failed, 1 otherwise, 2 for bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEEN     256
#define MAX_STATUS   600
#define RESPONSE_MAX (8 << 20)

typedef struct seen {
    char variant[128];
    unsigned long long version;
    double first, last;
    unsigned long long count;
} seen;

typedef struct stats {
    unsigned long long requests, failed, retried;
    unsigned long long status[MAX_STATUS];
    seen seen[MAX_SEEN];
    int n_seen;
} stats;

static const char *host = "127.0.0.1";
static int port;
static const char *path_tpl, *body_tpl;
static unsigned long long users = 1000, first_user, max_requests;
static double duration;
static int connections = 4;
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stop_flag;
static _Atomic unsigned long long next_request;
static double deadline;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* Replaces each {u} of tpl by number. */
static int expand(const char *tpl, unsigned long long number, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = tpl; *p; p++) {
        if (p[0] == '{' && p[1] == 'u' && p[2] == '}') {
            int w = snprintf(out + n, cap - n, "%llu", number);
            if (w < 0 || (size_t)w >= cap - n) return -1;
            n += (size_t)w;
            p += 2;
        } else {
            if (n + 1 >= cap) return -1;
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return 0;
}

static int connect_to(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Case-insensitive search for "\r\nName:" in the header block; copies the
 * trimmed value. */
static int header_value(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *h = p + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            h += nl + 1;
            while (*h == ' ') h++;
            size_t len = strcspn(h, "\r\n");
            if (len >= cap) len = cap - 1;
            memcpy(out, h, len);
            out[len] = '\0';
            return 0;
        }
    }
    return -1;
}

typedef struct response {
    int status;
    char variant[128];
    unsigned long long version;
    int close_after;
} response;

/* Reads one response. Returns 0, -1 on error, -2 when the connection closed
 * before any byte arrived. */
static int read_response(int fd, char **buf, size_t *cap, response *r)
{
    size_t have = 0;
    char *end = NULL;
    for (;;) {
        if (have + 4096 + 1 > *cap) {
            if (*cap >= RESPONSE_MAX) return -1;
            size_t nc = *cap * 2;
            char *nb = realloc(*buf, nc);
            if (!nb) return -1;
            *buf = nb;
            *cap = nc;
        }
        ssize_t got = recv(fd, *buf + have, *cap - have - 1, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got == 0 && have == 0) return -2;
        if (got <= 0) return -1;
        have += (size_t)got;
        (*buf)[have] = '\0';
        if ((end = strstr(*buf, "\r\n\r\n"))) break;
    }
    size_t head_len = (size_t)(end - *buf) + 4;
    end[2] = '\0'; /* header block ends with one "\r\n" */
    if (sscanf(*buf, "HTTP/1.%*d %d", &r->status) != 1) return -1;
    char value[128];
    long long clen = -1;
    if (header_value(*buf, "Content-Length", value, sizeof(value)) == 0) clen = atoll(value);
    r->variant[0] = '\0';
    r->version = 0;
    if (header_value(*buf, "X-Recsys-Variant", value, sizeof(value)) == 0)
        snprintf(r->variant, sizeof(r->variant), "%s", value);
    if (header_value(*buf, "X-Recsys-Version", value, sizeof(value)) == 0)
        r->version = strtoull(value, NULL, 10);
    r->close_after = header_value(*buf, "Connection", value, sizeof(value)) == 0 &&
                     strcasecmp(value, "close") == 0;
    if (clen < 0) return -1; /* every answer of ours has a length */
    size_t body_have = have - head_len;
    while ((long long)body_have < clen) {
        char tmp[16384];
        ssize_t got = recv(fd, tmp, sizeof(tmp), 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        body_have += (size_t)got;
    }
    return 0;
}

static void note(stats *s, const response *r)
{
    if (r->status >= 0 && r->status < MAX_STATUS) s->status[r->status]++;
    if (!r->variant[0]) return;
    double now = wall();
    for (int i = 0; i < s->n_seen; i++) {
        seen *x = &s->seen[i];
        if (x->version == r->version && strcmp(x->variant, r->variant) == 0) {
            x->last = now;
            x->count++;
            return;
        }
    }
    if (s->n_seen == MAX_SEEN) return;
    seen *x = &s->seen[s->n_seen++];
    snprintf(x->variant, sizeof(x->variant), "%s", r->variant);
    x->version = r->version;
    x->first = x->last = now;
    x->count = 1;
}

static int finished(void)
{
    return stop_flag || (duration > 0 && mono() >= deadline);
}

static void *worker(void *arg)
{
    stats *s = arg;
    int fd = -1, reused = 0;
    size_t cap = 65536;
    char *buf = malloc(cap);
    char path[4096], body[8192], req[16384];
    if (!buf) return NULL;
    while (!finished()) {
        unsigned long long k = atomic_fetch_add(&next_request, 1);
        if (max_requests && k >= max_requests) break;
        unsigned long long number = first_user + k % users;
        if (expand(path_tpl, number, path, sizeof(path)) != 0 ||
            (body_tpl && expand(body_tpl, number, body, sizeof(body)) != 0)) {
            s->failed++;
            break;
        }
        int len = body_tpl ? snprintf(req, sizeof(req),
                                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: "
                                      "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                      path, host, port, strlen(body), body)
                           : snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                                      path, host, port);
        response r;
        int rc = -1;
        for (int attempt = 0; attempt < 2; attempt++) {
            if (fd < 0) {
                fd = connect_to();
                reused = 0;
                if (fd < 0) break;
            }
            rc = send_all(fd, req, (size_t)len) == 0 ? read_response(fd, &buf, &cap, &r) : -2;
            if (rc == 0) break;
            close(fd);
            fd = -1;
            /* A reused connection the server had closed: retry once. */
            if (rc == -2 && reused) {
                s->retried++;
                continue;
            }
            break;
        }
        s->requests++;
        if (rc != 0) {
            s->failed++;
            if (!finished()) usleep(1000);
            continue;
        }
        reused = 1;
        note(s, &r);
        if (r.status != 200) s->failed++;
        if (log_file) {
            pthread_mutex_lock(&log_lock);
            fprintf(log_file, "%llu %d %s %llu\n", number, r.status, r.variant[0] ? r.variant : "-",
                    r.version);
            pthread_mutex_unlock(&log_lock);
        }
        if (r.close_after) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) close(fd);
    free(buf);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen --port P --path TEMPLATE [--host ADDR] [--connections C] "
                    "[--users N] [--first N] [--duration SECS | --requests N] [--body TEMPLATE] "
                    "[--log FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *log_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(o, "--port"))
            port = atoi(v);
        else if (!strcmp(o, "--host"))
            host = v;
        else if (!strcmp(o, "--path"))
            path_tpl = v;
        else if (!strcmp(o, "--body"))
            body_tpl = v;
        else if (!strcmp(o, "--connections"))
            connections = atoi(v);
        else if (!strcmp(o, "--users"))
            users = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--first"))
            first_user = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--duration"))
            duration = atof(v);
        else if (!strcmp(o, "--requests"))
            max_requests = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--log"))
            log_path = v;
        else
            usage();
    }
    if (port <= 0 || port > 65535 || !path_tpl || connections < 1 || connections > 256 ||
        users < 1 || (duration <= 0 && !max_requests))
        usage();
    if (duration > 3600) duration = 3600; /* bounded, whatever was asked */
    if (log_path && !(log_file = fopen(log_path, "w"))) {
        perror(log_path);
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    stats *per = calloc((size_t)connections, sizeof(stats));
    pthread_t *th = calloc((size_t)connections, sizeof(pthread_t));
    if (!per || !th) return 2;
    double t0 = mono();
    deadline = t0 + duration;
    for (int c = 0; c < connections; c++) pthread_create(&th[c], NULL, worker, &per[c]);
    for (int c = 0; c < connections; c++) pthread_join(th[c], NULL);
    double elapsed = mono() - t0;

    stats total = {0};
    for (int c = 0; c < connections; c++) {
        stats *s = &per[c];
        total.requests += s->requests;
        total.failed += s->failed;
        total.retried += s->retried;
        for (int i = 0; i < MAX_STATUS; i++) total.status[i] += s->status[i];
        for (int i = 0; i < s->n_seen; i++) {
            seen *x = &s->seen[i], *y = NULL;
            for (int j = 0; j < total.n_seen && !y; j++)
                if (total.seen[j].version == x->version &&
                    !strcmp(total.seen[j].variant, x->variant))
                    y = &total.seen[j];
            if (!y) {
                if (total.n_seen == MAX_SEEN) continue;
                y = &total.seen[total.n_seen++];
                *y = *x;
                continue;
            }
            if (x->first < y->first) y->first = x->first;
            if (x->last > y->last) y->last = x->last;
            y->count += x->count;
        }
    }
    printf("requests %llu\nfailed %llu\nretried %llu\n", total.requests, total.failed,
           total.retried);
    for (int i = 0; i < MAX_STATUS; i++)
        if (total.status[i]) printf("status %d %llu\n", i, total.status[i]);
    printf("rate %.1f\n", elapsed > 0 ? total.requests / elapsed : 0.0);
    for (int i = 0; i < total.n_seen; i++)
        printf("version %s %llu %.3f %.3f %llu\n", total.seen[i].variant, total.seen[i].version,
               total.seen[i].first, total.seen[i].last, total.seen[i].count);
    if (log_file) fclose(log_file);
    free(per);
    free(th);
    return total.failed ? 1 : 0;
}
