/* crc32c.h - CRC-32C (Castagnoli), the checksum of every stored tensor.
 *
 * Owns nothing but its lookup tables, built once on first use (thread-safe).
 */
#ifndef RS_CRC32C_H
#define RS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli) of n bytes, continuing from crc (pass 0 to start).
 * Uses the SSE4.2 crc32 instruction when the CPU has it; the result is the
 * same as rs_crc32c_portable(), the table-driven fallback. */
uint32_t rs_crc32c(uint32_t crc, const void *data, size_t n);
uint32_t rs_crc32c_portable(uint32_t crc, const void *data, size_t n);

#endif
