/* retrieve.h - top-N maximum-inner-product retrieval over a model's item
 * vectors: the one function through which the server ranks items.
 *
 * Contract: the n items with the largest <u, q_i> among those not skipped,
 * best first, ties to the smaller item index (core/topk.h order). The brute
 * force method scores every item (one sgemv, then a bounded heap); the MIDX
 * index from core/midx.h plugs in behind the same call, scoring fewer items
 * for the same exact answer.
 *
 * Ownership: a retriever borrows the item matrix (a view into a snapshot's
 * memory map), which must outlive it. After creation it is read-only: any
 * number of threads may query it at once, each with its own scratch.
 */
#ifndef RS_RETRIEVE_H
#define RS_RETRIEVE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "topk.h"

typedef struct rs_retriever rs_retriever;

/* items: n_items x dim, row-major. */
int rs_retriever_create(const float *items, uint32_t n_items, uint32_t dim, rs_retriever **out,
                        rs_error *err);
void rs_retriever_free(rs_retriever *r);

/* "bruteforce" or "midx": reported by /v1/models. */
const char *rs_retriever_method(const rs_retriever *r);

/* Floats of scratch one query needs. */
size_t rs_retriever_scratch_floats(const rs_retriever *r);

/* Top n of u (dim floats) over items with skip[i] == 0 (skip may be NULL),
 * written best first to out (room for n); returns how many were written.
 * *scored receives the number of item scores computed. */
uint32_t rs_retrieve_topn(const rs_retriever *r, const float *u, const uint8_t *skip, uint32_t n,
                          rs_scored *out, float *scratch, uint64_t *scored);

#endif
