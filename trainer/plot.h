/* plot.h - training curves as a plain SVG picture, written by hand (no
 * library): panels stacked top to bottom, each with its own y range, the
 * epoch on x, one <polyline> per series and a legend. rs_plot_curves_svg
 * draws the trainer's per-epoch record (train.h's curves: loss, KL, beta,
 * validation and test metrics); rs_plot_write_svg is the writer under it.
 *
 * The layout is fixed and public so a reader (the unit test) can map values
 * back: panel p's plot area is x in [RS_PLOT_LEFT, RS_PLOT_WIDTH -
 * RS_PLOT_RIGHT], y in [top + RS_PLOT_PAD_TOP, top + RS_PLOT_PANEL_HEIGHT -
 * RS_PLOT_PAD_BOTTOM] with top = RS_PLOT_TITLE_HEIGHT + p *
 * RS_PLOT_PANEL_HEIGHT; a panel's x and y ranges are the min and max of its
 * points (widened by rs_plot_range when they are equal). */
#ifndef RS_PLOT_H
#define RS_PLOT_H

#include <jansson.h>
#include <stdio.h>

#include "common.h"

enum {
    RS_PLOT_WIDTH = 760,
    RS_PLOT_LEFT = 70,
    RS_PLOT_RIGHT = 170, /* the legend */
    RS_PLOT_TITLE_HEIGHT = 36,
    RS_PLOT_PANEL_HEIGHT = 170,
    RS_PLOT_PAD_TOP = 26,
    RS_PLOT_PAD_BOTTOM = 30
};

typedef struct rs_plot_series {
    const char *name;
    const double *x, *y;
    int n;
} rs_plot_series;

typedef struct rs_plot_panel {
    const char *title;
    const rs_plot_series *series;
    int n_series;
} rs_plot_panel;

/* The range drawn for values in [lo, hi]: [lo, hi] itself, or lo - 0.5 ..
 * lo + 0.5 (scaled to |lo| when nonzero) when they are equal. */
void rs_plot_range(double lo, double hi, double *from, double *to);

/* Writes the picture to f. Returns 0, or -1 when a write failed. */
int rs_plot_write_svg(FILE *f, const char *title, const rs_plot_panel *panels, int n_panels);

/* Draws curves (an array of rs_train_run's per-epoch objects) into path,
 * through a temporary file renamed into place (never half-written). */
int rs_plot_curves_svg(const json_t *curves, const char *path, rs_error *err);

#endif
