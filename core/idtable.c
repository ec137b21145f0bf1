/* idtable.c - string id <-> dense index table (see idtable.h).
 *
 * Layout: all strings live back to back, each followed by a NUL, in one
 * growing arena; offsets[i] is where string i starts (offsets[count] is the
 * end of the arena), so its length is offsets[i+1] - offsets[i] - 1. The hash
 * index is an array of slots holding index+1 (0 = empty), probed linearly,
 * kept at most half full. hashes[i] caches each string's hash so that probing
 * compares full strings only on a hash match and growing never rehashes
 * strings.
 */
#include "idtable.h"

#include <stdlib.h>
#include <string.h>

struct rs_idtable {
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *offsets; /* count + 1 */
    uint64_t *hashes;  /* count */
    uint32_t count, cap_ids;
    uint32_t *slots;
    uint64_t n_slots; /* power of two */
};

/* A 64-bit hash of bytes: 8-byte words folded with a multiply-xorshift mix,
 * then a final avalanche. Fast on short ids, and every input bit affects
 * every output bit. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
}

static uint64_t hash_bytes(const char *s, size_t len)
{
    if (len == 0) return mix64(0x243f6a8885a308d3ULL);
    uint64_t h = 0x243f6a8885a308d3ULL ^ (len * 0x9e3779b97f4a7c15ULL);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ mix64(w + 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, s + i, len - i);
        h = (h ^ mix64(w + 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    }
    return mix64(h);
}

uint64_t rs_idtable_hash(const void *data, size_t len)
{
    return hash_bytes(data, len);
}

rs_idtable *rs_idtable_new(rs_error *err)
{
    rs_idtable *t = rs_calloc(1, sizeof(*t), err);
    if (!t) return NULL;
    t->n_slots = 64;
    t->cap_ids = 16;
    t->arena_cap = 256;
    t->slots = rs_calloc(t->n_slots, sizeof(uint32_t), err);
    t->offsets = rs_malloc((size_t)t->cap_ids + 1, sizeof(uint64_t), err);
    t->hashes = rs_malloc(t->cap_ids, sizeof(uint64_t), err);
    t->arena = rs_malloc(t->arena_cap, 1, err);
    if (!t->slots || !t->offsets || !t->hashes || !t->arena) {
        rs_idtable_free(t);
        return NULL;
    }
    t->offsets[0] = 0;
    return t;
}

void rs_idtable_free(rs_idtable *t)
{
    if (!t) return;
    free(t->arena);
    free(t->offsets);
    free(t->hashes);
    free(t->slots);
    free(t);
}

uint32_t rs_idtable_count(const rs_idtable *t)
{
    return t->count;
}

const char *rs_idtable_name(const rs_idtable *t, uint32_t index, size_t *len)
{
    if (index >= t->count) return NULL;
    if (len) *len = (size_t)(t->offsets[index + 1] - t->offsets[index] - 1);
    return t->arena + t->offsets[index];
}

/* Probes for s. Returns the slot where it is (*found = 1) or the empty slot
 * where it would go (*found = 0). The table is never full, so this ends. */
static uint64_t probe(const rs_idtable *t, const char *s, size_t len, uint64_t h, int *found)
{
    uint64_t mask = t->n_slots - 1, pos = h & mask;
    for (;;) {
        uint32_t v = t->slots[pos];
        if (v == 0) {
            *found = 0;
            return pos;
        }
        uint32_t i = v - 1;
        if (t->hashes[i] == h && t->offsets[i + 1] - t->offsets[i] - 1 == len &&
            (len == 0 || memcmp(t->arena + t->offsets[i], s, len) == 0)) {
            *found = 1;
            return pos;
        }
        pos = (pos + 1) & mask;
    }
}

int rs_idtable_find(const rs_idtable *t, const char *s, size_t len, uint32_t *index)
{
    int found;
    uint64_t pos = probe(t, s, len, hash_bytes(s, len), &found);
    if (!found) return -1;
    *index = t->slots[pos] - 1;
    return 0;
}

static int grow_slots(rs_idtable *t, rs_error *err)
{
    uint64_t n = t->n_slots * 2, mask = n - 1;
    uint32_t *slots = rs_calloc(n, sizeof(uint32_t), err);
    if (!slots) return -1;
    for (uint32_t i = 0; i < t->count; i++) {
        uint64_t pos = t->hashes[i] & mask;
        while (slots[pos]) pos = (pos + 1) & mask;
        slots[pos] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n;
    return 0;
}

static int grow_ids(rs_idtable *t, rs_error *err)
{
    uint64_t cap = (uint64_t)t->cap_ids * 2;
    if (cap > RS_IDTABLE_MAX_IDS) cap = RS_IDTABLE_MAX_IDS;
    uint64_t *offsets = realloc(t->offsets, (cap + 1) * sizeof(uint64_t));
    if (!offsets)
        return rs_fail(err, "out of memory growing the id table to %llu ids",
                       (unsigned long long)cap);
    t->offsets = offsets;
    uint64_t *hashes = realloc(t->hashes, cap * sizeof(uint64_t));
    if (!hashes)
        return rs_fail(err, "out of memory growing the id table to %llu ids",
                       (unsigned long long)cap);
    t->hashes = hashes;
    t->cap_ids = (uint32_t)cap;
    return 0;
}

static int grow_arena(rs_idtable *t, size_t need, rs_error *err)
{
    size_t cap = t->arena_cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return rs_fail(err, "id table strings exceed the address space");
        cap *= 2;
    }
    char *arena = realloc(t->arena, cap);
    if (!arena) return rs_fail(err, "out of memory growing id strings to %zu bytes", cap);
    t->arena = arena;
    t->arena_cap = cap;
    return 0;
}

int rs_idtable_intern(rs_idtable *t, const char *s, size_t len, uint32_t *index, rs_error *err)
{
    uint64_t h = hash_bytes(s, len);
    int found;
    uint64_t pos = probe(t, s, len, h, &found);
    if (found) {
        *index = t->slots[pos] - 1;
        return 0;
    }
    if (t->count >= RS_IDTABLE_MAX_IDS)
        return rs_fail(err, "id table full (%u ids)", (unsigned)RS_IDTABLE_MAX_IDS);
    if (len > SIZE_MAX - 1 - t->arena_len) return rs_fail(err, "id of %zu bytes is too long", len);
    if (t->count == t->cap_ids && grow_ids(t, err) != 0) return -1;
    if (t->arena_len + len + 1 > t->arena_cap && grow_arena(t, t->arena_len + len + 1, err) != 0)
        return -1;
    /* Keep the load factor at most 1/2 so probe sequences stay short. */
    if ((uint64_t)(t->count + 1) * 2 > t->n_slots) {
        if (grow_slots(t, err) != 0) return -1;
        pos = probe(t, s, len, h, &found);
    }
    uint32_t i = t->count;
    if (len) memcpy(t->arena + t->arena_len, s, len);
    t->arena[t->arena_len + len] = '\0';
    t->arena_len += len + 1;
    t->offsets[i + 1] = t->arena_len;
    t->hashes[i] = h;
    t->slots[pos] = i + 1;
    t->count = i + 1;
    *index = i;
    return 0;
}
