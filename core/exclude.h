/* exclude.h - which items a top-N query may return: an exclusion list, an
 * exclusion bitmap and an allow bitmap (a filter), shared by every scan of
 * core (midx.h, compact.h) and by the server's retrieval.
 */
#ifndef RS_EXCLUDE_H
#define RS_EXCLUDE_H

#include <stdint.h>

#include "common.h"

/* Items to leave out of a result: a sorted list of ids and/or a bitmap (bit
 * i % 64 of word i / 64 set = exclude item i; ids >= n_bits are kept), and
 * an optional allow bitmap (a filter: only items whose bit is set may be
 * returned; n_allow bits, ids >= n_allow are left out). A scan checks the
 * allow bitmap before scoring an item, so a filter costs no inner products. */
typedef struct rs_exclude {
    const uint32_t *ids;
    uint32_t n_ids;
    const uint64_t *bits;
    uint32_t n_bits;
    const uint64_t *allow;
    uint32_t n_allow;
} rs_exclude;

/* Checks the pointers and that ids is sorted (ex may be NULL). */
int rs_exclude_check(const rs_exclude *ex, rs_error *err);

/* Whether ex lets item id through (ex may be NULL). */
int rs_exclude_allows(const rs_exclude *ex, uint32_t id);

/* Whether ex's allow bitmap leaves id out (the cheap part of the test, done
 * before an item is scored). */
static inline int rs_exclude_disallowed(const rs_exclude *ex, uint32_t id)
{
    return ex && ex->allow && (id >= ex->n_allow || !(ex->allow[id >> 6] >> (id & 63) & 1));
}

#endif
