/* tensor.c - dtypes and the stored tensor value (see tensor.h; the byte
 * layout is in proto/snapshot.md).
 *
 * Header layout (little-endian):
 *   0 magic "RSTN" | 4 u16 version | 6 u16 header length | 8 u8 dtype |
 *   9 u8 ndim | 10 u16 reserved | 12 u32 payload CRC-32C | 16 u64 shape[4] |
 *   48 u64 payload bytes | 56 u32 header CRC-32C of bytes 0..55 | 60 u32 reserved
 */
#include "tensor.h"

#include <inttypes.h>
#include <string.h>

#include "crc32c.h"
#include "little_endian.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensor payloads are stored as raw little-endian bytes: little-endian hosts only"
#endif

#define TENSOR_MAGIC "RSTN" /* 4 bytes, no NUL */

size_t rs_dtype_size(rs_dtype dtype)
{
    switch (dtype) {
    case RS_F32:
    case RS_I32:
    case RS_U32:
        return 4;
    case RS_F64:
    case RS_I64:
    case RS_U64:
        return 8;
    case RS_U8:
        return 1;
    }
    return 0;
}

const char *rs_dtype_name(rs_dtype dtype)
{
    switch (dtype) {
    case RS_F32:
        return "f32";
    case RS_F64:
        return "f64";
    case RS_I32:
        return "i32";
    case RS_U32:
        return "u32";
    case RS_I64:
        return "i64";
    case RS_U64:
        return "u64";
    case RS_U8:
        return "u8";
    }
    return "invalid";
}

int rs_tensor_check_shape(rs_dtype dtype, uint32_t ndim, const uint64_t *shape, uint64_t *count,
                          uint64_t *bytes, rs_error *err)
{
    size_t esize = rs_dtype_size(dtype);
    if (esize == 0) return rs_fail(err, "unknown dtype %d", (int)dtype);
    if (ndim < 1 || ndim > RS_TENSOR_MAXDIM)
        return rs_fail(err, "ndim %u is outside 1..%d", ndim, RS_TENSOR_MAXDIM);
    uint64_t c = 1;
    for (uint32_t i = 0; i < ndim; i++) {
        if (shape[i] != 0 && c > UINT64_MAX / shape[i])
            return rs_fail(err, "shape overflows 64 bits at dimension %u", i);
        c *= shape[i];
    }
    if (c > (UINT64_MAX - RS_TENSOR_HEADER_SIZE) / esize || c * esize > SIZE_MAX - 64)
        return rs_fail(err, "tensor of %" PRIu64 " elements is too large", c);
    *count = c;
    *bytes = c * esize;
    return 0;
}

static void encode_header(uint8_t *h, rs_dtype dtype, uint32_t ndim, const uint64_t *shape,
                          uint64_t bytes, uint32_t payload_crc)
{
    memset(h, 0, RS_TENSOR_HEADER_SIZE);
    memcpy(h, TENSOR_MAGIC, 4);
    rs_put_le16(h + 4, RS_TENSOR_FORMAT_VERSION);
    rs_put_le16(h + 6, RS_TENSOR_HEADER_SIZE);
    h[8] = (uint8_t)dtype;
    h[9] = (uint8_t)ndim;
    rs_put_le32(h + 12, payload_crc);
    for (uint32_t i = 0; i < ndim; i++) rs_put_le64(h + 16 + 8 * i, shape[i]);
    rs_put_le64(h + 48, bytes);
    rs_put_le32(h + 56, rs_crc32c(0, h, 56));
}

int rs_tensor_decode_crc(const void *value, size_t size, int verify, rs_tensor_view *out,
                         uint32_t *crc, rs_error *err)
{
    const uint8_t *h = value;
    if (size < RS_TENSOR_HEADER_SIZE)
        return rs_fail(err, "value of %zu bytes is shorter than the %d-byte tensor header", size,
                       RS_TENSOR_HEADER_SIZE);
    if (memcmp(h, TENSOR_MAGIC, 4) != 0)
        return rs_fail(err, "bad tensor magic %02x %02x %02x %02x (expected \"%s\")", h[0], h[1],
                       h[2], h[3], TENSOR_MAGIC);
    uint16_t version = rs_get_le16(h + 4), hlen = rs_get_le16(h + 6);
    if (version != RS_TENSOR_FORMAT_VERSION)
        return rs_fail(err, "tensor format version %u is not supported (this build reads %d)",
                       version, RS_TENSOR_FORMAT_VERSION);
    if (hlen != RS_TENSOR_HEADER_SIZE)
        return rs_fail(err, "tensor header length %u, expected %d", hlen, RS_TENSOR_HEADER_SIZE);
    uint32_t hcrc = rs_crc32c(0, h, 56), stored_hcrc = rs_get_le32(h + 56);
    if (hcrc != stored_hcrc)
        return rs_fail(err, "tensor header checksum mismatch (stored 0x%08x, computed 0x%08x)",
                       stored_hcrc, hcrc);
    rs_dtype dtype = (rs_dtype)h[8];
    uint32_t ndim = h[9];
    uint64_t shape[RS_TENSOR_MAXDIM];
    for (int i = 0; i < RS_TENSOR_MAXDIM; i++) shape[i] = rs_get_le64(h + 16 + 8 * i);
    if (rs_get_le16(h + 10) != 0 || rs_get_le32(h + 60) != 0)
        return rs_fail(err, "tensor header reserved fields are not zero");
    uint64_t count, bytes;
    if (rs_tensor_check_shape(dtype, ndim, shape, &count, &bytes, err) != 0)
        return rs_error_prefix(err, "bad tensor header");
    for (uint32_t i = ndim; i < RS_TENSOR_MAXDIM; i++)
        if (shape[i] != 0)
            return rs_fail(err, "bad tensor header: unused dimension %u is %" PRIu64 ", not 0", i,
                           shape[i]);
    uint64_t stored_bytes = rs_get_le64(h + 48);
    if (stored_bytes != bytes)
        return rs_fail(
            err, "bad tensor header: payload length %" PRIu64 " but shape x %s size is %" PRIu64,
            stored_bytes, rs_dtype_name(dtype), bytes);
    if (size - RS_TENSOR_HEADER_SIZE != bytes)
        return rs_fail(err, "tensor value holds %zu payload bytes, header says %" PRIu64,
                       size - RS_TENSOR_HEADER_SIZE, bytes);
    *crc = rs_get_le32(h + 12);
    if (verify) {
        uint32_t got = rs_crc32c(0, h + RS_TENSOR_HEADER_SIZE, (size_t)bytes);
        if (got != *crc)
            return rs_fail(err, "payload checksum mismatch (stored 0x%08x, computed 0x%08x)", *crc,
                           got);
    }
    memset(out, 0, sizeof(*out));
    out->dtype = dtype;
    out->ndim = ndim;
    memcpy(out->shape, shape, sizeof(shape));
    out->count = count;
    out->data = h + RS_TENSOR_HEADER_SIZE;
    return 0;
}

int rs_tensor_decode(const void *value, size_t size, int verify, rs_tensor_view *out, rs_error *err)
{
    uint32_t crc;
    return rs_tensor_decode_crc(value, size, verify, out, &crc, err);
}

void rs_tensor_seal(uint8_t *value, rs_dtype dtype, uint32_t ndim, const uint64_t *shape,
                    uint64_t bytes)
{
    uint32_t crc = rs_crc32c(0, value + RS_TENSOR_HEADER_SIZE, (size_t)bytes);
    encode_header(value, dtype, ndim, shape, bytes, crc);
}
