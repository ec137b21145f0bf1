/* synth.c - synthetic interactions with taste clusters (see synth.h).
 *
 * The generative story:
 *   - items are dealt into n_tastes clusters of (nearly) equal size, under a
 *     random permutation so that ids say nothing about clusters;
 *   - cluster c has weight ~ 1/(c+1)^0.8 and an item of within-cluster rank r
 *     weight ~ 1/(r+1)^0.9: popularity is long-tailed within and across
 *     clusters; an item's global weight is the product, normalised;
 *   - a user has 1-3 tastes (40/40/20 %), drawn without replacement in
 *     proportion to cluster weight, with random mixing weights;
 *   - history length is lognormal (sigma 0.8) with the requested mean,
 *     clamped to [5, n_items / 2];
 *   - each item is drawn from one of the user's tastes with probability
 *     taste_share (then by within-cluster popularity), otherwise from the
 *     global popularity; repeats are redrawn from the same source.
 * Every user has their own random stream derived from the seed, so a file is
 * byte-identical for the same options.
 */
#include "synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rng.h"

#define CLUSTER_EXPONENT 0.8
#define ITEM_EXPONENT    0.9
#define LENGTH_SIGMA     0.8
#define MIN_HISTORY      5
#define MAX_TASTES       3

enum { STREAM_ITEMS = 1, STREAM_USERS, STREAM_SPLIT };

void rs_synth_options_default(rs_synth_options *o)
{
    o->n_users = 2000;
    o->n_items = 1000;
    o->n_tastes = 12;
    o->mean_history = 30;
    o->taste_share = 0.8;
    o->test_fraction = 0.2;
    o->seed = 2026;
}

void rs_synth_data_free(rs_synth_data *d)
{
    if (!d) return;
    free(d->item_taste);
    free(d->item_weight);
    free(d->user_tastes);
    free(d->indptr);
    free(d->items);
    free(d->is_test);
    memset(d, 0, sizeof(*d));
}

/* Index of the first cdf entry > u (cdf ascending, last entry 1). */
static uint32_t draw_cdf(const double *cdf, uint32_t n, double u)
{
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static int check_options(const rs_synth_options *o, rs_error *err)
{
    if (o->n_users == 0 || o->n_users > 100000000)
        return rs_fail(err, "synthetic users must be 1..100000000, got %u", o->n_users);
    if (o->n_tastes == 0) return rs_fail(err, "synthetic data needs at least one taste");
    if (o->n_items < 2 * MIN_HISTORY || o->n_items > 10000000)
        return rs_fail(err, "synthetic items must be %d..10000000, got %u", 2 * MIN_HISTORY,
                       o->n_items);
    if (o->n_tastes > o->n_items)
        return rs_fail(err, "more tastes (%u) than items (%u)", o->n_tastes, o->n_items);
    if (!(o->mean_history >= 1 && o->mean_history <= o->n_items))
        return rs_fail(err, "mean history length must be in [1, %u], got %g", o->n_items,
                       o->mean_history);
    if (!(o->taste_share >= 0 && o->taste_share <= 1))
        return rs_fail(err, "taste share must be in [0, 1], got %g", o->taste_share);
    if (!(o->test_fraction > 0 && o->test_fraction < 1))
        return rs_fail(err, "test fraction must be in (0, 1), got %g", o->test_fraction);
    return 0;
}

typedef struct model {
    double *global_cdf;   /* n_items */
    double *cluster_cdf;  /* n_tastes: cluster weights */
    uint32_t *members;    /* items of cluster c, by within-cluster rank */
    uint32_t *member_ptr; /* n_tastes + 1 */
    double *member_cdf;   /* per cluster, over its members */
} model;

static void model_free(model *m)
{
    free(m->global_cdf);
    free(m->cluster_cdf);
    free(m->members);
    free(m->member_ptr);
    free(m->member_cdf);
}

static int build_model(const rs_synth_options *o, const rs_rng *base, rs_synth_data *d, model *m,
                       rs_error *err)
{
    uint32_t ni = o->n_items, nt = o->n_tastes;
    m->global_cdf = rs_malloc(ni, sizeof(double), err);
    m->cluster_cdf = rs_malloc(nt, sizeof(double), err);
    m->members = rs_malloc(ni, sizeof(uint32_t), err);
    m->member_ptr = rs_calloc((size_t)nt + 1, sizeof(uint32_t), err);
    m->member_cdf = rs_malloc(ni, sizeof(double), err);
    d->item_taste = rs_malloc(ni, sizeof(uint32_t), err);
    d->item_weight = rs_malloc(ni, sizeof(float), err);
    if (!m->global_cdf || !m->cluster_cdf || !m->members || !m->member_ptr || !m->member_cdf ||
        !d->item_taste || !d->item_weight)
        return -1;
    rs_rng rng;
    rs_rng_split(base, STREAM_ITEMS, &rng);
    /* Deal a random permutation of items into clusters: position p goes to
     * cluster p % nt with within-cluster rank p / nt. */
    for (uint32_t i = 0; i < ni; i++) m->members[i] = i;
    rs_rng_shuffle_u32(&rng, m->members, ni);
    for (uint32_t c = 0; c < nt; c++)
        m->member_ptr[c + 1] = m->member_ptr[c] + (ni - c + nt - 1) / nt;
    uint32_t *perm = rs_malloc(ni, sizeof(uint32_t), err);
    if (!perm) return -1;
    memcpy(perm, m->members, ni * sizeof(uint32_t));
    double cluster_total = 0;
    for (uint32_t c = 0; c < nt; c++) cluster_total += pow(c + 1.0, -CLUSTER_EXPONENT);
    double *w = m->global_cdf; /* item weights first, turned into a cdf below */
    for (uint32_t c = 0; c < nt; c++) {
        uint32_t start = m->member_ptr[c], size = m->member_ptr[c + 1] - start;
        double within = 0;
        for (uint32_t r = 0; r < size; r++) within += pow(r + 1.0, -ITEM_EXPONENT);
        double acc = 0, cw = pow(c + 1.0, -CLUSTER_EXPONENT) / cluster_total;
        for (uint32_t r = 0; r < size; r++) {
            uint32_t item = perm[(uint64_t)r * nt + c];
            double p = pow(r + 1.0, -ITEM_EXPONENT) / within;
            m->members[start + r] = item;
            acc += p;
            m->member_cdf[start + r] = acc;
            d->item_taste[item] = c;
            w[item] = cw * p;
        }
        m->member_cdf[start + size - 1] = 1.0;
        m->cluster_cdf[c] = cw + (c ? m->cluster_cdf[c - 1] : 0);
    }
    m->cluster_cdf[nt - 1] = 1.0;
    free(perm);
    double acc = 0;
    for (uint32_t i = 0; i < ni; i++) {
        d->item_weight[i] = (float)w[i];
        acc += w[i];
        w[i] = acc;
    }
    for (uint32_t i = 0; i < ni; i++) w[i] /= acc;
    w[ni - 1] = 1.0;
    return 0;
}

/* Draws user u's tastes and history into hist (distinct items); returns its
 * length. seen is an n_items scratch of zeros, left zeroed. */
static uint32_t draw_user(const rs_synth_options *o, const model *m, rs_rng *rng, uint32_t *tastes,
                          uint32_t *hist, uint8_t *seen)
{
    uint32_t nt = o->n_tastes, ni = o->n_items;
    double r = rs_rng_uniform(rng);
    uint32_t k = r < 0.4 ? 1 : r < 0.8 ? 2 : 3;
    if (k > nt) k = nt;
    double mix[MAX_TASTES], mix_total = 0;
    for (uint32_t t = 0; t < MAX_TASTES; t++) tastes[t] = UINT32_MAX;
    for (uint32_t t = 0; t < k; t++) {
        uint32_t c;
        int again;
        do { /* without replacement: redraw a taste the user already has */
            c = draw_cdf(m->cluster_cdf, nt, rs_rng_uniform(rng));
            again = 0;
            for (uint32_t s = 0; s < t; s++) again |= tastes[s] == c;
        } while (again);
        tastes[t] = c;
        mix[t] = 0.2 + rs_rng_uniform(rng);
        mix_total += mix[t];
    }
    double mu = log(o->mean_history) - 0.5 * LENGTH_SIGMA * LENGTH_SIGMA;
    double len = exp(mu + LENGTH_SIGMA * rs_rng_normal(rng));
    uint32_t cap = ni / 2, n = len < MIN_HISTORY ? MIN_HISTORY : len > cap ? cap : (uint32_t)len;
    uint32_t got = 0;
    /* A repeat is redrawn from the same source (the same taste, or global
     * popularity), so that repeats do not shift the taste share. Redraws are
     * capped so that a narrow taste cannot loop for long; the user then
     * simply has a shorter history. */
    for (uint64_t slots = 0; got < n && slots < 4ull * n; slots++) {
        int from_taste = rs_rng_uniform(rng) < o->taste_share;
        uint32_t start = 0, size = 0;
        if (from_taste) {
            double pick = rs_rng_uniform(rng) * mix_total;
            uint32_t t = 0;
            while (t + 1 < k && pick >= mix[t]) pick -= mix[t++];
            start = m->member_ptr[tastes[t]];
            size = m->member_ptr[tastes[t] + 1] - start;
        }
        for (int attempt = 0; attempt < 32; attempt++) {
            uint32_t item =
                from_taste
                    ? m->members[start + draw_cdf(m->member_cdf + start, size, rs_rng_uniform(rng))]
                    : draw_cdf(m->global_cdf, ni, rs_rng_uniform(rng));
            if (seen[item]) continue;
            seen[item] = 1;
            hist[got++] = item;
            break;
        }
    }
    for (uint32_t j = 0; j < got; j++) seen[hist[j]] = 0;
    return got;
}

int rs_synth_generate(const rs_synth_options *o, rs_synth_data *d, rs_error *err)
{
    memset(d, 0, sizeof(*d));
    if (check_options(o, err) != 0) return -1;
    model m = {0};
    rs_rng base, users, split;
    rs_rng_seed(&base, o->seed);
    rs_rng_split(&base, STREAM_USERS, &users);
    rs_rng_split(&base, STREAM_SPLIT, &split);
    uint32_t nu = o->n_users, ni = o->n_items;
    uint32_t *hist = rs_malloc(ni, sizeof(uint32_t), err);
    uint8_t *seen = rs_calloc(ni, 1, err);
    if (!hist || !seen || build_model(o, &base, d, &m, err) != 0) goto fail;
    d->n_users = nu;
    d->n_items = ni;
    d->n_tastes = o->n_tastes;
    d->user_tastes = rs_malloc((size_t)nu * MAX_TASTES, sizeof(uint32_t), err);
    d->indptr = rs_calloc((size_t)nu + 1, sizeof(uint64_t), err);
    uint64_t cap = (uint64_t)(nu * (o->mean_history + 8)) + 1024, n = 0;
    d->items = rs_malloc(cap, sizeof(uint32_t), err);
    if (!d->user_tastes || !d->indptr || !d->items) goto fail;
    for (uint32_t u = 0; u < nu; u++) {
        rs_rng rng;
        rs_rng_split(&users, u, &rng);
        uint32_t len = draw_user(o, &m, &rng, d->user_tastes + (size_t)u * MAX_TASTES, hist, seen);
        if (n + len > cap) {
            cap = (n + len) * 2;
            uint32_t *grown = realloc(d->items, cap * sizeof(uint32_t));
            if (!grown) {
                rs_fail(err, "out of memory generating %llu interactions", (unsigned long long)cap);
                goto fail;
            }
            d->items = grown;
        }
        memcpy(d->items + n, hist, (size_t)len * sizeof(uint32_t));
        n += len;
        d->indptr[u + 1] = n;
    }
    /* Per-user random test choice, like the shared data: users with fewer
     * than 5 items stay wholly in train. */
    d->is_test = rs_calloc(n ? n : 1, 1, err);
    if (!d->is_test) goto fail;
    for (uint32_t u = 0; u < nu; u++) {
        uint32_t len = (uint32_t)(d->indptr[u + 1] - d->indptr[u]);
        if (len < MIN_HISTORY) continue;
        rs_rng rng;
        rs_rng_split(&split, u, &rng);
        double kd = floor(o->test_fraction * len + 0.5);
        uint32_t k = kd < 1 ? 1 : kd > len - 1 ? len - 1 : (uint32_t)kd;
        for (uint32_t j = 0; j < len; j++) hist[j] = j;
        for (uint32_t j = 0; j < k; j++) {
            uint32_t s = j + (uint32_t)rs_rng_below(&rng, len - j), tmp = hist[j];
            hist[j] = hist[s];
            hist[s] = tmp;
            d->is_test[d->indptr[u] + hist[j]] = 1;
        }
    }
    free(hist);
    free(seen);
    model_free(&m);
    return 0;
fail:
    free(hist);
    free(seen);
    model_free(&m);
    rs_synth_data_free(d);
    return -1;
}

/* Writes one of the two files through a temporary file and a rename. */
static int write_part(const rs_synth_data *d, const char *path, int test, rs_error *err)
{
    size_t plen = strlen(path);
    char *tmp = rs_malloc(plen + 16, 1, err);
    if (!tmp) return -1;
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rs_fail(err, "cannot create a temporary file next to %s: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        rs_fail(err, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    fputs("user\titem\n", f);
    for (uint32_t u = 0; u < d->n_users; u++)
        for (uint64_t k = d->indptr[u]; k < d->indptr[u + 1]; k++)
            if (d->is_test[k] == test) fprintf(f, "u%u\ti%u\n", u + 1, d->items[k] + 1);
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        rs_fail(err, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        rs_fail(err, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int rs_synth_write(const rs_synth_options *o, const char *train_path, const char *test_path,
                   rs_error *err)
{
    rs_synth_data d;
    if (rs_synth_generate(o, &d, err) != 0) return -1;
    int rc = write_part(&d, train_path, 0, err);
    if (rc == 0) rc = write_part(&d, test_path, 1, err);
    rs_synth_data_free(&d);
    return rc;
}
