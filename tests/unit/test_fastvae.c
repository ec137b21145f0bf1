/* test_fastvae.c - FastVAE: the gradient of the whole objective (sampled
 * softmax, full softmax, PIA) against central finite differences; the
 * sampler is conditioned on the user vector (an exact-softmax proposal makes
 * the sampled loss a known constant) and a uniform proposal with many
 * samples recovers the full-softmax loss; lazy Adam equals dense Adam on the
 * rows it touches; results do not depend on the thread count; training
 * learns a planted structure; item dropout leaves dropped items' rows alone; a published snapshot
 * loads as a servable model whose scores equal the trainer's, with a serving
 * MIDX index whose cells bound every item's residual. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adam.h"
#include "evaluate.h"
#include "fastvae.h"
#include "midx.h"
#include "midx_store.h"
#include "model.h"
#include "publish.h"
#include "test_support_trainer.h"

/* Three users over seven items. */
static uint64_t indptr[] = {0, 3, 5, 9};
static uint32_t indices[] = {0, 2, 5, 1, 2, 0, 3, 4, 6};
static const rs_csr data = {3, 7, indptr, indices, NULL};
static const uint32_t users[] = {0, 1, 2};
static const float counts7[] = {3, 1, 2, 1, 1, 1, 1};

/* Item counts of a matrix (the popularity the samplers get). */
static float *column_counts(const rs_csr *m)
{
    float *c = calloc(m->n_cols, sizeof(float));
    for (uint64_t p = 0; p < m->indptr[m->n_rows]; p++) c[m->indices[p]] += 1.0f;
    return c;
}

/* _i bit 0: full softmax (else sampled); bit 1: PIA. */
START_TEST(test_gradient_matches_finite_differences)
{
    int full = _i & 1, pia = (_i >> 1) & 1;
    enum { M = 7, H = 6, L = 3, T = 4 };
    rs_fastvae_options o;
    rs_fastvae_options_default(&o);
    o.hidden = H, o.latent = L, o.batch_size = 3, o.samples = T, o.seed = 11;
    o.full_softmax = full;
    o.sampler = RS_SAMPLER_UNIFORM;
    o.pia_lambda = pia ? 0.7f : 0.0f;
    rs_train_model model;
    rs_error err;
    ck_assert_int_eq(rs_fastvae_create(&o, M, counts7, &model, &err), 0);
    rs_fastvae *f = rs_fastvae_of(&model);
    float eps[9] = {0.3f, -1.2f, 0.5f, 0.1f, 0.8f, -0.4f, -0.7f, 0.2f, 1.1f};
    /* Sample sets with repeats and positives among them; arbitrary log Q. */
    uint32_t samples[3 * T] = {1, 4, 4, 6, 0, 2, 3, 5, 6, 1, 0, 2};
    float log_q[3 * M];
    for (int k = 0; k < 3 * M; k++) log_q[k] = -1.5f + 0.37f * (float)((k * 5) % 7);
    rs_train_batch batch = {&data, users, 3, 0.35f, NULL};
    size_t n;
    float *params = rs_fastvae_params(f, &n);
    for (size_t i = 0; i < n; i++) params[i] *= 3.0f; /* every path matters */
    const uint32_t *s = full ? NULL : samples;
    const float *lq = full ? NULL : log_q;
    double objective;
    ck_assert_msg(rs_fastvae_gradient(f, &batch, eps, s, lq, &objective, &err) == 0, "%s", err.msg);
    ck_assert(isfinite(objective));
    float *analytic = malloc(n * sizeof(float));
    memcpy(analytic, rs_fastvae_grads(f), n * sizeof(float));
    const float h = 1e-2f;
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        float saved = params[i];
        double up, down;
        params[i] = saved + h;
        ck_assert_int_eq(rs_fastvae_gradient(f, &batch, eps, s, lq, &up, &err), 0);
        params[i] = saved - h;
        ck_assert_int_eq(rs_fastvae_gradient(f, &batch, eps, s, lq, &down, &err), 0);
        params[i] = saved;
        double numeric = (up - down) / (2.0 * h);
        double rel = fabs(numeric - analytic[i]) / fmax(1e-2, fabs(numeric) + fabs(analytic[i]));
        if (rel > worst) worst = rel, worst_i = i;
    }
    ck_assert_msg(worst < 1e-2, "worst relative gradient error %g at parameter %zu of %zu", worst,
                  worst_i, n);
    /* E, Wenc, benc, Wdec, bdec, Q (+ anchors). */
    ck_assert_uint_eq(n, M * H + H * 2 * L + 2 * L + L * H + H + M * H + (pia ? M * L : 0));
    free(analytic);
    model.free(model.self);
}
END_TEST

/* Two models with the same seed (identical parameters) on the same batch
 * with lr 0: one step each, reporting the loss at these parameters. */
static double loss_of(rs_fastvae_options o, const rs_csr *m, const float *counts,
                      const uint32_t *batch_users, int size, uint64_t seed)
{
    o.lr = 0.0f;
    o.dropout = 0.0f;
    rs_train_model model;
    rs_error err;
    ck_assert_msg(rs_fastvae_create(&o, m->n_cols, counts, &model, &err) == 0, "%s", err.msg);
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    ck_assert_int_eq(model.begin_epoch(model.self, 1, &rng, &err), 0);
    rs_train_batch batch = {m, batch_users, size, 0.0f, &rng};
    rs_step_stats stats;
    ck_assert_msg(model.train_batch(model.self, &batch, &stats, &err) == 0, "%s", err.msg);
    model.free(model.self);
    return stats.loss;
}

START_TEST(test_proposal_is_conditioned_on_the_user_vector)
{
    rs_fastvae_options o;
    rs_fastvae_options_default(&o);
    o.hidden = 8, o.latent = 3, o.batch_size = 3, o.seed = 4;
    /* Under the exact softmax proposal Q(j) = exp(u.q_j) / Z, every
     * corrected logit is log Z, so each positive's loss is log(1 + T):
     * this holds only if the sampler sees the same u the logits use. */
    o.sampler = RS_SAMPLER_MIDX_EXACT;
    o.samples = 50;
    o.codewords = 2;
    double exact = loss_of(o, &data, counts7, users, 3, 9);
    ck_assert_msg(fabs(exact - 9 * log(51.0)) < 1e-3 * exact, "loss %g, expected %g", exact,
                  9 * log(51.0));
    /* Uniform proposal, T >> M: sum_j exp(o'_j) ~ T Z, so the sampled loss
     * is the full-softmax loss + n log(T / M) per user. */
    o.sampler = RS_SAMPLER_UNIFORM;
    o.samples = 40000;
    double sampled = loss_of(o, &data, counts7, users, 3, 9);
    o.full_softmax = 1;
    double fullv = loss_of(o, &data, counts7, users, 3, 9);
    double corrected = sampled - 9 * log(40000.0 / 7.0);
    ck_assert_msg(fabs(corrected - fullv) < 0.02 * fabs(fullv),
                  "sampled %g (corrected %g), full %g", sampled, corrected, fullv);
}
END_TEST

START_TEST(test_lazy_adam_matches_dense_on_touched_rows)
{
    enum { ROWS = 6, W = 5 };
    rs_adam dense, lazy;
    rs_error err;
    ck_assert_int_eq(rs_adam_init(&dense, ROWS * W, 0.01f, 0.1f, &err), 0);
    ck_assert_int_eq(rs_adam_init(&lazy, ROWS * W, 0.01f, 0.1f, &err), 0);
    float p1[ROWS * W], p2[ROWS * W], g[ROWS * W], gr[ROWS * W];
    rs_rng rng;
    rs_rng_seed(&rng, 1);
    for (int i = 0; i < ROWS * W; i++) p1[i] = p2[i] = (float)rs_rng_normal(&rng);
    uint32_t all[ROWS] = {3, 0, 5, 1, 4, 2};
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < ROWS * W; i++) g[i] = (float)rs_rng_normal(&rng);
        for (int k = 0; k < ROWS; k++) memcpy(gr + k * W, g + all[k] * W, sizeof(float) * W);
        rs_adam_step(&dense, p1, g);
        rs_adam_step_rows(&lazy, p2, gr, all, ROWS, W);
    }
    for (int i = 0; i < ROWS * W; i++) ck_assert_float_eq_tol(p1[i], p2[i], 1e-6);
    /* Rows not listed keep their values. */
    float before[ROWS * W];
    memcpy(before, p2, sizeof(before));
    uint32_t some[2] = {4, 1};
    rs_adam_step_rows(&lazy, p2, gr, some, 2, W);
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < W; j++) {
            int touched = r == 4 || r == 1;
            ck_assert_int_eq(p2[r * W + j] != before[r * W + j], touched);
        }
    rs_adam_free(&dense);
    rs_adam_free(&lazy);
}
END_TEST

/* Two taste groups: users of group g hold most items of group g. */
static void planted(uint32_t U, uint32_t M, uint32_t per, rs_csr *train, rs_csr *test)
{
    uint64_t *ip = malloc((U + 1) * sizeof(uint64_t)), *tp = malloc((U + 1) * sizeof(uint64_t));
    uint32_t *ix = malloc(U * per * sizeof(uint32_t)), *tx = malloc(U * sizeof(uint32_t));
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    ip[0] = tp[0] = 0;
    for (uint32_t u = 0; u < U; u++) {
        uint32_t base = (u % 2) * (M / 2), held = base + (uint32_t)rs_rng_below(&rng, M / 2);
        uint32_t n = 0;
        for (uint32_t i = base; i < base + M / 2 && n < per; i++)
            if (i != held && rs_rng_below(&rng, 2)) ix[ip[u] + n++] = i;
        ip[u + 1] = ip[u] + n;
        tx[u] = held;
        tp[u + 1] = u + 1;
    }
    *train = (rs_csr){U, M, ip, ix, NULL};
    *test = (rs_csr){U, M, tp, tx, NULL};
}

/* Runs `epochs` epochs over all users in batches; returns first and last
 * epoch losses. */
static void train_epochs(rs_train_model *model, const rs_csr *train, int epochs, int batch,
                         double *first, double *last)
{
    uint32_t U = train->n_rows;
    uint32_t *order = malloc(U * sizeof(uint32_t));
    for (uint32_t u = 0; u < U; u++) order[u] = u;
    rs_rng rng;
    rs_rng_seed(&rng, 77);
    rs_error err;
    for (int epoch = 1; epoch <= epochs; epoch++) {
        rs_rng epoch_rng;
        rs_rng_split(&rng, (uint64_t)epoch, &epoch_rng);
        ck_assert_msg(model->begin_epoch(model->self, epoch, &epoch_rng, &err) == 0, "%s", err.msg);
        double total = 0;
        for (uint32_t b = 0; b < U; b += (uint32_t)batch) {
            int size = (int)RS_MIN((uint32_t)batch, U - b);
            rs_train_batch tb = {train, order + b, size, 0.1f, &epoch_rng};
            rs_step_stats stats;
            ck_assert_msg(model->train_batch(model->self, &tb, &stats, &err) == 0, "%s", err.msg);
            total += stats.loss;
        }
        if (epoch == 1) *first = total;
        *last = total;
    }
    free(order);
}

/* The exact objective the samplers approximate: the multinomial NLL of
 * the training positives under the full softmax of the evaluation scores
 * (sampled losses are not comparable across epochs: MIDX proposals sharpen
 * as the model learns). */
static double full_nll(rs_train_model *model, const rs_csr *train)
{
    uint32_t U = train->n_rows, M = train->n_cols, B = (uint32_t)model->batch_capacity;
    float *scores = malloc(sizeof(float) * B * M);
    uint32_t *batch = malloc(sizeof(uint32_t) * B);
    double nll = 0.0;
    rs_error err;
    for (uint32_t b = 0; b < U; b += B) {
        uint32_t size = RS_MIN(B, U - b);
        for (uint32_t r = 0; r < size; r++) batch[r] = b + r;
        ck_assert_int_eq(model->score(model->self, train, batch, (int)size, scores, &err), 0);
        for (uint32_t r = 0; r < size; r++) {
            const float *row = scores + (size_t)r * M;
            double mx = -INFINITY, z = 0.0;
            for (uint32_t i = 0; i < M; i++) mx = fmax(mx, row[i]);
            for (uint32_t i = 0; i < M; i++) z += exp(row[i] - mx);
            for (uint64_t p = train->indptr[b + r]; p < train->indptr[b + r + 1]; p++)
                nll -= row[train->indices[p]] - mx - log(z);
        }
    }
    free(scores), free(batch);
    return nll;
}

/* _i: 0 midx-pop, 1 midx-uni, 2 uniform, 3 full softmax. */
START_TEST(test_training_learns_structure)
{
    rs_csr train, test;
    planted(200, 40, 8, &train, &test);
    float *counts = column_counts(&train);
    rs_fastvae_options o;
    rs_fastvae_options_default(&o);
    o.hidden = 16, o.latent = 4, o.batch_size = 50, o.lr = 3e-3f, o.samples = 10;
    o.codewords = 4, o.lr_step = 0;
    static const rs_sampler_kind kinds[] = {RS_SAMPLER_MIDX_POP, RS_SAMPLER_MIDX_UNI,
                                            RS_SAMPLER_UNIFORM, RS_SAMPLER_UNIFORM};
    o.sampler = kinds[_i];
    o.full_softmax = _i == 3;
    rs_train_model model;
    rs_error err;
    ck_assert_msg(rs_fastvae_create(&o, train.n_cols, counts, &model, &err) == 0, "%s", err.msg);
    double before = full_nll(&model, &train), first = 0, last = 0;
    train_epochs(&model, &train, 60, 50, &first, &last);
    double after = full_nll(&model, &train);
    /* Knowing the groups takes the NLL from about log 40 to about log 17
     * per positive (a ratio of 0.77). */
    ck_assert_msg(after < 0.85 * before, "full-softmax NLL %g -> %g", before, after);
    rs_metric_set set = {0};
    rs_metric_set_find_or_add(&set, "recall@5");
    rs_eval_result result;
    ck_assert_int_eq(rs_evaluate(&model, &train, &train, &test, &set, &result, &err), 0);
    ck_assert_uint_eq(result.n_users, 200);
    /* Chance is about 5 / 36 = 0.14; a model that learned the two groups
     * ranks only the ~16 unseen same-group items: about 0.3 to 0.5. */
    ck_assert_msg(result.values[0] > 0.3, "recall@5 %g", result.values[0]);
    rs_fastvae_timing t;
    rs_fastvae_get_timing(rs_fastvae_of(&model), &t);
    if (_i != 3) {
        ck_assert_uint_eq(t.sampled_users, 60 * 200);
        /* Rebuilt once per epoch when the proposal depends on Q. */
        ck_assert_uint_eq(t.rebuilds, _i < 2 ? 60 : 1);
    }
    model.free(model.self);
    free(counts);
    free(train.indptr), free(train.indices), free(test.indptr), free(test.indices);
}
END_TEST

/* Number of item-embedding rows (E) that one training step changes. */
static int rows_changed_by_one_step(float item_dropout, uint64_t seed)
{
    enum { M = 7 };
    rs_fastvae_options o;
    rs_fastvae_options_default(&o);
    o.hidden = 6, o.latent = 3, o.batch_size = 3, o.samples = 4, o.seed = 5;
    o.dropout = 0.0f;
    o.item_dropout = item_dropout;
    rs_train_model model;
    rs_error err;
    ck_assert_msg(rs_fastvae_create(&o, M, counts7, &model, &err) == 0, "%s", err.msg);
    size_t n;
    float *params = rs_fastvae_params(rs_fastvae_of(&model), &n);
    float before[M * 6];
    memcpy(before, params, sizeof(before)); /* E comes first: M rows of H */
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    ck_assert_int_eq(model.begin_epoch(model.self, 1, &rng, &err), 0);
    rs_train_batch batch = {&data, users, 3, 0.0f, &rng};
    rs_step_stats stats;
    ck_assert_msg(model.train_batch(model.self, &batch, &stats, &err) == 0, "%s", err.msg);
    int changed = 0;
    for (int i = 0; i < M; i++) changed += memcmp(before + i * 6, params + i * 6, 6 * 4) != 0;
    model.free(model.self);
    return changed;
}

/* Item dropout removes whole history items from a step: their embedding
 * rows get no gradient. Without it every history item's row moves (the
 * three histories cover all seven items). */
START_TEST(test_item_dropout_drops_whole_items)
{
    ck_assert_int_eq(rows_changed_by_one_step(0.0f, 3), 7);
    int fewer = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        int changed = rows_changed_by_one_step(0.8f, seed);
        ck_assert_int_le(changed, 7);
        fewer += changed < 7;
    }
    /* Each of the 9 history entries survives with probability 0.2: a step
     * that keeps at least one entry of all seven items has probability
     * 0.36^2 * 0.2^5, about 4e-5, per seed. */
    ck_assert_int_eq(fewer, 8);
}
END_TEST

/* Same seed, 1 or 2 threads: bit-identical parameters after training. */
START_TEST(test_thread_count_does_not_change_results)
{
    rs_csr train, test;
    planted(120, 30, 8, &train, &test);
    float *counts = column_counts(&train);
    rs_fastvae_options o;
    rs_fastvae_options_default(&o);
    o.hidden = 16, o.latent = 4, o.batch_size = 40, o.samples = 20, o.codewords = 3;
    o.pia_lambda = 0.1f;
    float *result[2];
    size_t n = 0;
    int saved = omp_get_max_threads();
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run + 1);
        rs_train_model model;
        rs_error err;
        ck_assert_int_eq(rs_fastvae_create(&o, train.n_cols, counts, &model, &err), 0);
        double first, last;
        train_epochs(&model, &train, 3, 40, &first, &last);
        float *p = rs_fastvae_params(rs_fastvae_of(&model), &n);
        result[run] = malloc(n * sizeof(float));
        memcpy(result[run], p, n * sizeof(float));
        model.free(model.self);
    }
    omp_set_num_threads(saved);
    ck_assert_int_eq(memcmp(result[0], result[1], n * sizeof(float)), 0);
    free(result[0]), free(result[1]), free(counts);
    free(train.indptr), free(train.indices), free(test.indptr), free(test.indices);
}
END_TEST

static char dir[256];

static void load_small(rs_dataset *d)
{
    test_two_group_dataset("fastvae", dir, sizeof(dir), d);
}

/* _i = 0: midx-pop; 1: uniform sampler with PIA anchors. */
START_TEST(test_published_model_serves_trainer_scores)
{
    rs_dataset d;
    load_small(&d);
    rs_fastvae_options o;
    rs_fastvae_options_default(&o);
    o.hidden = 12, o.latent = 4, o.batch_size = 20, o.samples = 15, o.codewords = 3;
    o.sampler = _i ? RS_SAMPLER_UNIFORM : RS_SAMPLER_MIDX_POP;
    o.pia_lambda = _i ? 0.5f : 0.0f;
    rs_train_model model;
    rs_error err;
    uint32_t M = d.report.n_items;
    ck_assert_int_eq(rs_fastvae_create(&o, M, d.popularity, &model, &err), 0);
    double first, last;
    train_epochs(&model, &d.train, 5, 20, &first, &last);
    char store_dir[300];
    snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
    json_t *training = json_object();
    uint64_t version;
    ck_assert_msg(rs_publish_model(store_dir, "fv", &model, &d, training, 0, &version, &err) == 0,
                  "%s", err.msg);
    json_decref(training);
    rs_store *store;
    rs_snapshot *snap;
    rs_model *m;
    ck_assert_msg(rs_store_open(store_dir, RS_STORE_READONLY, 0, &store, &err) == 0, "%s", err.msg);
    ck_assert_msg(rs_snapshot_open(store, "fv", 0, 1, &snap, &err) == 0, "%s", err.msg);
    ck_assert_msg(rs_model_load(snap, &m, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(rs_model_family(m), "fastvae");
    uint32_t D = rs_model_dim(m);
    ck_assert_uint_eq(D, 12); /* no item bias */
    ck_assert_int_eq(rs_snapshot_has(snap, "items.anchors"), _i);
    /* Served scores: stored history -> encoder -> inner products. */
    enum { R = 20 };
    uint32_t users_[R];
    for (uint32_t r = 0; r < R; r++) users_[r] = r * 3;
    test_check_served_scores(m, &model, &d, users_, R);
    /* The serving MIDX index: cells partition the items, each item's row
     * in cell order is its model row, and each cell's half radii bound the
     * half residuals of every item in it. */
    rs_midx idx;
    ck_assert_msg(rs_midx_load(snap, "retrieval.midx", 1, &idx, &err) == 0, "%s", err.msg);
    uint32_t K = idx.k, d1 = idx.d1, d2 = idx.d2;
    ck_assert_uint_eq(K, rs_midx_serving_k(M));
    ck_assert_uint_eq(idx.n, M);
    ck_assert_uint_eq(d1 + d2, D);
    ck_assert_uint_eq(idx.offsets[0], 0);
    ck_assert_uint_eq(idx.offsets[K * K], M);
    uint32_t *seen = calloc(M, sizeof(uint32_t));
    for (uint32_t c = 0; c < K * K; c++)
        for (uint32_t p = idx.offsets[c]; p < idx.offsets[c + 1]; p++) {
            uint32_t i = idx.ids[p];
            ck_assert_uint_lt(i, M);
            ck_assert_uint_eq(idx.pos[i], p);
            seen[i]++;
            const float *q = rs_model_item_matrix(m) + (size_t)i * D;
            ck_assert(memcmp(idx.vectors + (size_t)p * D, q, sizeof(float) * D) == 0);
            double r1 = 0, r2 = 0;
            for (uint32_t j = 0; j < D; j++) {
                float cw = j < d1 ? idx.c1[(c / K) * d1 + j] : idx.c2[(c % K) * d2 + (j - d1)];
                double e = ((double)q[j] - cw) * ((double)q[j] - cw);
                if (j < d1)
                    r1 += e;
                else
                    r2 += e;
            }
            ck_assert_msg(sqrt(r1) <= idx.cell_r1[c] * (1 + 1e-5) + 1e-6,
                          "item %u residual %g > %g", i, sqrt(r1), idx.cell_r1[c]);
            ck_assert_msg(sqrt(r2) <= idx.cell_r2[c] * (1 + 1e-5) + 1e-6,
                          "item %u residual %g > %g", i, sqrt(r2), idx.cell_r2[c]);
        }
    for (uint32_t i = 0; i < M; i++) ck_assert_uint_eq(seen[i], 1);
    rs_midx_release(&idx);
    /* The manifest names the index and the sampler. */
    const char *manifest = rs_snapshot_manifest(snap);
    ck_assert_ptr_nonnull(strstr(manifest, "\"retrieval.midx\""));
    ck_assert_ptr_nonnull(strstr(manifest, _i ? "\"uniform\"" : "\"midx-pop\""));
    free(seen);
    rs_model_free(m);
    rs_snapshot_close(snap);
    rs_store_close(store);
    model.free(model.self);
    rs_dataset_free(&d);
    test_remove_tree(dir);
}
END_TEST

START_TEST(test_bad_options_are_refused)
{
    rs_fastvae_options o;
    rs_fastvae_options_default(&o);
    rs_train_model model;
    rs_error err;
    ck_assert_int_eq(rs_fastvae_create(&o, 10, NULL, &model, &err), -1); /* midx-pop, no counts */
    ck_assert_ptr_nonnull(strstr(err.msg, "counts"));
    o.sampler = RS_SAMPLER_UNIFORM;
    o.samples = 0;
    ck_assert_int_eq(rs_fastvae_create(&o, 10, NULL, &model, &err), -1);
    o.samples = 5;
    o.hidden = 1;
    ck_assert_int_eq(rs_fastvae_create(&o, 10, NULL, &model, &err), -1);
    ck_assert_int_eq(rs_fastvae_sampler_parse("nope", &o, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "full"));
    ck_assert_int_eq(rs_fastvae_sampler_parse("full", &o, &err), 0);
    ck_assert_int_eq(o.full_softmax, 1);
    ck_assert_str_eq(rs_fastvae_sampler_name(&o), "full");
    ck_assert_int_eq(rs_fastvae_sampler_parse("midx-uni", &o, &err), 0);
    ck_assert_int_eq(o.full_softmax, 0);
    ck_assert_str_eq(rs_fastvae_sampler_name(&o), "midx-uni");
    /* A batch over the wrong item count is refused. */
    o.hidden = 4;
    ck_assert_int_eq(rs_fastvae_create(&o, 9, NULL, &model, &err), 0);
    rs_train_batch batch = {&data, users, 3, 0.1f, NULL};
    rs_step_stats stats;
    ck_assert_int_eq(model.train_batch(model.self, &batch, &stats, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "items"));
    model.free(model.self);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fastvae");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_gradient_matches_finite_differences, 0, 4);
    tcase_add_test(tc, test_proposal_is_conditioned_on_the_user_vector);
    tcase_add_test(tc, test_lazy_adam_matches_dense_on_touched_rows);
    tcase_add_loop_test(tc, test_training_learns_structure, 0, 4);
    tcase_add_test(tc, test_thread_count_does_not_change_results);
    tcase_add_loop_test(tc, test_published_model_serves_trainer_scores, 0, 2);
    tcase_add_test(tc, test_item_dropout_drops_whole_items);
    tcase_add_test(tc, test_bad_options_are_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
