/* process.h - the process_* metrics Prometheus clients conventionally
 * export (CPU seconds, resident and virtual memory, open and maximum file
 * descriptors, threads, start time), read from /proc/self at scrape time,
 * and recsys_build_info naming the server version and the libraries it
 * runs with. Stateless: nothing to create or free.
 */
#ifndef RS_PROCESS_H
#define RS_PROCESS_H

#include <stdio.h>

#define RS_SERVER_VERSION "0.1.0"

/* Appends the metrics in Prometheus text format; started is the process
 * start as Unix time. Values /proc does not give (another OS) are left out. */
void rs_process_render(FILE *out, double started);

#endif
