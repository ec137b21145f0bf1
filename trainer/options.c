/* options.c - parsing, help and Markdown from option tables (see options.h). */
#include "options.h"

#include <stdlib.h>
#include <string.h>

#define HELP_COLUMN 23
#define HELP_WIDTH  80

static int parse_real(const rs_option *o, const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= o->lo && v <= o->hi)) {
        fprintf(stderr, "rectrain: --%s: expected a number in [%g, %g], got '%s'\n", o->name, o->lo,
                o->hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_integer(const rs_option *o, const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < o->min || v > o->max) {
        fprintf(stderr, "rectrain: --%s: expected an integer in [%ld, %ld], got '%s'\n", o->name,
                o->min, o->max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int apply_value(const rs_option *o, const char *value, void *base);

int rs_option_apply(const rs_option *o, const char *value, void *base)
{
    if (apply_value(o, value, base) != 0) return -1;
    if (o->given) *(int *)((char *)base + o->given - 1) = 1;
    return 0;
}

static int apply_value(const rs_option *o, const char *value, void *base)
{
    char *field = (char *)base + o->offset;
    double x;
    long n;
    switch (o->type) {
    case RS_OPT_FLAG:
        *(int *)field = 1;
        return 0;
    case RS_OPT_STRING:
        *(const char **)field = value;
        return 0;
    case RS_OPT_CUSTOM:
        return o->parse(value, base);
    case RS_OPT_SECTION:
        return -1;
    case RS_OPT_FLOAT:
    case RS_OPT_DOUBLE:
        if (parse_real(o, value, &x) != 0) return -1;
        if (o->type == RS_OPT_FLOAT)
            *(float *)field = (float)x;
        else
            *(double *)field = x;
        return 0;
    default:
        if (parse_integer(o, value, &n) != 0) return -1;
        if (o->type == RS_OPT_INT)
            *(int *)field = (int)n;
        else if (o->type == RS_OPT_LONG)
            *(long *)field = n;
        else if (o->type == RS_OPT_U32)
            *(uint32_t *)field = (uint32_t)n;
        else
            *(uint64_t *)field = (uint64_t)n;
        return 0;
    }
}

int rs_options_default(const rs_option *table, int n, void *base)
{
    for (int i = 0; i < n; i++)
        if (table[i].def && rs_option_apply(&table[i], table[i].def, base) != 0) return -1;
    return 0;
}

void rs_option_format(const rs_option *o, const void *base, char *out, size_t size)
{
    const char *field = (const char *)base + o->offset;
    *out = '\0';
    if (o->default_text) {
        snprintf(out, size, "%s", o->default_text);
        return;
    }
    switch (o->type) {
    case RS_OPT_STRING: {
        const char *s = *(const char *const *)field;
        if (s) snprintf(out, size, "%s", s);
        return;
    }
    case RS_OPT_INT:
        snprintf(out, size, "%d", *(const int *)field);
        return;
    case RS_OPT_LONG:
        snprintf(out, size, "%ld", *(const long *)field);
        return;
    case RS_OPT_U32:
        snprintf(out, size, "%u", *(const uint32_t *)field);
        return;
    case RS_OPT_U64:
        snprintf(out, size, "%llu", (unsigned long long)*(const uint64_t *)field);
        return;
    case RS_OPT_FLOAT:
        snprintf(out, size, "%g", (double)*(const float *)field);
        return;
    case RS_OPT_DOUBLE:
        snprintf(out, size, "%g", *(const double *)field);
        return;
    default:
        return;
    }
}

/* Prints text from column `column` on, wrapped at HELP_WIDTH, the first
 * line continuing the current one (at column `at`). */
static void print_wrapped(FILE *f, const char *text, int at, int column)
{
    int col = at;
    if (col >= column) {
        fprintf(f, "\n%*s", column, "");
        col = column;
    } else {
        fprintf(f, "%*s", column - col, "");
        col = column;
    }
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, " ");
        if (len == 0) break;
        if (col > column && col + 1 + (int)len > HELP_WIDTH) {
            fprintf(f, "\n%*s", column, "");
            col = column;
        } else if (col > column) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", (int)len, p);
        col += (int)len;
        p += len;
    }
    fputc('\n', f);
}

void rs_option_print_help(FILE *f, const rs_option *o, const char *help, const char *default_text)
{
    char text[1024];
    if (default_text && *default_text)
        snprintf(text, sizeof(text), "%s (%s)", help, default_text);
    else
        snprintf(text, sizeof(text), "%s", help);
    int at = fprintf(f, "  --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    print_wrapped(f, text, at, HELP_COLUMN);
}

void rs_option_print_markdown(FILE *f, const rs_option *o, const char *help,
                              const char *default_text)
{
    fprintf(f, "| `--%s%s%s` | %s | ", o->name, o->arg ? " " : "", o->arg ? o->arg : "",
            default_text && *default_text ? default_text : "");
    for (const char *p = help; *p; p++) {
        if (*p == '<' || *p == '>') {
            fputs(*p == '<' ? "&lt;" : "&gt;", f);
            continue;
        }
        if (*p == '|') fputc('\\', f);
        fputc(*p, f);
    }
    fprintf(f, " |\n");
}
