/* kmeans.c - k-means++ seeding and Lloyd iterations (see kmeans.h).
 *
 * Distances are ||x||^2 - 2 x.c + ||c||^2 with the cross term from sgemm over
 * blocks of rows, so the O(n k d) work runs at BLAS speed; the block size
 * keeps the block x k score matrix around 16 MB.
 */
#include "kmeans.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

rs_kmeans_options rs_kmeans_defaults(void)
{
    rs_kmeans_options o = {.max_iter = 20, .tol = 1e-4, .max_train = 0, .seed = 1};
    return o;
}

static void row_norms(const float *x, uint32_t n, uint32_t d, uint32_t ld, float *out)
{
    for (uint32_t i = 0; i < n; i++) {
        const float *r = x + (size_t)i * ld;
        float s = 0;
        for (uint32_t j = 0; j < d; j++) s += r[j] * r[j];
        out[i] = s;
    }
}

/* Rows per sgemm block: the block x k score matrix stays around 512 KB, so
 * it is written and scanned in cache (larger blocks spend their time
 * zeroing and re-reading memory). */
static uint32_t block_rows(uint32_t k)
{
    uint32_t b = (uint32_t)((128u << 10) / k);
    return RS_MAX(32u, RS_MIN(8192u, b));
}

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* argmin over j of cn[j] - 2 g[j] (the first index on ties), eight lanes at
 * a time; *best receives the minimum. */
static uint32_t argmin_row(const float *g, const float *cn, uint32_t k, float *best)
{
    float bestv = INFINITY;
    uint32_t arg = 0, j = 0;
    if (k >= 8) {
        v8f bv = {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
        v8i bi = {0}, idx = {0, 1, 2, 3, 4, 5, 6, 7};
        const v8i step = {8, 8, 8, 8, 8, 8, 8, 8};
        for (; j + 8 <= k; j += 8) {
            v8f gv, cv;
            memcpy(&gv, g + j, sizeof(gv));
            memcpy(&cv, cn + j, sizeof(cv));
            v8f v = cv - 2.0f * gv;
            v8i m = v < bv; /* strict: each lane keeps its first minimum */
            bv = (v8f)(((v8i)v & m) | ((v8i)bv & ~m));
            bi = (idx & m) | (bi & ~m);
            idx += step;
        }
        for (int l = 0; l < 8; l++)
            if (bv[l] < bestv || (bv[l] == bestv && (uint32_t)bi[l] < arg)) {
                bestv = bv[l];
                arg = (uint32_t)bi[l];
            }
    }
    for (; j < k; j++) {
        float v = cn[j] - 2.0f * g[j];
        if (v < bestv) {
            bestv = v;
            arg = j;
        }
    }
    *best = bestv;
    return arg;
}

/* Assignment with caller-provided centroid norms and scratch (block x k). */
static void assign_blocked(const float *x, uint32_t n, uint32_t d, uint32_t ld, const float *c,
                           uint32_t k, const float *cnorm, float *scratch, uint32_t block,
                           uint32_t *assign, float *dist2)
{
    for (uint32_t s = 0; s < n; s += block) {
        uint32_t b = RS_MIN(block, n - s);
        const float *xb = x + (size_t)s * ld;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)k, (int)d, 1.0f, xb,
                    (int)ld, c, (int)d, 0.0f, scratch, (int)k);
        for (uint32_t i = 0; i < b; i++) {
            float best;
            uint32_t arg = argmin_row(scratch + (size_t)i * k, cnorm, k, &best);
            const float *r = xb + (size_t)i * ld;
            float xn = 0;
            for (uint32_t j = 0; j < d; j++) xn += r[j] * r[j];
            assign[s + i] = arg;
            if (dist2) dist2[s + i] = RS_MAX(0.0f, xn + best);
        }
    }
}

int rs_kmeans_assign(const float *x, uint32_t n, uint32_t d, uint32_t stride,
                     const float *centroids, uint32_t k, uint32_t *assign, float *dist2,
                     rs_error *err)
{
    if (!x || !centroids || !assign || n == 0 || d == 0 || k == 0)
        return rs_fail(err, "kmeans assign: empty input (n=%u d=%u k=%u)", n, d, k);
    uint32_t ld = stride ? stride : d;
    if (ld < d) return rs_fail(err, "kmeans assign: stride %u is below the dimension %u", ld, d);
    uint32_t block = RS_MIN(block_rows(k), n);
    float *cnorm = rs_malloc(k, sizeof(float), err);
    float *scratch = cnorm ? rs_aligned_alloc((size_t)block * k, sizeof(float), err) : NULL;
    if (!scratch) {
        free(cnorm);
        return rs_error_prefix(err, "kmeans assign");
    }
    row_norms(centroids, k, d, d, cnorm);
    assign_blocked(x, n, d, ld, centroids, k, cnorm, scratch, block, assign, dist2);
    free(scratch);
    free(cnorm);
    return 0;
}

/* k-means++: the first centre uniformly, each next one with probability
 * proportional to the squared distance to the nearest centre so far. */
static void seed_plusplus(const float *x, uint32_t n, uint32_t d, uint32_t ld, uint32_t k,
                          rs_rng *rng, const float *xnorm, float *c, float *mind, float *dots)
{
    uint32_t first = (uint32_t)rs_rng_below(rng, n);
    memcpy(c, x + (size_t)first * ld, d * sizeof(float));
    for (uint32_t i = 0; i < n; i++) mind[i] = INFINITY;
    for (uint32_t m = 0; m < k; m++) {
        const float *cm = c + (size_t)m * d;
        float cn = 0;
        for (uint32_t j = 0; j < d; j++) cn += cm[j] * cm[j];
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)d, 1.0f, x, (int)ld, cm, 1, 0.0f,
                    dots, 1);
        double total = 0;
        for (uint32_t i = 0; i < n; i++) {
            float v = RS_MAX(0.0f, xnorm[i] - 2.0f * dots[i] + cn);
            if (v < mind[i]) mind[i] = v;
            total += mind[i];
        }
        if (m + 1 == k) break;
        uint32_t pick;
        if (total > 0) {
            double target = rs_rng_uniform(rng) * total, acc = 0;
            pick = n - 1;
            for (uint32_t i = 0; i < n; i++) {
                acc += mind[i];
                if (acc > target && mind[i] > 0) {
                    pick = i;
                    break;
                }
            }
        } else {
            /* Every row coincides with a centre (fewer distinct rows than k). */
            pick = (uint32_t)rs_rng_below(rng, n);
        }
        memcpy(c + (size_t)(m + 1) * d, x + (size_t)pick * ld, d * sizeof(float));
    }
}

/* Moves the farthest rows (from clusters that keep at least one row) into
 * the empty clusters. Returns how many clusters were re-seeded. */
static uint32_t reseed_empty(uint32_t n, uint32_t k, uint32_t *assign, float *dist2,
                             uint32_t *count)
{
    uint32_t reseeded = 0;
    for (uint32_t c = 0; c < k; c++) {
        if (count[c] != 0) continue;
        float best = 0;
        uint32_t arg = UINT32_MAX;
        for (uint32_t i = 0; i < n; i++)
            if (dist2[i] > best && count[assign[i]] > 1) {
                best = dist2[i];
                arg = i;
            }
        if (arg == UINT32_MAX) break; /* all remaining rows sit on their centres */
        count[assign[arg]]--;
        assign[arg] = c;
        count[c] = 1;
        dist2[arg] = 0;
        reseeded++;
    }
    return reseeded;
}

static void update_centroids(const float *x, uint32_t n, uint32_t d, uint32_t ld, uint32_t k,
                             const uint32_t *assign, const uint32_t *count, double *sums, float *c)
{
    memset(sums, 0, (size_t)k * d * sizeof(double));
    for (uint32_t i = 0; i < n; i++) {
        double *s = sums + (size_t)assign[i] * d;
        const float *r = x + (size_t)i * ld;
        for (uint32_t j = 0; j < d; j++) s[j] += r[j];
    }
    for (uint32_t m = 0; m < k; m++) {
        if (count[m] == 0) continue; /* keep the old centre */
        for (uint32_t j = 0; j < d; j++)
            c[(size_t)m * d + j] = (float)(sums[(size_t)m * d + j] / count[m]);
    }
}

/* Picks max_train of n rows (sorted, so the gather reads memory forward). */
static int subsample(const float *x, uint32_t n, uint32_t d, uint32_t ld, uint32_t m, rs_rng *rng,
                     float **out, rs_error *err)
{
    uint32_t *idx = rs_malloc(n, sizeof(uint32_t), err);
    float *sub = idx ? rs_aligned_alloc((size_t)m * d, sizeof(float), err) : NULL;
    if (!sub) {
        free(idx);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) idx[i] = i;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t j = i + (uint32_t)rs_rng_below(rng, n - i);
        uint32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    /* Counting sort of the chosen indices via a bitmap over the first m slots. */
    uint8_t *mark = calloc(n, 1);
    if (!mark) {
        free(idx);
        free(sub);
        return rs_fail(err, "out of memory allocating %u bytes", n);
    }
    for (uint32_t i = 0; i < m; i++) mark[idx[i]] = 1;
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++)
        if (mark[i]) memcpy(sub + (size_t)(w++) * d, x + (size_t)i * ld, d * sizeof(float));
    free(mark);
    free(idx);
    *out = sub;
    return 0;
}

int rs_kmeans(const float *x, uint32_t n, uint32_t d, uint32_t k, const rs_kmeans_options *o,
              float *centroids, uint32_t *assign, rs_kmeans_info *info, rs_error *err)
{
    rs_kmeans_options opt = o ? *o : rs_kmeans_defaults();
    if (!x || !centroids) return rs_fail(err, "kmeans: NULL input or centroid buffer");
    if (n == 0 || d == 0) return rs_fail(err, "kmeans: empty input (n=%u, d=%u)", n, d);
    if (k == 0 || k > n) return rs_fail(err, "kmeans: k=%u must be in [1, n=%u]", k, n);
    uint32_t ld = opt.stride ? opt.stride : d;
    if (ld < d) return rs_fail(err, "kmeans: stride %u is below the dimension %u", ld, d);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < d; j++)
            if (!isfinite(x[(size_t)i * ld + j]))
                return rs_fail(err, "kmeans: row %u, column %u is not finite", i, j);

    rs_rng rng;
    rs_rng_seed(&rng, opt.seed);
    float *sub = NULL;
    const float *xt = x;
    uint32_t nt = n, ldt = ld;
    if (opt.max_train && n > opt.max_train && opt.max_train >= k) {
        if (subsample(x, n, d, ld, opt.max_train, &rng, &sub, err) != 0)
            return rs_error_prefix(err, "kmeans subsample");
        xt = sub;
        nt = opt.max_train;
        ldt = d;
    }

    uint32_t block = RS_MIN(block_rows(k), nt);
    float *xnorm = rs_malloc(nt, sizeof(float), err);
    float *dist2 = xnorm ? rs_malloc(nt, sizeof(float), err) : NULL;
    float *dots = dist2 ? rs_malloc(nt, sizeof(float), err) : NULL;
    uint32_t *as = dots ? rs_malloc(nt, sizeof(uint32_t), err) : NULL;
    uint32_t *count = as ? rs_malloc(k, sizeof(uint32_t), err) : NULL;
    float *cnorm = count ? rs_malloc(k, sizeof(float), err) : NULL;
    double *sums = cnorm ? rs_malloc((size_t)k * d, sizeof(double), err) : NULL;
    float *scratch = sums ? rs_aligned_alloc((size_t)block * k, sizeof(float), err) : NULL;
    int rc = -1;
    if (!scratch) {
        rs_error_prefix(err, "kmeans");
        goto out;
    }

    row_norms(xt, nt, d, ldt, xnorm);
    seed_plusplus(xt, nt, d, ldt, k, &rng, xnorm, centroids, dist2, dots);

    rs_kmeans_info st = {0};
    double prev = INFINITY;
    for (uint32_t it = 0; it < opt.max_iter; it++) {
        row_norms(centroids, k, d, d, cnorm);
        assign_blocked(xt, nt, d, ldt, centroids, k, cnorm, scratch, block, as, dist2);
        double obj = 0;
        for (uint32_t i = 0; i < nt; i++) obj += dist2[i];
        st.iterations = it + 1;
        memset(count, 0, k * sizeof(uint32_t));
        for (uint32_t i = 0; i < nt; i++) count[as[i]]++;
        uint32_t re = reseed_empty(nt, k, as, dist2, count);
        st.reseeded += re;
        update_centroids(xt, nt, d, ldt, k, as, count, sums, centroids);
        /* Without re-seeding, Lloyd never increases the objective; stop once
         * it has (nearly) stopped falling. */
        if (re == 0 && prev - obj <= opt.tol * obj) break;
        prev = obj;
    }

    /* Final assignment of every row (not only the training subset). */
    if (assign || info) {
        uint32_t *fa = assign;
        float *fd = NULL;
        if (!fa && !(fa = rs_malloc(n, sizeof(uint32_t), err))) goto out;
        if (info && !(fd = rs_malloc(n, sizeof(float), err))) {
            if (fa != assign) free(fa);
            goto out;
        }
        rc = rs_kmeans_assign(x, n, d, ld, centroids, k, fa, fd, err);
        if (rc == 0 && info) {
            memset(count, 0, k * sizeof(uint32_t));
            st.objective = 0;
            for (uint32_t i = 0; i < n; i++) {
                count[fa[i]]++;
                st.objective += fd[i];
            }
            for (uint32_t m = 0; m < k; m++) st.empty += count[m] == 0;
            *info = st;
        }
        free(fd);
        if (fa != assign) free(fa);
        if (rc != 0) goto out;
    }
    rc = 0;
out:
    free(scratch);
    free(sums);
    free(cnorm);
    free(count);
    free(as);
    free(dots);
    free(dist2);
    free(xnorm);
    free(sub);
    return rc;
}
