/* dataset_parse.c - reading the data files (see dataset_parse.h). */
#include "dataset_parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_LINE   65536
#define MAX_FIELDS 4

/* Copies up to max-1 bytes of s into dst as printable text ('?' for other
 * bytes), for error messages and the report. */
void rs_data_printable(char *dst, size_t max, const char *s, size_t len)
{
    size_t n = len < max - 1 ? len : max - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[n] = '\0';
}

/* Parses a complete field as a finite number (surrounding spaces allowed). */
static int parse_number(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf) return -1;
    while (*end == ' ') end++;
    if (*end != '\0' || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int is_header_name(const char *s, size_t len)
{
    static const char *names[] = {
        "user",  "userid", "user_id", "users",   "uid",      "item",    "itemid",    "item_id",
        "items", "iid",    "movie",   "movieid", "movie_id", "product", "productid", "product_id"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
        if (strlen(names[k]) == len && strncasecmp(names[k], s, len) == 0) return 1;
    return 0;
}

const char *rs_data_sep_name(const char *sep)
{
    return sep[0] == '\t' ? "tab" : sep[0] == ',' ? "comma" : "'::'";
}

/* What split_fields found wrong with a quoted field (CSV quoting, as
 * spreadsheets and pandas write it: "a field, with the separator"). */
enum {
    QUOTE_UNTERMINATED = -1, /* no closing quote on the line */
    QUOTE_ESCAPED = -2,      /* a doubled quote ("") inside: ids cannot hold one */
    QUOTE_TRAILING = -3,     /* text between the closing quote and the separator */
    QUOTE_INSIDE = -4,       /* a quote inside a field that does not start with one */
};

static const char *find_sep(const char *p, const char *end, const char *sep, size_t sep_len)
{
    if (sep_len == 1) return memchr(p, sep[0], (size_t)(end - p));
    return memmem(p, (size_t)(end - p), sep, sep_len);
}

/* Splits a line into at most MAX_FIELDS fields; returns the field count,
 * or MAX_FIELDS + 1 when there are more, or a QUOTE_ code (*bad: the
 * field's index). A field that starts with a double quote runs to the next
 * one and may contain the separator; the quotes are not part of it.
 * *quoted is set when a field was quoted. */
static int split_fields(const char *line, size_t len, const char *sep, size_t sep_len,
                        const char **f, size_t *flen, int *quoted, int *bad)
{
    int n = 0;
    const char *p = line, *end = line + len;
    *quoted = 0;
    for (;;) {
        if (n == MAX_FIELDS) return MAX_FIELDS + 1;
        *bad = n;
        const char *q;
        if (p < end && *p == '"') {
            const char *close = memchr(p + 1, '"', (size_t)(end - p - 1));
            if (!close) return QUOTE_UNTERMINATED;
            if (close + 1 < end && close[1] == '"') return QUOTE_ESCAPED;
            q = find_sep(close + 1, end, sep, sep_len);
            for (const char *t = close + 1; t < (q ? q : end); t++)
                if (*t != ' ' && *t != '\r') return QUOTE_TRAILING;
            f[n] = p + 1;
            flen[n] = (size_t)(close - p - 1);
            *quoted = 1;
        } else {
            q = find_sep(p, end, sep, sep_len);
            f[n] = p;
            flen[n] = (size_t)((q ? q : end) - p);
            if (memchr(f[n], '"', flen[n])) return QUOTE_INSIDE;
        }
        n++;
        if (!q) return n;
        p = q + sep_len;
    }
}

static int quote_error(const char *path, uint64_t line, int code, int field, const char *sep,
                       rs_error *err)
{
    static const char *const what[] = {
        "an opening double quote has no closing one on the line (quoted fields cannot span lines)",
        "a doubled quote (\"\") inside a quoted field: ids with quotes are not supported",
        "text follows the closing quote before the next separator",
        "a double quote inside a field that does not start with one",
    };
    return rs_fail(err,
                   "%s:%llu: field %d: %s (separator %s; quoted fields are read when the "
                   "whole field is quoted)",
                   path, (unsigned long long)line, field + 1, what[-code - 1],
                   rs_data_sep_name(sep));
}

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

int rs_data_parse_buffer(const char *path, const char *buf, size_t len, int header_mode, row_fn fn,
                         void *ctx, file_info *info, rs_error *err)
{
    memset(info, 0, sizeof(*info));
    const char *nul = memchr(buf, '\0', len);
    size_t nul_line = 0;
    if (nul) { /* the line of the first NUL: reported when parsing reaches it */
        nul_line = 1;
        for (const char *p = buf; p < nul; p++) nul_line += *p == '\n';
    }
    size_t sep_len = 0;
    const char *f[MAX_FIELDS];
    size_t flen[MAX_FIELDS];
    char shown[48];
    size_t pos = 0;
    uint64_t line = 0;
    /* A UTF-8 byte order mark (spreadsheet exports) is not part of the
     * first id. */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) pos = 3;
    while (pos < len) {
        line++;
        const char *start = buf + pos;
        const char *eol = memchr(start, '\n', len - pos);
        size_t n = eol ? (size_t)(eol - start) : len - pos;
        pos += n + (eol ? 1 : 0);
        if (n > MAX_LINE)
            return rs_fail(err, "%s:%llu: line longer than %d bytes", path,
                           (unsigned long long)line, MAX_LINE);
        if (nul && line == nul_line)
            return rs_fail(err, "%s:%llu: NUL byte in line", path, (unsigned long long)line);
        while (n > 0 && (start[n - 1] == '\r' || start[n - 1] == '\n')) n--;
        if (is_blank(start, n)) continue;
        int first = sep_len == 0;
        if (first) { /* separator of this file: tab, else "::", else comma */
            if (memchr(start, '\t', n))
                strcpy(info->sep, "\t");
            else if (memmem(start, n, "::", 2))
                strcpy(info->sep, "::");
            else if (memchr(start, ',', n))
                strcpy(info->sep, ",");
            else
                return rs_fail(err, "%s:%llu: no separator (tab, comma or '::') in the first line",
                               path, (unsigned long long)line);
            sep_len = strlen(info->sep);
        }
        int quoted, bad_field;
        int nf = split_fields(start, n, info->sep, sep_len, f, flen, &quoted, &bad_field);
        if (nf < 0) return quote_error(path, line, nf, bad_field, info->sep, err);
        if (first && header_mode != 0) {
            double v;
            int header = header_mode == 1;
            if (!header && nf >= 2)
                header = is_header_name(f[0], flen[0]) || is_header_name(f[1], flen[1]);
            if (!header && nf >= 3 && nf <= MAX_FIELDS)
                header = parse_number(f[2], flen[2], &v) != 0 ||
                         (nf == 4 && parse_number(f[3], flen[3], &v) != 0);
            if (header) {
                info->header_skipped = 1;
                continue;
            }
        }
        if (nf > MAX_FIELDS)
            return rs_fail(err,
                           "%s:%llu: more than %d fields (expected user, item[, weight[, "
                           "timestamp]] separated by %s)",
                           path, (unsigned long long)line, MAX_FIELDS, rs_data_sep_name(info->sep));
        if (nf < 2)
            return rs_fail(err, "%s:%llu: missing item field (separator is %s)", path,
                           (unsigned long long)line, rs_data_sep_name(info->sep));
        if (flen[0] == 0)
            return rs_fail(err, "%s:%llu: empty user id", path, (unsigned long long)line);
        if (flen[1] == 0)
            return rs_fail(err, "%s:%llu: empty item id", path, (unsigned long long)line);
        double weight = 1.0, ts = NAN;
        if (nf >= 3 && parse_number(f[2], flen[2], &weight) != 0) {
            rs_data_printable(shown, sizeof(shown), f[2], flen[2]);
            return rs_fail(err, "%s:%llu: weight '%s' is not a finite number", path,
                           (unsigned long long)line, shown);
        }
        if (nf == 4 && parse_number(f[3], flen[3], &ts) != 0) {
            rs_data_printable(shown, sizeof(shown), f[3], flen[3]);
            return rs_fail(err, "%s:%llu: timestamp '%s' is not a number", path,
                           (unsigned long long)line, shown);
        }
        info->rows++;
        info->weighted += nf >= 3;
        info->timestamped += nf == 4;
        info->quoted += quoted;
        if (fn(ctx, f[0], flen[0], f[1], flen[1], weight, ts, line, err) != 0) return -1;
    }
    info->lines = line;
    return 0;
}

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
int rs_data_read_file(const char *path, char **out, size_t *len, rs_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return rs_fail(err, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return rs_fail(err, "%s is not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    char *buf = rs_malloc(size + 1, 1, err);
    if (!buf) {
        fclose(fp);
        return rs_error_prefix(err, "reading %s", path);
    }
    size_t got = fread(buf, 1, size, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad || got != size) {
        free(buf);
        return rs_fail(err, "cannot read %s: short read (%zu of %zu bytes)", path, got, size);
    }
    buf[size] = '\0';
    *out = buf;
    *len = size;
    return 0;
}
