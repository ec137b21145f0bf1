/* progress.c - terminal progress bar (see progress.h). */
#include "progress.h"

#include <string.h>
#include <unistd.h>

#include "common.h"

void rs_progress_start(rs_progress *p, FILE *out, int enabled, const char *label, const char *unit,
                       uint64_t total)
{
    p->out = out;
    p->enabled = enabled < 0 ? isatty(fileno(out)) : enabled;
    snprintf(p->label, sizeof(p->label), "%s", label);
    p->unit = unit;
    p->total = total;
    p->start = rs_now();
    p->last_draw = 0.0;
}

void rs_progress_update(rs_progress *p, uint64_t done)
{
    if (!p->enabled) return;
    double now = rs_now();
    if (now - p->last_draw < 0.1 && done < p->total) return;
    p->last_draw = now;
    double elapsed = now - p->start, rate = elapsed > 0 ? (double)done / elapsed : 0.0;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0.0;
    int width = 30, filled = p->total ? (int)((double)width * (double)done / (double)p->total) : 0;
    char bar[64];
    memset(bar, '#', (size_t)filled);
    memset(bar + filled, '.', (size_t)(width - filled));
    bar[width] = '\0';
    fprintf(p->out, "\r%s [%s] %3.0f%%  %.0f %s/s  ETA %.0fs   ", p->label, bar,
            p->total ? 100.0 * (double)done / (double)p->total : 100.0, rate, p->unit, eta);
    fflush(p->out);
}

void rs_progress_finish(rs_progress *p)
{
    if (!p->enabled) return;
    fprintf(p->out, "\r%*s\r", 100, "");
    fflush(p->out);
}
