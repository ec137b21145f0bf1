/* log.h - the server's diagnostic log: one line per event on stderr.
 *
 * Lines are "TIMESTAMP LEVEL message" with an ISO-8601 UTC timestamp; each line
 * is written with a single write() so lines from different threads never
 * interleave. The minimum level is process-wide and set once at start-up.
 */
#ifndef RS_LOG_H
#define RS_LOG_H

typedef enum rs_log_level { RS_LOG_DEBUG = 0, RS_LOG_INFO, RS_LOG_WARN, RS_LOG_ERROR } rs_log_level;

void rs_log_set_level(rs_log_level level);
void rs_log(rs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
