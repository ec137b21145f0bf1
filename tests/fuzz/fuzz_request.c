/* fuzz_request.c - libFuzzer target for the server's request-parsing path:
 * recommend bodies (depth pre-check, JSON parse, field validation), route
 * matching of raw paths, percent-decoding of path segments and query values,
 * the n / boolean query parameters, batch bodies and the filter parameter
 * (the filter, offset, mode, temperature, seed and explain fields), and
 * POST /v1/events bodies.
 *
 * The whole input is a body; its first line (up to 4 KiB) is also a path
 * (with an optional "?query"). Invariants are checked, not just "no crash":
 * an accepted request has a user or a history, n in range, offset + n and
 * the temperature within their limits, sample-only fields only in sample
 * mode, filter lists within their limits and ranges with min <= max, and
 * every id is NUL-free and terminated at its length; a refused one is a 400
 * or a 422 with a code and a message. An accepted events batch has
 * 1..max_batch events, each with exactly one key, an item, a configured
 * type, ids within their bounds, a finite timestamp and a valid request id
 * when it has one, and encodes to a record that decodes to the same event.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eventlog.h"
#include "events_parse.h"
#include "http.h"
#include "request.h"
#include "router.h"

/* The API's route shapes (the handlers do not matter here). */
static const rs_route routes[] = {
    {"POST", "/v1/recommend"},
    {"POST", "/v1/recommend/batch"},
    {"GET", "/v1/items/{id}"},
    {"GET", "/v1/users/{id}/recommendations"},
    {"GET", "/v1/items/{id}/similar"},
    {"GET", "/v1/models"},
    {"GET", "/healthz"},
    {"GET", "/readyz"},
    {"GET", "/metrics"},
};
#define N_ROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

static void check_ids(const rs_id *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i].ptr[ids[i].len] != '\0' || strlen(ids[i].ptr) != ids[i].len) abort();
}

static void check_filter(const rs_filter_request *f, const rs_limits *lim)
{
    if (!f->given) {
        if (f->n_any || f->n_all || f->n_none || f->n_ranges || f->n_allow || f->n_deny) abort();
        return;
    }
    if (f->n_any > RS_FILTER_MAX_CATEGORIES || f->n_all > RS_FILTER_MAX_CATEGORIES ||
        f->n_none > RS_FILTER_MAX_CATEGORIES || f->n_ranges > RS_FILTER_MAX_RANGES ||
        f->n_allow > lim->max_exclude || f->n_deny > lim->max_exclude)
        abort();
    if (f->n_any && !f->any_given) abort();
    if (f->n_allow && !f->allow_given) abort();
    check_ids(f->any, f->n_any);
    check_ids(f->all, f->n_all);
    check_ids(f->none, f->n_none);
    check_ids(f->allow, f->n_allow);
    check_ids(f->deny, f->n_deny);
    for (uint32_t i = 0; i < f->n_ranges; i++) {
        if (!(f->ranges[i].min <= f->ranges[i].max)) abort();
        check_ids(&f->ranges[i].field, 1);
    }
}

static void check_request(const rs_reco_request *r, const rs_limits *lim)
{
    if (!r->has_user && !r->has_history) abort();
    if (r->n < 1 || r->n > lim->max_n) abort();
    if (r->n_history > lim->max_history || r->n_exclude > lim->max_exclude) abort();
    if (r->offset > RS_MAX_OFFSET) abort();
    if (r->mode == RS_MODE_SAMPLE ? r->offset != 0 : (r->has_seed || r->temperature != 1.0))
        abort();
    if (!(r->temperature >= RS_MIN_TEMPERATURE && r->temperature <= RS_MAX_TEMPERATURE)) abort();
    if (r->has_user) check_ids(&r->user, 1);
    if (r->has_variant) check_ids(&r->variant, 1);
    check_ids(r->history, r->n_history);
    check_ids(r->exclude, r->n_exclude);
    check_filter(&r->filter, lim);
}

static void check_refusal(const rs_request_error *e)
{
    if (e->status != 400 && e->status != 422) abort();
    if (!e->code || e->message[0] == '\0') abort();
}

static void parse_body(const uint8_t *data, size_t size, const rs_limits *lim)
{
    rs_reco_request r;
    rs_request_error e = {0};
    if (rs_reco_request_parse((const char *)data, size, lim, &r, &e) == 0) {
        check_request(&r, lim);
        rs_reco_request_free(&r);
    } else {
        check_refusal(&e);
    }
    rs_reco_request *reqs;
    uint32_t n;
    json_t *root;
    if (rs_reco_batch_parse((const char *)data, size, lim, &reqs, &n, &root, &e) == 0) {
        if (n < 1 || n > lim->max_batch || !root) abort();
        for (uint32_t i = 0; i < n; i++) check_request(&reqs[i], lim);
        rs_reco_batch_request_free(reqs, n, root);
    } else {
        check_refusal(&e);
    }
}

static void parse_path(const uint8_t *data, size_t size, const rs_limits *lim)
{
    size_t len = 0;
    while (len < size && len < 4096 && data[len] != '\n' && data[len] != '\0') len++;
    char *line = malloc(len + 1);
    if (!line) return;
    memcpy(line, data, len);
    line[len] = '\0';
    char *query = strchr(line, '?');
    if (query) *query++ = '\0';

    static const char *methods[] = {"GET", "POST", "HEAD", "DELETE"};
    for (int k = 0; k < 4; k++) {
        rs_route_match m;
        char allow[96];
        int rc = rs_router_match(routes, N_ROUTES, methods[k], line, &m, allow, sizeof(allow));
        if (rc == RS_ROUTE_FOUND) {
            if (m.route < 0 || m.route >= N_ROUTES || m.n_params > RS_ROUTE_MAX_PARAMS) abort();
            for (int i = 0; i < m.n_params; i++) {
                if (m.param_len[i] == 0 || m.param[i] < line ||
                    m.param[i] + m.param_len[i] > line + len)
                    abort();
                char *dec = malloc(m.param_len[i] + 1);
                size_t dlen;
                if (dec && rs_percent_decode(m.param[i], m.param_len[i], dec, &dlen) == 0 &&
                    (dlen > m.param_len[i] || strlen(dec) != dlen))
                    abort();
                free(dec);
            }
        } else if (rc == RS_ROUTE_BAD_METHOD) {
            if (allow[0] == '\0') abort();
        } else if (rc != RS_ROUTE_NOT_FOUND) {
            abort();
        }
    }
    if (query) {
        size_t qlen = strlen(query), dlen;
        char *dec = malloc(qlen + 1);
        if (dec && rs_percent_decode(query, qlen, dec, &dlen) == 0) {
            rs_request_error e;
            uint32_t n;
            int b;
            if (rs_parse_n_param(dec, lim, &n, &e) == 0 && (n < 1 || n > lim->max_n)) abort();
            rs_parse_bool_param("filter_history", dec, 1, &b, &e);
            rs_filter_request f;
            if (rs_filter_parse_text(dec, lim, &f, &e) == 0) {
                if (!f.given || !f.root) abort();
                check_filter(&f, lim);
                rs_filter_request_free(&f);
            } else {
                check_refusal(&e);
            }
        }
        free(dec);
    }
    free(line);
}

static void same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen || (alen && memcmp(a, b, alen) != 0)) abort();
}

static void parse_events(const uint8_t *data, size_t size, const rs_event_rules *rules)
{
    rs_event_batch b;
    int status;
    json_t *error;
    if (rs_event_batch_parse(rules, (const char *)data, size, 1.7e9, &b, &status, &error) != 0) {
        if (status != 400 && status != 422 && status != 503) abort();
        json_t *e = json_object_get(error, "error");
        if (status != 503 && (!json_is_string(json_object_get(e, "code")) ||
                              !json_is_string(json_object_get(e, "message"))))
            abort();
        json_decref(error);
        return;
    }
    if (b.n < 1 || b.n > rules->max_batch) abort();
    for (size_t i = 0; i < b.n; i++) {
        const rs_event *e = &b.events[i];
        if (!e->key_len || e->key_len > RS_EVENT_ID_MAX || !e->item_len ||
            e->item_len > RS_EVENT_ID_MAX || memchr(e->key, 0, e->key_len) ||
            memchr(e->item, 0, e->item_len) ||
            rs_event_type_index(rules, e->type, e->type_len) < 0 || !(e->timestamp > 0) ||
            e->timestamp > 1.7e9 + RS_EVENT_FUTURE_SLACK ||
            (e->request_id_len && !rs_request_id_valid(e->request_id, e->request_id_len)))
            abort();
        size_t len = rs_event_record_size(e);
        uint8_t *rec = malloc(len);
        if (!rec) continue;
        rs_event_encode(e, rec);
        rs_event d;
        rs_error err;
        if (rs_event_decode(rec, len, &d, &err) != 0) abort();
        same_bytes(d.key, d.key_len, e->key, e->key_len);
        same_bytes(d.item, d.item_len, e->item, e->item_len);
        same_bytes(d.type, d.type_len, e->type, e->type_len);
        same_bytes(d.request_id, d.request_id_len, e->request_id, e->request_id_len);
        if (d.session != e->session || d.timestamp != e->timestamp || d.has_value != e->has_value ||
            (e->has_value && d.value != e->value))
            abort();
        /* One flipped bit anywhere is caught by the checksum. */
        rec[len / 2] ^= 0x10;
        if (rs_event_decode(rec, len, &d, &err) == 0) abort();
        free(rec);
    }
    rs_event_batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_limits lim;
    rs_limits_default(&lim);
    parse_body(data, size, &lim);
    /* Tiny limits reach the 422 paths with small inputs. */
    rs_limits tiny = {
        .max_n = 5, .max_history = 3, .max_exclude = 2, .max_depth = 4, .max_batch = 2};
    parse_body(data, size, &tiny);
    parse_path(data, size, &lim);
    static rs_event_rules rules, small;
    static int rules_ready;
    if (!rules_ready) {
        rs_error err;
        if (rs_event_rules_init(&rules, "view,click,purchase", "click,purchase", 1000, &err) != 0 ||
            rs_event_rules_init(&small, "click", "click", 2, &err) != 0)
            abort();
        rules_ready = 1;
    }
    parse_events(data, size, &rules);
    parse_events(data, size, &small);
    return 0;
}
