/* experiment.c - experiments parsing and stable bucket assignment (see
 * experiment.h; the rule is documented for operators in etc/README.md). */
#include "experiment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "request.h"

/* ---- the hash ---- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* FNV-1a alone mixes its last bytes poorly into the low bits, and ids often
 * differ only there ("u1", "u2"); the finaliser spreads every input bit over
 * the whole word. */
static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

uint64_t rs_ab_hash(const char *salt, size_t salt_len, const char *key, size_t key_len)
{
    static const unsigned char zero = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv1a(h, salt, salt_len);
    h = fnv1a(h, &zero, 1);
    h = fnv1a(h, key, key_len);
    return fmix64(h);
}

/* ---- assignment ---- */

int rs_ab_active(const rs_ab_experiment *e, double now)
{
    if (e->has_start && now < e->start) return 0;
    if (e->has_end && now >= e->end) return 0;
    return 1;
}

const char *rs_ab_reason_name(rs_ab_reason r)
{
    switch (r) {
    case RS_AB_ASSIGNED:
        return "assigned";
    case RS_AB_NO_KEY:
        return "no_key";
    case RS_AB_NO_EXPERIMENT:
        return "no_experiment";
    case RS_AB_OUTSIDE_SHARE:
        return "outside_share";
    }
    return "?";
}

void rs_ab_assign(const rs_ab *ab, const char *key, size_t len, double now, rs_ab_assignment *out)
{
    memset(out, 0, sizeof(*out));
    int running = 0;
    for (int i = 0; ab && i < ab->n; i++)
        if (rs_ab_active(&ab->experiments[i], now)) running++;
    if (!running) {
        out->reason = RS_AB_NO_EXPERIMENT;
        return;
    }
    if (!key) {
        out->reason = RS_AB_NO_KEY;
        return;
    }
    out->reason = RS_AB_OUTSIDE_SHARE;
    for (int i = 0; i < ab->n; i++) {
        const rs_ab_experiment *e = &ab->experiments[i];
        if (!rs_ab_active(e, now)) continue;
        uint64_t h = rs_ab_hash(e->salt, e->salt_len, key, len);
        uint32_t share = rs_ab_share_bucket(h), bucket = rs_ab_variant_bucket(h);
        if (share >= e->share_buckets) continue;
        /* Arms tile [0, RS_AB_BUCKETS) in order; few arms, so a linear scan. */
        for (int a = 0; a < e->n_arms; a++) {
            if (bucket < e->arms[a].end) {
                out->reason = RS_AB_ASSIGNED;
                out->experiment = e;
                out->arm = &e->arms[a];
                out->variant_bucket = bucket;
                out->share_bucket = share;
                return;
            }
        }
    }
}

/* ---- times ---- */

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int rs_parse_rfc3339(const char *text, double *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text;
    int Y, M, D, h, m, s;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D) ||
        (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &s))
        return -1;
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || h > 23 || m > 59 || s > 59) return -1;
    int days_in_month = mdays[M - 1] + (M == 2 && is_leap(Y));
    if (D > days_in_month) return -1;
    double frac = 0;
    if (*p == '.') {
        p++;
        double scale = 0.1;
        if (*p < '0' || *p > '9') return -1;
        while (*p >= '0' && *p <= '9') {
            frac += (*p++ - '0') * scale;
            scale /= 10;
        }
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p != '\0') return -1;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    *out = (double)t - offset + frac;
    return 0;
}

void rs_format_rfc3339(double t, char *buf, size_t cap)
{
    time_t tt = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- parsing ---- */

/* Fails on the first key of obj not in allowed (NULL-terminated). */
static int only_fields(const json_t *obj, const char *const *allowed, const char *where,
                       rs_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(key, *a) == 0;
        if (!ok) {
            char list[256] = "";
            for (const char *const *a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         a == allowed ? "" : ", ", *a);
            return rs_fail(err, "%s: unknown field \"%.64s\" (expected %s)", where, key, list);
        }
    }
    return 0;
}

static int known_variant(const char *name, const char *const *variants, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(variants[i], name) == 0) return 1;
    return 0;
}

static int parse_time_field(const json_t *e, const char *field, const char *where, int *has,
                            double *out, rs_error *err)
{
    json_t *v = json_object_get(e, field);
    *has = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v))
        return rs_fail(err, "%s.%s: expected an RFC 3339 date-time string, got %s", where, field,
                       rs_json_type_name(v));
    if (rs_parse_rfc3339(json_string_value(v), out) != 0)
        return rs_fail(err,
                       "%s.%s: \"%.64s\" is not an RFC 3339 date-time (e.g. "
                       "2026-11-01T00:00:00Z)",
                       where, field, json_string_value(v));
    *has = 1;
    return 0;
}

static int parse_arms(const json_t *list, rs_ab_experiment *x, const char *where,
                      const char *const *variants, int n_variants, rs_error *err)
{
    static const char *const fields[] = {"name", "weight", NULL};
    if (!json_is_array(list) || json_array_size(list) == 0)
        return rs_fail(err, "%s.variants: expected a non-empty array of {\"name\", \"weight\"}",
                       where);
    size_t n = json_array_size(list);
    if (n > 64) return rs_fail(err, "%s.variants: %zu variants; at most 64", where, n);
    x->arms = rs_calloc(n, sizeof(*x->arms), err);
    if (!x->arms) return -1;
    x->n_arms = (int)n;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        char at[160];
        snprintf(at, sizeof(at), "%s.variants[%zu]", where, i);
        json_t *a = json_array_get(list, i);
        if (!json_is_object(a))
            return rs_fail(err, "%s: expected an object {\"name\", \"weight\"}, got %s", at,
                           rs_json_type_name(a));
        if (only_fields(a, fields, at, err) != 0) return -1;
        json_t *name = json_object_get(a, "name"), *weight = json_object_get(a, "weight");
        if (!json_is_string(name)) return rs_fail(err, "%s.name: expected a variant name", at);
        const char *vn = json_string_value(name);
        rs_error nerr;
        if (rs_store_check_name("variant", vn, &nerr) != 0)
            return rs_fail(err, "%s.name: %s", at, nerr.msg);
        if (variants && !known_variant(vn, variants, n_variants))
            return rs_fail(err, "%s.name: unknown variant \"%s\" (not in \"variants\")", at, vn);
        for (size_t j = 0; j < i; j++)
            if (strcmp(x->arms[j].variant, vn) == 0)
                return rs_fail(err, "%s.name: variant \"%s\" appears twice in experiment %s", at,
                               vn, x->name);
        if (!json_is_number(weight))
            return rs_fail(err, "%s.weight: expected a positive number, got %s", at,
                           weight ? rs_json_type_name(weight) : "nothing");
        double w = json_number_value(weight);
        if (!(w > 0) || !isfinite(w) || w > 1e9)
            return rs_fail(err, "%s.weight: %g is not a positive number (up to 1e9)", at, w);
        snprintf(x->arms[i].variant, sizeof(x->arms[i].variant), "%s", vn);
        x->arms[i].weight = w;
        total += w;
    }
    /* Cumulative rounding: the ranges tile all buckets exactly, and each
     * boundary moves little when one weight changes. */
    double cum = 0;
    uint32_t first = 0;
    for (int i = 0; i < x->n_arms; i++) {
        cum += x->arms[i].weight;
        uint32_t end =
            i == x->n_arms - 1 ? RS_AB_BUCKETS : (uint32_t)llround(RS_AB_BUCKETS * (cum / total));
        if (end <= first)
            return rs_fail(err,
                           "%s.variants[%d]: weight %g of variant %s is too small to get one of "
                           "the %d buckets",
                           where, i, x->arms[i].weight, x->arms[i].variant, RS_AB_BUCKETS);
        x->arms[i].first = first;
        x->arms[i].end = end;
        first = end;
    }
    return 0;
}

static int parse_one(const json_t *e, int index, rs_ab_experiment *x, const char *const *variants,
                     int n_variants, rs_error *err)
{
    static const char *const fields[] = {"name",  "description", "salt",     "share",
                                         "start", "end",         "variants", NULL};
    char where[96];
    snprintf(where, sizeof(where), "experiments[%d]", index);
    if (!json_is_object(e))
        return rs_fail(err, "%s: expected an object, got %s", where, rs_json_type_name(e));
    if (only_fields(e, fields, where, err) != 0) return -1;

    json_t *name = json_object_get(e, "name");
    if (!json_is_string(name)) return rs_fail(err, "%s.name: expected a string", where);
    rs_error nerr;
    if (rs_store_check_name("experiment", json_string_value(name), &nerr) != 0)
        return rs_fail(err, "%s.name: %s", where, nerr.msg);
    snprintf(x->name, sizeof(x->name), "%s", json_string_value(name));
    snprintf(where, sizeof(where), "experiments[%d] (%s)", index, x->name);

    json_t *desc = json_object_get(e, "description");
    if (desc && !json_is_string(desc) && !json_is_null(desc))
        return rs_fail(err, "%s.description: expected a string", where);

    json_t *salt = json_object_get(e, "salt");
    if (!json_is_string(salt) || json_string_length(salt) == 0)
        return rs_fail(err,
                       "%s.salt: expected a non-empty string (it seeds the assignment; a new "
                       "salt reshuffles users)",
                       where);
    size_t salt_len = json_string_length(salt);
    if (salt_len > RS_AB_SALT_MAX)
        return rs_fail(err, "%s.salt: %zu bytes; at most %d", where, salt_len, RS_AB_SALT_MAX);
    if (memchr(json_string_value(salt), 0, salt_len))
        return rs_fail(err, "%s.salt: must not contain a NUL character", where);
    memcpy(x->salt, json_string_value(salt), salt_len);
    x->salt[salt_len] = '\0';
    x->salt_len = salt_len;

    json_t *share = json_object_get(e, "share");
    x->share = 1.0;
    if (share && !json_is_null(share)) {
        if (!json_is_number(share))
            return rs_fail(err, "%s.share: expected a number in (0, 1], got %s", where,
                           rs_json_type_name(share));
        x->share = json_number_value(share);
        if (!(x->share > 0 && x->share <= 1))
            return rs_fail(err,
                           "%s.share: %g is not in (0, 1] (the fraction of users in the "
                           "experiment)",
                           where, x->share);
    }
    x->share_buckets = (uint32_t)llround(x->share * RS_AB_BUCKETS);
    if (x->share_buckets == 0)
        return rs_fail(err, "%s.share: %g is less than one bucket in %d", where, x->share,
                       RS_AB_BUCKETS);

    if (parse_time_field(e, "start", where, &x->has_start, &x->start, err) != 0 ||
        parse_time_field(e, "end", where, &x->has_end, &x->end, err) != 0)
        return -1;
    if (x->has_start && x->has_end && !(x->end > x->start))
        return rs_fail(err, "%s: end %s is not after start %s", where,
                       json_string_value(json_object_get(e, "end")),
                       json_string_value(json_object_get(e, "start")));
    return parse_arms(json_object_get(e, "variants"), x, where, variants, n_variants, err);
}

void rs_ab_free(rs_ab *ab)
{
    if (!ab) return;
    for (int i = 0; i < ab->n; i++) free(ab->experiments[i].arms);
    free(ab->experiments);
    free(ab);
}

int rs_ab_parse(const json_t *list, const char *const *variants, int n_variants, rs_ab **out,
                rs_error *err)
{
    *out = NULL;
    if (!json_is_array(list))
        return rs_fail(err, "experiments: expected an array, got %s", rs_json_type_name(list));
    size_t n = json_array_size(list);
    if (n > 64) return rs_fail(err, "experiments: %zu experiments; at most 64", n);
    rs_ab *ab = rs_calloc(1, sizeof(*ab), err);
    if (!ab) return -1;
    if (n && !(ab->experiments = rs_calloc(n, sizeof(*ab->experiments), err))) goto fail;
    for (size_t i = 0; i < n; i++) {
        ab->n = (int)i + 1; /* so rs_ab_free releases what parse_one made */
        rs_ab_experiment *x = &ab->experiments[i];
        if (parse_one(json_array_get(list, i), (int)i, x, variants, n_variants, err) != 0)
            goto fail;
        for (size_t j = 0; j < i; j++) {
            const rs_ab_experiment *y = &ab->experiments[j];
            if (strcmp(x->name, y->name) == 0) {
                rs_fail(err, "experiments[%zu]: duplicate experiment name \"%s\"", i, x->name);
                goto fail;
            }
            /* The same salt would give the same buckets: two experiments
             * would split the very same users, which is never meant. */
            if (x->salt_len == y->salt_len && memcmp(x->salt, y->salt, x->salt_len) == 0) {
                rs_fail(err,
                        "experiments[%zu] (%s): same salt as experiment %s; give each "
                        "experiment its own salt",
                        i, x->name, y->name);
                goto fail;
            }
        }
    }
    ab->n = (int)n;
    *out = ab;
    return 0;
fail:
    rs_ab_free(ab);
    return -1;
}
