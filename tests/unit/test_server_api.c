/* test_server_api.c - the API over real HTTP against a hand-built snapshot
 * whose answers the test computes independently (double-precision forward
 * pass, full ranking): recommendations for histories and known users,
 * exclusions, the popularity fallback, similar items by vectors and by
 * anchors, and a version swap under concurrent requests (the registry's
 * refcounting; ASan checks the memory side). */
#include <arpa/inet.h>
#include <cblas.h>
#include <check.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "registry.h"
#include "rng.h"
#include "store.h"
#include "test_support.h"

enum { M = 40, H = 6, L = 3, D = 5, USERS = 12 };

/* One version's weights (kept by the test to compute expected answers). */
typedef struct weights {
    float W1[M * H], b1[H], W2[H * 2 * L], b2[2 * L], W3[L * D], b3[D];
    float V[M * D], bias[M], pop[M], anchors[M * 2];
    int with_anchors;
} weights;

static char dir[256];
static rs_store *store;
static rs_stats *stats;
static rs_registry *reg;
static rs_api *api;
static rs_http_server *srv;
static uint16_t port;
static weights w1, w2;
static int use_midx;
/* users: user k has items k, k+3, k+6 (mod M), so histories are known. */
static uint32_t user_items[USERS][3];
/* The seen-set a version may carry (users.seen): the history plus items
 * k+20 and k+21 (mod M), the rows a --min-rating or a split kept out of the
 * encoded history. */
enum { SEEN_EXTRA = 2 };
static int with_seen;
static int is_seen(int u, int i)
{
    for (int k = 0; k < 3; k++)
        if ((int)user_items[u][k] == i) return 1;
    return i == (u + 20) % M || i == (u + 21) % M;
}

static void make_weights(weights *w, uint64_t seed, int with_anchors)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
#define FILL(a)                                                                                    \
    for (size_t k = 0; k < sizeof(a) / sizeof(a[0]); k++)                                          \
    a[k] = (float)((double)rs_rng_below(&rng, 2000001) / 1000000.0 - 1.0)
    FILL(w->W1);
    FILL(w->b1);
    FILL(w->W2);
    FILL(w->b2);
    FILL(w->W3);
    FILL(w->b3);
    FILL(w->V);
    FILL(w->bias);
    FILL(w->anchors);
#undef FILL
    /* Distinct popularity counts, so the fallback order is unambiguous. */
    for (int i = 0; i < M; i++) w->pop[i] = (float)((i * 17) % M + 1);
    w->with_anchors = with_anchors;
}

static json_t *layer(const char *kind, const char *weight, const char *bias, int in, int out,
                     const char *act)
{
    json_t *l =
        json_pack("{s:s,s:i,s:i,s:s}", "kind", kind, "in", in, "out", out, "activation", act);
    if (weight) json_object_set_new(l, "weight", json_string(weight));
    if (bias) json_object_set_new(l, "bias", json_string(bias));
    return l;
}

static void publish(const weights *w, uint32_t keep_last)
{
    rs_publish *pub;
    uint64_t version;
    rs_error err;
    ck_assert_msg(rs_publish_begin(store, "default", &pub, &version, &err) == 0, "%s", err.msg);
    struct {
        const char *name;
        const float *data;
        uint32_t ndim;
        uint64_t shape[2];
    } t[] = {
        {"enc.0.w", w->W1, 2, {M, H}},           {"enc.0.b", w->b1, 1, {H, 0}},
        {"enc.1.w", w->W2, 2, {H, 2 * L}},       {"enc.1.b", w->b2, 1, {2 * L, 0}},
        {"dec.0.w", w->W3, 2, {L, D}},           {"dec.0.b", w->b3, 1, {D, 0}},
        {"items.vectors", w->V, 2, {M, D}},      {"items.bias", w->bias, 1, {M, 0}},
        {"items.popularity", w->pop, 1, {M, 0}}, {"items.anchors", w->anchors, 2, {M, 2}},
    };
    int n_tensors = w->with_anchors ? 10 : 9;
    for (int i = 0; i < n_tensors; i++)
        ck_assert_msg(
            rs_publish_tensor(pub, t[i].name, RS_F32, t[i].ndim, t[i].shape, t[i].data, &err) == 0,
            "%s", err.msg);
    char *items[M], *users[USERS], buf[(M + USERS) * 16];
    char *p = buf;
    for (int i = 0; i < M; i++) {
        /* Ids with characters that need care in URLs and JSON. */
        items[i] = p;
        p += sprintf(p, i == 7 ? "it/%d" : "it%d", i) + 1;
    }
    for (int u = 0; u < USERS; u++) {
        users[u] = p;
        p += sprintf(p, "u%d", u) + 1;
    }
    ck_assert_int_eq(rs_publish_strings(pub, "items.ids", items, M, &err), 0);
    ck_assert_int_eq(rs_publish_strings(pub, "users.ids", users, USERS, &err), 0);
    uint64_t indptr[USERS + 1];
    uint32_t indices[USERS * 3];
    for (int u = 0; u <= USERS; u++) indptr[u] = (uint64_t)u * 3;
    for (int u = 0; u < USERS; u++)
        for (int k = 0; k < 3; k++) indices[u * 3 + k] = user_items[u][k];
    uint64_t s1 = USERS + 1, s2 = USERS * 3;
    ck_assert_int_eq(rs_publish_tensor(pub, "users.history.indptr", RS_U64, 1, &s1, indptr, &err),
                     0);
    ck_assert_int_eq(rs_publish_tensor(pub, "users.history.indices", RS_U32, 1, &s2, indices, &err),
                     0);
    if (with_seen) {
        uint64_t seen_ptr[USERS + 1] = {0};
        uint32_t seen[USERS * (3 + SEEN_EXTRA)];
        for (int u = 0; u < USERS; u++) {
            seen_ptr[u + 1] = seen_ptr[u];
            for (int i = 0; i < M; i++) /* ascending, as the trainer writes them */
                if (is_seen(u, i)) seen[seen_ptr[u + 1]++] = (uint32_t)i;
        }
        uint64_t n_seen = seen_ptr[USERS];
        ck_assert_int_eq(
            rs_publish_tensor(pub, "users.seen.indptr", RS_U64, 1, &s1, seen_ptr, &err), 0);
        ck_assert_int_eq(
            rs_publish_tensor(pub, "users.seen.indices", RS_U32, 1, &n_seen, seen, &err), 0);
    }
    json_t *layers = json_array();
    json_array_append_new(layers, layer("sparse_linear", "enc.0.w", "enc.0.b", M, H, "tanh"));
    json_array_append_new(layers, layer("linear", "enc.1.w", "enc.1.b", H, 2 * L, "none"));
    json_array_append_new(layers, layer("gaussian_mean", NULL, NULL, 2 * L, L, "none"));
    json_array_append_new(layers, layer("linear", "dec.0.w", "dec.0.b", L, D, "tanh"));
    json_t *items_j =
        json_pack("{s:s,s:s,s:i}", "vectors", "items.vectors", "bias", "items.bias", "dim", D);
    if (w->with_anchors) json_object_set_new(items_j, "anchors", json_string("items.anchors"));
    json_t *manifest =
        json_pack("{s:s,s:i,s:i,s:{s:s,s:o},s:o,s:{s:{s:f}}}", "family", "vae", "n_items", M,
                  "n_users", USERS, "encoder", "input", "l2", "layers", layers, "items", items_j,
                  "training", "test_metrics", "ndcg@50", 0.25);
    char *text = json_dumps(manifest, 0);
    ck_assert_msg(rs_publish_commit(pub, text, keep_last, &err) == 0, "%s", err.msg);
    free(text);
    json_decref(manifest);
}

/* Expected scores of every item for a history (distinct items), in double. */
static void expected_scores(const weights *w, const uint32_t *hist, int n, double *scores)
{
    double x[H], y[2 * L], h[D];
    for (int j = 0; j < H; j++) {
        x[j] = w->b1[j];
        for (int k = 0; k < n; k++) x[j] += w->W1[hist[k] * H + j] / sqrt((double)n);
        x[j] = tanh(x[j]);
    }
    for (int j = 0; j < 2 * L; j++) {
        y[j] = w->b2[j];
        for (int k = 0; k < H; k++) y[j] += x[k] * w->W2[k * 2 * L + j];
    }
    for (int j = 0; j < D; j++) {
        h[j] = w->b3[j];
        for (int k = 0; k < L; k++) h[j] += y[k] * w->W3[k * D + j]; /* mean = first half */
        h[j] = tanh(h[j]);
    }
    for (int i = 0; i < M; i++) {
        scores[i] = w->bias[i];
        for (int j = 0; j < D; j++) scores[i] += h[j] * w->V[i * D + j];
    }
}

static int item_index(const char *id)
{
    int i;
    if (sscanf(id, "it%d", &i) == 1 || sscanf(id, "it/%d", &i) == 1) return i;
    return -1;
}

/* Checks a ranked list against expected scores: each returned score matches,
 * order is descending, nothing skipped is returned, and nothing left out
 * beats the last returned item. */
static void check_ranking(json_t *items, const double *scores, const uint8_t *skip, size_t want)
{
    size_t n = json_array_size(items);
    ck_assert_uint_eq(n, want);
    uint8_t returned[M] = {0};
    double last = INFINITY;
    for (size_t k = 0; k < n; k++) {
        json_t *it = json_array_get(items, k);
        int i = item_index(json_string_value(json_object_get(it, "id")));
        ck_assert_int_ge(i, 0);
        ck_assert(!skip[i] && !returned[i]);
        returned[i] = 1;
        double s = json_real_value(json_object_get(it, "score"));
        ck_assert_msg(fabs(s - scores[i]) < 1e-4, "item %d: score %g, expected %g", i, s,
                      scores[i]);
        ck_assert(s <= last + 1e-6);
        last = s;
    }
    for (int i = 0; i < M; i++)
        if (!skip[i] && !returned[i]) ck_assert(scores[i] <= last + 1e-4);
}

/* ---- HTTP client ---- */

typedef struct reply {
    int status;
    char head[2048];
    json_t *json;
} reply;

static void http(const char *method, const char *path, const char *body, reply *r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[8192];
    int len = snprintf(req, sizeof(req),
                       "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       method, path, body ? strlen(body) : 0, body ? body : "");
    ck_assert(send(fd, req, (size_t)len, MSG_NOSIGNAL) == len);
    static _Thread_local char buf[1 << 17];
    size_t used = 0;
    ssize_t got;
    while ((got = recv(fd, buf + used, sizeof(buf) - 1 - used, 0)) > 0) used += (size_t)got;
    close(fd);
    buf[used] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    ck_assert_ptr_nonnull(sep);
    *sep = '\0';
    snprintf(r->head, sizeof(r->head), "%.2000s", buf);
    r->status = atoi(buf + 9);
    r->json = json_loads(sep + 4, 0, NULL);
    ck_assert_msg(r->json != NULL, "not JSON: %s", sep + 4);
}

/* ---- fixture ---- */

static void setup(void)
{
    rs_log_set_level(RS_LOG_ERROR);
    for (int u = 0; u < USERS; u++)
        for (int k = 0; k < 3; k++) user_items[u][k] = (uint32_t)((u + 3 * k) % M);
    make_weights(&w1, 1, 0);
    make_weights(&w2, 2, 1);
    snprintf(dir, sizeof(dir), "/tmp/recsys-test-api-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rs_error err;
    ck_assert_msg(rs_store_open(dir, RS_STORE_CREATE, 1 << 26, &store, &err) == 0, "%s", err.msg);
    publish(&w1, 0);
    ck_assert_int_eq(rs_http_stats_create(rs_api_routes, rs_api_n_routes, &stats, &err), 0);
    /* Every other run of the suite's fixture serves through MIDX (exact),
     * with codebooks small enough for 40 items. */
    rs_retriever_options ropt = {.method = use_midx ? RS_RETRIEVAL_MIDX : RS_RETRIEVAL_BRUTE,
                                 .midx_k = 3};
    ck_assert_int_eq(rs_registry_create(store, stats, &ropt, &reg, &err), 0);
    int loaded;
    ck_assert_msg(rs_registry_load_all(reg, 1, &loaded, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(loaded, 1);
    ck_assert_int_eq(rs_registry_set_default(reg, NULL, &err), 0);
    rs_limits lim;
    rs_limits_default(&lim);
    ck_assert_int_eq(rs_api_create(reg, stats, &lim, &api, &err), 0);
    rs_http_config cfg = {0};
    ck_assert_int_eq(rs_parse_listen("127.0.0.1:0", &cfg.addr, &cfg.addr_len, &err), 0);
    cfg.threads = 3;
    cfg.max_body = 1 << 20;
    cfg.timeout_s = 10;
    ck_assert_msg(rs_http_start(&cfg, rs_api_routes, rs_api_n_routes, api, stats, &srv, &err) == 0,
                  "%s", err.msg);
    rs_api_attach_server(api, srv);
    port = rs_http_port(srv);
}

static void setup_brute(void)
{
    use_midx = 0;
    setup();
}

static void setup_midx(void)
{
    use_midx = 1;
    setup();
}

static void teardown(void)
{
    rs_http_stop(srv, 5);
    rs_registry_free(reg);
    rs_api_free(api);
    rs_stats_free(stats);
    rs_store_close(store);
    test_remove_tree(dir);
}

/* ---- tests ---- */

START_TEST(test_history_ranking)
{
    rs_rng rng;
    rs_rng_seed(&rng, 3);
    for (int trial = 0; trial < 30; trial++) {
        /* A random history with duplicates and unknown ids. */
        uint32_t hist[8];
        uint8_t in_hist[M] = {0};
        int n_hist = 0;
        char body[1024];
        int len = sprintf(body, "{\"history\":[");
        int raw = 1 + (int)rs_rng_below(&rng, 6);
        for (int k = 0; k < raw; k++) {
            uint32_t i = (uint32_t)rs_rng_below(&rng, M);
            len += sprintf(body + len, "%s\"%s%u\",\"nope%d\"", k ? "," : "", i == 7 ? "it/" : "it",
                           i, k % 2);
            if (!in_hist[i]) hist[n_hist++] = i;
            in_hist[i] = 1;
        }
        int want = 1 + (int)rs_rng_below(&rng, M);
        int filter = trial % 3 != 0;
        uint32_t excl = (uint32_t)rs_rng_below(&rng, M);
        sprintf(body + len, "],\"n\":%d,\"exclude\":[\"it%u\"],\"filter_history\":%s}", want, excl,
                filter ? "true" : "false");
        reply r;
        http("POST", "/v1/recommend", body, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.head, "X-Recsys-Version: 1"));
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "history_used")), n_hist);
        ck_assert(json_is_null(json_object_get(r.json, "fallback")));
        json_t *retrieval = json_object_get(r.json, "retrieval");
        ck_assert_str_eq(json_string_value(json_object_get(retrieval, "method")),
                         use_midx ? "midx" : "bruteforce");
        ck_assert(json_is_true(json_object_get(retrieval, "exact")));
        json_t *unknown = json_object_get(r.json, "unknown_items");
        ck_assert_uint_eq(json_array_size(unknown), raw > 1 ? 2 : 1);
        double scores[M];
        expected_scores(&w1, hist, n_hist, scores);
        uint8_t skip[M] = {0};
        int n_skip = 0;
        for (int i = 0; i < M; i++) {
            skip[i] = (filter && in_hist[i]) || (uint32_t)i == excl;
            n_skip += skip[i];
        }
        check_ranking(json_object_get(r.json, "items"), scores, skip,
                      (size_t)RS_MIN(want, M - n_skip));
        json_decref(r.json);
    }
}
END_TEST

START_TEST(test_known_user_and_fallback)
{
    for (int u = 0; u < USERS; u++) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/users/u%d/recommendations?n=5", u);
        reply r;
        http("GET", path, NULL, &r);
        ck_assert_int_eq(r.status, 200);
        double scores[M];
        uint32_t hist[3];
        memcpy(hist, user_items[u], sizeof(hist));
        expected_scores(&w1, hist, 3, scores);
        uint8_t skip[M] = {0};
        for (int k = 0; k < 3; k++) skip[hist[k]] = 1;
        check_ranking(json_object_get(r.json, "items"), scores, skip, 5);
        char name[16];
        snprintf(name, sizeof(name), "u%d", u);
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "user")), name);
        json_decref(r.json);
    }
    /* Unknown user: the most popular items, by the popularity tensor. */
    reply r;
    http("POST", "/v1/recommend", "{\"user\":\"stranger\",\"n\":4,\"exclude\":[\"it0\"]}", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "fallback")), "popularity");
    double pop[M];
    uint8_t skip[M] = {0};
    skip[0] = 1;
    for (int i = 0; i < M; i++) pop[i] = w1.pop[i];
    check_ranking(json_object_get(r.json, "items"), pop, skip, 4);
    json_decref(r.json);
}
END_TEST

/* A version with a seen-set: a known user's recommendations leave out the
 * whole seen-set (not only the encoded history) and still rank exactly
 * from the history; filter_history false leaves out nothing; a given
 * history with a known user leaves out both. */
START_TEST(test_seen_set_filtered)
{
    with_seen = 1;
    publish(&w1, 0);
    with_seen = 0;
    rs_error err;
    ck_assert_msg(rs_registry_load(reg, "default", 0, 1, &err) == 0, "%s", err.msg);
    for (int u = 0; u < USERS; u++) {
        char path[128];
        double scores[M];
        uint8_t skip[M] = {0}, none[M] = {0};
        expected_scores(&w1, user_items[u], 3, scores);
        for (int i = 0; i < M; i++) skip[i] = (uint8_t)is_seen(u, i);
        reply r;
        snprintf(path, sizeof(path), "/v1/users/u%d/recommendations?n=%d", u, M);
        http("GET", path, NULL, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.head, "X-Recsys-Version: 2"));
        ck_assert_int_eq(json_integer_value(json_object_get(r.json, "history_used")), 3);
        check_ranking(json_object_get(r.json, "items"), scores, skip, M - 3 - SEEN_EXTRA);
        json_decref(r.json);
        snprintf(path, sizeof(path), "/v1/users/u%d/recommendations?n=%d&filter_history=false", u,
                 M);
        http("GET", path, NULL, &r);
        check_ranking(json_object_get(r.json, "items"), scores, none, M);
        json_decref(r.json);
        /* A given history (item 30) with the known user: encoded from it,
         * the history and the user's seen-set left out. */
        char body[128];
        snprintf(body, sizeof(body), "{\"user\":\"u%d\",\"history\":[\"it30\"],\"n\":%d}", u, M);
        http("POST", "/v1/recommend", body, &r);
        ck_assert_int_eq(r.status, 200);
        uint32_t given = 30;
        expected_scores(&w1, &given, 1, scores);
        int n_skip = !skip[30];
        skip[30] = 1;
        for (int i = 0; i < M; i++) n_skip += is_seen(u, i);
        check_ranking(json_object_get(r.json, "items"), scores, skip, (size_t)(M - n_skip));
        json_decref(r.json);
    }
}
END_TEST

/* Cosine similarity over rows of m (n x d) to row q, skipping q. */
static void cosine(const float *m, int d, int q, double *out)
{
    for (int i = 0; i < M; i++) {
        double dot = 0, nq = 0, ni = 0;
        for (int j = 0; j < d; j++) {
            dot += (double)m[q * d + j] * m[i * d + j];
            nq += (double)m[q * d + j] * m[q * d + j];
            ni += (double)m[i * d + j] * m[i * d + j];
        }
        out[i] = dot / sqrt(nq * ni);
    }
}

START_TEST(test_similar_and_swap_to_anchors)
{
    reply r;
    double sim[M];
    uint8_t skip[M] = {0};
    skip[7] = 1;
    /* "it/7": the encoded slash stays inside the id. */
    http("GET", "/v1/items/it%2F7/similar?n=6", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "method")), "item_vectors");
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "item")), "it/7");
    cosine(w1.V, D, 7, sim); /* the vectors without the bias coordinate */
    check_ranking(json_object_get(r.json, "items"), sim, skip, 6);
    json_decref(r.json);
    http("GET", "/v1/items/it7/similar", NULL, &r);
    ck_assert_int_eq(r.status, 404);
    json_decref(r.json);

    /* Version 2 has anchors; keep_last 1 deletes version 1 from the store
     * while the registry still serves it (LMDB MVCC). */
    publish(&w2, 1);
    http("GET", "/v1/items/it%2F7/similar?n=6", NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.head, "X-Recsys-Version: 1"));
    json_decref(r.json);
    rs_error err;
    ck_assert_msg(rs_registry_load(reg, "default", 0, 1, &err) == 0, "%s", err.msg);
    http("GET", "/v1/items/it%2F7/similar?n=6", NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.head, "X-Recsys-Version: 2"));
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "method")), "anchors");
    cosine(w2.anchors, 2, 7, sim);
    check_ranking(json_object_get(r.json, "items"), sim, skip, 6);
    json_decref(r.json);
    http("GET", "/v1/models", NULL, &r);
    json_t *m0 = json_array_get(json_object_get(r.json, "models"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(m0, "version")), 2);
    ck_assert(json_is_true(json_object_get(m0, "anchors")));
    ck_assert_double_eq_tol(
        json_real_value(
            json_object_get(json_object_get(json_object_get(m0, "metrics"), "test"), "ndcg@50")),
        0.25, 1e-9);
    json_decref(r.json);
}
END_TEST

/* GET path answers 200 with want items. */
static void expect_items(const char *path, size_t want)
{
    reply r;
    http("GET", path, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), want);
    json_decref(r.json);
}

/* Non-finite scores are never returned, on either route: a NaN in item
 * 5's encoder row makes the user vector NaN for any history holding it5 (no
 * item has a finite score), a NaN in item 9's vector makes its score and
 * its cosine similarities NaN. (MIDX cannot index a NaN vector, so that
 * part runs with brute force only.) */
START_TEST(test_non_finite_scores)
{
    weights w3 = w1;
    w3.W1[5 * H] = NAN;
    if (!use_midx) w3.V[9 * D] = NAN;
    publish(&w3, 0);
    rs_error err;
    ck_assert_msg(rs_registry_load(reg, "default", 0, 1, &err) == 0, "%s", err.msg);
    reply r;
    http("POST", "/v1/recommend", "{\"history\":[\"it5\",\"it1\"],\"n\":5}", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 0);
    ck_assert(json_is_null(json_object_get(r.json, "fallback")));
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "history_used")), 2);
    json_decref(r.json);
    if (use_midx) return;
    /* A finite user vector: every item but it9 (and the history) ranked. */
    http("POST", "/v1/recommend", "{\"history\":[\"it1\",\"it2\"],\"n\":40}", &r);
    ck_assert_int_eq(r.status, 200);
    double scores[M];
    uint32_t hist[2] = {1, 2};
    expected_scores(&w3, hist, 2, scores);
    ck_assert(isnan(scores[9]));
    uint8_t skip[M] = {0};
    skip[1] = skip[2] = skip[9] = 1;
    check_ranking(json_object_get(r.json, "items"), scores, skip, M - 3);
    json_decref(r.json);
    /* Similar items: it9 is left out of it3's neighbours... */
    http("GET", "/v1/items/it3/similar?n=40", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    double sim[M];
    cosine(w3.V, D, 3, sim);
    memset(skip, 0, sizeof(skip));
    skip[3] = skip[9] = 1;
    check_ranking(json_object_get(r.json, "items"), sim, skip, M - 2);
    json_decref(r.json);
    /* ...and it9 itself has no neighbour with a finite similarity. */
    expect_items("/v1/items/it9/similar", 0);
}
END_TEST

/* Out of memory is 503 with code out_of_memory on every route, wherever it
 * strikes (parsing a query parameter or a body, the ranking's scratch), and
 * the server answers normally once memory is back. */
static void expect_out_of_memory(const char *method, const char *path, const char *body)
{
    reply r;
    http(method, path, body, &r);
    json_t *error = json_object_get(r.json, "error");
    ck_assert_msg(r.status == 503, "%s %s: %d", method, path, r.status);
    ck_assert_str_eq(json_string_value(json_object_get(error, "code")), "out_of_memory");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(error, "message")), "memory"));
    json_decref(r.json);
}

START_TEST(test_out_of_memory)
{
    rs_alloc_fail_for_testing(1);
    expect_out_of_memory("GET", "/v1/users/u1/recommendations?n=5", NULL); /* query value */
    expect_out_of_memory("GET", "/v1/items/it1/similar?n=5", NULL);
    expect_out_of_memory("POST", "/v1/recommend", "{\"history\":[\"it1\"]}");   /* the ids */
    expect_out_of_memory("POST", "/v1/recommend", "{\"user\":\"u1\",\"n\":5}"); /* scratch */
    expect_out_of_memory("GET", "/v1/items/it1/similar", NULL);
    rs_alloc_fail_for_testing(0);
    reply r;
    http("GET", "/v1/users/u1/recommendations?n=5", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    double scores[M];
    expected_scores(&w1, user_items[1], 3, scores);
    uint8_t skip[M] = {0};
    for (int k = 0; k < 3; k++) skip[user_items[1][k]] = 1;
    check_ranking(json_object_get(r.json, "items"), scores, skip, 5);
    json_decref(r.json);
    expect_items("/v1/items/it1/similar?n=5", 5);
}
END_TEST

typedef struct hammer {
    int requests, bad;
    uint64_t max_version;
} hammer;

static volatile int stop_hammer;

static void *hammer_thread(void *p)
{
    hammer *h = p;
    while (!stop_hammer) {
        reply r;
        http("POST", "/v1/recommend", "{\"user\":\"u3\",\"n\":5}", &r);
        uint64_t v = (uint64_t)json_integer_value(json_object_get(r.json, "version"));
        char header[64];
        snprintf(header, sizeof(header), "X-Recsys-Version: %llu", (unsigned long long)v);
        if (r.status != 200 || json_array_size(json_object_get(r.json, "items")) != 5 ||
            !strstr(r.head, header))
            h->bad++;
        if (v > h->max_version) h->max_version = v;
        h->requests++;
        json_decref(r.json);
    }
    return NULL;
}

START_TEST(test_swap_under_load)
{
    enum { CLIENTS = 3, SWAPS = 12 };
    pthread_t th[CLIENTS];
    hammer h[CLIENTS];
    memset(h, 0, sizeof(h));
    stop_hammer = 0;
    for (int t = 0; t < CLIENTS; t++) pthread_create(&th[t], NULL, hammer_thread, &h[t]);
    rs_error err;
    for (int s = 0; s < SWAPS; s++) {
        /* Alternate the weights; retention keeps two versions in the store. */
        publish(s % 2 ? &w1 : &w2, 2);
        ck_assert_msg(rs_registry_load(reg, "default", 0, 1, &err) == 0, "%s", err.msg);
        usleep(20000);
    }
    stop_hammer = 1;
    int total = 0;
    for (int t = 0; t < CLIENTS; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(h[t].bad, 0);
        total += h[t].requests;
    }
    ck_assert_int_gt(total, SWAPS);
    reply r;
    http("GET", "/readyz", NULL, &r);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "version")), SWAPS + 1);
    json_decref(r.json);
}
END_TEST

int main(void)
{
    /* As in recserve: one BLAS thread per caller. (Threaded OpenBLAS on a
     * busy machine makes the small GEMMs of K-means wait on each other.) */
    openblas_set_num_threads(1);
    Suite *s = suite_create("server_api");
    /* The same tests with each retrieval method behind the API. */
    const char *names[2] = {"bruteforce", "midx"};
    void (*setups[2])(void) = {setup_brute, setup_midx};
    for (int m = 0; m < 2; m++) {
        TCase *tc = tcase_create(names[m]);
        tcase_add_checked_fixture(tc, setups[m], teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_history_ranking);
        tcase_add_test(tc, test_known_user_and_fallback);
        tcase_add_test(tc, test_seen_set_filtered);
        tcase_add_test(tc, test_similar_and_swap_to_anchors);
        tcase_add_test(tc, test_swap_under_load);
        tcase_add_test(tc, test_non_finite_scores);
        tcase_add_test(tc, test_out_of_memory);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
