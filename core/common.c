/* common.c - error reporting, timing and checked allocation (see common.h). */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void set_error(rs_error *err, rs_error_kind kind, const char *fmt, va_list ap)
{
    err->kind = kind;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int rs_fail(rs_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        set_error(err, RS_ERR_GENERIC, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int rs_fail_kind(rs_error *err, rs_error_kind kind, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        set_error(err, kind, fmt, ap);
        va_end(ap);
    }
    return -1;
}

const char *rs_error_kind_name(rs_error_kind kind)
{
    switch (kind) {
    case RS_ERR_NONE:
        return "no error";
    case RS_ERR_GENERIC:
        return "error";
    case RS_ERR_INVALID:
        return "invalid input";
    case RS_ERR_NOT_FOUND:
        return "not found";
    case RS_ERR_CORRUPT:
        return "corrupt data";
    case RS_ERR_NO_MEMORY:
        return "out of memory";
    case RS_ERR_IO:
        return "I/O error";
    }
    return "error";
}

int rs_error_prefix(rs_error *err, const char *fmt, ...)
{
    if (!err) return -1;
    char prefix[RS_ERROR_MAX], old[RS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* Truncation of an over-long message is acceptable: keep the prefix. */
    size_t used = strnlen(prefix, sizeof(err->msg) - 1);
    memcpy(err->msg, prefix, used);
    size_t room = sizeof(err->msg) - used;
    if (room > 2)
        snprintf(err->msg + used, room, ": %.*s", (int)(room - 3), old);
    else
        err->msg[used] = '\0';
    return -1;
}

double rs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static _Atomic int fail_allocations;

void rs_alloc_fail_for_testing(int on)
{
    atomic_store(&fail_allocations, on);
}

static int checked_size(size_t count, size_t size, size_t *out, rs_error *err)
{
    if (atomic_load_explicit(&fail_allocations, memory_order_relaxed))
        return rs_fail_kind(err, RS_ERR_NO_MEMORY, "out of memory allocating %zu x %zu bytes",
                            count, size);
    if (size && count > SIZE_MAX / size)
        return rs_fail_kind(err, RS_ERR_NO_MEMORY, "allocation of %zu x %zu bytes overflows", count,
                            size);
    *out = (count * size != 0) ? count * size : 1;
    return 0;
}

void *rs_malloc(size_t count, size_t size, rs_error *err)
{
    size_t bytes = 0;
    if (checked_size(count, size, &bytes, err) != 0) return NULL;
    void *p = malloc(bytes);
    if (!p) rs_fail_kind(err, RS_ERR_NO_MEMORY, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *rs_calloc(size_t count, size_t size, rs_error *err)
{
    size_t bytes = 0;
    if (checked_size(count, size, &bytes, err) != 0) return NULL;
    void *p = calloc(1, bytes);
    if (!p) rs_fail_kind(err, RS_ERR_NO_MEMORY, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *rs_aligned_alloc(size_t count, size_t size, rs_error *err)
{
    size_t bytes = 0;
    if (checked_size(count, size, &bytes, err) != 0) return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    if (!p) rs_fail_kind(err, RS_ERR_NO_MEMORY, "out of memory allocating %zu bytes", bytes);
    return p;
}

int rs_read_small_file(const char *path, size_t max, char **text, size_t *len, rs_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rs_fail(err, "%s: %s", path, strerror(errno));
    char *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return rs_fail(err, "out of memory");
    }
    size_t n = fread(buf, 1, max + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return rs_fail(err, "%s: read error", path);
    }
    if (n > max) {
        free(buf);
        return rs_fail(err, "%s: larger than %zu bytes", path, max);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}
