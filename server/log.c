/* log.c - stderr diagnostic log (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Set at start and by a config reload (SIGHUP) while threads log. */
static _Atomic int min_level = RS_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

static size_t rs_min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

void rs_log_set_level(rs_log_level level)
{
    atomic_store_explicit(&min_level, (int)level, memory_order_relaxed);
}

int rs_log_enabled(rs_log_level level)
{
    return (int)level >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

const char *rs_log_level_name(rs_log_level level)
{
    return level >= RS_LOG_DEBUG && level <= RS_LOG_ERROR ? level_names[level] : "?";
}

void rs_log(rs_log_level level, const char *fmt, ...)
{
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (!rs_log_enabled(level)) return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int used = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    used += snprintf(line + used, sizeof(line) - (size_t)used, ".%03ldZ %-5s ",
                     ts.tv_nsec / 1000000L, tags[level]);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + used, sizeof(line) - (size_t)used - 1, fmt, ap);
    va_end(ap);
    /* vsnprintf reports the untruncated length: clamp to what fits. */
    if (n < 0) n = 0;
    size_t len = (size_t)used + rs_min_size((size_t)n, sizeof(line) - (size_t)used - 2);
    line[len++] = '\n';
    /* One write per line so concurrent lines do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
