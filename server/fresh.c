/* fresh.c - the fresh-history table (see fresh.h). */
#include "fresh.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "impressions.h" /* rs_id_hash */

typedef struct fresh_event {
    char *item; /* NUL-terminated copy */
    size_t item_len;
    double timestamp;
    uint64_t seq;
} fresh_event;

typedef struct fresh_key {
    struct fresh_key *next;
    uint64_t hash;
    char *key;
    size_t key_len;
    fresh_event *events; /* a ring of max_items: the oldest at head */
    uint32_t head, count;
} fresh_key;

typedef struct fresh_shard {
    pthread_rwlock_t lock;
    fresh_key **table;
    size_t table_size; /* a power of two */
    size_t n_keys;
} fresh_shard;

struct rs_fresh {
    uint32_t max_items;
    size_t max_keys;
    _Atomic size_t keys;
    _Atomic uint64_t events, refused;
    fresh_shard shards[RS_FRESH_SHARDS];
};

int rs_fresh_create(uint32_t max_items, size_t max_keys, rs_fresh **out, rs_error *err)
{
    *out = NULL;
    rs_fresh *f = rs_calloc(1, sizeof(*f), err);
    if (!f) return -1;
    f->max_items = max_items ? max_items : 1;
    f->max_keys = max_keys;
    for (int s = 0; s < RS_FRESH_SHARDS; s++) pthread_rwlock_init(&f->shards[s].lock, NULL);
    *out = f;
    return 0;
}

static void free_key(fresh_key *k, uint32_t max_items)
{
    for (uint32_t i = 0; i < k->count; i++) free(k->events[(k->head + i) % max_items].item);
    free(k->events);
    free(k->key);
    free(k);
}

void rs_fresh_free(rs_fresh *f)
{
    if (!f) return;
    for (int s = 0; s < RS_FRESH_SHARDS; s++) {
        fresh_shard *sh = &f->shards[s];
        for (size_t i = 0; i < sh->table_size; i++)
            for (fresh_key *k = sh->table[i], *next; k; k = next) {
                next = k->next;
                free_key(k, f->max_items);
            }
        free(sh->table);
        pthread_rwlock_destroy(&sh->lock);
    }
    free(f);
}

static fresh_shard *shard_of(rs_fresh *f, uint64_t h)
{
    return &f->shards[(h >> 58) % RS_FRESH_SHARDS];
}

static fresh_key *lookup(fresh_shard *sh, uint64_t h, const char *key, size_t len)
{
    if (!sh->table_size) return NULL;
    for (fresh_key *k = sh->table[h & (sh->table_size - 1)]; k; k = k->next)
        if (k->hash == h && k->key_len == len && memcmp(k->key, key, len) == 0) return k;
    return NULL;
}

/* Doubles the shard's table when it is as full as it is large. */
static int grow(fresh_shard *sh, rs_error *err)
{
    if (sh->n_keys < sh->table_size) return 0;
    size_t size = sh->table_size ? 2 * sh->table_size : 64;
    fresh_key **table = rs_calloc(size, sizeof(*table), err);
    if (!table) return -1;
    for (size_t i = 0; i < sh->table_size; i++)
        for (fresh_key *k = sh->table[i], *next; k; k = next) {
            next = k->next;
            k->next = table[k->hash & (size - 1)];
            table[k->hash & (size - 1)] = k;
        }
    free(sh->table);
    sh->table = table;
    sh->table_size = size;
    return 0;
}

static fresh_key *new_key(rs_fresh *f, uint64_t h, const char *key, size_t len, rs_error *err)
{
    fresh_key *k = rs_calloc(1, sizeof(*k), err);
    if (!k) return NULL;
    k->hash = h;
    k->key_len = len;
    k->key = rs_malloc(len + 1, 1, err);
    k->events = k->key ? rs_calloc(f->max_items, sizeof(fresh_event), err) : NULL;
    if (!k->events) {
        free(k->key);
        free(k);
        return NULL;
    }
    memcpy(k->key, key, len);
    k->key[len] = '\0';
    return k;
}

int rs_fresh_add(rs_fresh *f, const char *key, size_t key_len, const char *item, size_t item_len,
                 double timestamp, uint64_t seq, rs_error *err)
{
    uint64_t h = rs_id_hash(key, key_len);
    fresh_shard *sh = shard_of(f, h);
    char *copy = rs_malloc(item_len + 1, 1, err);
    if (!copy) return -1;
    memcpy(copy, item, item_len);
    copy[item_len] = '\0';
    pthread_rwlock_wrlock(&sh->lock);
    fresh_key *k = lookup(sh, h, key, key_len);
    int rc = 0;
    if (!k) {
        if (atomic_load(&f->keys) >= f->max_keys) {
            pthread_rwlock_unlock(&sh->lock);
            free(copy);
            atomic_fetch_add(&f->refused, 1);
            return 0;
        }
        rc = grow(sh, err);
        k = rc == 0 ? new_key(f, h, key, key_len, err) : NULL;
        if (k) {
            size_t at = h & (sh->table_size - 1);
            k->next = sh->table[at];
            sh->table[at] = k;
            sh->n_keys++;
            atomic_fetch_add(&f->keys, 1);
        }
    }
    if (k) {
        fresh_event *slot;
        if (k->count == f->max_items) { /* the oldest goes */
            slot = &k->events[k->head];
            free(slot->item);
            k->head = (k->head + 1) % f->max_items;
        } else {
            slot = &k->events[(k->head + k->count++) % f->max_items];
            atomic_fetch_add(&f->events, 1);
        }
        *slot = (fresh_event){copy, item_len, timestamp, seq};
        copy = NULL;
    }
    pthread_rwlock_unlock(&sh->lock);
    free(copy);
    return k ? 0 : -1;
}

void rs_fresh_buf_free(rs_fresh_buf *b)
{
    free(b->ids);
    free(b->bytes);
    memset(b, 0, sizeof(*b));
}

static int reserve(void **p, size_t *cap, size_t need, size_t elem, rs_error *err)
{
    if (need <= *cap) return 0;
    size_t n = need < 64 ? 64 : 2 * need;
    void *q = rs_malloc(n, elem, err);
    if (!q) return -1;
    free(*p);
    *p = q;
    *cap = n;
    return 0;
}

int rs_fresh_get(rs_fresh *f, const char *key, size_t key_len, uint64_t after, double since,
                 rs_fresh_buf *b, uint32_t *n, rs_error *err)
{
    *n = 0;
    uint64_t h = rs_id_hash(key, key_len);
    fresh_shard *sh = shard_of(f, h);
    pthread_rwlock_rdlock(&sh->lock);
    fresh_key *k = lookup(sh, h, key, key_len);
    size_t bytes = 0;
    for (uint32_t i = 0; k && i < k->count; i++)
        bytes += k->events[(k->head + i) % f->max_items].item_len + 1;
    int rc = 0;
    if (k && (reserve((void **)&b->ids, &b->ids_cap, k->count, sizeof(rs_id), err) != 0 ||
              reserve((void **)&b->bytes, &b->bytes_cap, bytes, 1, err) != 0))
        rc = -1;
    size_t at = 0;
    for (uint32_t i = 0; rc == 0 && k && i < k->count; i++) {
        const fresh_event *e = &k->events[(k->head + i) % f->max_items];
        if (e->seq <= after || e->timestamp < since) continue;
        memcpy(b->bytes + at, e->item, e->item_len + 1);
        b->ids[(*n)++] = (rs_id){b->bytes + at, e->item_len};
        at += e->item_len + 1;
    }
    pthread_rwlock_unlock(&sh->lock);
    return rc;
}

void rs_fresh_counts(rs_fresh *f, uint64_t *keys, uint64_t *events, uint64_t *refused)
{
    *keys = atomic_load(&f->keys);
    *events = atomic_load(&f->events);
    *refused = atomic_load(&f->refused);
}
