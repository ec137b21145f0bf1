/* plot.c - the training curves as SVG (see plot.h). */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Eight colours distinguishable on white and by most colour-blind readers
 * (Okabe-Ito, with black). */
static const char *const palette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                      "#e69f00", "#56b4e9", "#000000", "#f0e442"};

void rs_plot_range(double lo, double hi, double *from, double *to)
{
    if (hi > lo) {
        *from = lo;
        *to = hi;
        return;
    }
    double half = lo != 0.0 ? fabs(lo) * 0.05 : 0.5;
    *from = lo - half;
    *to = lo + half;
}

/* Text as SVG character data: the five XML specials escaped. */
static void put_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

typedef struct extent {
    double x0, x1, y0, y1;
} extent;

static extent panel_extent(const rs_plot_panel *p)
{
    extent e = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            e.x0 = fmin(e.x0, p->series[s].x[i]);
            e.x1 = fmax(e.x1, p->series[s].x[i]);
            e.y0 = fmin(e.y0, p->series[s].y[i]);
            e.y1 = fmax(e.y1, p->series[s].y[i]);
        }
    if (e.x0 > e.x1) e = (extent){0, 1, 0, 1};
    rs_plot_range(e.x0, e.x1, &e.x0, &e.x1);
    rs_plot_range(e.y0, e.y1, &e.y0, &e.y1);
    return e;
}

static void write_axes(FILE *f, const rs_plot_panel *p, const extent *e, double top)
{
    double left = RS_PLOT_LEFT, right = RS_PLOT_WIDTH - RS_PLOT_RIGHT;
    double y0 = top + RS_PLOT_PANEL_HEIGHT - RS_PLOT_PAD_BOTTOM, y1 = top + RS_PLOT_PAD_TOP;
    fprintf(f, "<g class=\"panel\">\n<text x=\"%d\" y=\"%.1f\" class=\"title\">", RS_PLOT_LEFT,
            top + RS_PLOT_PAD_TOP - 8);
    put_text(f, p->title);
    fprintf(f, "</text>\n");
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#767676\"/>\n",
            left, y1, right - left, y0 - y1);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", left - 4, y0,
            e->y0);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", left - 4, y1 + 10,
            e->y1);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">epoch %.4g</text>\n", left, y0 + 16, e->x0);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", right, y0 + 16,
            e->x1);
}

static void write_series(FILE *f, const rs_plot_series *s, int index, const extent *e, double top)
{
    double left = RS_PLOT_LEFT, right = RS_PLOT_WIDTH - RS_PLOT_RIGHT;
    double y0 = top + RS_PLOT_PANEL_HEIGHT - RS_PLOT_PAD_BOTTOM, y1 = top + RS_PLOT_PAD_TOP;
    const char *colour = palette[index % (int)(sizeof(palette) / sizeof(palette[0]))];
    fprintf(f, "<polyline data-series=\"");
    put_text(f, s->name);
    fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour);
    for (int i = 0; i < s->n; i++)
        fprintf(f, "%s%.2f,%.2f", i ? " " : "",
                left + (s->x[i] - e->x0) / (e->x1 - e->x0) * (right - left),
                y0 - (s->y[i] - e->y0) / (e->y1 - e->y0) * (y0 - y1));
    fprintf(f, "\"/>\n");
    double ly = y1 + 12 + 16 * index;
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"3\"/>\n<text x=\"%.1f\" y=\"%.1f\">",
            right + 10, ly - 4, right + 30, ly - 4, colour, right + 36, ly);
    put_text(f, s->name);
    fprintf(f, "</text>\n");
}

int rs_plot_write_svg(FILE *f, const char *title, const rs_plot_panel *panels, int n_panels)
{
    int height = RS_PLOT_TITLE_HEIGHT + n_panels * RS_PLOT_PANEL_HEIGHT;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<title>",
            RS_PLOT_WIDTH, height, RS_PLOT_WIDTH, height);
    put_text(f, title);
    fprintf(f, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">", RS_PLOT_LEFT);
    put_text(f, title);
    fprintf(f, "</text>\n");
    for (int p = 0; p < n_panels; p++) {
        double top = RS_PLOT_TITLE_HEIGHT + p * RS_PLOT_PANEL_HEIGHT;
        extent e = panel_extent(&panels[p]);
        write_axes(f, &panels[p], &e, top);
        for (int s = 0; s < panels[p].n_series; s++)
            write_series(f, &panels[p].series[s], s, &e, top);
        fprintf(f, "</g>\n");
    }
    fprintf(f, "</svg>\n");
    return ferror(f) ? -1 : 0;
}

/* --- From the trainer's curves --- */

typedef struct series_buf {
    char name[64];
    double *x, *y;
    int n, cap;
} series_buf;

typedef struct panel_buf {
    const char *title;
    series_buf *s;
    int n, cap;
} panel_buf;

static series_buf *find_series(panel_buf *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->s[i].name, name) == 0) return &p->s[i];
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 8;
        series_buf *grown = realloc(p->s, (size_t)cap * sizeof(*grown));
        if (!grown) return NULL;
        p->s = grown;
        p->cap = cap;
    }
    series_buf *s = &p->s[p->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

static int add_point(panel_buf *p, const char *metric, const char *run, double x, double y)
{
    char name[64];
    snprintf(name, sizeof(name), "%s%s%s", metric, *run ? " " : "", run);
    series_buf *s = find_series(p, name);
    if (!s) return -1;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        double *x2 = realloc(s->x, (size_t)cap * sizeof(double));
        if (!x2) return -1;
        s->x = x2;
        double *y2 = realloc(s->y, (size_t)cap * sizeof(double));
        if (!y2) return -1;
        s->y = y2;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
    return 0;
}

static int add_metrics(panel_buf *p, const json_t *metrics, const char *run, double x)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)metrics, key, value)
    {
        if (json_is_number(value) && add_point(p, key, run, x, json_number_value(value)) != 0)
            return -1;
    }
    return 0;
}

enum { PANEL_LOSS, PANEL_KL, PANEL_BETA, PANEL_VALID, PANEL_TEST, N_PANELS };

/* A run is one pass of rs_train_run: its epochs count up from 1, so an
 * epoch that does not follow the previous one starts the next run. Runs are
 * named after their phase ("", "refit", "denoise 2", ...). */
static void run_label(const char *phase, int run_of_phase, char *out, size_t size)
{
    if (strcmp(phase, "train") == 0 && run_of_phase == 1)
        snprintf(out, size, "%s", "");
    else if (run_of_phase == 1)
        snprintf(out, size, "(%s)", phase);
    else
        snprintf(out, size, "(%s %d)", phase, run_of_phase);
}

static int collect(const json_t *curves, panel_buf *panels)
{
    char run[48] = "", last_phase[24] = "";
    int last_epoch = 0, run_of_phase = 0;
    size_t i;
    json_t *point;
    json_array_foreach(curves, i, point)
    {
        const char *phase = json_string_value(json_object_get(point, "phase"));
        int epoch = (int)json_integer_value(json_object_get(point, "epoch"));
        if (!phase) phase = "train";
        if (strcmp(phase, last_phase) != 0) run_of_phase = 0;
        if (strcmp(phase, last_phase) != 0 || epoch <= last_epoch) {
            snprintf(last_phase, sizeof(last_phase), "%s", phase);
            run_label(phase, ++run_of_phase, run, sizeof(run));
        }
        last_epoch = epoch;
        static const char *const scalars[] = {"loss", "kl", "beta"};
        for (int k = 0; k < 3; k++) {
            json_t *v = json_object_get(point, scalars[k]);
            if (json_is_number(v) &&
                add_point(&panels[k], scalars[k], run, epoch, json_number_value(v)) != 0)
                return -1;
        }
        json_t *valid = json_object_get(point, "valid"), *test = json_object_get(point, "test");
        if (valid && add_metrics(&panels[PANEL_VALID], valid, run, epoch) != 0) return -1;
        if (test && add_metrics(&panels[PANEL_TEST], test, run, epoch) != 0) return -1;
    }
    return 0;
}

static int write_panels(FILE *f, panel_buf *buf)
{
    rs_plot_panel panels[N_PANELS];
    rs_plot_series *series[N_PANELS] = {NULL};
    int n = 0, rc = 0;
    for (int p = 0; p < N_PANELS && rc == 0; p++) {
        if (buf[p].n == 0) continue; /* nothing measured: no empty frame */
        if (!(series[p] = calloc((size_t)buf[p].n, sizeof(rs_plot_series)))) rc = -1;
        for (int s = 0; rc == 0 && s < buf[p].n; s++)
            series[p][s] =
                (rs_plot_series){buf[p].s[s].name, buf[p].s[s].x, buf[p].s[s].y, buf[p].s[s].n};
        panels[n++] = (rs_plot_panel){buf[p].title, series[p], buf[p].n};
    }
    if (rc == 0) rc = rs_plot_write_svg(f, "Training curves", panels, n);
    for (int p = 0; p < N_PANELS; p++) free(series[p]);
    return rc;
}

static void free_panels(panel_buf *panels)
{
    for (int p = 0; p < N_PANELS; p++) {
        for (int s = 0; s < panels[p].n; s++) {
            free(panels[p].s[s].x);
            free(panels[p].s[s].y);
        }
        free(panels[p].s);
    }
}

int rs_plot_curves_svg(const json_t *curves, const char *path, rs_error *err)
{
    if (!json_is_array(curves) || json_array_size(curves) == 0)
        return rs_fail(err, "%s: no epoch was trained, nothing to draw", path);
    panel_buf panels[N_PANELS] = {{.title = "loss per user"},
                                  {.title = "KL divergence per user"},
                                  {.title = "KL weight (beta)"},
                                  {.title = "validation metrics"},
                                  {.title = "test metrics"}};
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return rs_fail(err, "%s: path too long", path);
    int rc = collect(curves, panels) == 0 ? 0 : rs_fail(err, "out of memory drawing the curves");
    FILE *f = rc == 0 ? fopen(tmp, "w") : NULL;
    if (rc == 0 && !f) rc = rs_fail(err, "%s: cannot write: %s", tmp, strerror(errno));
    if (rc == 0 && write_panels(f, panels) != 0)
        rc = rs_fail(err, "%s: write failed: %s", tmp, strerror(errno));
    if (f && fclose(f) != 0 && rc == 0)
        rc = rs_fail(err, "%s: write failed: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = rs_fail(err, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc != 0 && f) unlink(tmp);
    free_panels(panels);
    return rc;
}
