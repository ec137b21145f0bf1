/* common.h - error reporting, timing and small helpers shared by every module.
 *
 * Error convention (used across core/, trainer/ and server/): a function that
 * can fail returns 0 on success and -1 on failure, and fills the caller's
 * rs_error with a one-line, human-readable message. Callers add context by
 * calling rs_error_prefix(). Nothing is half-written on failure: every
 * function releases what it acquired before returning -1.
 */
#ifndef RS_COMMON_H
#define RS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define RS_ERROR_MAX 512

typedef struct rs_error {
    char msg[RS_ERROR_MAX];
} rs_error;

/* Formats the message into err (if err is not NULL) and returns -1, so that
 * "return rs_fail(err, ...)" reads naturally. */
int rs_fail(rs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the message already in err. Returns -1. */
int rs_error_prefix(rs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic clock in seconds. */
double rs_now(void);

/* Allocation helpers that fail cleanly: they return NULL and fill err with
 * the size that could not be had. Sizes are checked for overflow. */
void *rs_malloc(size_t count, size_t size, rs_error *err);
void *rs_calloc(size_t count, size_t size, rs_error *err);

/* 64-byte aligned allocation for dense float buffers (GEMM operands). Free
 * with free(). */
void *rs_aligned_alloc(size_t count, size_t size, rs_error *err);

#define RS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RS_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
