/* progress.h - a progress bar for long loops: on a terminal a single line
 * redrawn at most ten times a second with items/s and ETA; elsewhere (logs,
 * CI) nothing until the caller prints its own summary line. */
#ifndef RS_PROGRESS_H
#define RS_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct rs_progress {
    FILE *out;
    int enabled;
    char label[64];
    const char *unit;
    uint64_t total;
    double start, last_draw;
} rs_progress;

/* enabled: 1 on, 0 off, -1 auto (on when out is a terminal). */
void rs_progress_start(rs_progress *p, FILE *out, int enabled, const char *label, const char *unit,
                       uint64_t total);
void rs_progress_update(rs_progress *p, uint64_t done);
/* Clears the bar so the next line starts clean. */
void rs_progress_finish(rs_progress *p);

#endif
