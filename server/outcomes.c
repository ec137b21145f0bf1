/* outcomes.c - experiment outcome counters, the users table and the report
 * statistics (see outcomes.h). */
#include "outcomes.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define Z95 1.959963984540054

typedef struct arm_counts {
    _Atomic uint64_t impressions, users, converted, untracked, attributed, positive, hits;
    _Atomic uint64_t by_type[RS_EVENT_TYPES_MAX];
} arm_counts;

/* A users-table slot: tag 0 is free. */
typedef struct user_slot {
    uint64_t tag;
    uint16_t arm;
    uint8_t converted;
} user_slot;

typedef struct shard {
    atomic_flag held;
    user_slot *slots;
} shard;

struct rs_outcomes {
    const rs_ab *ab;
    int n_types;
    char type_names[RS_EVENT_TYPES_MAX][40];
    arm_counts *counts; /* [experiment * RS_OUTCOME_MAX_ARMS + arm] */
    size_t shard_slots; /* a power of two */
    shard shards[RS_OUTCOME_SHARDS];
};

int rs_outcomes_create(const rs_ab *ab, const char *const *type_names, int n_types,
                       size_t max_users, rs_outcomes **out, rs_error *err)
{
    *out = NULL;
    if (n_types > RS_EVENT_TYPES_MAX)
        return rs_fail(err, "%d event types; at most %d", n_types, RS_EVENT_TYPES_MAX);
    rs_outcomes *o = rs_calloc(1, sizeof(*o), err);
    if (!o) return -1;
    o->ab = ab;
    o->n_types = n_types;
    for (int t = 0; t < n_types; t++)
        snprintf(o->type_names[t], sizeof(o->type_names[t]), "%s", type_names[t]);
    int n_exp = ab ? ab->n : 0;
    if (n_exp &&
        !(o->counts = rs_calloc((size_t)n_exp * RS_OUTCOME_MAX_ARMS, sizeof(arm_counts), err))) {
        rs_outcomes_free(o);
        return -1;
    }
    /* The users table only matters with experiments. */
    size_t per = 1;
    while (n_exp && per * RS_OUTCOME_SHARDS < max_users) per *= 2;
    o->shard_slots = n_exp && max_users ? per : 0;
    for (int s = 0; s < RS_OUTCOME_SHARDS; s++) {
        atomic_flag_clear(&o->shards[s].held);
        if (o->shard_slots &&
            !(o->shards[s].slots = rs_calloc(o->shard_slots, sizeof(user_slot), err))) {
            rs_outcomes_free(o);
            return -1;
        }
    }
    *out = o;
    return 0;
}

void rs_outcomes_free(rs_outcomes *o)
{
    if (!o) return;
    for (int s = 0; s < RS_OUTCOME_SHARDS; s++) free(o->shards[s].slots);
    free(o->counts);
    free(o);
}

static arm_counts *counts_of(rs_outcomes *o, int experiment, int arm)
{
    if (!o->counts || experiment < 0 || experiment >= o->ab->n || arm < 0 ||
        arm >= o->ab->experiments[experiment].n_arms || arm >= RS_OUTCOME_MAX_ARMS)
        return NULL;
    return &o->counts[(size_t)experiment * RS_OUTCOME_MAX_ARMS + (size_t)arm];
}

static void bump(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* The user's tag for an experiment: a mix of both (never 0). */
static uint64_t user_tag(int experiment, uint64_t key_hash)
{
    uint64_t z = key_hash ^ ((uint64_t)(experiment + 1) * 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return z ? z : 1;
}

static void shard_lock(shard *s)
{
    for (unsigned spins = 0; atomic_flag_test_and_set_explicit(&s->held, memory_order_acquire);)
        if (++spins % 64 == 0) sched_yield();
}

static void shard_unlock(shard *s)
{
    atomic_flag_clear_explicit(&s->held, memory_order_release);
}

/* Finds (insert: or adds) the user; the slot or NULL (absent, or the shard
 * is full). *added says it was new. Call with the shard locked. */
static user_slot *find_user(rs_outcomes *o, shard *s, uint64_t tag, int insert, int arm, int *added)
{
    *added = 0;
    if (!o->shard_slots) return NULL;
    size_t mask = o->shard_slots - 1;
    /* The low bits chose the shard; probe with the high ones. */
    for (size_t i = 0, at = (tag >> 20) & mask; i < o->shard_slots; i++, at = (at + 1) & mask) {
        user_slot *u = &s->slots[at];
        if (u->tag == tag) return u;
        if (u->tag == 0) {
            if (!insert) return NULL;
            /* Keep a quarter free so probes stay short. */
            *u = (user_slot){tag, (uint16_t)arm, 0};
            *added = 1;
            return u;
        }
        if (i > o->shard_slots * 3 / 4) break;
    }
    return NULL;
}

void rs_outcomes_impression(rs_outcomes *o, int experiment, int arm, uint64_t key_hash)
{
    arm_counts *c = counts_of(o, experiment, arm);
    if (!c) return;
    bump(&c->impressions);
    uint64_t tag = user_tag(experiment, key_hash);
    shard *s = &o->shards[tag % RS_OUTCOME_SHARDS];
    int added;
    shard_lock(s);
    user_slot *u = find_user(o, s, tag, 1, arm, &added);
    shard_unlock(s);
    if (added)
        bump(&c->users);
    else if (!u)
        bump(&c->untracked);
}

void rs_outcomes_event(rs_outcomes *o, int experiment, int arm, uint64_t key_hash, int type,
                       int positive, int hit)
{
    arm_counts *c = counts_of(o, experiment, arm);
    if (!c) return;
    bump(&c->attributed);
    if (type >= 0 && type < o->n_types) bump(&c->by_type[type]);
    if (!positive) return;
    bump(&c->positive);
    if (hit) bump(&c->hits);
    uint64_t tag = user_tag(experiment, key_hash);
    shard *s = &o->shards[tag % RS_OUTCOME_SHARDS];
    int added, converted = 0;
    shard_lock(s);
    user_slot *u = find_user(o, s, tag, 0, arm, &added);
    if (u && !u->converted && u->arm == arm) converted = u->converted = 1;
    shard_unlock(s);
    if (converted) bump(&c->converted);
}

int rs_outcomes_find(const rs_outcomes *o, const char *name, size_t len)
{
    for (int e = 0; o->ab && e < o->ab->n; e++)
        if (strlen(o->ab->experiments[e].name) == len &&
            memcmp(o->ab->experiments[e].name, name, len) == 0)
            return e;
    return -1;
}

/* ---- statistics ---- */

void rs_wilson95(uint64_t x, uint64_t n, double *lo, double *hi)
{
    if (n == 0) {
        *lo = *hi = 0;
        return;
    }
    double p = (double)x / (double)n, z2 = Z95 * Z95, nn = (double)n;
    double denom = 1 + z2 / nn, center = (p + z2 / (2 * nn)) / denom;
    double half = Z95 * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
    *lo = center - half < 0 ? 0 : center - half;
    *hi = center + half > 1 ? 1 : center + half;
}

double rs_two_proportion_p(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double *z)
{
    *z = 0;
    if (n1 == 0 || n2 == 0) return 1;
    double p1 = (double)x1 / (double)n1, p2 = (double)x2 / (double)n2;
    double pooled = (double)(x1 + x2) / (double)(n1 + n2);
    double se = sqrt(pooled * (1 - pooled) * (1.0 / (double)n1 + 1.0 / (double)n2));
    if (se == 0) return 1;
    *z = (p1 - p2) / se;
    return erfc(fabs(*z) / sqrt(2.0));
}

/* ---- the report and /metrics ---- */

static json_t *interval(uint64_t x, uint64_t n)
{
    double lo, hi;
    rs_wilson95(x, n, &lo, &hi);
    return n ? json_pack("[f,f]", lo, hi) : json_null();
}

static json_t *rate(uint64_t x, uint64_t n)
{
    return n ? json_real((double)x / (double)n) : json_null();
}

json_t *rs_outcomes_report(rs_outcomes *o, int experiment)
{
    const rs_ab_experiment *x = &o->ab->experiments[experiment];
    json_t *arms = json_array();
    arm_counts *control = counts_of(o, experiment, 0);
    uint64_t c_users = get(&control->users), c_conv = get(&control->converted);
    for (int a = 0; a < x->n_arms; a++) {
        arm_counts *c = counts_of(o, experiment, a);
        if (!c) continue;
        uint64_t users = get(&c->users), conv = get(&c->converted);
        uint64_t attributed = get(&c->attributed), positive = get(&c->positive);
        uint64_t hits = get(&c->hits);
        json_t *types = json_object();
        for (int t = 0; t < o->n_types; t++)
            json_object_set_new(types, o->type_names[t],
                                json_integer((json_int_t)get(&c->by_type[t])));
        json_t *vs = json_null();
        if (a > 0) {
            double z, p = rs_two_proportion_p(conv, users, c_conv, c_users, &z);
            double diff = users && c_users ? (double)conv / users - (double)c_conv / c_users : 0;
            vs = json_pack("{s:f,s:f,s:f,s:b}", "difference", diff, "z", z, "p_value", p,
                           "significant", users && c_users && p < 0.05);
        }
        json_array_append_new(
            arms,
            json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:o,s:o,s:I,s:I,s:o,s:I,s:o,s:o,s:o}", "variant",
                      x->arms[a].variant, "control", a == 0, "impressions",
                      (json_int_t)get(&c->impressions), "users", (json_int_t)users,
                      "untracked_users", (json_int_t)get(&c->untracked), "converted_users",
                      (json_int_t)conv, "conversion_rate", rate(conv, users), "conversion_ci95",
                      interval(conv, users), "attributed_events", (json_int_t)attributed,
                      "positive_events", (json_int_t)positive, "events", types, "hits",
                      (json_int_t)hits, "hit_rate", rate(hits, positive), "hit_rate_ci95",
                      interval(hits, positive), "vs_control", vs));
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:o}", "experiment", x->name, "control", x->arms[0].variant,
                     "test", "pooled two-proportion z-test of conversion_rate, two-sided, 0.05",
                     "scope",
                     "this replica since it started; with N replicas, sum the "
                     "recsys_outcome_* counters of all of them",
                     "variants", arms);
}

void rs_outcomes_render(rs_outcomes *o, FILE *out)
{
    if (!o->counts) return;
    static const struct {
        const char *name, *help;
    } series[] = {
        {"recsys_outcome_impressions_total", "Answers an experiment routed, by variant."},
        {"recsys_outcome_users_total", "Distinct users (keys) who were served, by variant."},
        {"recsys_outcome_converted_users_total",
         "Of those, users with an attributed positive event."},
        {"recsys_outcome_untracked_users_total", "Users not counted: the users table was full."},
        {"recsys_outcome_attributed_events_total", "Events attributed to an answer by request id."},
        {"recsys_outcome_positive_events_total", "Of those, events of a positive type."},
        {"recsys_outcome_hits_total", "Attributed positive events whose item was in the list."},
    };
    for (size_t k = 0; k < sizeof(series) / sizeof(series[0]); k++) {
        fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", series[k].name, series[k].help,
                series[k].name);
        for (int e = 0; e < o->ab->n; e++) {
            const rs_ab_experiment *x = &o->ab->experiments[e];
            for (int a = 0; a < x->n_arms; a++) {
                arm_counts *c = counts_of(o, e, a);
                _Atomic uint64_t *v[] = {&c->impressions, &c->users,      &c->converted,
                                         &c->untracked,   &c->attributed, &c->positive,
                                         &c->hits};
                fprintf(out, "%s{experiment=\"%s\",variant=\"%s\"} %llu\n", series[k].name, x->name,
                        x->arms[a].variant, (unsigned long long)get(v[k]));
            }
        }
    }
    const char *name = "recsys_outcome_events_total";
    fprintf(out, "# HELP %s Attributed events by type.\n# TYPE %s counter\n", name, name);
    for (int e = 0; e < o->ab->n; e++) {
        const rs_ab_experiment *x = &o->ab->experiments[e];
        for (int a = 0; a < x->n_arms; a++)
            for (int t = 0; t < o->n_types; t++)
                fprintf(out, "%s{experiment=\"%s\",variant=\"%s\",type=\"%s\"} %llu\n", name,
                        x->name, x->arms[a].variant, o->type_names[t],
                        (unsigned long long)get(&counts_of(o, e, a)->by_type[t]));
    }
}
