/* midx_store.h - an MIDX index in the snapshot store: what the trainer
 * publishes with every version and the server maps at load, so the server
 * need not build the index itself (proto/model.md names the tensors).
 */
#ifndef RS_MIDX_STORE_H
#define RS_MIDX_STORE_H

#include <stdint.h>

#include "common.h"
#include "midx.h"
#include "pq.h"
#include "store.h"

/* rs_midx_publish validates pq (as rs_midx_from_pq does) and writes, inside
 * the caller's publish transaction, the tensors
 *   PREFIX.c1       f32 k x d1     first-half codebook
 *   PREFIX.c2       f32 k x d2     second-half codebook
 *   PREFIX.offsets  u32 k*k + 1    cell c = positions [offsets[c], offsets[c+1])
 *   PREFIX.ids      u32 n          position -> item id
 *   PREFIX.pos      u32 n          item id -> position
 *   PREFIX.vectors  f32 n x d      item vectors in position order
 *   PREFIX.res1     f32 n          half-residual norms by position
 *   PREFIX.res2     f32 n
 *   PREFIX.cell_r1  f32 k x k      cell maxima of res1, res2
 *   PREFIX.cell_r2  f32 k x k
 *   PREFIX.rmax     f32 2 x k      r1max then r2max
 * i.e. 4d + 16 bytes per item and 12 bytes per cell (k*k cells). The item
 * vectors are the model's item matrix in cell order, so a model that
 * publishes an index need not store the matrix again (row of item i =
 * vectors[pos[i]]). rs_midx_load maps them zero-copy, checks dtypes and
 * shapes, the cell offsets and the id permutation in O(n + k*k), and builds
 * the derived tables (about k*k/5 bytes + 18 per non-empty cell); with
 * verify it also runs rs_midx_check (O(n d)). */
int rs_midx_publish(rs_publish *pub, const char *prefix, const rs_pq *pq, rs_error *err);
/* Codewords per codebook for a serving index over n items: about four items
 * per cell (k*k ~ n/4), between 1 and 1024 and at most n. */
uint32_t rs_midx_serving_k(uint64_t n);
int rs_midx_load(const rs_snapshot *snap, const char *prefix, int verify, rs_midx *idx,
                 rs_error *err);

#endif
