/* impressions.c - the bounded table of served answers (see impressions.h). */
#include "impressions.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One entry: this header, then max_items hashes. */
typedef struct entry {
    uint8_t used, rid_len;
    int16_t experiment, arm;
    uint32_t n_items;
    uint64_t key_hash;
    double time;
    char rid[RS_REQUEST_ID_MAX];
    uint64_t items[];
} entry;

_Static_assert(sizeof(entry) <= RS_IMPRESSION_FIXED, "the documented fixed size per entry");

typedef struct bucket_lock {
    atomic_flag held;
    char pad[63]; /* one cache line each: neighbours do not contend */
} bucket_lock;

struct rs_impressions {
    size_t buckets; /* a power of two */
    uint32_t max_items;
    size_t entry_bytes;
    double ttl;
    bucket_lock *locks;
    unsigned char *entries; /* buckets x ways x entry_bytes */
    _Atomic uint64_t recorded, found, missed;
};

uint64_t rs_id_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ? h : 1;
}

int rs_impressions_create(size_t capacity, double ttl, uint32_t max_items, rs_impressions **out,
                          rs_error *err)
{
    *out = NULL;
    rs_impressions *imp = rs_calloc(1, sizeof(*imp), err);
    if (!imp) return -1;
    size_t buckets = 1;
    while (buckets * RS_IMPRESSION_WAYS < capacity && buckets < ((size_t)1 << 40)) buckets *= 2;
    imp->buckets = buckets;
    imp->max_items = max_items;
    imp->entry_bytes = (sizeof(entry) + (size_t)max_items * sizeof(uint64_t) + 7) & ~(size_t)7;
    imp->ttl = ttl;
    imp->locks = rs_calloc(buckets, sizeof(bucket_lock), err);
    imp->entries =
        imp->locks ? rs_calloc(buckets * RS_IMPRESSION_WAYS, imp->entry_bytes, err) : NULL;
    if (!imp->entries) {
        rs_impressions_free(imp);
        return -1;
    }
    for (size_t b = 0; b < buckets; b++) atomic_flag_clear(&imp->locks[b].held);
    *out = imp;
    return 0;
}

void rs_impressions_free(rs_impressions *imp)
{
    if (!imp) return;
    free(imp->locks);
    free(imp->entries);
    free(imp);
}

size_t rs_impressions_capacity(const rs_impressions *imp)
{
    return imp->buckets * RS_IMPRESSION_WAYS;
}

uint32_t rs_impressions_max_items(const rs_impressions *imp)
{
    return imp->max_items;
}

size_t rs_impressions_entry_bytes(const rs_impressions *imp)
{
    return imp->entry_bytes;
}

static entry *entry_at(rs_impressions *imp, size_t bucket, int way)
{
    return (entry *)(imp->entries + (bucket * RS_IMPRESSION_WAYS + (size_t)way) * imp->entry_bytes);
}

static void lock(bucket_lock *l)
{
    while (atomic_flag_test_and_set_explicit(&l->held, memory_order_acquire)) {
    }
}

static void unlock(bucket_lock *l)
{
    atomic_flag_clear_explicit(&l->held, memory_order_release);
}

static int same_id(const entry *e, const char *rid, size_t len)
{
    return e->used && e->rid_len == len && memcmp(e->rid, rid, len) == 0;
}

void rs_impressions_record(rs_impressions *imp, const char *rid, size_t rid_len,
                           const rs_impression *what, const uint64_t *items, uint32_t n_items,
                           double now)
{
    if (!rid_len || rid_len > RS_REQUEST_ID_MAX) return;
    size_t b = rs_id_hash(rid, rid_len) & (imp->buckets - 1);
    if (n_items > imp->max_items) n_items = imp->max_items;
    lock(&imp->locks[b]);
    /* The same id, else a free entry, else the oldest. */
    entry *victim = NULL;
    for (int w = 0; w < RS_IMPRESSION_WAYS && !victim; w++)
        if (same_id(entry_at(imp, b, w), rid, rid_len)) victim = entry_at(imp, b, w);
    for (int w = 0; w < RS_IMPRESSION_WAYS && !victim; w++)
        if (!entry_at(imp, b, w)->used) victim = entry_at(imp, b, w);
    if (!victim) {
        victim = entry_at(imp, b, 0);
        for (int w = 1; w < RS_IMPRESSION_WAYS; w++)
            if (entry_at(imp, b, w)->time < victim->time) victim = entry_at(imp, b, w);
    }
    victim->used = 1;
    victim->rid_len = (uint8_t)rid_len;
    memcpy(victim->rid, rid, rid_len);
    victim->experiment = (int16_t)what->experiment;
    victim->arm = (int16_t)what->arm;
    victim->key_hash = what->key_hash;
    victim->time = now;
    victim->n_items = n_items;
    if (n_items) memcpy(victim->items, items, n_items * sizeof(uint64_t));
    unlock(&imp->locks[b]);
    atomic_fetch_add_explicit(&imp->recorded, 1, memory_order_relaxed);
}

int rs_impressions_find(rs_impressions *imp, const char *rid, size_t rid_len, double now,
                        rs_impression *out)
{
    int found = 0;
    if (rid_len && rid_len <= RS_REQUEST_ID_MAX) {
        size_t b = rs_id_hash(rid, rid_len) & (imp->buckets - 1);
        lock(&imp->locks[b]);
        for (int w = 0; w < RS_IMPRESSION_WAYS && !found; w++) {
            entry *e = entry_at(imp, b, w);
            if (!same_id(e, rid, rid_len) || now - e->time > imp->ttl) continue;
            out->experiment = e->experiment;
            out->arm = e->arm;
            out->key_hash = e->key_hash;
            out->time = e->time;
            out->n_items = e->n_items;
            memcpy(out->items, e->items, e->n_items * sizeof(uint64_t));
            found = 1;
        }
        unlock(&imp->locks[b]);
    }
    atomic_fetch_add_explicit(found ? &imp->found : &imp->missed, 1, memory_order_relaxed);
    return found;
}

void rs_impressions_counts(const rs_impressions *imp, uint64_t *recorded, uint64_t *found,
                           uint64_t *missed)
{
    rs_impressions *m = (rs_impressions *)imp;
    *recorded = atomic_load_explicit(&m->recorded, memory_order_relaxed);
    *found = atomic_load_explicit(&m->found, memory_order_relaxed);
    *missed = atomic_load_explicit(&m->missed, memory_order_relaxed);
}
