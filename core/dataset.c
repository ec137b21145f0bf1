/* dataset.c - interaction files to split CSR matrices (see dataset.h).
 *
 * Pipeline, in order:
 *   1. read the train file into memory and parse it line by line; rows below
 *      the minimum rating are counted and dropped before their ids are
 *      interned, so ids are numbered by first appearance among kept rows;
 *   2. build a user x item CSR with two counting sorts (by item, then by
 *      user), which leaves every row sorted, and drop adjacent duplicates;
 *   3. iterative k-core: each round removes every user below the user
 *      threshold, then every item below the item threshold, until a round
 *      removes nothing (the result is the unique maximal core);
 *   4. renumber the survivors (first-appearance order is kept) and split.
 * Every random choice uses an rs_rng stream derived from the seed, the
 * purpose and the user index, so a user's split does not depend on how many
 * random numbers other users consumed.
 */
#include "dataset.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "rng.h"

#define MAX_LINE   65536
#define MAX_FIELDS 4
#define NONE       UINT32_MAX

/* Purposes of random streams (never reorder: it would change splits). */
enum {
    STREAM_HOLDOUT = 1,
    STREAM_USERS_PICK,
    STREAM_USERS_SPLIT,
    STREAM_VALID_PICK,
    STREAM_VALID_SPLIT
};

/* ---------------------------------------------------------------- CSR */

void rs_csr_free(rs_csr *m)
{
    if (!m) return;
    free(m->indptr);
    free(m->indices);
    free(m->values);
    memset(m, 0, sizeof(*m));
}

uint64_t rs_csr_nnz(const rs_csr *m)
{
    return m->indptr ? m->indptr[m->n_rows] : 0;
}

static int csr_alloc(rs_csr *m, uint32_t n_rows, uint32_t n_cols, uint64_t nnz, rs_error *err)
{
    memset(m, 0, sizeof(*m));
    m->n_rows = n_rows;
    m->n_cols = n_cols;
    m->indptr = rs_calloc((size_t)n_rows + 1, sizeof(uint64_t), err);
    m->indices = rs_malloc(nnz, sizeof(uint32_t), err);
    if (!m->indptr || !m->indices) {
        rs_csr_free(m);
        return -1;
    }
    return 0;
}

/* Builds a CSR from (row, col) pairs. Each row comes out sorted (a counting
 * sort by column, then a stable one by row) with duplicates removed and
 * counted in *dups. */
static int pairs_to_csr(uint32_t n_rows, uint32_t n_cols, const uint32_t *rows,
                        const uint32_t *cols, uint64_t n, rs_csr *out, uint64_t *dups,
                        rs_error *err)
{
    uint64_t *cptr = rs_calloc((size_t)n_cols + 1, sizeof(uint64_t), err);
    uint32_t *by_col = rs_malloc(n, sizeof(uint32_t), err);
    if (!cptr || !by_col || csr_alloc(out, n_rows, n_cols, n, err) != 0) {
        free(cptr);
        free(by_col);
        return -1;
    }
    for (uint64_t k = 0; k < n; k++) cptr[cols[k] + 1]++;
    for (uint32_t c = 0; c < n_cols; c++) cptr[c + 1] += cptr[c];
    for (uint64_t k = 0; k < n; k++) by_col[cptr[cols[k]]++] = rows[k];
    /* cptr[c] now holds the end of column c. */
    uint64_t *ip = out->indptr;
    for (uint64_t k = 0; k < n; k++) ip[rows[k] + 1]++;
    for (uint32_t r = 0; r < n_rows; r++) ip[r + 1] += ip[r];
    uint64_t *fill = rs_malloc((size_t)n_rows + 1, sizeof(uint64_t), err);
    if (!fill) {
        free(cptr);
        free(by_col);
        rs_csr_free(out);
        return -1;
    }
    memcpy(fill, ip, ((size_t)n_rows + 1) * sizeof(uint64_t));
    uint64_t k = 0;
    for (uint32_t c = 0; c < n_cols; c++)
        for (; k < cptr[c]; k++) out->indices[fill[by_col[k]]++] = c;
    free(cptr);
    free(by_col);
    free(fill);
    /* Drop adjacent duplicates in place. */
    uint64_t w = 0, d = 0;
    for (uint32_t r = 0; r < n_rows; r++) {
        uint64_t start = ip[r], end = ip[r + 1];
        ip[r] = w;
        for (uint64_t j = start; j < end; j++) {
            if (j > start && out->indices[j] == out->indices[j - 1]) {
                d++;
                continue;
            }
            out->indices[w++] = out->indices[j];
        }
    }
    ip[n_rows] = w;
    if (dups) *dups = d;
    return 0;
}

/* out = rows r of src where (mask[r] != 0) == want, other rows empty. */
static int csr_select_rows(const rs_csr *src, const uint8_t *mask, int want, rs_csr *out,
                           rs_error *err)
{
    uint64_t nnz = 0;
    for (uint32_t r = 0; r < src->n_rows; r++)
        if ((mask[r] != 0) == want) nnz += rs_csr_row_len(src, r);
    if (csr_alloc(out, src->n_rows, src->n_cols, nnz, err) != 0) return -1;
    uint64_t w = 0;
    for (uint32_t r = 0; r < src->n_rows; r++) {
        out->indptr[r] = w;
        if ((mask[r] != 0) != want) continue;
        uint32_t len = rs_csr_row_len(src, r);
        memcpy(out->indices + w, src->indices + src->indptr[r], (size_t)len * sizeof(uint32_t));
        w += len;
    }
    out->indptr[src->n_rows] = w;
    return 0;
}

static int csr_copy(const rs_csr *src, rs_csr *out, rs_error *err)
{
    uint64_t nnz = rs_csr_nnz(src);
    if (csr_alloc(out, src->n_rows, src->n_cols, nnz, err) != 0) return -1;
    memcpy(out->indptr, src->indptr, ((size_t)src->n_rows + 1) * sizeof(uint64_t));
    if (nnz) memcpy(out->indices, src->indices, nnz * sizeof(uint32_t));
    return 0;
}

/* How many of a row's n items a split moves: round(fraction * n), at least
 * one, and leaving at least one. Only called with n >= 2. */
static uint32_t split_count(uint32_t n, double fraction)
{
    double k = floor(fraction * n + 0.5);
    if (k < 1) k = 1;
    if (k > n - 1) k = n - 1;
    return (uint32_t)k;
}

/* For each row r with pick[r] set (every row when pick is NULL) and at least
 * min_len (>= 2) entries, moves split_count(len, fraction) randomly chosen
 * entries to *moved; everything else goes to *kept. Row r's choice uses the
 * stream (stream, r). Both outputs keep rows sorted. */
static int split_rows(const rs_csr *src, const uint8_t *pick, uint32_t min_len, double fraction,
                      const rs_rng *stream, rs_csr *kept, rs_csr *moved, rs_error *err)
{
    uint32_t n_rows = src->n_rows, max_len = 0;
    uint64_t n_moved = 0;
    for (uint32_t r = 0; r < n_rows; r++) {
        uint32_t len = rs_csr_row_len(src, r);
        if (len > max_len) max_len = len;
        if ((!pick || pick[r]) && len >= min_len) n_moved += split_count(len, fraction);
    }
    uint64_t nnz = rs_csr_nnz(src);
    uint32_t *pos = rs_malloc(max_len, sizeof(uint32_t), err);
    uint8_t *flag = rs_calloc(max_len, 1, err);
    if (!pos || !flag || csr_alloc(kept, n_rows, src->n_cols, nnz - n_moved, err) != 0) {
        free(pos);
        free(flag);
        return -1;
    }
    if (csr_alloc(moved, n_rows, src->n_cols, n_moved, err) != 0) {
        free(pos);
        free(flag);
        rs_csr_free(kept);
        return -1;
    }
    uint64_t wk = 0, wm = 0;
    for (uint32_t r = 0; r < n_rows; r++) {
        const uint32_t *row = src->indices + src->indptr[r];
        uint32_t len = rs_csr_row_len(src, r);
        kept->indptr[r] = wk;
        moved->indptr[r] = wm;
        if ((pick && !pick[r]) || len < min_len) {
            memcpy(kept->indices + wk, row, (size_t)len * sizeof(uint32_t));
            wk += len;
            continue;
        }
        rs_rng rng;
        rs_rng_split(stream, r, &rng);
        uint32_t k = split_count(len, fraction);
        for (uint32_t j = 0; j < len; j++) pos[j] = j;
        for (uint32_t j = 0; j < k; j++) { /* partial Fisher-Yates */
            uint32_t s = j + (uint32_t)rs_rng_below(&rng, len - j);
            uint32_t tmp = pos[j];
            pos[j] = pos[s];
            pos[s] = tmp;
            flag[pos[j]] = 1;
        }
        for (uint32_t j = 0; j < len; j++) {
            if (flag[j])
                moved->indices[wm++] = row[j];
            else
                kept->indices[wk++] = row[j];
            flag[j] = 0;
        }
    }
    kept->indptr[n_rows] = wk;
    moved->indptr[n_rows] = wm;
    free(pos);
    free(flag);
    return 0;
}

/* Picks min(want, eligible) rows at random among those with at least
 * min_len entries (and not excluded); sets pick[r] = 1 for them. Returns the
 * number picked, or -1 on allocation failure. */
static int64_t pick_rows(const rs_csr *m, const uint8_t *exclude, uint32_t min_len, uint32_t want,
                         const rs_rng *stream, uint8_t *pick, uint32_t *eligible_out, rs_error *err)
{
    uint32_t *cand = rs_malloc(m->n_rows, sizeof(uint32_t), err);
    if (!cand) return -1;
    uint32_t n = 0;
    for (uint32_t r = 0; r < m->n_rows; r++)
        if ((!exclude || !exclude[r]) && rs_csr_row_len(m, r) >= min_len) cand[n++] = r;
    if (eligible_out) *eligible_out = n;
    uint32_t k = RS_MIN(want, n);
    rs_rng rng = *stream;
    for (uint32_t j = 0; j < k; j++) {
        uint32_t s = j + (uint32_t)rs_rng_below(&rng, n - j);
        uint32_t tmp = cand[j];
        cand[j] = cand[s];
        cand[s] = tmp;
        pick[cand[j]] = 1;
    }
    free(cand);
    return k;
}

/* ------------------------------------------------------------ parsing */

typedef struct file_info {
    uint64_t lines, rows;
    int header_skipped;
    char sep[4];
} file_info;

/* Called for each data row; weight is 1 when the row has none. */
typedef int (*row_fn)(void *ctx, const char *user, size_t ulen, const char *item, size_t ilen,
                      double weight, uint64_t line, rs_error *err);

/* Copies up to max-1 bytes of s into dst as printable text ('?' for other
 * bytes), for error messages and the report. */
static void printable(char *dst, size_t max, const char *s, size_t len)
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

static const char *sep_name(const char *sep)
{
    return sep[0] == '\t' ? "tab" : sep[0] == ',' ? "comma" : "'::'";
}

/* Splits a line into at most MAX_FIELDS fields; returns the field count,
 * or MAX_FIELDS + 1 when there are more. */
static int split_fields(const char *line, size_t len, const char *sep, size_t sep_len,
                        const char **f, size_t *flen)
{
    int n = 0;
    const char *p = line, *end = line + len;
    for (;;) {
        const char *q;
        if (sep_len == 1)
            q = memchr(p, sep[0], (size_t)(end - p));
        else
            q = memmem(p, (size_t)(end - p), sep, sep_len);
        if (n == MAX_FIELDS) return MAX_FIELDS + 1;
        f[n] = p;
        flen[n] = (size_t)((q ? q : end) - p);
        n++;
        if (!q) return n;
        p = q + sep_len;
    }
}

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

static int parse_buffer(const char *path, const char *buf, size_t len, int header_mode, row_fn fn,
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
        int nf = split_fields(start, n, info->sep, sep_len, f, flen);
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
                           path, (unsigned long long)line, MAX_FIELDS, sep_name(info->sep));
        if (nf < 2)
            return rs_fail(err, "%s:%llu: missing item field (separator is %s)", path,
                           (unsigned long long)line, sep_name(info->sep));
        if (flen[0] == 0)
            return rs_fail(err, "%s:%llu: empty user id", path, (unsigned long long)line);
        if (flen[1] == 0)
            return rs_fail(err, "%s:%llu: empty item id", path, (unsigned long long)line);
        double weight = 1.0, ts;
        if (nf >= 3 && parse_number(f[2], flen[2], &weight) != 0) {
            printable(shown, sizeof(shown), f[2], flen[2]);
            return rs_fail(err, "%s:%llu: weight '%s' is not a finite number", path,
                           (unsigned long long)line, shown);
        }
        if (nf == 4 && parse_number(f[3], flen[3], &ts) != 0) {
            printable(shown, sizeof(shown), f[3], flen[3]);
            return rs_fail(err, "%s:%llu: timestamp '%s' is not a number", path,
                           (unsigned long long)line, shown);
        }
        info->rows++;
        if (fn(ctx, f[0], flen[0], f[1], flen[1], weight, line, err) != 0) return -1;
    }
    info->lines = line;
    return 0;
}

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
static int read_file(const char *path, char **out, size_t *len, rs_error *err)
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

/* ------------------------------------------------------ load pipeline */

typedef struct pairs {
    uint32_t *u, *i;
    uint64_t n, cap;
} pairs;

static int pairs_push(pairs *p, uint32_t u, uint32_t i, rs_error *err)
{
    if (p->n == p->cap) {
        uint64_t cap = p->cap ? p->cap * 2 : 4096;
        uint32_t *nu = realloc(p->u, cap * sizeof(uint32_t));
        if (!nu)
            return rs_fail(err, "out of memory storing %llu interactions", (unsigned long long)cap);
        p->u = nu;
        uint32_t *ni = realloc(p->i, cap * sizeof(uint32_t));
        if (!ni)
            return rs_fail(err, "out of memory storing %llu interactions", (unsigned long long)cap);
        p->i = ni;
        p->cap = cap;
    }
    p->u[p->n] = u;
    p->i[p->n] = i;
    p->n++;
    return 0;
}

static void pairs_free(pairs *p)
{
    free(p->u);
    free(p->i);
    memset(p, 0, sizeof(*p));
}

typedef struct train_ctx {
    const rs_data_options *o;
    rs_idtable *users, *items;
    pairs p;
    uint64_t below;
} train_ctx;

static int train_row(void *vctx, const char *user, size_t ulen, const char *item, size_t ilen,
                     double weight, uint64_t line, rs_error *err)
{
    train_ctx *c = vctx;
    if (c->o->has_min_rating && !(weight >= c->o->min_rating)) {
        c->below++;
        return 0;
    }
    uint32_t u, i;
    if (rs_idtable_intern(c->users, user, ulen, &u, err) != 0 ||
        rs_idtable_intern(c->items, item, ilen, &i, err) != 0)
        return rs_error_prefix(err, "line %llu", (unsigned long long)line);
    return pairs_push(&c->p, u, i, err);
}

typedef struct test_ctx {
    const rs_data_options *o;
    const rs_idtable *users, *items;
    rs_data_report *r;
    pairs p;
} test_ctx;

static int test_row(void *vctx, const char *user, size_t ulen, const char *item, size_t ilen,
                    double weight, uint64_t line, rs_error *err)
{
    test_ctx *c = vctx;
    rs_data_report *r = c->r;
    if (c->o->has_min_rating && !(weight >= c->o->min_rating)) {
        r->test_below_min_rating++;
        return 0;
    }
    uint32_t u, i;
    if (rs_idtable_find(c->users, user, ulen, &u) != 0) {
        if (r->test_unknown_user++ == 0) {
            printable(r->first_unknown_user, sizeof(r->first_unknown_user), user, ulen);
            r->first_unknown_user_line = line;
        }
        return 0;
    }
    if (rs_idtable_find(c->items, item, ilen, &i) != 0) {
        if (r->test_unknown_item++ == 0) {
            printable(r->first_unknown_item, sizeof(r->first_unknown_item), item, ilen);
            r->first_unknown_item_line = line;
        }
        return 0;
    }
    return pairs_push(&c->p, u, i, err);
}

/* Iterative k-core on m (users x items). Fills alive_user / alive_item. */
static int kcore(const rs_csr *m, uint32_t ku, uint32_t ki, uint8_t *alive_user,
                 uint8_t *alive_item, rs_data_report *r, rs_error *err)
{
    uint32_t nu = m->n_rows, ni = m->n_cols;
    memset(alive_user, 1, nu);
    memset(alive_item, 1, ni);
    if (ku == 0 && ki == 0) return 0;
    /* Transpose (items x users) for decrementing user degrees. */
    rs_csr t;
    uint32_t *rows = rs_malloc(rs_csr_nnz(m), sizeof(uint32_t), err);
    uint32_t *udeg = rs_malloc(nu, sizeof(uint32_t), err);
    uint32_t *ideg = rs_malloc(ni, sizeof(uint32_t), err);
    if (!rows || !udeg || !ideg) goto fail_early;
    for (uint32_t u = 0; u < nu; u++)
        for (uint64_t k = m->indptr[u]; k < m->indptr[u + 1]; k++) rows[k] = u;
    if (pairs_to_csr(ni, nu, m->indices, rows, rs_csr_nnz(m), &t, NULL, err) != 0) goto fail_early;
    free(rows);
    rows = NULL;
    for (uint32_t u = 0; u < nu; u++) udeg[u] = rs_csr_row_len(m, u);
    for (uint32_t i = 0; i < ni; i++) ideg[i] = rs_csr_row_len(&t, i);
    for (;;) {
        int changed = 0;
        for (uint32_t u = 0; u < nu; u++) {
            if (!alive_user[u] || udeg[u] >= ku) continue;
            alive_user[u] = 0;
            r->kcore_users_removed++;
            changed = 1;
            for (uint64_t k = m->indptr[u]; k < m->indptr[u + 1]; k++)
                if (alive_item[m->indices[k]]) ideg[m->indices[k]]--;
        }
        for (uint32_t i = 0; i < ni; i++) {
            if (!alive_item[i] || ideg[i] >= ki) continue;
            alive_item[i] = 0;
            r->kcore_items_removed++;
            changed = 1;
            for (uint64_t k = t.indptr[i]; k < t.indptr[i + 1]; k++)
                if (alive_user[t.indices[k]]) udeg[t.indices[k]]--;
        }
        if (!changed) break;
        r->kcore_rounds++;
    }
    rs_csr_free(&t);
    free(udeg);
    free(ideg);
    return 0;
fail_early:
    free(rows);
    free(udeg);
    free(ideg);
    return -1;
}

/* New tables holding the alive ids in their old order; map[old] = new index
 * or NONE. */
static int compact_table(const rs_idtable *old, const uint8_t *alive, rs_idtable **out,
                         uint32_t *map, rs_error *err)
{
    rs_idtable *t = rs_idtable_new(err);
    if (!t) return -1;
    for (uint32_t k = 0; k < rs_idtable_count(old); k++) {
        map[k] = NONE;
        if (!alive[k]) continue;
        size_t len;
        const char *s = rs_idtable_name(old, k, &len);
        if (rs_idtable_intern(t, s, len, &map[k], err) != 0) {
            rs_idtable_free(t);
            return -1;
        }
    }
    *out = t;
    return 0;
}

static int check_options(const rs_data_options *o, rs_error *err)
{
    if (!o->train_path) return rs_fail(err, "no train file given");
    if (o->split == RS_SPLIT_FILE && !o->test_path)
        return rs_fail(err, "the file split needs a test file");
    if (o->header < -1 || o->header > 1)
        return rs_fail(err, "header must be -1 (auto), 0 or 1, got %d", o->header);
    if (o->has_min_rating && !isfinite(o->min_rating))
        return rs_fail(err, "minimum rating must be a finite number");
    if (o->split == RS_SPLIT_HOLDOUT && !(o->holdout_fraction > 0 && o->holdout_fraction < 1))
        return rs_fail(err, "holdout fraction must be in (0, 1), got %g", o->holdout_fraction);
    if (o->split == RS_SPLIT_USERS) {
        if (!(o->foldin_fraction > 0 && o->foldin_fraction < 1))
            return rs_fail(err, "fold-in fraction must be in (0, 1), got %g", o->foldin_fraction);
        if (o->heldout_users == 0)
            return rs_fail(err, "the held-out users split needs a count > 0");
    }
    if (o->split < RS_SPLIT_FILE || o->split > RS_SPLIT_NONE)
        return rs_fail(err, "unknown split %d", (int)o->split);
    if (o->valid_users && !(o->valid_fraction > 0 && o->valid_fraction < 1))
        return rs_fail(err, "validation fraction must be in (0, 1), got %g", o->valid_fraction);
    return 0;
}

void rs_data_options_default(rs_data_options *o)
{
    memset(o, 0, sizeof(*o));
    o->header = -1;
    o->split = RS_SPLIT_NONE;
    o->holdout_fraction = 0.2;
    o->foldin_fraction = 0.8;
    o->min_split_items = 5;
    o->valid_fraction = 0.2;
    o->seed = 2026;
}

void rs_dataset_free(rs_dataset *d)
{
    if (!d) return;
    rs_idtable_free(d->users);
    rs_idtable_free(d->items);
    rs_csr_free(&d->train);
    rs_csr_free(&d->valid);
    rs_csr_free(&d->known);
    rs_csr_free(&d->test);
    rs_csr_free(&d->test_input);
    free(d->popularity);
    memset(d, 0, sizeof(*d));
}

/* Steps 1-4 for the train file: d->users, d->items and *all (every kept
 * interaction, before any split). */
static int load_train(const rs_data_options *o, rs_dataset *d, rs_csr *all, rs_error *err)
{
    rs_data_report *r = &d->report;
    train_ctx c = {.o = o};
    char *buf = NULL;
    size_t len = 0;
    rs_csr raw = {0};
    uint8_t *alive_u = NULL, *alive_i = NULL;
    uint32_t *map_u = NULL, *map_i = NULL;
    int rc = -1;
    file_info info;
    if (read_file(o->train_path, &buf, &len, err) != 0) return -1;
    r->train_file_hash = rs_idtable_hash(buf, len);
    c.users = rs_idtable_new(err);
    c.items = rs_idtable_new(err);
    if (!c.users || !c.items) goto done;
    if (parse_buffer(o->train_path, buf, len, o->header, train_row, &c, &info, err) != 0) goto done;
    free(buf);
    buf = NULL;
    r->lines_read = info.lines;
    r->header_skipped = info.header_skipped;
    memcpy(r->separator, info.sep, sizeof(r->separator));
    r->rows_read = info.rows;
    r->below_min_rating = c.below;
    if (info.rows == 0) {
        rs_fail(err, "%s: no data rows (%llu lines)", o->train_path,
                (unsigned long long)info.lines);
        goto done;
    }
    if (c.p.n == 0) {
        rs_fail(err, "%s: no interactions left: all %llu rows have a weight below %g",
                o->train_path, (unsigned long long)info.rows, o->min_rating);
        goto done;
    }
    uint32_t nu = rs_idtable_count(c.users), ni = rs_idtable_count(c.items);
    if (pairs_to_csr(nu, ni, c.p.u, c.p.i, c.p.n, &raw, &r->duplicates, err) != 0) goto done;
    pairs_free(&c.p);
    alive_u = rs_malloc(nu, 1, err);
    alive_i = rs_malloc(ni, 1, err);
    map_u = rs_malloc(nu, sizeof(uint32_t), err);
    map_i = rs_malloc(ni, sizeof(uint32_t), err);
    if (!alive_u || !alive_i || !map_u || !map_i) goto done;
    if (kcore(&raw, o->kcore_users, o->kcore_items, alive_u, alive_i, r, err) != 0) goto done;
    if (compact_table(c.users, alive_u, &d->users, map_u, err) != 0 ||
        compact_table(c.items, alive_i, &d->items, map_i, err) != 0)
        goto done;
    nu = rs_idtable_count(d->users);
    ni = rs_idtable_count(d->items);
    if (nu == 0 || ni == 0) {
        rs_fail(err,
                "%s: no interactions left after the k-core filter (users with >= %u items, "
                "items with >= %u users)",
                o->train_path, o->kcore_users, o->kcore_items);
        goto done;
    }
    /* The maps are increasing, so remapped rows stay sorted. */
    uint64_t nnz = 0;
    for (uint32_t u = 0; u < raw.n_rows; u++)
        if (alive_u[u])
            for (uint64_t k = raw.indptr[u]; k < raw.indptr[u + 1]; k++)
                nnz += alive_i[raw.indices[k]];
    if (csr_alloc(all, nu, ni, nnz, err) != 0) goto done;
    uint64_t w = 0;
    for (uint32_t u = 0; u < raw.n_rows; u++) {
        if (!alive_u[u]) continue;
        all->indptr[map_u[u]] = w;
        for (uint64_t k = raw.indptr[u]; k < raw.indptr[u + 1]; k++)
            if (alive_i[raw.indices[k]]) all->indices[w++] = map_i[raw.indices[k]];
    }
    all->indptr[nu] = w;
    r->kcore_interactions_removed = rs_csr_nnz(&raw) - w;
    r->interactions_kept = w;
    rc = 0;
done:
    free(buf);
    pairs_free(&c.p);
    rs_idtable_free(c.users);
    rs_idtable_free(c.items);
    rs_csr_free(&raw);
    free(alive_u);
    free(alive_i);
    free(map_u);
    free(map_i);
    return rc;
}

/* RS_SPLIT_FILE: d->test from the test file, minus pairs already in all. */
static int load_test(const rs_data_options *o, rs_dataset *d, const rs_csr *all, rs_error *err)
{
    rs_data_report *r = &d->report;
    test_ctx c = {.o = o, .users = d->users, .items = d->items, .r = r};
    char *buf = NULL;
    size_t len = 0;
    rs_csr t = {0};
    int rc = -1;
    file_info info;
    if (read_file(o->test_path, &buf, &len, err) != 0) return -1;
    r->test_file_hash = rs_idtable_hash(buf, len);
    if (parse_buffer(o->test_path, buf, len, o->header, test_row, &c, &info, err) != 0) goto done;
    r->test_lines = info.lines;
    r->test_header_skipped = info.header_skipped;
    memcpy(r->test_separator, info.sep, sizeof(r->test_separator));
    r->test_rows_read = info.rows;
    if (pairs_to_csr(all->n_rows, all->n_cols, c.p.u, c.p.i, c.p.n, &t, &r->test_duplicates, err) !=
        0)
        goto done;
    if (csr_alloc(&d->test, t.n_rows, t.n_cols, rs_csr_nnz(&t), err) != 0) goto done;
    uint64_t w = 0;
    for (uint32_t u = 0; u < t.n_rows; u++) {
        d->test.indptr[u] = w;
        uint64_t a = all->indptr[u], a_end = all->indptr[u + 1];
        for (uint64_t k = t.indptr[u]; k < t.indptr[u + 1]; k++) { /* merge two sorted rows */
            uint32_t item = t.indices[k];
            while (a < a_end && all->indices[a] < item) a++;
            if (a < a_end && all->indices[a] == item)
                r->test_in_train++;
            else
                d->test.indices[w++] = item;
        }
    }
    d->test.indptr[t.n_rows] = w;
    if (w == 0) {
        rs_fail(err,
                "%s: no usable test interactions (%llu rows: %llu below the minimum rating, "
                "%llu unknown user, %llu unknown item, %llu already in train)",
                o->test_path, (unsigned long long)info.rows,
                (unsigned long long)r->test_below_min_rating,
                (unsigned long long)r->test_unknown_user, (unsigned long long)r->test_unknown_item,
                (unsigned long long)r->test_in_train);
        goto done;
    }
    rc = 0;
done:
    free(buf);
    pairs_free(&c.p);
    rs_csr_free(&t);
    return rc;
}

/* Splits *all into train / test / test_input per the options (may take over
 * the arrays of *all, leaving it zeroed). */
static int split_data(const rs_data_options *o, rs_dataset *d, rs_csr *all, rs_error *err)
{
    rs_rng base, stream, pick_stream;
    rs_rng_seed(&base, o->seed);
    uint32_t min_len = RS_MAX(o->min_split_items, 2);
    switch (o->split) {
    case RS_SPLIT_NONE:
        d->train = *all;
        memset(all, 0, sizeof(*all));
        return csr_alloc(&d->test, d->train.n_rows, d->train.n_cols, 0, err);
    case RS_SPLIT_FILE:
        if (load_test(o, d, all, err) != 0) return -1;
        d->train = *all;
        memset(all, 0, sizeof(*all));
        return 0;
    case RS_SPLIT_HOLDOUT:
        rs_rng_split(&base, STREAM_HOLDOUT, &stream);
        return split_rows(all, NULL, min_len, o->holdout_fraction, &stream, &d->train, &d->test,
                          err);
    case RS_SPLIT_USERS: {
        uint8_t *held = rs_calloc(all->n_rows, 1, err);
        if (!held) return -1;
        uint32_t eligible = 0;
        rs_rng_split(&base, STREAM_USERS_PICK, &pick_stream);
        rs_rng_split(&base, STREAM_USERS_SPLIT, &stream);
        rs_csr kept = {0};
        int rc = -1;
        if (pick_rows(all, NULL, min_len, o->heldout_users, &pick_stream, held, &eligible, err) < 0)
            goto users_done;
        if (o->heldout_users > eligible || o->heldout_users >= all->n_rows) {
            rs_fail(err,
                    "cannot hold out %u users: %u of %u users have at least %u items and at "
                    "least one user must stay in train",
                    o->heldout_users, eligible, all->n_rows, min_len);
            goto users_done;
        }
        d->report.heldout_users = o->heldout_users;
        if (split_rows(all, held, min_len, 1.0 - o->foldin_fraction, &stream, &kept, &d->test,
                       err) != 0)
            goto users_done;
        if (csr_select_rows(&kept, held, 0, &d->train, err) != 0 ||
            csr_select_rows(&kept, held, 1, &d->test_input, err) != 0)
            goto users_done;
        rc = 0;
    users_done:
        free(held);
        rs_csr_free(&kept);
        return rc;
    }
    }
    return rs_fail(err, "unknown split %d", (int)o->split);
}

/* Moves part of some users' train rows into valid; known = train before. */
static int carve_validation(const rs_data_options *o, rs_dataset *d, rs_error *err)
{
    rs_data_report *r = &d->report;
    if (o->valid_users == 0) {
        if (csr_copy(&d->train, &d->known, err) != 0) return -1;
        return csr_alloc(&d->valid, d->train.n_rows, d->train.n_cols, 0, err);
    }
    rs_rng base, pick_stream, stream;
    rs_rng_seed(&base, o->seed);
    rs_rng_split(&base, STREAM_VALID_PICK, &pick_stream);
    rs_rng_split(&base, STREAM_VALID_SPLIT, &stream);
    uint32_t min_len = RS_MAX(o->min_split_items, 2);
    uint8_t *pick = rs_calloc(d->train.n_rows, 1, err);
    if (!pick) return -1;
    int64_t n = pick_rows(&d->train, NULL, min_len, o->valid_users, &pick_stream, pick, NULL, err);
    rs_csr kept = {0};
    int rc = -1;
    if (n < 0) goto done;
    if (split_rows(&d->train, pick, min_len, o->valid_fraction, &stream, &kept, &d->valid, err) !=
        0)
        goto done;
    r->valid_users = (uint32_t)n;
    d->known = d->train;
    d->train = kept;
    memset(&kept, 0, sizeof(kept));
    rc = 0;
done:
    free(pick);
    return rc;
}

int rs_dataset_load(const rs_data_options *o, rs_dataset *out, rs_error *err)
{
    double t0 = rs_now();
    memset(out, 0, sizeof(*out));
    rs_csr all = {0};
    if (check_options(o, err) != 0) return -1;
    if (load_train(o, out, &all, err) != 0 || split_data(o, out, &all, err) != 0 ||
        carve_validation(o, out, err) != 0)
        goto fail;
    rs_csr_free(&all); /* consumed by the split, or copied from */
    if (!out->test_input.indptr && csr_copy(&out->known, &out->test_input, err) != 0) goto fail;
    rs_data_report *r = &out->report;
    r->n_users = out->train.n_rows;
    r->n_items = out->train.n_cols;
    out->popularity = rs_calloc(r->n_items, sizeof(float), err);
    if (!out->popularity) goto fail;
    uint64_t nnz = rs_csr_nnz(&out->train);
    for (uint64_t k = 0; k < nnz; k++) out->popularity[out->train.indices[k]] += 1.0f;
    r->train_interactions = nnz;
    r->valid_interactions = rs_csr_nnz(&out->valid);
    r->test_interactions = rs_csr_nnz(&out->test);
    r->test_input_interactions = rs_csr_nnz(&out->test_input);
    for (uint32_t u = 0; u < r->n_users; u++) r->test_users += rs_csr_row_len(&out->test, u) > 0;
    r->load_seconds = rs_now() - t0;
    return 0;
fail:
    rs_csr_free(&all);
    rs_dataset_free(out);
    return -1;
}

static void print_count(FILE *f, uint64_t v)
{
    /* Thousands separators make counts of millions readable. */
    char digits[32], outb[48];
    int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v), w = 0;
    for (int k = 0; k < n; k++) {
        if (k > 0 && (n - k) % 3 == 0) outb[w++] = ',';
        outb[w++] = digits[k];
    }
    outb[w] = '\0';
    fputs(outb, f);
}

void rs_data_report_print(const rs_data_report *r, FILE *f)
{
    fputs("data: ", f);
    print_count(f, r->lines_read);
    fprintf(f, " train lines (separator %s, %s)", r->separator[0] ? sep_name(r->separator) : "?",
            r->header_skipped ? "header skipped" : "no header");
    fputs(", ", f);
    print_count(f, r->interactions_kept);
    fputs(" interactions kept", f);
    if (r->below_min_rating || r->duplicates) {
        fputs(" (dropped ", f);
        print_count(f, r->below_min_rating);
        fputs(" below min rating, ", f);
        print_count(f, r->duplicates);
        fputs(" duplicates)", f);
    }
    fputc('\n', f);
    if (r->kcore_users_removed || r->kcore_items_removed) {
        fprintf(f, "  k-core: %u rounds removed ", r->kcore_rounds);
        print_count(f, r->kcore_users_removed);
        fputs(" users, ", f);
        print_count(f, r->kcore_items_removed);
        fputs(" items, ", f);
        print_count(f, r->kcore_interactions_removed);
        fputs(" interactions\n", f);
    }
    fputs("  ", f);
    print_count(f, r->n_users);
    fputs(" users x ", f);
    print_count(f, r->n_items);
    fputs(" items; train ", f);
    print_count(f, r->train_interactions);
    if (r->valid_users) {
        fputs(", validation ", f);
        print_count(f, r->valid_interactions);
        fputs(" (", f);
        print_count(f, r->valid_users);
        fputs(" users)", f);
    }
    if (r->heldout_users) {
        fputs("; ", f);
        print_count(f, r->heldout_users);
        fputs(" held-out users", f);
    }
    fputs("; test ", f);
    print_count(f, r->test_interactions);
    fputs(" for ", f);
    print_count(f, r->test_users);
    fputs(" users\n", f);
    if (r->test_lines) {
        fputs("  test file: ", f);
        print_count(f, r->test_lines);
        fprintf(f, " lines (separator %s, %s)",
                r->test_separator[0] ? sep_name(r->test_separator) : "?",
                r->test_header_skipped ? "header skipped" : "no header");
        if (r->test_unknown_user || r->test_unknown_item || r->test_in_train ||
            r->test_duplicates || r->test_below_min_rating) {
            fputs("; skipped ", f);
            print_count(f, r->test_unknown_user);
            fputs(" unknown user", f);
            if (r->test_unknown_user)
                fprintf(f, " (first '%s', line %llu)", r->first_unknown_user,
                        (unsigned long long)r->first_unknown_user_line);
            fputs(", ", f);
            print_count(f, r->test_unknown_item);
            fputs(" unknown item", f);
            if (r->test_unknown_item)
                fprintf(f, " (first '%s', line %llu)", r->first_unknown_item,
                        (unsigned long long)r->first_unknown_item_line);
            fputs(", ", f);
            print_count(f, r->test_in_train);
            fputs(" already in train, ", f);
            print_count(f, r->test_duplicates);
            fputs(" duplicates, ", f);
            print_count(f, r->test_below_min_rating);
            fputs(" below min rating", f);
        }
        fputc('\n', f);
    }
    fprintf(f, "  loaded in %.2f s\n", r->load_seconds);
}
