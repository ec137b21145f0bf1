/* idtable.h - string id <-> dense index table.
 *
 * Maps external ids (arbitrary bytes, given with a length; they may contain
 * NUL in principle, but the table stores a NUL-terminated copy so that C
 * strings can be printed) to dense indices 0..count-1 in order of first
 * interning, and back. Open addressing with linear probing on a 64-bit hash.
 *
 * Ownership: the table owns copies of every string; rs_idtable_name() returns
 * a pointer into the table that stays valid until rs_idtable_free().
 * Thread safety: interning mutates the table; once building is done, any
 * number of threads may call rs_idtable_find/_name/_count concurrently.
 */
#ifndef RS_IDTABLE_H
#define RS_IDTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct rs_idtable rs_idtable;

/* Largest number of ids a table holds (indices fit in uint32_t with room
 * for a sentinel). */
#define RS_IDTABLE_MAX_IDS 0x7fffffffu

rs_idtable *rs_idtable_new(rs_error *err);
void rs_idtable_free(rs_idtable *t);

/* Returns the index of s (adding it with the next index if new) in *index.
 * Fails only on out-of-memory or when the table is full. */
int rs_idtable_intern(rs_idtable *t, const char *s, size_t len, uint32_t *index, rs_error *err);

/* 0 and *index when s is present, -1 when not (index untouched). */
int rs_idtable_find(const rs_idtable *t, const char *s, size_t len, uint32_t *index);

uint32_t rs_idtable_count(const rs_idtable *t);

/* The id of index (NUL-terminated; its length in *len if len is not NULL),
 * or NULL when index >= count. */
const char *rs_idtable_name(const rs_idtable *t, uint32_t index, size_t *len);

/* The 64-bit hash the table uses, exposed for fingerprints of data (files,
 * tables). Stable across runs and versions on little-endian machines. */
uint64_t rs_idtable_hash(const void *data, size_t len);

#endif
