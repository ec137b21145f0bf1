/* options.c - table-driven options: the command line, config-file keys,
 * --help and Markdown from one table (see options.h). */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HELP_WIDTH 79 /* --help lines end before this column */
#define LIST_MAX   300

void rs_option_strings_free(rs_option_strings *s)
{
    for (int i = 0; i < s->n; i++) free(s->items[i]);
    free(s->items);
    memset(s, 0, sizeof(*s));
}

/* Copies text (prefixed by base_dir + "/" when it is relative and base_dir
 * is given) into s. */
static char *strings_add(rs_option_strings *s, const char *text, const char *base_dir,
                         rs_error *err)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        char **items = realloc(s->items, (size_t)cap * sizeof(*items));
        if (!items) {
            rs_fail(err, "out of memory");
            return NULL;
        }
        s->items = items;
        s->cap = cap;
    }
    char *copy;
    int n = base_dir && *base_dir && text[0] != '/' ? asprintf(&copy, "%s/%s", base_dir, text)
                                                    : asprintf(&copy, "%s", text);
    if (n < 0) {
        rs_fail(err, "out of memory");
        return NULL;
    }
    s->items[s->n++] = copy;
    return copy;
}

/* ---- values -------------------------------------------------------------- */

int rs_option_parse_uint(const char *text, int suffixes, unsigned long long *out)
{
    /* strtoull alone would accept white space, a sign and an empty string. */
    if (*text < '0' || *text > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno == ERANGE) return -1;
    if (suffixes && (*end == 'K' || *end == 'k' || *end == 'M' || *end == 'm')) {
        unsigned long long mult = (*end == 'K' || *end == 'k') ? 1024ULL : 1024ULL * 1024ULL;
        if (v > ULLONG_MAX / mult) return -1;
        v *= mult;
        end++;
    }
    if (*end != '\0') return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE) return -1;
    *out = v;
    return 0;
}

static void *target(const rs_option *o, void *settings)
{
    return (char *)settings + o->offset;
}

static void store_uint(const rs_option *o, void *settings, unsigned long long v)
{
    if (o->size == sizeof(uint32_t)) {
        uint32_t narrow = (uint32_t)v;
        memcpy(target(o, settings), &narrow, sizeof(narrow));
    } else {
        uint64_t wide = v;
        memcpy(target(o, settings), &wide, sizeof(wide));
    }
}

static void store_int(const rs_option *o, void *settings, int v)
{
    memcpy(target(o, settings), &v, sizeof(v));
}

static void store_double(const rs_option *o, void *settings, double v)
{
    memcpy(target(o, settings), &v, sizeof(v));
}

static void store_string(const rs_option *o, void *settings, const char *v)
{
    memcpy(target(o, settings), &v, sizeof(v));
}

static int uint_in_range(const rs_option *o, unsigned long long v)
{
    return (double)v >= o->min && (double)v <= o->max;
}

static int find_choice(const rs_option *o, const char *name, int *value)
{
    for (const rs_option_choice *c = o->choices; c->name; c++) {
        if (strcasecmp(c->name, name) == 0) {
            *value = c->value;
            return 0;
        }
    }
    return -1;
}

/* "a, b or c", each name between quote and quote. */
static void choice_list(const rs_option *o, const char *quote, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const rs_option_choice *c = o->choices; c->name && used < cap; c++) {
        const char *sep = c == o->choices ? "" : c[1].name ? ", " : " or ";
        int n = snprintf(buf + used, cap - used, "%s%s%s%s", sep, quote, c->name, quote);
        used += n > 0 ? (size_t)n : 0;
    }
}

/* Stores a command-line (or default) value of o. */
static int set_text(const rs_option *o, const char *text, void *settings, rs_error *err)
{
    unsigned long long u;
    double d;
    int e;
    char list[LIST_MAX];
    switch (o->type) {
    case RS_OPT_STRING:
    case RS_OPT_PATH:
        if (o->check && o->check(text, err) != 0)
            return rs_error_prefix(err, "--%s %s", o->name, text);
        store_string(o, settings, text);
        return 0;
    case RS_OPT_UINT:
    case RS_OPT_SIZE:
        if (rs_option_parse_uint(text, o->type == RS_OPT_SIZE, &u) != 0)
            return rs_fail(err, "--%s %s: expected a non-negative integer%s", o->name, text,
                           o->type == RS_OPT_SIZE ? " (optionally with a K or M suffix)" : "");
        if (!uint_in_range(o, u))
            return rs_fail(err, "--%s %s: out of range (expected %.0f..%.0f)", o->name, text,
                           o->min, o->max);
        store_uint(o, settings, u);
        return 0;
    case RS_OPT_SECONDS:
        if (parse_double(text, &d) != 0 || !(d >= o->min && d <= o->max))
            return rs_fail(err, "--%s %s: expected seconds in %g..%g", o->name, text, o->min,
                           o->max);
        if (d > 0 && d < o->min_nonzero)
            return rs_fail(err, "--%s %s: at least %g (or 0)", o->name, text, o->min_nonzero);
        store_double(o, settings, d);
        return 0;
    case RS_OPT_ENUM:
        if (find_choice(o, text, &e) != 0) {
            choice_list(o, "", list, sizeof(list));
            return rs_fail(err, "--%s %s: expected %s", o->name, text, list);
        }
        store_int(o, settings, e);
        return 0;
    case RS_OPT_FLAG: /* only defaults come here: the command line takes no value */
        if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
            return rs_fail(err, "--%s: default \"%s\" is neither true nor false", o->name, text);
        store_int(o, settings, strcmp(text, "true") == 0);
        return 0;
    }
    return rs_fail(err, "--%s: unknown option type %d", o->name, (int)o->type);
}

/* Stores a config-file value of o (v is not null). */
static int set_json(const rs_option *o, json_t *v, const char *origin, const char *base_dir,
                    void *settings, rs_option_strings *strings, rs_error *err)
{
    const char *key = o->file_key;
    unsigned long long u = 0;
    int ok = 0, e;
    char list[LIST_MAX];
    switch (o->type) {
    case RS_OPT_STRING:
    case RS_OPT_PATH: {
        if (!json_is_string(v) || json_string_length(v) == 0)
            return rs_fail(err, "%s: \"%s\" must be a non-empty string", origin, key);
        const char *s = json_string_value(v);
        if (memchr(s, 0, json_string_length(v)))
            return rs_fail(err, "%s: \"%s\" must not contain a NUL character", origin, key);
        if (o->check && o->check(s, err) != 0)
            return rs_error_prefix(err, "%s: \"%s\"", origin, key);
        char *copy = strings_add(strings, s, o->type == RS_OPT_PATH ? base_dir : NULL, err);
        if (!copy) return -1;
        store_string(o, settings, copy);
        return 0;
    }
    case RS_OPT_UINT:
    case RS_OPT_SIZE:
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            u = (unsigned long long)json_integer_value(v);
            ok = 1;
        } else if (o->type == RS_OPT_SIZE && json_is_string(v)) {
            ok = rs_option_parse_uint(json_string_value(v), 1, &u) == 0;
        }
        if (!ok || !uint_in_range(o, u))
            return rs_fail(err, "%s: \"%s\" must be an integer in %.0f..%.0f%s", origin, key,
                           o->min, o->max,
                           o->type == RS_OPT_SIZE ? " (or a string with a K or M suffix)" : "");
        store_uint(o, settings, u);
        return 0;
    case RS_OPT_SECONDS: {
        double d = json_is_number(v) ? json_number_value(v) : o->min - 1;
        if (!(d >= o->min && d <= o->max))
            return rs_fail(err, "%s: \"%s\" must be a number of seconds in %g..%g", origin, key,
                           o->min, o->max);
        if (d > 0 && d < o->min_nonzero)
            return rs_fail(err, "%s: \"%s\": %g is too short (at least %g, or 0)", origin, key, d,
                           o->min_nonzero);
        store_double(o, settings, d);
        return 0;
    }
    case RS_OPT_ENUM:
        if (!json_is_string(v) || find_choice(o, json_string_value(v), &e) != 0) {
            choice_list(o, "\"", list, sizeof(list));
            return rs_fail(err, "%s: \"%s\" must be %s", origin, key, list);
        }
        store_int(o, settings, e);
        return 0;
    case RS_OPT_FLAG:
        if (!json_is_boolean(v))
            return rs_fail(err, "%s: \"%s\" must be true or false", origin, key);
        store_int(o, settings, json_is_true(v));
        return 0;
    }
    return rs_fail(err, "%s: \"%s\": unknown option type %d", origin, key, (int)o->type);
}

/* ---- the command line ---------------------------------------------------- */

/* getopt_long's view of the table; val is 256 + the row. */
static struct option *getopt_table(const rs_option *table, char *shorts, size_t cap, rs_error *err)
{
    int n = 0;
    while (table[n].name) n++;
    struct option *lo = rs_calloc((size_t)n + 1, sizeof(*lo), err);
    if (!lo) return NULL;
    size_t used = 0;
    shorts[used++] = ':'; /* a missing value is ':', not '?' */
    for (int i = 0; i < n; i++) {
        int flag = table[i].type == RS_OPT_FLAG;
        lo[i].name = table[i].name;
        lo[i].has_arg = flag ? no_argument : required_argument;
        lo[i].val = 256 + i;
        if (table[i].short_name && used + 3 < cap) {
            shorts[used++] = table[i].short_name;
            if (!flag) shorts[used++] = ':';
        }
    }
    shorts[used] = '\0';
    return lo;
}

static const rs_option *row_of(const rs_option *table, int c)
{
    if (c >= 256) return &table[c - 256];
    for (const rs_option *o = table; o->name; o++)
        if (o->short_name && o->short_name == c) return o;
    return NULL;
}

static int set_argument(const rs_option *o, const char *value, void *settings, rs_error *err)
{
    if (o->type != RS_OPT_FLAG) return set_text(o, value, settings, err);
    store_int(o, settings, o->flag_value);
    return 0;
}

unsigned rs_options_scan(const rs_option *table, int argc, char **argv, void *settings)
{
    char shorts[64];
    rs_error ignored;
    struct option *lo = getopt_table(table, shorts, sizeof(shorts), &ignored);
    if (!lo) return 0;
    unsigned seen = 0;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const rs_option *o = row_of(table, c);
        if (!o) continue;
        seen |= o->flags;
        if (o->flags & RS_OPT_EARLY) (void)set_argument(o, optarg, settings, &ignored);
    }
    free(lo);
    return seen;
}

int rs_options_parse(const rs_option *table, int argc, char **argv, void *settings, rs_error *err)
{
    char shorts[64];
    struct option *lo = getopt_table(table, shorts, sizeof(shorts), err);
    if (!lo) return -1;
    int c, rc = 0, stopped = 0;
    opterr = 0;
    optind = 1;
    while (!stopped && (c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const rs_option *o = row_of(table, c);
        if (c == ':')
            rc = rs_fail(err, "option %s needs a value (see --help)", argv[optind - 1]);
        else if (!o)
            rc = rs_fail(err, "unknown option %s (see --help)", argv[optind - 1]);
        else
            rc = set_argument(o, optarg, settings, err);
        if (rc != 0) break;
        stopped = (o->flags & RS_OPT_STOP) != 0;
    }
    if (rc == 0 && !stopped && optind < argc)
        rc = rs_fail(err, "unexpected argument \"%s\" (see --help)", argv[optind]);
    free(lo);
    return rc;
}

/* ---- the config file ----------------------------------------------------- */

/* The name o's file key gives in group (NULL: the top level, where
 * "group.key" counts as "group"), with its length; NULL if none. */
static const char *member(const rs_option *o, const char *group, size_t *len)
{
    const char *k = o->file_key;
    if (!k) return NULL;
    if (group) {
        size_t g = strlen(group);
        if (strncmp(k, group, g) != 0 || k[g] != '.') return NULL;
        k += g + 1;
    }
    *len = strcspn(k, ".");
    return k;
}

static int has_member(const rs_option *table, const char *group, const char *key)
{
    size_t len;
    for (const rs_option *o = table; o->name; o++) {
        const char *m = member(o, group, &len);
        if (m && strlen(key) == len && strncmp(m, key, len) == 0) return 1;
    }
    return 0;
}

/* Whether key (at the top level) is an object holding file keys. */
static int is_group(const rs_option *table, const char *key)
{
    size_t n = strlen(key);
    for (const rs_option *o = table; o->name; o++)
        if (o->file_key && strncmp(o->file_key, key, n) == 0 && o->file_key[n] == '.') return 1;
    return 0;
}

/* "a, b, c": group's members in table order, then other_keys. */
static void member_list(const rs_option *table, const char *group, const char *const *other_keys,
                        char *buf, size_t cap)
{
    size_t used = 0, len, earlier_len;
    buf[0] = '\0';
    for (const rs_option *o = table; o->name && used < cap; o++) {
        const char *m = member(o, group, &len);
        int repeated = 0;
        for (const rs_option *p = table; m && p < o && !repeated; p++) {
            const char *e = member(p, group, &earlier_len);
            repeated = e && earlier_len == len && strncmp(e, m, len) == 0;
        }
        if (!m || repeated) continue;
        int n = snprintf(buf + used, cap - used, "%s%.*s", used ? ", " : "", (int)len, m);
        used += n > 0 ? (size_t)n : 0;
    }
    for (const char *const *k = other_keys; k && *k && used < cap; k++) {
        int n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", *k);
        used += n > 0 ? (size_t)n : 0;
    }
}

static int in_list(const char *const *list, const char *key)
{
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0) return 1;
    return 0;
}

/* Refuses keys of obj (group's object, or the top level) that no row and
 * no other key names; a group must be an object of known keys too. */
static int check_keys(const rs_option *table, json_t *obj, const char *group,
                      const char *const *other_keys, const char *where, rs_error *err)
{
    const char *key;
    json_t *v;
    char list[LIST_MAX];
    json_object_foreach(obj, key, v)
    {
        if (!in_list(other_keys, key) && !has_member(table, group, key)) {
            member_list(table, group, other_keys, list, sizeof(list));
            return rs_fail(err, "%s: unknown field \"%.64s\" (known fields: %s)", where, key, list);
        }
        if (group || json_is_null(v) || !is_group(table, key)) continue;
        char inner[RS_ERROR_MAX];
        snprintf(inner, sizeof(inner), "%s: %s", where, key);
        if (!json_is_object(v)) return rs_fail(err, "%s: must be an object", inner);
        if (check_keys(table, v, key, NULL, inner, err) != 0) return -1;
    }
    return 0;
}

/* The value of o's file key in root, or NULL. */
static json_t *file_value(const rs_option *o, json_t *root)
{
    const char *dot = strchr(o->file_key, '.');
    if (!dot) return json_object_get(root, o->file_key);
    json_t *group = json_object_getn(root, o->file_key, (size_t)(dot - o->file_key));
    return json_is_object(group) ? json_object_get(group, dot + 1) : NULL;
}

int rs_options_load_json(const rs_option *table, json_t *root, const char *const *other_keys,
                         const char *origin, const char *base_dir, void *settings,
                         rs_option_strings *strings, rs_error *err)
{
    if (check_keys(table, root, NULL, other_keys, origin, err) != 0) return -1;
    for (const rs_option *o = table; o->name; o++) {
        json_t *v = o->file_key ? file_value(o, root) : NULL;
        if (v && !json_is_null(v) && set_json(o, v, origin, base_dir, settings, strings, err) != 0)
            return -1;
    }
    return 0;
}

/* ---- the table itself ---------------------------------------------------- */

int rs_options_defaults(const rs_option *table, void *settings, rs_error *err)
{
    for (const rs_option *o = table; o->name; o++) {
        memset(target(o, settings), 0, o->size);
        if (o->default_value && set_text(o, o->default_value, settings, err) != 0)
            return rs_error_prefix(err, "the default of --%s", o->name);
    }
    return 0;
}

static int check_target(const rs_option *o, rs_error *err)
{
    int ok;
    switch (o->type) {
    case RS_OPT_STRING:
    case RS_OPT_PATH:
        ok = o->size == sizeof(const char *);
        break;
    case RS_OPT_UINT:
    case RS_OPT_SIZE:
        ok = (o->size == sizeof(uint32_t) && o->max <= UINT32_MAX) ||
             (o->size == sizeof(uint64_t) && o->max < 18446744073709551616.0);
        ok = ok && o->min >= 0 && o->min <= o->max;
        break;
    case RS_OPT_SECONDS:
        ok = o->size == sizeof(double) && o->min >= 0 && o->min <= o->max;
        break;
    case RS_OPT_ENUM:
        ok = o->size == sizeof(int) && o->choices && o->choices[0].name;
        break;
    case RS_OPT_FLAG:
        ok = o->size == sizeof(int) && !o->arg;
        break;
    default:
        ok = 0;
    }
    if (!ok) return rs_fail(err, "--%s: the target does not fit the type or bounds", o->name);
    if ((o->type == RS_OPT_FLAG) == (o->arg != NULL) || !o->help)
        return rs_fail(err, "--%s: needs a help line, and a value placeholder unless a flag",
                       o->name);
    if (o->short_name == ':' || o->short_name == '?')
        return rs_fail(err, "--%s: '%c' cannot be a short option", o->name, o->short_name);
    return 0;
}

int rs_options_check(const rs_option *table, rs_error *err)
{
    size_t end = 0;
    for (const rs_option *o = table; o->name; o++) {
        if (check_target(o, err) != 0) return -1;
        for (const rs_option *p = table; p < o; p++) {
            if (strcmp(p->name, o->name) == 0 || (o->short_name && p->short_name == o->short_name))
                return rs_fail(err, "--%s: named twice", o->name);
            if (o->file_key && p->file_key && strcmp(o->file_key, p->file_key) == 0)
                return rs_fail(err, "--%s: file key \"%s\" used twice", o->name, o->file_key);
        }
        const char *dot = o->file_key ? strchr(o->file_key, '.') : NULL;
        if (dot && strchr(dot + 1, '.'))
            return rs_fail(err, "--%s: file key \"%s\" nests deeper than one object", o->name,
                           o->file_key);
        if (o->file_key && !dot && is_group(table, o->file_key))
            return rs_fail(err, "--%s: file key \"%s\" is also an object", o->name, o->file_key);
        if (o->offset + o->size > end) end = o->offset + o->size;
    }
    /* Every default must parse into a scratch settings struct. */
    void *scratch = rs_calloc(1, end ? end : 1, err);
    if (!scratch) return -1;
    int rc = rs_options_defaults(table, scratch, err);
    free(scratch);
    return rc;
}

/* ---- --help and Markdown ------------------------------------------------- */

/* Appends to the string in buf, truncating at cap. */
static void appendf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

/* 1048576 as "1M", 65536 as "64K". */
static void append_size(char *buf, size_t cap, double v)
{
    unsigned long long u = (unsigned long long)v;
    if (u >= 1024 * 1024 && u % (1024 * 1024) == 0)
        appendf(buf, cap, "%lluM", u / (1024 * 1024));
    else if (u >= 1024 && u % 1024 == 0)
        appendf(buf, cap, "%lluK", u / 1024);
    else
        appendf(buf, cap, "%llu", u);
}

/* 1099511627776 as "2^40": powers of two beyond 32 bits read better. */
static void append_uint(char *buf, size_t cap, double v)
{
    int exponent;
    if (v > UINT32_MAX && frexp(v, &exponent) == 0.5)
        appendf(buf, cap, "2^%d", exponent - 1);
    else
        appendf(buf, cap, "%.0f", v);
}

/* The values o accepts ("1..1024", "0 or 0.01..86400", "a, b or c"), each
 * choice between quotes; nothing for strings and flags. */
static void append_range(const rs_option *o, const char *quote, char *buf, size_t cap)
{
    char list[LIST_MAX];
    switch (o->type) {
    case RS_OPT_UINT:
        append_uint(buf, cap, o->min);
        appendf(buf, cap, "..");
        append_uint(buf, cap, o->max);
        break;
    case RS_OPT_SIZE:
        append_size(buf, cap, o->min);
        appendf(buf, cap, "..");
        append_size(buf, cap, o->max);
        appendf(buf, cap, ", K or M suffix");
        break;
    case RS_OPT_SECONDS:
        if (o->min_nonzero > o->min) appendf(buf, cap, "%g or ", o->min);
        appendf(buf, cap, "%g..%g", o->min_nonzero > o->min ? o->min_nonzero : o->min, o->max);
        break;
    case RS_OPT_ENUM:
        choice_list(o, quote, list, sizeof(list));
        appendf(buf, cap, "%s", list);
        break;
    default:
        break;
    }
}

/* "--store DIR", "-h, --help". */
static void label(const rs_option *o, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (o->short_name) appendf(buf, cap, "-%c, ", o->short_name);
    appendf(buf, cap, "--%s", o->name);
    if (o->arg) appendf(buf, cap, " %s", o->arg);
}

/* Prints text from column `at`, where the cursor is, starting at column and
 * wrapped before HELP_WIDTH with continuation lines starting at column. */
static void wrap(FILE *out, const char *text, size_t at, size_t column)
{
    if (at + 2 > column) {
        fputc('\n', out);
        at = 0;
    }
    fprintf(out, "%*s", (int)(column - at), "");
    size_t pos = column;
    int line_start = 1;
    for (const char *p = text; *p;) {
        while (*p == ' ') p++;
        size_t w = strcspn(p, " ");
        if (w == 0) break;
        if (!line_start && pos + 1 + w > HELP_WIDTH) {
            fprintf(out, "\n%*s", (int)column, "");
            pos = column;
            line_start = 1;
        }
        if (!line_start) {
            fputc(' ', out);
            pos++;
        }
        fwrite(p, 1, w, out);
        pos += w;
        p += w;
        line_start = 0;
    }
    fputc('\n', out);
}

void rs_options_help(const rs_option *table, FILE *out)
{
    char left[128], text[1024];
    size_t column = 0;
    for (const rs_option *o = table; o->name; o++) {
        label(o, left, sizeof(left));
        if (strlen(left) + 4 > column) column = strlen(left) + 4;
    }
    if (column > 30) column = 30;
    for (const rs_option *o = table; o->name; o++) {
        label(o, left, sizeof(left));
        char extra[LIST_MAX + 256] = "";
        append_range(o, "", extra, sizeof(extra));
        const char *sep = extra[0] ? "; " : "";
        if (o->default_text)
            appendf(extra, sizeof(extra), "%sdefault: %s", sep, o->default_text);
        else if (o->default_value && o->type != RS_OPT_FLAG)
            appendf(extra, sizeof(extra), "%sdefault %s", sep, o->default_value);
        if (extra[0])
            snprintf(text, sizeof(text), "%s (%s)", o->help, extra);
        else
            snprintf(text, sizeof(text), "%s", o->help);
        fprintf(out, "  %s", left);
        wrap(out, text, 2 + strlen(left), column);
    }
}

/* Markdown cell text: '|' would end the cell. */
static void markdown_text(FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|') fputc('\\', out);
        fputc(*p, out);
    }
}

static void markdown_value(const rs_option *o, FILE *out)
{
    static const char *const names[] = {
        [RS_OPT_STRING] = "string", [RS_OPT_PATH] = "path",        [RS_OPT_UINT] = "integer ",
        [RS_OPT_SIZE] = "bytes ",   [RS_OPT_SECONDS] = "seconds ", [RS_OPT_ENUM] = "",
        [RS_OPT_FLAG] = "flag"};
    char range[LIST_MAX] = "";
    append_range(o, "`", range, sizeof(range));
    fprintf(out, "%s%s", names[o->type], range);
    if (o->type == RS_OPT_FLAG && o->file_key) fputs(" (file: boolean)", out);
}

static void markdown_default(const rs_option *o, FILE *out)
{
    if (o->default_text)
        markdown_text(out, o->default_text);
    else if (o->type != RS_OPT_FLAG && o->default_value)
        fprintf(out, "`%s`", o->default_value);
    else if (o->type == RS_OPT_FLAG && o->file_key) /* the flag itself is off */
        fprintf(out, "file: `%s`", o->default_value ? o->default_value : "false");
}

void rs_options_markdown(const rs_option *table, FILE *out)
{
    char left[128];
    fputs("| option | config file | value | default | meaning |\n", out);
    fputs("|---|---|---|---|---|\n", out);
    for (const rs_option *o = table; o->name; o++) {
        label(o, left, sizeof(left));
        fprintf(out, "| `%s` | ", left);
        if (o->file_key) fprintf(out, "`%s`", o->file_key);
        fputs(" | ", out);
        markdown_value(o, out);
        fputs(" | ", out);
        markdown_default(o, out);
        fputs(" | ", out);
        markdown_text(out, o->help);
        fputs(" |\n", out);
    }
}
