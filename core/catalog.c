/* catalog.c - item catalogue: file reader, store format, filters (see
 * catalog.h). */
#include "catalog.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 256 /* bytes of a category or field name */

/* ------------------------------------------------------------ building */

typedef struct pair {
    uint32_t item, cat;
} pair;

typedef struct triple {
    uint32_t item, field;
    double value;
} triple;

typedef struct builder {
    const char *path;
    const rs_idtable *items;
    uint32_t n_items;
    rs_idtable *cats, *fields;
    pair *pairs;
    size_t n_pairs, cap_pairs;
    triple *values;
    size_t n_values, cap_values;
    uint32_t *line_of; /* n_items: line that described the item, 0 = none */
    uint32_t item;     /* the record being read (UINT32_MAX: unknown id) */
    rs_catalog_report report;
} builder;

static int grow(void **p, size_t *cap, size_t need, size_t elem, rs_error *err)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap * 2 : 1024;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return rs_fail_kind(err, RS_ERR_NO_MEMORY, "out of memory reading the catalogue");
    *p = q;
    *cap = n;
    return 0;
}

static int bad_line(const builder *b, uint64_t line, rs_error *err, const char *fmt, const char *a)
{
    char msg[RS_ERROR_MAX];
    snprintf(msg, sizeof(msg), fmt, a);
    return rs_fail_kind(err, RS_ERR_INVALID, "%s:%llu: %s", b->path, (unsigned long long)line, msg);
}

static int check_name(const builder *b, uint64_t line, const char *what, const char *s, size_t len,
                      rs_error *err)
{
    if (len == 0) return bad_line(b, line, err, "empty %s name", what);
    if (len > MAX_NAME) return bad_line(b, line, err, "%s name longer than 256 bytes", what);
    if (memchr(s, 0, len)) return bad_line(b, line, err, "%s name holds a NUL byte", what);
    return 0;
}

/* Starts a record for id: the model's index, or skipped when unknown. */
static int begin_record(builder *b, uint64_t line, const char *id, size_t len, rs_error *err)
{
    if (len == 0) return bad_line(b, line, err, "%s", "empty item id");
    b->report.lines++;
    uint32_t idx;
    if (rs_idtable_find(b->items, id, len, &idx) != 0 || idx >= b->n_items) {
        b->report.unknown++;
        b->item = UINT32_MAX;
        return 0;
    }
    if (b->line_of[idx]) {
        char msg[64];
        snprintf(msg, sizeof(msg), "line %u", b->line_of[idx]);
        return bad_line(b, line, err, "the item was described before, at %s", msg);
    }
    b->line_of[idx] = (uint32_t)RS_MIN(line, UINT32_MAX);
    b->report.described++;
    b->item = idx;
    return 0;
}

static int add_category(builder *b, uint64_t line, const char *s, size_t len, rs_error *err)
{
    if (check_name(b, line, "category", s, len, err) != 0) return -1;
    if (b->item == UINT32_MAX) return 0;
    uint32_t c;
    if (rs_idtable_intern(b->cats, s, len, &c, err) != 0 ||
        grow((void **)&b->pairs, &b->cap_pairs, b->n_pairs + 1, sizeof(pair), err) != 0)
        return -1;
    b->pairs[b->n_pairs++] = (pair){b->item, c};
    return 0;
}

static int add_value(builder *b, uint64_t line, const char *name, size_t len, double v,
                     rs_error *err)
{
    if (check_name(b, line, "field", name, len, err) != 0) return -1;
    if (!isfinite(v)) return bad_line(b, line, err, "field \"%.64s\" is not a finite number", name);
    uint32_t f;
    /* Fields are interned even for skipped records, so the column set does
     * not depend on which ids the model knows. */
    if (rs_idtable_intern(b->fields, name, len, &f, err) != 0) return -1;
    if (b->item == UINT32_MAX) return 0;
    if (grow((void **)&b->values, &b->cap_values, b->n_values + 1, sizeof(triple), err) != 0)
        return -1;
    b->values[b->n_values++] = (triple){b->item, f, v};
    return 0;
}

/* --- JSON lines --- */

static int json_record(builder *b, uint64_t line, const char *text, size_t len, rs_error *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) return bad_line(b, line, err, "malformed JSON: %.200s", jerr.text);
    int rc = -1;
    json_t *id = json_object_get(o, "id");
    char num[32];
    if (!json_is_object(o)) {
        bad_line(b, line, err, "%s", "expected a JSON object");
    } else if (json_is_string(id)) {
        rc = begin_record(b, line, json_string_value(id), json_string_length(id), err);
    } else if (json_is_integer(id)) { /* numeric ids, as in MovieLens */
        int n = snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(id));
        rc = begin_record(b, line, num, (size_t)n, err);
    } else {
        bad_line(b, line, err, "%s", "\"id\" must be a string or an integer");
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (rc != 0) break;
        if (strcmp(key, "id") == 0 || json_is_null(v)) continue;
        if (strcmp(key, "categories") == 0) {
            if (!json_is_array(v)) {
                rc = bad_line(b, line, err, "%s", "\"categories\" must be an array of strings");
                break;
            }
            size_t i;
            json_t *c;
            json_array_foreach(v, i, c)
            {
                if (!json_is_string(c)) {
                    rc = bad_line(b, line, err, "%s", "\"categories\" must be an array of strings");
                    break;
                }
                if ((rc = add_category(b, line, json_string_value(c), json_string_length(c),
                                       err)) != 0)
                    break;
            }
        } else if (json_is_number(v)) {
            rc = add_value(b, line, key, strlen(key), json_number_value(v), err);
        } else {
            rc = bad_line(b, line, err, "field \"%.64s\" must be a number or null", key);
        }
    }
    json_decref(o);
    return rc;
}

/* --- CSV --- */

typedef struct csv_header {
    char sep;
    uint32_t n_cols;
    char **names; /* numeric columns 2.. */
} csv_header;

/* Splits line in place at sep; cols receives up to max pointers. */
static uint32_t split(char *line, char sep, char **cols, uint32_t max)
{
    uint32_t n = 0;
    char *p = line;
    for (;;) {
        if (n < max) cols[n] = p;
        n++;
        char *q = strchr(p, sep);
        if (!q) break;
        *q = '\0';
        p = q + 1;
    }
    return n;
}

static int csv_parse_header(builder *b, char *line, csv_header *h, rs_error *err)
{
    h->sep = strchr(line, '\t') ? '\t' : ',';
    uint32_t n = 1;
    for (const char *p = line; *p; p++) n += *p == h->sep;
    h->names = rs_calloc(n, sizeof(char *), err);
    if (!h->names) return -1;
    split(line, h->sep, h->names, n);
    h->n_cols = n;
    if (n < 2 || strcmp(h->names[0], "id") != 0 || strcmp(h->names[1], "categories") != 0)
        return bad_line(b, 1, err, "%s",
                        "the CSV header must start with \"id,categories\" (then numeric fields)");
    for (uint32_t i = 2; i < n; i++) {
        if (check_name(b, 1, "field", h->names[i], strlen(h->names[i]), err) != 0) return -1;
        uint32_t f;
        if (rs_idtable_intern(b->fields, h->names[i], strlen(h->names[i]), &f, err) != 0) return -1;
        if (f != i - 2) return bad_line(b, 1, err, "field \"%.64s\" is named twice", h->names[i]);
    }
    return 0; /* the names live on in b->fields */
}

static int csv_record(builder *b, uint64_t line, char *text, const csv_header *h, char **cols,
                      rs_error *err)
{
    uint32_t n = split(text, h->sep, cols, h->n_cols);
    if (n != h->n_cols) {
        char msg[64];
        snprintf(msg, sizeof(msg), "%u columns, the header has %u", n, h->n_cols);
        return bad_line(b, line, err, "%s", msg);
    }
    if (begin_record(b, line, cols[0], strlen(cols[0]), err) != 0) return -1;
    char *c = cols[1];
    while (*c) {
        char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (add_category(b, line, c, len, err) != 0) return -1;
        c += len + (bar != NULL);
        if (bar && !*c) return bad_line(b, line, err, "%s", "a category list ends with '|'");
    }
    for (uint32_t i = 2; i < n; i++) {
        if (!*cols[i]) continue;
        char *end;
        errno = 0;
        double v = strtod(cols[i], &end);
        if (*end || errno == ERANGE || !isfinite(v))
            return bad_line(b, line, err, "\"%.64s\" is not a finite number", cols[i]);
        size_t len;
        const char *name = rs_idtable_name(b->fields, i - 2, &len);
        if (add_value(b, line, name, len, v, err) != 0) return -1;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), c = strlen(suffix);
    return a >= c && strcmp(s + a - c, suffix) == 0;
}

static int read_lines(builder *b, FILE *f, rs_error *err)
{
    int json = ends_with(b->path, ".jsonl") || ends_with(b->path, ".ndjson") ||
               ends_with(b->path, ".json");
    int decided = json;
    csv_header h = {0};
    char **cols = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    uint64_t no = 0;
    int rc = 0, have_header = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        no++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
        if ((size_t)got != strlen(line)) {
            rc = bad_line(b, no, err, "%s", "the line holds a NUL byte");
            break;
        }
        const char *p = line + strspn(line, " \t");
        if (!*p) continue;
        if (!decided) {
            json = *p == '{';
            decided = 1;
        }
        if (json) {
            rc = json_record(b, no, line, (size_t)got, err);
        } else if (!have_header) {
            rc = csv_parse_header(b, line, &h, err);
            if (rc == 0 && !(cols = rs_calloc(h.n_cols, sizeof(char *), err))) rc = -1;
            have_header = 1;
        } else {
            rc = csv_record(b, no, line, &h, cols, err);
        }
    }
    if (rc == 0 && ferror(f))
        rc = rs_fail_kind(err, RS_ERR_IO, "%s: read error: %s", b->path, strerror(errno));
    free(line);
    free(h.names);
    free(cols);
    return rc;
}

static int cmp_pair(const void *x, const void *y)
{
    const pair *a = x, *c = y;
    if (a->item != c->item) return a->item < c->item ? -1 : 1;
    return a->cat < c->cat ? -1 : a->cat > c->cat;
}

static const double *sort_values; /* qsort context (building is single-threaded) */
static int cmp_by_value(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    double va = sort_values[a], vc = sort_values[c];
    if (va != vc) return va < vc ? -1 : 1;
    return a < c ? -1 : a > c;
}

static char *string_table(const rs_idtable *t, uint64_t **offsets, rs_error *err)
{
    uint32_t n = rs_idtable_count(t);
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        rs_idtable_name(t, i, &len);
        total += len;
    }
    *offsets = rs_malloc((size_t)n + 1, sizeof(uint64_t), err);
    char *bytes = *offsets ? rs_malloc(total + 1, 1, err) : NULL;
    if (!bytes) return NULL;
    uint64_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *s = rs_idtable_name(t, i, &len);
        (*offsets)[i] = at;
        memcpy(bytes + at, s, len);
        at += len;
    }
    (*offsets)[n] = at;
    return bytes;
}

static int build_hash(rs_catalog *cat, rs_error *err);

/* The arrays of the catalogue from the builder's pairs and values. */
static int assemble(builder *b, rs_catalog *cat, rs_error *err)
{
    uint32_t n = b->n_items, nc = rs_idtable_count(b->cats), nf = rs_idtable_count(b->fields);
    qsort(b->pairs, b->n_pairs, sizeof(pair), cmp_pair);
    size_t m = 0;
    for (size_t i = 0; i < b->n_pairs; i++) /* an item listing a category twice */
        if (m == 0 || b->pairs[i].item != b->pairs[m - 1].item ||
            b->pairs[i].cat != b->pairs[m - 1].cat)
            b->pairs[m++] = b->pairs[i];
    if (m > UINT32_MAX - 1) return rs_fail(err, "the catalogue has too many item categories");
    uint32_t *item_indptr = rs_calloc((size_t)n + 1, sizeof(uint32_t), err);
    uint32_t *item_cats = item_indptr ? rs_malloc(m + 1, sizeof(uint32_t), err) : NULL;
    uint32_t *cat_indptr = item_cats ? rs_calloc((size_t)nc + 1, sizeof(uint32_t), err) : NULL;
    uint32_t *cat_items = cat_indptr ? rs_malloc(m + 1, sizeof(uint32_t), err) : NULL;
    double *values = cat_items ? rs_malloc((size_t)nf * n + 1, sizeof(double), err) : NULL;
    uint32_t *order_indptr = values ? rs_calloc((size_t)nf + 1, sizeof(uint32_t), err) : NULL;
    uint32_t *order = order_indptr ? rs_malloc(b->n_values + 1, sizeof(uint32_t), err) : NULL;
    uint8_t *described = order ? rs_calloc((size_t)n + 1, 1, err) : NULL;
    uint64_t *cat_offsets = NULL, *field_offsets = NULL;
    char *cat_bytes = described ? string_table(b->cats, &cat_offsets, err) : NULL;
    char *field_bytes = cat_bytes ? string_table(b->fields, &field_offsets, err) : NULL;
    void *all[12] = {item_indptr, item_cats, cat_indptr,  cat_items, values,        order_indptr,
                     order,       described, cat_offsets, cat_bytes, field_offsets, field_bytes};
    memcpy(cat->owned, all, sizeof(all));
    if (!field_bytes) return -1;
    for (size_t i = 0; i < m; i++) {
        item_cats[i] = b->pairs[i].cat;
        item_indptr[b->pairs[i].item + 1]++;
        cat_indptr[b->pairs[i].cat + 1]++;
    }
    for (uint32_t i = 0; i < n; i++) item_indptr[i + 1] += item_indptr[i];
    for (uint32_t c = 0; c < nc; c++) cat_indptr[c + 1] += cat_indptr[c];
    uint32_t *fill = rs_malloc((size_t)nc + 1, sizeof(uint32_t), err);
    if (!fill) return -1;
    memcpy(fill, cat_indptr, ((size_t)nc + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < m; i++) cat_items[fill[b->pairs[i].cat]++] = b->pairs[i].item;
    free(fill);
    for (size_t i = 0; i < (size_t)nf * n; i++) values[i] = NAN;
    for (size_t i = 0; i < b->n_values; i++)
        values[(size_t)b->values[i].field * n + b->values[i].item] = b->values[i].value;
    uint32_t at = 0;
    for (uint32_t f = 0; f < nf; f++) {
        const double *col = values + (size_t)f * n;
        order_indptr[f] = at;
        uint32_t start = at;
        for (uint32_t i = 0; i < n; i++)
            if (!isnan(col[i])) order[at++] = i;
        sort_values = col;
        qsort(order + start, at - start, sizeof(uint32_t), cmp_by_value);
    }
    order_indptr[nf] = at;
    for (uint32_t i = 0; i < n; i++) described[i] = b->line_of[i] != 0;
    *cat = (rs_catalog){.n_items = n,
                        .n_categories = nc,
                        .n_fields = nf,
                        .n_described = (uint32_t)b->report.described,
                        .cat_offsets = cat_offsets,
                        .cat_bytes = cat_bytes,
                        .field_offsets = field_offsets,
                        .field_bytes = field_bytes,
                        .cat_indptr = cat_indptr,
                        .cat_items = cat_items,
                        .item_indptr = item_indptr,
                        .item_cats = item_cats,
                        .values = values,
                        .order_indptr = order_indptr,
                        .order = order,
                        .described = described};
    memcpy(cat->owned, all, sizeof(all));
    return build_hash(cat, err);
}

int rs_catalog_read(const char *path, const rs_idtable *items, rs_catalog *out,
                    rs_catalog_report *report, rs_error *err)
{
    memset(out, 0, sizeof(*out));
    builder b = {.path = path, .items = items, .n_items = rs_idtable_count(items)};
    FILE *f = fopen(path, "r");
    if (!f) return rs_fail_kind(err, RS_ERR_IO, "%s: %s", path, strerror(errno));
    int rc = -1;
    if ((b.cats = rs_idtable_new(err)) && (b.fields = rs_idtable_new(err)) &&
        (b.line_of = rs_calloc((size_t)b.n_items + 1, sizeof(uint32_t), err)) &&
        read_lines(&b, f, err) == 0)
        rc = assemble(&b, out, err);
    fclose(f);
    rs_idtable_free(b.cats);
    rs_idtable_free(b.fields);
    free(b.pairs);
    free(b.values);
    free(b.line_of);
    if (rc != 0)
        rs_catalog_free(out);
    else if (report)
        *report = b.report;
    return rc;
}

/* ---------------------------------------------------------------- names */

static uint64_t name_hash(const char *s, size_t len)
{
    return rs_idtable_hash(s, len);
}

static int build_hash(rs_catalog *cat, rs_error *err)
{
    uint32_t slots = 16;
    while (slots < 2 * (uint64_t)cat->n_categories) slots *= 2;
    cat->name_slots = rs_calloc(slots, sizeof(uint32_t), err);
    if (!cat->name_slots) return -1;
    cat->n_slots = slots;
    for (uint32_t c = 0; c < cat->n_categories; c++) {
        size_t len;
        const char *s = rs_catalog_category(cat, c, &len);
        uint32_t h = (uint32_t)name_hash(s, len) & (slots - 1);
        while (cat->name_slots[h]) {
            uint32_t o = cat->name_slots[h] - 1;
            size_t olen;
            const char *os = rs_catalog_category(cat, o, &olen);
            if (olen == len && memcmp(os, s, len) == 0)
                return rs_fail_kind(err, RS_ERR_CORRUPT, "catalogue: category \"%.64s\" twice", s);
            h = (h + 1) & (slots - 1);
        }
        cat->name_slots[h] = c + 1;
    }
    return 0;
}

const char *rs_catalog_category(const rs_catalog *cat, uint32_t c, size_t *len)
{
    *len = (size_t)(cat->cat_offsets[c + 1] - cat->cat_offsets[c]);
    return cat->cat_bytes + cat->cat_offsets[c];
}

const char *rs_catalog_field(const rs_catalog *cat, uint32_t f, size_t *len)
{
    *len = (size_t)(cat->field_offsets[f + 1] - cat->field_offsets[f]);
    return cat->field_bytes + cat->field_offsets[f];
}

int rs_catalog_find_category(const rs_catalog *cat, const char *name, size_t len, uint32_t *c)
{
    if (!cat->n_slots) return -1;
    uint32_t h = (uint32_t)name_hash(name, len) & (cat->n_slots - 1);
    while (cat->name_slots[h]) {
        uint32_t o = cat->name_slots[h] - 1;
        size_t olen;
        const char *os = rs_catalog_category(cat, o, &olen);
        if (olen == len && memcmp(os, name, len) == 0) {
            *c = o;
            return 0;
        }
        h = (h + 1) & (cat->n_slots - 1);
    }
    return -1;
}

int rs_catalog_find_field(const rs_catalog *cat, const char *name, size_t len, uint32_t *f)
{
    for (uint32_t i = 0; i < cat->n_fields; i++) { /* few fields: a scan */
        size_t flen;
        const char *s = rs_catalog_field(cat, i, &flen);
        if (flen == len && memcmp(s, name, len) == 0) {
            *f = i;
            return 0;
        }
    }
    return -1;
}

void rs_catalog_free(rs_catalog *cat)
{
    if (!cat) return;
    for (size_t i = 0; i < sizeof(cat->owned) / sizeof(cat->owned[0]); i++) free(cat->owned[i]);
    free(cat->name_slots);
    memset(cat, 0, sizeof(*cat));
}

size_t rs_catalog_bytes(const rs_catalog *cat)
{
    return (size_t)cat->n_slots * sizeof(uint32_t);
}

/* ---------------------------------------------------------- store format */

#define NAME(buf, prefix, suffix) snprintf(buf, sizeof(buf), "%s.%s", prefix, suffix)

static char **c_strings(const uint64_t *offsets, const char *bytes, uint32_t n, rs_error *err)
{
    char **s = rs_calloc((size_t)n + 1, sizeof(char *), err);
    for (uint32_t i = 0; s && i < n; i++) {
        size_t len = (size_t)(offsets[i + 1] - offsets[i]);
        if (!(s[i] = rs_malloc(len + 1, 1, err))) {
            for (uint32_t j = 0; j < i; j++) free(s[j]);
            free(s);
            return NULL;
        }
        memcpy(s[i], bytes + offsets[i], len);
        s[i][len] = '\0';
    }
    return s;
}

static int publish_names(rs_publish *pub, const char *name, const uint64_t *offsets,
                         const char *bytes, uint32_t n, rs_error *err)
{
    char **s = c_strings(offsets, bytes, n, err);
    if (!s) return -1;
    int rc = rs_publish_strings(pub, name, s, n, err);
    for (uint32_t i = 0; i < n; i++) free(s[i]);
    free(s);
    return rc;
}

static int put_u32(rs_publish *pub, const char *prefix, const char *suffix, const uint32_t *data,
                   uint64_t n, rs_error *err)
{
    char name[128];
    NAME(name, prefix, suffix);
    return rs_publish_tensor(pub, name, RS_U32, 1, &n, data, err);
}

int rs_catalog_publish(rs_publish *pub, const char *prefix, const rs_catalog *cat, json_t **spec,
                       rs_error *err)
{
    *spec = NULL;
    char name[128];
    uint32_t n = cat->n_items, nc = cat->n_categories, nf = cat->n_fields;
    uint64_t values_shape[2] = {nf, n}, n_items = n;
    NAME(name, prefix, "categories");
    if (publish_names(pub, name, cat->cat_offsets, cat->cat_bytes, nc, err) != 0) return -1;
    NAME(name, prefix, "fields");
    if (publish_names(pub, name, cat->field_offsets, cat->field_bytes, nf, err) != 0) return -1;
    if (put_u32(pub, prefix, "cat_indptr", cat->cat_indptr, (uint64_t)nc + 1, err) != 0 ||
        put_u32(pub, prefix, "cat_items", cat->cat_items, cat->cat_indptr[nc], err) != 0 ||
        put_u32(pub, prefix, "item_indptr", cat->item_indptr, (uint64_t)n + 1, err) != 0 ||
        put_u32(pub, prefix, "item_cats", cat->item_cats, cat->item_indptr[n], err) != 0 ||
        put_u32(pub, prefix, "order_indptr", cat->order_indptr, (uint64_t)nf + 1, err) != 0 ||
        put_u32(pub, prefix, "order", cat->order, cat->order_indptr[nf], err) != 0)
        return -1;
    NAME(name, prefix, "values");
    if (rs_publish_tensor(pub, name, RS_F64, 2, values_shape, cat->values, err) != 0) return -1;
    NAME(name, prefix, "described");
    if (rs_publish_tensor(pub, name, RS_U8, 1, &n_items, cat->described, err) != 0) return -1;
    json_t *fields = json_array();
    for (uint32_t f = 0; fields && f < nf; f++) {
        size_t len;
        const char *s = rs_catalog_field(cat, f, &len);
        json_array_append_new(fields, json_stringn(s, len));
    }
    *spec = json_pack("{s:s,s:I,s:I,s:I,s:o}", "prefix", prefix, "n_items", (json_int_t)n,
                      "described", (json_int_t)cat->n_described, "categories", (json_int_t)nc,
                      "fields", fields ? fields : json_array());
    if (!*spec) return rs_fail_kind(err, RS_ERR_NO_MEMORY, "out of memory building the manifest");
    return 0;
}

static int view(const rs_snapshot *snap, const char *prefix, const char *suffix, rs_dtype dtype,
                uint64_t count, const void **data, rs_error *err)
{
    char name[128];
    NAME(name, prefix, suffix);
    rs_tensor_view v;
    if (rs_snapshot_tensor(snap, name, dtype, &v, err) != 0) return -1;
    if (v.count != count)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "%s holds %llu values, expected %llu", name,
                            (unsigned long long)v.count, (unsigned long long)count);
    *data = v.data;
    return 0;
}

/* indptr (rows + 1, from 0, non-decreasing, ending at nnz) and entries
 * (< limit, ascending within a row when sorted is set). */
static int check_csr(const uint32_t *indptr, uint32_t rows, const uint32_t *entries, uint32_t limit,
                     int sorted, const char *what, rs_error *err)
{
    if (indptr[0] != 0)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "catalogue: %s starts at %u", what, indptr[0]);
    for (uint32_t r = 0; r < rows; r++) {
        if (indptr[r + 1] < indptr[r])
            return rs_fail_kind(err, RS_ERR_CORRUPT, "catalogue: %s row %u ends before it starts",
                                what, r);
        for (uint32_t p = indptr[r]; p < indptr[r + 1]; p++)
            if (entries[p] >= limit || (sorted && p > indptr[r] && entries[p] <= entries[p - 1]))
                return rs_fail_kind(err, RS_ERR_CORRUPT, "catalogue: %s row %u entry %u is bad",
                                    what, r, p - indptr[r]);
    }
    return 0;
}

static int check_order(const rs_catalog *cat, rs_error *err)
{
    for (uint32_t f = 0; f < cat->n_fields; f++) {
        const double *col = cat->values + (size_t)f * cat->n_items;
        uint32_t valued = 0;
        for (uint32_t i = 0; i < cat->n_items; i++) {
            if (isinf(col[i]))
                return rs_fail_kind(err, RS_ERR_CORRUPT, "catalogue: infinite value");
            valued += !isnan(col[i]);
        }
        uint32_t beg = cat->order_indptr[f], end = cat->order_indptr[f + 1];
        if (end - beg != valued)
            return rs_fail_kind(err, RS_ERR_CORRUPT,
                                "catalogue: field %u orders %u items, %u have a value", f,
                                end - beg, valued);
        for (uint32_t p = beg; p < end; p++) {
            uint32_t i = cat->order[p];
            if (isnan(col[i]) ||
                (p > beg && (col[i] < col[cat->order[p - 1]] ||
                             (col[i] == col[cat->order[p - 1]] && i <= cat->order[p - 1]))))
                return rs_fail_kind(err, RS_ERR_CORRUPT, "catalogue: field %u is out of order", f);
        }
    }
    return 0;
}

int rs_catalog_load(const rs_snapshot *snap, const json_t *spec, uint32_t n_items, rs_catalog *out,
                    rs_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *prefix = json_string_value(json_object_get(spec, "prefix"));
    json_t *spec_items = json_object_get(spec, "n_items");
    if (!json_is_integer(spec_items) || json_integer_value(spec_items) != (json_int_t)n_items)
        return rs_fail_kind(err, RS_ERR_CORRUPT,
                            "catalogue: it does not describe the model's %u items", n_items);
    if (!prefix || strlen(prefix) > 64)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "catalogue: the manifest names no prefix");
    char name[128];
    uint64_t nc, nf;
    const uint64_t *co, *fo;
    const char *cb, *fb;
    NAME(name, prefix, "categories");
    if (rs_snapshot_strings(snap, name, &nc, &co, &cb, err) != 0) return -1;
    NAME(name, prefix, "fields");
    if (rs_snapshot_strings(snap, name, &nf, &fo, &fb, err) != 0) return -1;
    if (nc >= UINT32_MAX || nf >= UINT32_MAX)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "catalogue: too many names");
    rs_catalog c = {.n_items = n_items,
                    .n_categories = (uint32_t)nc,
                    .n_fields = (uint32_t)nf,
                    .cat_offsets = co,
                    .cat_bytes = cb,
                    .field_offsets = fo,
                    .field_bytes = fb};
    const void *p[10];
    if (view(snap, prefix, "cat_indptr", RS_U32, nc + 1, &p[0], err) != 0 ||
        view(snap, prefix, "item_indptr", RS_U32, (uint64_t)n_items + 1, &p[1], err) != 0 ||
        view(snap, prefix, "order_indptr", RS_U32, nf + 1, &p[2], err) != 0 ||
        view(snap, prefix, "values", RS_F64, nf * n_items, &p[3], err) != 0 ||
        view(snap, prefix, "described", RS_U8, n_items, &p[4], err) != 0)
        return rs_error_prefix(err, "catalogue");
    c.cat_indptr = p[0], c.item_indptr = p[1], c.order_indptr = p[2], c.values = p[3],
    c.described = p[4];
    if (view(snap, prefix, "cat_items", RS_U32, c.cat_indptr[nc], &p[5], err) != 0 ||
        view(snap, prefix, "item_cats", RS_U32, c.item_indptr[n_items], &p[6], err) != 0 ||
        view(snap, prefix, "order", RS_U32, c.order_indptr[nf], &p[7], err) != 0)
        return rs_error_prefix(err, "catalogue");
    c.cat_items = p[5], c.item_cats = p[6], c.order = p[7];
    if (c.cat_indptr[nc] != c.item_indptr[n_items])
        return rs_fail_kind(err, RS_ERR_CORRUPT, "catalogue: the two category indexes disagree");
    if (check_csr(c.cat_indptr, c.n_categories, c.cat_items, n_items, 1, "cat_items", err) != 0 ||
        check_csr(c.item_indptr, n_items, c.item_cats, c.n_categories, 1, "item_cats", err) != 0 ||
        check_csr(c.order_indptr, c.n_fields, c.order, n_items, 0, "order", err) != 0 ||
        check_order(&c, err) != 0)
        return -1;
    for (uint32_t i = 0; i < n_items; i++) c.n_described += c.described[i] != 0;
    *out = c;
    if (build_hash(out, err) != 0) {
        rs_catalog_free(out);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- filters */

static void set_list(uint64_t *bits, const uint32_t *ids, uint32_t n, uint32_t limit)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] < limit) bits[ids[i] >> 6] |= 1ull << (ids[i] & 63);
}

static void clear_list(uint64_t *bits, const uint32_t *ids, uint32_t n, uint32_t limit)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] < limit) bits[ids[i] >> 6] &= ~(1ull << (ids[i] & 63));
}

static void and_into(uint64_t *bits, const uint64_t *tmp, size_t words)
{
    for (size_t w = 0; w < words; w++) bits[w] &= tmp[w];
}

static void posting(const rs_catalog *cat, uint32_t c, const uint32_t **ids, uint32_t *n)
{
    *ids = cat->cat_items + cat->cat_indptr[c];
    *n = cat->cat_indptr[c + 1] - cat->cat_indptr[c];
}

/* The positions in field f's order of the values within [lo, hi]. */
static void range_span(const rs_catalog *cat, const rs_value_range *r, uint32_t *beg, uint32_t *end)
{
    const double *col = cat->values + (size_t)r->field * cat->n_items;
    const uint32_t *ord = cat->order;
    uint32_t a = cat->order_indptr[r->field], b = cat->order_indptr[r->field + 1];
    uint32_t lo = a, hi = b;
    while (lo < hi) { /* first value >= min */
        uint32_t mid = lo + (hi - lo) / 2;
        if (col[ord[mid]] < r->min)
            lo = mid + 1;
        else
            hi = mid;
    }
    *beg = lo;
    hi = b;
    while (lo < hi) { /* first value > max */
        uint32_t mid = lo + (hi - lo) / 2;
        if (col[ord[mid]] <= r->max)
            lo = mid + 1;
        else
            hi = mid;
    }
    *end = lo;
}

uint32_t rs_item_filter_bits(const rs_catalog *cat, uint32_t n_items, const rs_item_filter *f,
                             uint64_t *bits, uint64_t *tmp)
{
    size_t words = rs_bitmap_words(n_items);
    uint64_t tail = n_items % 64 ? (1ull << (n_items % 64)) - 1 : ~0ull;
    if (f->nothing || (f->any_given && f->n_any == 0)) {
        memset(bits, 0, words * sizeof(uint64_t));
        return 0;
    }
    if (f->allow_given) {
        memset(bits, 0, words * sizeof(uint64_t));
        set_list(bits, f->allow, f->n_allow, n_items);
    } else {
        memset(bits, 0xff, words * sizeof(uint64_t));
        if (words) bits[words - 1] = tail;
    }
    const uint32_t *ids;
    uint32_t n;
    if (cat && f->n_any) {
        memset(tmp, 0, words * sizeof(uint64_t));
        for (uint32_t i = 0; i < f->n_any; i++) {
            posting(cat, f->any[i], &ids, &n);
            set_list(tmp, ids, n, n_items);
        }
        and_into(bits, tmp, words);
    }
    for (uint32_t i = 0; cat && i < f->n_all; i++) {
        memset(tmp, 0, words * sizeof(uint64_t));
        posting(cat, f->all[i], &ids, &n);
        set_list(tmp, ids, n, n_items);
        and_into(bits, tmp, words);
    }
    for (uint32_t i = 0; cat && i < f->n_none; i++) {
        posting(cat, f->none[i], &ids, &n);
        clear_list(bits, ids, n, n_items);
    }
    for (uint32_t i = 0; cat && i < f->n_ranges; i++) {
        uint32_t beg, end;
        range_span(cat, &f->ranges[i], &beg, &end);
        memset(tmp, 0, words * sizeof(uint64_t));
        set_list(tmp, cat->order + beg, end - beg, n_items);
        and_into(bits, tmp, words);
    }
    clear_list(bits, f->deny, f->n_deny, n_items);
    uint64_t count = 0;
    for (size_t w = 0; w < words; w++) count += (uint64_t)__builtin_popcountll(bits[w]);
    return (uint32_t)count;
}
