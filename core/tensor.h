/* tensor.h - dtypes, tensor views and the stored tensor value: a 64-byte
 * header (magic, version, dtype, shape, payload length, two CRC-32Cs)
 * followed by the little-endian, row-major payload. The byte layout is
 * specified in proto/snapshot.md; this module encodes and validates it and
 * knows nothing of LMDB.
 */
#ifndef RS_TENSOR_H
#define RS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define RS_TENSOR_MAXDIM         4
#define RS_TENSOR_FORMAT_VERSION 1  /* the tensor value header */
#define RS_TENSOR_HEADER_SIZE    64 /* bytes before a tensor's payload */

typedef enum rs_dtype {
    RS_F32 = 1,
    RS_F64 = 2,
    RS_I32 = 3,
    RS_U32 = 4,
    RS_I64 = 5,
    RS_U64 = 6,
    RS_U8 = 7,
} rs_dtype;

size_t rs_dtype_size(rs_dtype dtype);
const char *rs_dtype_name(rs_dtype dtype);

/* A read-only view of a tensor (payload is little-endian, row-major). */
typedef struct rs_tensor_view {
    rs_dtype dtype;
    uint32_t ndim;
    uint64_t shape[RS_TENSOR_MAXDIM];
    uint64_t count; /* product of shape */
    const void *data;
} rs_tensor_view;

/* Validates one stored tensor value (header + payload, size bytes) as laid
 * out in proto/snapshot.md, and the payload checksum when verify is set.
 * out->data points into value and carries value's alignment, which may be
 * too weak for the dtype: rs_snapshot_open() copies such payloads. */
int rs_tensor_decode(const void *value, size_t size, int verify, rs_tensor_view *out,
                     rs_error *err);

/* --- For the store's writer and reader --- */

/* Checks dtype, ndim (1..RS_TENSOR_MAXDIM) and shape; *count receives the
 * element count and *bytes the payload size. */
int rs_tensor_check_shape(rs_dtype dtype, uint32_t ndim, const uint64_t *shape, uint64_t *count,
                          uint64_t *bytes, rs_error *err);
/* Writes the header of value (RS_TENSOR_HEADER_SIZE + bytes long, payload
 * already in place), checksumming the payload. */
void rs_tensor_seal(uint8_t *value, rs_dtype dtype, uint32_t ndim, const uint64_t *shape,
                    uint64_t bytes);
/* rs_tensor_decode that also returns the stored payload checksum in *crc. */
int rs_tensor_decode_crc(const void *value, size_t size, int verify, rs_tensor_view *out,
                         uint32_t *crc, rs_error *err);

#endif
