/* test_sampler.c - negative samplers against their closed forms.
 *
 * On a small clustered catalogue (200 items, D = 8, K = 4), for several user
 * vectors, every sampler's draw frequencies are compared with its proposal
 * computed here by brute force over the items, straight from the paper:
 *   uniform 1/M;  pop ∝ pop(i);
 *   midx-uni ∝ exp(z . (q_i - r_i))            (Eq. 4)
 *   midx-pop ∝ exp(z . (q_i - r_i)) pop(i)     (Eq. 5)
 *   midx-exact = softmax(z . q_i)              (Theorem 4.1)
 * with r_i = q_i - [c1[k1]; c2[k2]] taken from the original vectors and the
 * sampler's codebooks. Checks: total variation <= 0.01 at 10^6 draws, a
 * chi-square test (p ~ 1e-6), and the returned log Q equal to the log of the
 * closed form for every item (the samplers return normalised log Q).
 *
 * RS_TEST_DRAWS overrides the draws per (sampler, user); sanitizer builds
 * default to 3 * 10^5. The TV bound is then raised to 1.5 times the TV that
 * pure multinomial noise gives at that count (0.0084 at 10^6 for a uniform
 * distribution over 200 items, so 0.01 stands at 10^6), which keeps it a
 * fixed multiple of the noise level.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "sampler.h"

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_DRAWS 300000u
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEFAULT_DRAWS 300000u
#endif
#endif
#ifndef DEFAULT_DRAWS
#define DEFAULT_DRAWS 1000000u
#endif

enum { M = 200, D = 8, K = 4, N_USERS = 3 };

static uint32_t n_draws(void)
{
    const char *s = getenv("RS_TEST_DRAWS");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v >= 1000 ? (uint32_t)v : DEFAULT_DRAWS;
}

static float items[M * D];
static float counts[M];
static float users[N_USERS][D];

/* Five clusters with a log-normal norm spread; Zipf-like counts with a few
 * zeros; users of small, medium and large norm. */
static void make_data(void)
{
    rs_rng rng;
    rs_rng_seed(&rng, 2024);
    float centre[5][D];
    for (int c = 0; c < 5; c++)
        for (int j = 0; j < D; j++) centre[c][j] = (float)rs_rng_normal(&rng);
    for (int i = 0; i < M; i++) {
        int c = (int)rs_rng_below(&rng, 5);
        float scale = (float)exp(0.3 * rs_rng_normal(&rng));
        for (int j = 0; j < D; j++)
            items[i * D + j] = scale * (centre[c][j] + 0.4f * (float)rs_rng_normal(&rng));
        counts[i] = (i % 23 == 5) ? 0.0f : floorf(300.0f / (float)(1 + rs_rng_below(&rng, 60)));
    }
    const double norm[N_USERS] = {0.3, 0.6, 1.0};
    for (int u = 0; u < N_USERS; u++)
        for (int j = 0; j < D; j++) users[u][j] = (float)(norm[u] * rs_rng_normal(&rng));
}

static double pop_of(float count, rs_pop_transform t, double floor_)
{
    double c = RS_MAX((double)count, floor_);
    return t == RS_POP_LOG1P ? log1p(c) : c;
}

/* The proposal of `kind` for user z, by brute force over the items: p and
 * (when logp is not NULL) log p, the latter without underflow. */
static void closed_form(const rs_sampler *s, rs_sampler_kind kind, const float *z,
                        const rs_sampler_options *o, double *p, double *logp)
{
    const rs_pq *pq = rs_sampler_index(s);
    double logit[M], mx = -INFINITY;
    for (int i = 0; i < M; i++) {
        const float *q = items + i * D;
        double zq = 0.0, zr = 0.0;
        for (int j = 0; j < D; j++) zq += (double)z[j] * q[j];
        if (pq) {
            /* r_i = q_i - [c1[k1]; c2[k2]] */
            uint32_t c = pq->code[i], k1 = c / pq->k, k2 = c % pq->k;
            for (uint32_t j = 0; j < pq->d1; j++)
                zr += (double)z[j] * ((double)q[j] - pq->c1[k1 * pq->d1 + j]);
            for (uint32_t j = 0; j < pq->d2; j++)
                zr += (double)z[pq->d1 + j] * ((double)q[pq->d1 + j] - pq->c2[k2 * pq->d2 + j]);
        }
        double pop = pop_of(counts[i], o->transform, o->count_floor);
        switch (kind) {
        case RS_SAMPLER_UNIFORM:
            logit[i] = 0.0;
            break;
        case RS_SAMPLER_POP:
            logit[i] = log(pop);
            break;
        case RS_SAMPLER_MIDX_UNI:
            logit[i] = zq - zr;
            break;
        case RS_SAMPLER_MIDX_POP:
            logit[i] = zq - zr + log(pop);
            break;
        case RS_SAMPLER_MIDX_EXACT:
            logit[i] = zq;
            break;
        }
        mx = RS_MAX(mx, logit[i]);
    }
    double sum = 0.0;
    for (int i = 0; i < M; i++) sum += (p[i] = exp(logit[i] - mx));
    for (int i = 0; i < M; i++) {
        p[i] /= sum;
        if (logp) logp[i] = logit[i] - mx - log(sum);
    }
}

static double chi2_critical(double df, double z)
{
    double a = 2.0 / (9.0 * df);
    double c = 1.0 - a + z * sqrt(a);
    return df * c * c * c;
}

static rs_sampler *build(rs_sampler_kind kind, const rs_sampler_options *o, uint64_t seed)
{
    rs_error err;
    rs_sampler *s = rs_sampler_new(kind, o, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    int rc = rs_sampler_rebuild(s, items, M, D, counts, &rng, &err);
    ck_assert_msg(rc == 0, "rebuild %s: %s", rs_sampler_kind_name(kind), err.msg);
    return s;
}

/* Frequencies, log Q of draws and of every item, for one sampler. */
static void check_kind(rs_sampler_kind kind, const rs_sampler_options *o)
{
    make_data();
    rs_sampler *s = build(kind, o, 77);
    if (rs_sampler_kind_uses_vectors(kind)) {
        const rs_pq *pq = rs_sampler_index(s);
        ck_assert_ptr_nonnull(pq);
        ck_assert_uint_eq(pq->k, K);
    }
    rs_error err;
    rs_sampler_user *u = rs_sampler_user_new(&err);
    uint32_t draws = n_draws();
    enum { BATCH = 4096 };
    uint32_t *drawn = malloc(BATCH * sizeof(uint32_t));
    float *lq = malloc(BATCH * sizeof(float));
    rs_rng rng;
    rs_rng_seed(&rng, 99);
    for (int uid = 0; uid < N_USERS; uid++) {
        const float *z = users[uid];
        double p[M], logp[M];
        closed_form(s, kind, z, o, p, logp);
        ck_assert_int_eq(rs_sampler_prepare(s, z, u, &err), 0);

        /* log Q of every item equals the log of the closed form (the sampler
         * returns normalised probabilities, so the additive constant is 0). */
        float item_lq[M];
        double mass = 0.0;
        for (int i = 0; i < M; i++) {
            item_lq[i] = rs_sampler_log_q(s, u, (uint32_t)i);
            if (p[i] == 0.0) {
                ck_assert_msg(isinf(item_lq[i]) && item_lq[i] < 0,
                              "%s item %d: probability 0 but log Q %g", rs_sampler_kind_name(kind),
                              i, item_lq[i]);
                continue;
            }
            double want = logp[i];
            ck_assert_msg(fabs(item_lq[i] - want) <= 1e-5 + 2e-7 * fabs(want),
                          "%s user %d item %d: log Q %.9g, closed form %.9g",
                          rs_sampler_kind_name(kind), uid, i, item_lq[i], want);
            mass += exp((double)item_lq[i]);
        }
        ck_assert_msg(fabs(mass - 1.0) < 1e-4, "sum of Q = %.8f", mass);

        uint32_t count[M] = {0};
        for (uint32_t done = 0; done < draws;) {
            uint32_t T = RS_MIN((uint32_t)BATCH, draws - done);
            ck_assert_int_eq(rs_sampler_draw(s, u, T, &rng, drawn, lq, &err), 0);
            for (uint32_t t = 0; t < T; t++) {
                /* Plain ifs in the hot loop: each ck_assert writes a checkpoint. */
                if (drawn[t] >= M) ck_abort_msg("item %u out of range", drawn[t]);
                if (lq[t] != item_lq[drawn[t]])
                    ck_abort_msg("draw log Q %.9g != log Q of item %u %.9g", lq[t], drawn[t],
                                 item_lq[drawn[t]]);
                count[drawn[t]]++;
            }
            done += T;
        }

        double tv = 0.0, noise = 0.0, chi2 = 0.0, pooled_e = 0.0, pooled_o = 0.0;
        uint32_t bins = 0;
        for (int i = 0; i < M; i++) {
            double e = p[i] * draws;
            tv += fabs((double)count[i] / draws - p[i]);
            noise += sqrt(2.0 * p[i] * (1.0 - p[i]) / (M_PI * draws));
            if (p[i] == 0.0) {
                ck_assert_msg(count[i] == 0, "item %d has probability 0, drawn %u times", i,
                              count[i]);
            } else if (e < 10.0) {
                pooled_e += e;
                pooled_o += count[i];
            } else {
                chi2 += (count[i] - e) * (count[i] - e) / e;
                bins++;
            }
        }
        if (pooled_e > 0) {
            chi2 += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
            bins++;
        }
        tv *= 0.5;
        noise *= 0.5;
        double tv_max = RS_MAX(0.01, 1.5 * noise);
        printf("%-10s %-6s user %d: %u draws, TV %.5f (noise level %.5f, bound %.5f), "
               "chi-square %.1f df %u\n",
               rs_sampler_kind_name(kind), o->transform == RS_POP_LOG1P ? "log1p" : "count", uid,
               draws, tv, noise, tv_max, chi2, bins - 1);
        ck_assert_msg(tv <= tv_max, "%s user %d: TV %.5f > %.5f (%u draws)",
                      rs_sampler_kind_name(kind), uid, tv, tv_max, draws);
        if (bins > 1) {
            double crit = chi2_critical(bins - 1, 4.75);
            ck_assert_msg(chi2 < crit, "%s user %d: chi-square %.1f >= %.1f (df %u)",
                          rs_sampler_kind_name(kind), uid, chi2, crit, bins - 1);
        }
    }
    free(drawn);
    free(lq);
    rs_sampler_user_free(u);
    rs_sampler_free(s);
}

static rs_sampler_options opts(void)
{
    rs_sampler_options o = rs_sampler_defaults();
    o.k = K;
    return o;
}

START_TEST(test_uniform)
{
    rs_sampler_options o = opts();
    check_kind(RS_SAMPLER_UNIFORM, &o);
}
END_TEST

START_TEST(test_pop)
{
    rs_sampler_options o = opts();
    check_kind(RS_SAMPLER_POP, &o);
    o.transform = RS_POP_COUNT;
    o.count_floor = 0.5;
    check_kind(RS_SAMPLER_POP, &o);
}
END_TEST

START_TEST(test_midx_uni)
{
    rs_sampler_options o = opts();
    check_kind(RS_SAMPLER_MIDX_UNI, &o);
}
END_TEST

START_TEST(test_midx_pop)
{
    rs_sampler_options o = opts();
    check_kind(RS_SAMPLER_MIDX_POP, &o);
    o.transform = RS_POP_COUNT;
    check_kind(RS_SAMPLER_MIDX_POP, &o);
}
END_TEST

START_TEST(test_midx_exact)
{
    rs_sampler_options o = opts();
    check_kind(RS_SAMPLER_MIDX_EXACT, &o);
}
END_TEST

/* KL(Q_uni || softmax) <= 2 C ||z|| with C = max ||r_i|| (Theorem 5.3):
 * the codebooks the sampler builds give a proposal that close. */
START_TEST(test_kl_bound)
{
    make_data();
    rs_sampler_options o = opts();
    rs_sampler *s = build(RS_SAMPLER_MIDX_UNI, &o, 5);
    const rs_pq *pq = rs_sampler_index(s);
    double C = 0.0;
    for (uint32_t c = 0; c < pq->n_cells; c++) C = RS_MAX(C, (double)pq->cell_r[c]);
    for (int uid = 0; uid < N_USERS; uid++) {
        double quni[M], soft[M], zn = 0.0, kl = 0.0;
        closed_form(s, RS_SAMPLER_MIDX_UNI, users[uid], &o, quni, NULL);
        closed_form(s, RS_SAMPLER_MIDX_EXACT, users[uid], &o, soft, NULL);
        for (int j = 0; j < D; j++) zn += (double)users[uid][j] * users[uid][j];
        double tv_soft = 0.0, tv_flat = 0.0;
        for (int i = 0; i < M; i++) {
            kl += quni[i] * log(quni[i] / soft[i]);
            tv_soft += 0.5 * fabs(quni[i] - soft[i]);
            tv_flat += 0.5 * fabs(quni[i] - 1.0 / M);
        }
        printf("user %d: |z| %.2f, TV(Q_uni, softmax) %.3f, TV(Q_uni, uniform) %.3f, KL %.4f, "
               "bound %.2f\n",
               uid, sqrt(zn), tv_soft, tv_flat, kl, 2.0 * C * sqrt(zn));
        /* The fixture is discriminating: the proposals differ far beyond
         * the 0.01 TV tolerance of the frequency tests. */
        ck_assert(tv_soft > 0.1 && tv_flat > 0.1);
        ck_assert_msg(kl >= -1e-12 && kl <= 2.0 * C * sqrt(zn), "KL %g, bound %g", kl,
                      2.0 * C * sqrt(zn));
    }
    rs_sampler_free(s);
}
END_TEST

/* Per-user rng streams make results independent of thread scheduling. */
START_TEST(test_parallel_deterministic)
{
    make_data();
    rs_sampler_options o = opts();
    rs_sampler *s = build(RS_SAMPLER_MIDX_POP, &o, 8);
    enum { U = 96, T = 64 };
    static uint32_t seq[U][T], par[U][T];
    static float seq_lq[U][T], par_lq[U][T];
    static float z[U][D];
    rs_rng base;
    rs_rng_seed(&base, 1234);
    for (int uid = 0; uid < U; uid++)
        for (int j = 0; j < D; j++) z[uid][j] = (float)(0.7 * rs_rng_normal(&base));
    rs_error err;
    rs_sampler_user *u = rs_sampler_user_new(&err);
    for (int uid = 0; uid < U; uid++) {
        rs_rng r;
        rs_rng_split(&base, (uint64_t)uid, &r);
        ck_assert_int_eq(rs_sampler_sample(s, z[uid], u, T, &r, seq[uid], seq_lq[uid], &err), 0);
    }
    rs_sampler_user_free(u);
    int failures = 0;
#pragma omp parallel num_threads(2) reduction(+ : failures)
    {
        rs_error e;
        rs_sampler_user *mine = rs_sampler_user_new(&e);
#pragma omp for schedule(dynamic, 1)
        for (int uid = U - 1; uid >= 0; uid--) {
            rs_rng r;
            rs_rng_split(&base, (uint64_t)uid, &r);
            if (rs_sampler_sample(s, z[uid], mine, T, &r, par[uid], par_lq[uid], &e) != 0)
                failures++;
        }
        rs_sampler_user_free(mine);
    }
    ck_assert_int_eq(failures, 0);
    ck_assert(memcmp(seq, par, sizeof(seq)) == 0);
    ck_assert(memcmp(seq_lq, par_lq, sizeof(seq_lq)) == 0);

    /* The same seed rebuilds the same index and so draws the same items. */
    rs_sampler *again = build(RS_SAMPLER_MIDX_POP, &o, 8);
    u = rs_sampler_user_new(&err);
    uint32_t other[T];
    rs_rng r;
    rs_rng_split(&base, 0, &r);
    ck_assert_int_eq(rs_sampler_sample(again, z[0], u, T, &r, other, NULL, &err), 0);
    ck_assert(memcmp(other, seq[0], sizeof(other)) == 0);
    rs_sampler_user_free(u);
    rs_sampler_free(again);
    rs_sampler_free(s);
}
END_TEST

START_TEST(test_errors_and_rebuild)
{
    make_data();
    rs_error err;
    rs_sampler_kind kind;
    ck_assert_int_eq(rs_sampler_kind_parse("midx-pop", &kind, &err), 0);
    ck_assert_int_eq(kind, RS_SAMPLER_MIDX_POP);
    for (int k = RS_SAMPLER_UNIFORM; k <= RS_SAMPLER_MIDX_EXACT; k++) {
        ck_assert_int_eq(rs_sampler_kind_parse(rs_sampler_kind_name(k), &kind, &err), 0);
        ck_assert_int_eq(kind, k);
    }
    ck_assert_int_eq(rs_sampler_kind_parse("midx", &kind, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown sampler 'midx'"));

    rs_sampler_options o = opts();
    o.k = 0;
    ck_assert_ptr_null(rs_sampler_new(RS_SAMPLER_MIDX_UNI, &o, &err));
    o = opts();
    o.count_floor = -1;
    ck_assert_ptr_null(rs_sampler_new(RS_SAMPLER_POP, &o, &err));
    o = opts();

    rs_sampler *s = rs_sampler_new(RS_SAMPLER_MIDX_POP, &o, &err);
    rs_sampler_user *u = rs_sampler_user_new(&err);
    rs_rng rng;
    rs_rng_seed(&rng, 1);
    uint32_t drawn[8];
    float lq[8];
    /* No index yet. */
    ck_assert_int_eq(rs_sampler_prepare(s, users[0], u, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "no index"));
    /* Missing inputs, bad counts. */
    ck_assert_int_eq(rs_sampler_rebuild(s, items, M, D, NULL, &rng, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "needs item counts"));
    ck_assert_int_eq(rs_sampler_rebuild(s, NULL, M, D, counts, &rng, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "needs item vectors"));
    float bad[M];
    memcpy(bad, counts, sizeof(bad));
    bad[17] = -2.0f;
    ck_assert_int_eq(rs_sampler_rebuild(s, items, M, D, bad, &rng, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "item 17 has count -2"));
    bad[17] = NAN;
    ck_assert_int_eq(rs_sampler_rebuild(s, items, M, D, bad, &rng, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "item 17"));
    memset(bad, 0, sizeof(bad));
    ck_assert_int_eq(rs_sampler_rebuild(s, items, M, D, bad, &rng, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "popularity 0"));

    /* A good rebuild, then a failed one: the old index stays in use. */
    ck_assert_int_eq(rs_sampler_rebuild(s, items, M, D, counts, &rng, &err), 0);
    ck_assert_int_eq(rs_sampler_prepare(s, users[0], u, &err), 0);
    float before = rs_sampler_log_q(s, u, 3);
    float nan_items[M * D];
    memcpy(nan_items, items, sizeof(nan_items));
    nan_items[5 * D + 2] = NAN;
    ck_assert_int_eq(rs_sampler_rebuild(s, nan_items, M, D, counts, &rng, &err), -1);
    ck_assert_int_eq(rs_sampler_draw(s, u, 8, &rng, drawn, lq, &err), 0);
    ck_assert(rs_sampler_log_q(s, u, 3) == before);

    /* Out-of-range item, non-finite z. */
    ck_assert(isnan(rs_sampler_log_q(s, u, M)));
    float zbad[D] = {0};
    zbad[D - 1] = INFINITY;
    ck_assert_int_eq(rs_sampler_prepare(s, zbad, u, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "non-finite"));
    ck_assert_int_eq(rs_sampler_draw(s, u, 8, &rng, drawn, lq, &err), -1);

    /* After a successful rebuild an old user state is refused. */
    ck_assert_int_eq(rs_sampler_prepare(s, users[1], u, &err), 0);
    ck_assert_int_eq(rs_sampler_rebuild(s, items, M, D, counts, &rng, &err), 0);
    ck_assert_int_eq(rs_sampler_draw(s, u, 8, &rng, drawn, lq, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not prepared"));
    ck_assert(isnan(rs_sampler_log_q(s, u, 0)));
    ck_assert_int_eq(rs_sampler_prepare(s, users[1], u, &err), 0);
    ck_assert_int_eq(rs_sampler_draw(s, u, 8, &rng, drawn, lq, &err), 0);
    ck_assert_int_eq(rs_sampler_draw(s, u, 8, &rng, NULL, lq, &err), -1);

    /* A user state prepared on another sampler is refused. */
    rs_sampler *other = build(RS_SAMPLER_MIDX_POP, &o, 3);
    ck_assert_int_eq(rs_sampler_draw(other, u, 8, &rng, drawn, lq, &err), -1);
    rs_sampler_free(other);

    /* Uniform needs neither vectors nor counts; the midx kinds need D >= 2. */
    rs_sampler *uni = rs_sampler_new(RS_SAMPLER_UNIFORM, &o, &err);
    ck_assert_int_eq(rs_sampler_rebuild(uni, NULL, M, 0, NULL, NULL, &err), 0);
    ck_assert_int_eq(rs_sampler_sample(uni, NULL, u, 8, &rng, drawn, lq, &err), 0);
    ck_assert_int_eq(rs_sampler_rebuild(uni, NULL, 0, 0, NULL, NULL, &err), -1);
    rs_sampler_free(uni);
    ck_assert_int_eq(rs_sampler_rebuild(s, items, M, 1, counts, &rng, &err), -1);

    rs_sampler_user_free(u);
    rs_sampler_free(s);
}
END_TEST

/* Extreme user vectors: scores far beyond exp()'s range still give a proper
 * distribution (log-space preparation). */
START_TEST(test_extreme_scores)
{
    make_data();
    rs_sampler_options o = opts();
    rs_error err;
    rs_rng rng;
    rs_rng_seed(&rng, 4);
    for (int k = RS_SAMPLER_MIDX_UNI; k <= RS_SAMPLER_MIDX_EXACT; k++) {
        rs_sampler *s = build(k, &o, 6);
        rs_sampler_user *u = rs_sampler_user_new(&err);
        float z[D];
        for (int j = 0; j < D; j++) z[j] = 400.0f * users[1][j];
        double p[M], logp[M];
        closed_form(s, k, z, &o, p, logp);
        ck_assert_int_eq(rs_sampler_prepare(s, z, u, &err), 0);
        double mass = 0.0;
        for (int i = 0; i < M; i++) {
            float l = rs_sampler_log_q(s, u, (uint32_t)i);
            ck_assert(!isnan(l) && l <= 1e-6f);
            mass += exp((double)l);
            if (isfinite(logp[i]))
                ck_assert_msg(fabs(l - logp[i]) <= 1e-5 + 2e-7 * fabs(logp[i]),
                              "%s item %d: log Q %.9g, closed form %.9g", rs_sampler_kind_name(k),
                              i, l, logp[i]);
            else
                ck_assert(isinf(l) && l < 0);
        }
        ck_assert(fabs(mass - 1.0) < 1e-4);
        uint32_t drawn[256];
        float lq[256];
        ck_assert_int_eq(rs_sampler_draw(s, u, 256, &rng, drawn, lq, &err), 0);
        for (int t = 0; t < 256; t++) ck_assert(isfinite(lq[t]) && drawn[t] < M);
        rs_sampler_user_free(u);
        rs_sampler_free(s);
    }
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("sampler");
    TCase *tc = tcase_create("sampler");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_uniform);
    tcase_add_test(tc, test_pop);
    tcase_add_test(tc, test_midx_uni);
    tcase_add_test(tc, test_midx_pop);
    tcase_add_test(tc, test_midx_exact);
    tcase_add_test(tc, test_kl_bound);
    tcase_add_test(tc, test_parallel_deterministic);
    tcase_add_test(tc, test_errors_and_rebuild);
    tcase_add_test(tc, test_extreme_scores);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
