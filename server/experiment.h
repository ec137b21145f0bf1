/* experiment.h - A/B experiments: which variant serves a user.
 *
 * Owns the parsed experiments (the "experiments" array of the serving config,
 * etc/README.md) and the assignment rule. A key (a user id, or a session key
 * for anonymous requests) is hashed with an experiment's salt; one half of the
 * hash picks a bucket out of RS_AB_BUCKETS that says whether the key is inside
 * the experiment's share of users, the other half a bucket that says which
 * variant serves it (each variant owns a contiguous range of buckets in
 * proportion to its weight). The hash is fixed and documented, so every
 * replica, every restart and any offline analysis agree with no shared state.
 * Assignment is a pure function of (config, key, time): no lock, no
 * allocation. An rs_ab is immutable once parsed.
 */
#ifndef RS_EXPERIMENT_H
#define RS_EXPERIMENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "names.h"

#define RS_AB_BUCKETS  10000
#define RS_AB_SALT_MAX 256

typedef struct rs_ab_arm {
    char variant[RS_NAME_MAX + 1];
    double weight;
    uint32_t first, end; /* its variant buckets: [first, end) */
} rs_ab_arm;

typedef struct rs_ab_experiment {
    char name[RS_NAME_MAX + 1];
    char salt[RS_AB_SALT_MAX + 1];
    size_t salt_len;
    double share;           /* fraction of keys inside the experiment, (0, 1] */
    uint32_t share_buckets; /* inside when the share bucket is below this */
    int has_start, has_end;
    double start, end; /* Unix seconds: active on [start, end) */
    int n_arms;
    rs_ab_arm *arms;
} rs_ab_experiment;

typedef struct rs_ab {
    int n;
    rs_ab_experiment *experiments; /* in config order: the first that applies wins */
} rs_ab;

/* Parses and validates a JSON array of experiments. With variants (n_variants
 * names) every variant an experiment names must be one of them; with NULL the
 * names are only syntax-checked (the caller checks them against the store).
 * Errors name the offending element, e.g. "experiments[1].variants[0]:
 * weight must be a positive number". *out is freed with rs_ab_free. */
int rs_ab_parse(const json_t *experiments, const char *const *variants, int n_variants, rs_ab **out,
                rs_error *err);
void rs_ab_free(rs_ab *ab);

/* The assignment hash: FNV-1a (64-bit) over the salt, one zero byte and the
 * key, then the MurmurHash3 64-bit finaliser. */
uint64_t rs_ab_hash(const char *salt, size_t salt_len, const char *key, size_t key_len);
/* Bucket deciding the variant: the low 32 bits modulo RS_AB_BUCKETS. */
static inline uint32_t rs_ab_variant_bucket(uint64_t h)
{
    return (uint32_t)(h & 0xffffffffu) % RS_AB_BUCKETS;
}
/* Bucket deciding membership in the share: the high 32 bits modulo RS_AB_BUCKETS. */
static inline uint32_t rs_ab_share_bucket(uint64_t h)
{
    return (uint32_t)(h >> 32) % RS_AB_BUCKETS;
}

/* True when the experiment runs at Unix time now. */
int rs_ab_active(const rs_ab_experiment *e, double now);

typedef enum rs_ab_reason {
    RS_AB_ASSIGNED = 0,  /* an experiment chose the variant */
    RS_AB_NO_KEY,        /* no user or session key: the default variant */
    RS_AB_NO_EXPERIMENT, /* no experiment is running now */
    RS_AB_OUTSIDE_SHARE, /* running experiments exist, the key is in none's share */
} rs_ab_reason;

typedef struct rs_ab_assignment {
    rs_ab_reason reason;
    const rs_ab_experiment *experiment; /* the deciding experiment (NULL unless ASSIGNED) */
    const rs_ab_arm *arm;               /* its arm (NULL unless ASSIGNED) */
    uint32_t variant_bucket, share_bucket;
} rs_ab_assignment;

/* Assigns key (len bytes; NULL for none) at Unix time now: the running
 * experiments are tried in order and the first whose share holds the key
 * decides. ab may be NULL (no experiments). */
void rs_ab_assign(const rs_ab *ab, const char *key, size_t len, double now, rs_ab_assignment *out);

/* "assigned", "no_key", "no_experiment", "outside_share". */
const char *rs_ab_reason_name(rs_ab_reason r);

/* Parses an RFC 3339 date-time ("2026-11-01T00:00:00Z", fractions of a second
 * and numeric offsets such as "+02:00" allowed) into Unix seconds. */
int rs_parse_rfc3339(const char *text, double *out);

/* Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void rs_format_rfc3339(double t, char *buf, size_t cap);

#endif
