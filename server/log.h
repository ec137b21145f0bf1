/* log.h - the server's diagnostic log: one line per event on stderr.
 *
 * Lines are "TIMESTAMP LEVEL message" with an ISO-8601 UTC timestamp; each line
 * is written with a single write() so lines from different threads never
 * interleave. The minimum level is process-wide: set at start-up and by a
 * config reload (SIGHUP), read atomically by every thread.
 */
#ifndef RS_LOG_H
#define RS_LOG_H

typedef enum rs_log_level { RS_LOG_DEBUG = 0, RS_LOG_INFO, RS_LOG_WARN, RS_LOG_ERROR } rs_log_level;

void rs_log_set_level(rs_log_level level);
/* Whether a message of level would be written (to skip costly formatting). */
int rs_log_enabled(rs_log_level level);
/* "debug", "info", "warn" or "error". */
const char *rs_log_level_name(rs_log_level level);
void rs_log(rs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
