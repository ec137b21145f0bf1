/* ganmf.c - GANMF's model state, losses, optimisation steps, epoch schedule
 * and scoring (see ganmf.h for the model and the choices made; the pieces'
 * forward and backward passes are in ganmf_layers.c). */
#include "ganmf.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"

void rs_ganmf_config_default(rs_ganmf_config *c)
{
    memset(c, 0, sizeof(*c));
    c->factors = 250;
    c->hidden = 992;
    c->batch = 64;
    c->margin = 10.0f;
    c->lr_discriminator = 1e-4f;
    c->lr_generator = 1.653e-4f;
    c->reg_discriminator = 1e-4f;
    c->feature_matching = 0.01f;
    c->alternate_per_batch = 0;
    c->seed = 2026;
}

/* Glorot-uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)). */
static void glorot_uniform(rs_rng *rng, float *w, size_t rows, size_t cols)
{
    const float a = sqrtf(6.0f / (float)(rows + cols));
    for (size_t i = 0; i < rows * cols; i++) w[i] = a * (2.0f * rs_rng_uniform_f(rng) - 1.0f);
}

static void set_views(rs_ganmf *g)
{
    const size_t K = g->config.factors, h = g->config.hidden, M = g->n_items;
    g->user_factors = g->gen_params;
    g->item_factors = g->gen_params + (size_t)g->n_users * K;
    g->user_grads = g->gen_grads;
    g->item_grads = g->gen_grads + (size_t)g->n_users * K;
    g->enc_weight = g->disc_params;
    g->enc_bias = g->enc_weight + M * h;
    g->dec_weight = g->enc_bias + h;
    g->dec_bias = g->dec_weight + h * M;
    g->enc_weight_g = g->disc_grads;
    g->enc_bias_g = g->enc_weight_g + M * h;
    g->dec_weight_g = g->enc_bias_g + h;
    g->dec_bias_g = g->dec_weight_g + h * M;
}

static int check_config(const rs_ganmf_config *c, uint32_t n_users, uint32_t n_items, rs_error *err)
{
    if (n_users == 0 || n_items == 0) return rs_fail(err, "ganmf: no users or no items");
    if (c->factors == 0 || c->hidden == 0 || c->batch <= 0)
        return rs_fail(err, "ganmf: factors, hidden units and batch must be positive");
    if (!(c->margin >= 0) || !(c->lr_discriminator > 0) || !(c->lr_generator > 0) ||
        !(c->reg_discriminator >= 0) || !(c->feature_matching >= 0 && c->feature_matching <= 1))
        return rs_fail(err, "ganmf: need margin >= 0, learning rates > 0, lambda_D >= 0 and "
                            "0 <= alpha <= 1");
    return 0;
}

static int alloc_buffers(rs_ganmf *g, rs_error *err)
{
    const size_t B = (size_t)g->config.batch, K = g->config.factors, h = g->config.hidden,
                 M = g->n_items;
    float **dense[] = {&g->real,    &g->fake,    &g->real_error, &g->fake_error,
                       &g->d_recon, &g->d_fake,  &g->real_code,  &g->fake_code,
                       &g->d_code,  &g->d_code2, &g->user_rows,  &g->d_user_rows};
    const size_t sizes[] = {B * M, B * M, B * M, B * M, B * M, B * M,
                            B * h, B * h, B * h, B * h, B * K, B * K};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (!(*dense[i] = rs_aligned_alloc(sizes[i], sizeof(float), err))) return -1;
    if (!(g->order = rs_malloc(g->n_users, sizeof(uint32_t), err))) return -1;
    if (!g->config.lazy_user_rows) return 0;
    if (!(g->step_rows = rs_malloc(B + M, sizeof(uint32_t), err))) return -1;
    if (!(g->step_grads = rs_aligned_alloc((B + M) * K, sizeof(float), err))) return -1;
    /* The item rows follow the users in the generator block: always all. */
    for (size_t i = 0; i < M; i++) g->step_rows[B + i] = g->n_users + (uint32_t)i;
    return 0;
}

int rs_ganmf_init(rs_ganmf *g, const rs_ganmf_config *config, uint32_t n_users, uint32_t n_items,
                  rs_error *err)
{
    memset(g, 0, sizeof(*g));
    if (check_config(config, n_users, n_items, err) != 0) return -1;
    g->config = *config;
    g->n_users = n_users;
    g->n_items = n_items;
    const size_t K = config->factors, h = config->hidden, M = n_items;
    g->gen_count = ((size_t)n_users + M) * K;
    g->disc_count = M * h + h + h * M + M;
    g->gen_params = rs_aligned_alloc(g->gen_count, sizeof(float), err);
    g->gen_grads = g->gen_params ? rs_aligned_alloc(g->gen_count, sizeof(float), err) : NULL;
    g->disc_params = g->gen_grads ? rs_aligned_alloc(g->disc_count, sizeof(float), err) : NULL;
    g->disc_grads = g->disc_params ? rs_aligned_alloc(g->disc_count, sizeof(float), err) : NULL;
    if (!g->disc_grads || alloc_buffers(g, err) != 0) goto fail;
    set_views(g);

    rs_rng_seed(&g->rng, config->seed);
    glorot_uniform(&g->rng, g->user_factors, n_users, K);
    glorot_uniform(&g->rng, g->item_factors, M, K);
    glorot_uniform(&g->rng, g->enc_weight, M, h);
    glorot_uniform(&g->rng, g->dec_weight, h, M);
    memset(g->enc_bias, 0, h * sizeof(float));
    memset(g->dec_bias, 0, M * sizeof(float));
    memset(g->gen_grads, 0, g->gen_count * sizeof(float));
    memset(g->disc_grads, 0, g->disc_count * sizeof(float));

    /* lambda_D is part of the loss (and its checked gradient), so Adam's own
     * weight decay stays 0. */
    if (rs_adam_init(&g->adam_gen, g->gen_count, config->lr_generator, 0.0f, err) != 0) goto fail;
    if (rs_adam_init(&g->adam_disc, g->disc_count, config->lr_discriminator, 0.0f, err) != 0)
        goto fail;
    return 0;
fail:
    rs_ganmf_free(g);
    return -1;
}

void rs_ganmf_free(rs_ganmf *g)
{
    float *blocks[] = {g->gen_params, g->gen_grads,  g->disc_params, g->disc_grads,
                       g->real,       g->fake,       g->real_code,   g->fake_code,
                       g->real_error, g->fake_error, g->d_recon,     g->d_code,
                       g->d_code2,    g->d_fake,     g->user_rows,   g->d_user_rows};
    for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) free(blocks[i]);
    free(g->order);
    free(g->step_rows);
    free(g->step_grads);
    rs_adam_free(&g->adam_gen);
    rs_adam_free(&g->adam_disc);
    memset(g, 0, sizeof(*g));
}

void rs_ganmf_load_real(rs_ganmf *g, const rs_csr *data, const uint32_t *users, int B)
{
    const size_t M = g->n_items;
    memset(g->real, 0, (size_t)B * M * sizeof(float));
    for (int b = 0; b < B; b++) {
        float *row = g->real + (size_t)b * M;
        for (uint64_t j = data->indptr[users[b]]; j < data->indptr[users[b] + 1]; j++)
            row[data->indices[j]] = 1.0f;
    }
}

/* lambda/2 ||Omega_D||^2 added to the loss, lambda Omega_D to the gradient. */
static double add_discriminator_reg(rs_ganmf *g)
{
    const float lambda = g->config.reg_discriminator;
    if (lambda == 0.0f) return 0.0;
    const long n = (long)g->disc_count;
    double sum = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
    for (long i = 0; i < n; i++) {
        sum += (double)g->disc_params[i] * g->disc_params[i];
        g->disc_grads[i] += lambda * g->disc_params[i];
    }
    return 0.5 * lambda * sum;
}

double rs_ganmf_discriminator_loss(rs_ganmf *g, const uint32_t *users, int B, rs_ganmf_stats *stats)
{
    rs_ganmf_generate(g, users, B, g->fake);
    const double real_e = rs_ganmf_energy(g, g->real, B, g->real_code, g->real_error);
    const double fake_e = rs_ganmf_energy(g, g->fake, B, g->fake_code, g->fake_error);
    double coef_real, coef_fake;
    int active;
    double loss = rs_ganmf_hinge(real_e, fake_e, g->config.margin, &coef_real, &coef_fake, &active);
    memset(g->disc_grads, 0, g->disc_count * sizeof(float));
    rs_ganmf_energy_backward_params(g, g->real, g->real_code, g->real_error, B, coef_real);
    if (coef_fake != 0.0)
        rs_ganmf_energy_backward_params(g, g->fake, g->fake_code, g->fake_error, B, coef_fake);
    loss += add_discriminator_reg(g);
    if (stats) {
        stats->real_energy = real_e;
        stats->fake_energy = fake_e;
        stats->feature_distance = 0.0;
        stats->loss = loss;
        stats->hinge_active = active;
    }
    return loss;
}

double rs_ganmf_generator_loss(rs_ganmf *g, const uint32_t *users, int B, rs_ganmf_stats *stats)
{
    const int M = (int)g->n_items, h = (int)g->config.hidden;
    const double alpha = g->config.feature_matching;
    rs_ganmf_generate(g, users, B, g->fake);
    const double fake_e = rs_ganmf_energy(g, g->fake, B, g->fake_code, g->fake_error);
    /* Only the real profiles' code is needed: Enc(x) is a constant here. */
    rs_dense_forward(g->real_code, g->real, g->enc_weight, g->enc_bias, B, M, h);
    const double distance =
        rs_ganmf_feature_matching(g->real_code, g->fake_code, B, h, alpha, g->d_code2);
    const double loss = (1.0 - alpha) * fake_e + alpha * distance;
    rs_ganmf_energy_backward_input(g, g->fake_error, B, 1.0 - alpha, g->d_code2, g->d_fake);
    memset(g->gen_grads, 0, g->gen_count * sizeof(float));
    rs_ganmf_generate_backward(g, users, B, g->d_fake);
    if (stats) {
        stats->real_energy = 0.0;
        stats->fake_energy = fake_e;
        stats->feature_distance = distance;
        stats->loss = loss;
        stats->hinge_active = 0;
    }
    return loss;
}

void rs_ganmf_discriminator_step(rs_ganmf *g, const rs_csr *data, const uint32_t *users, int B,
                                 rs_ganmf_stats *stats)
{
    rs_ganmf_load_real(g, data, users, B);
    rs_ganmf_discriminator_loss(g, users, B, stats);
    rs_adam_step(&g->adam_disc, g->disc_params, g->disc_grads);
}

void rs_ganmf_generator_step(rs_ganmf *g, const rs_csr *data, const uint32_t *users, int B,
                             rs_ganmf_stats *stats)
{
    rs_ganmf_load_real(g, data, users, B);
    rs_ganmf_generator_loss(g, users, B, stats);
    if (!g->config.lazy_user_rows) {
        rs_adam_step(&g->adam_gen, g->gen_params, g->gen_grads);
        return;
    }
    /* Packed as the batch's user rows, then every item row; the item rows
     * sit at offset config.batch so that a short last batch needs no move of
     * them: the user rows are packed right before them. */
    const size_t K = g->config.factors, Bmax = (size_t)g->config.batch, M = g->n_items;
    const size_t first = Bmax - (size_t)B;
    for (int b = 0; b < B; b++) {
        g->step_rows[first + b] = users[b];
        memcpy(g->step_grads + (first + b) * K, g->user_grads + (size_t)users[b] * K,
               K * sizeof(float));
    }
    memcpy(g->step_grads + Bmax * K, g->item_grads, M * K * sizeof(float));
    rs_adam_step_rows(&g->adam_gen, g->gen_params, g->step_grads + first * K, g->step_rows + first,
                      (uint32_t)(B + M), (uint32_t)K);
}

static void add_d_stats(rs_ganmf_epoch_stats *sum, const rs_ganmf_stats *s)
{
    sum->loss_d += s->loss;
    sum->real_energy += s->real_energy;
    sum->fake_energy += s->fake_energy;
    sum->hinge_active += s->hinge_active;
}

static void add_g_stats(rs_ganmf_epoch_stats *sum, const rs_ganmf_stats *s)
{
    sum->loss_g += s->loss;
    sum->feature_distance += s->feature_distance;
}

void rs_ganmf_train_epoch(rs_ganmf *g, const rs_csr *data, rs_ganmf_epoch_stats *out)
{
    const uint32_t n = g->n_users, B = (uint32_t)g->config.batch;
    for (uint32_t u = 0; u < n; u++) g->order[u] = u;
    rs_rng_shuffle_u32(&g->rng, g->order, n);
    rs_ganmf_epoch_stats sum = {0};
    long steps = 0;
    rs_ganmf_stats s;
    if (g->config.alternate_per_batch) {
        for (uint32_t start = 0; start < n; start += B, steps++) {
            const int size = (int)RS_MIN(B, n - start);
            rs_ganmf_discriminator_step(g, data, g->order + start, size, &s);
            add_d_stats(&sum, &s);
            rs_ganmf_generator_step(g, data, g->order + start, size, &s);
            add_g_stats(&sum, &s);
        }
    } else {
        for (uint32_t start = 0; start < n; start += B, steps++) {
            rs_ganmf_discriminator_step(g, data, g->order + start, (int)RS_MIN(B, n - start), &s);
            add_d_stats(&sum, &s);
        }
        for (uint32_t start = 0; start < n; start += B) {
            rs_ganmf_generator_step(g, data, g->order + start, (int)RS_MIN(B, n - start), &s);
            add_g_stats(&sum, &s);
        }
    }
    if (!out) return;
    const double k = steps ? 1.0 / (double)steps : 0.0;
    out->loss_d = sum.loss_d * k;
    out->loss_g = sum.loss_g * k;
    out->real_energy = sum.real_energy * k;
    out->fake_energy = sum.fake_energy * k;
    out->feature_distance = sum.feature_distance * k;
    out->hinge_active = sum.hinge_active * k;
}

void rs_ganmf_score(const rs_ganmf *g, const uint32_t *users, int B, float *scores)
{
    const int K = (int)g->config.factors, M = (int)g->n_items;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, 1.0f, g->item_factors, K,
                    g->user_factors + (size_t)users[b] * K, 1, 0.0f, scores + (size_t)b * M, 1);
}
