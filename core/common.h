/* common.h - error reporting, timing and small helpers shared by every module.
 *
 * Error convention (used across core/, trainer/ and server/): a function that
 * can fail returns 0 on success and -1 on failure, and fills the caller's
 * rs_error with a one-line, human-readable message and a kind (what went
 * wrong, for callers that branch: a missing optional thing is RS_ERR_NOT_FOUND,
 * a failed allocation RS_ERR_NO_MEMORY). Callers add context by calling
 * rs_error_prefix(), which keeps the kind. Nothing is half-written on
 * failure: every function releases what it acquired before returning -1.
 */
#ifndef RS_COMMON_H
#define RS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define RS_ERROR_MAX 512

/* What kind of failure an rs_error reports. RS_ERR_GENERIC is what plain
 * rs_fail() sets: a failure no caller needs to tell apart. */
typedef enum rs_error_kind {
    RS_ERR_NONE = 0,  /* no failure recorded */
    RS_ERR_GENERIC,   /* unclassified */
    RS_ERR_INVALID,   /* the caller's input is wrong */
    RS_ERR_NOT_FOUND, /* the thing asked for does not exist (often not an error) */
    RS_ERR_CORRUPT,   /* stored data fails its checks */
    RS_ERR_NO_MEMORY, /* an allocation failed */
    RS_ERR_IO,        /* the operating system refused a read or write */
} rs_error_kind;

/* The members sit in an anonymous struct so that both "rs_error err = {0}"
 * and the older "= {{0}}" zero the whole error without a warning. */
typedef struct rs_error {
    struct {
        rs_error_kind kind;
        char msg[RS_ERROR_MAX];
    };
} rs_error;

/* Formats the message into err (if err is not NULL), sets the generic kind
 * and returns -1, so that "return rs_fail(err, ...)" reads naturally. */
int rs_fail(rs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* rs_fail with a kind. */
int rs_fail_kind(rs_error *err, rs_error_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "invalid input", "not found", ...: a kind's name, for logs and tests. */
const char *rs_error_kind_name(rs_error_kind kind);

/* Prepends "prefix: " to the message already in err (its kind is kept).
 * Returns -1. */
int rs_error_prefix(rs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic clock in seconds. */
double rs_now(void);

/* Allocation helpers that fail cleanly: they return NULL and fill err with
 * the size that could not be had (kind RS_ERR_NO_MEMORY, also when the size
 * overflows). */
void *rs_malloc(size_t count, size_t size, rs_error *err);
void *rs_calloc(size_t count, size_t size, rs_error *err);

/* 64-byte aligned allocation for dense float buffers (GEMM operands). Free
 * with free(). */
void *rs_aligned_alloc(size_t count, size_t size, rs_error *err);

/* Fault injection for tests: while on, every rs_malloc, rs_calloc and
 * rs_aligned_alloc (on any thread) fails as if memory had run out. */
void rs_alloc_fail_for_testing(int on);

#define RS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RS_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Reads the whole file at path, at most max bytes (more is an error), into
 * a malloc'd NUL-terminated *text of *len bytes. Errors name the file. */
int rs_read_small_file(const char *path, size_t max, char **text, size_t *len, rs_error *err);

#endif
