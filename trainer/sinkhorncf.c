/* sinkhorncf.c - the SinkhornCF family (--model sinkhorn): Mult-VAE's
 * encoder and decoder (vae.c, unchanged: [M -> 600 -> 200 | 200 -> 600 ->
 * M], tanh, Gaussian latent, KL annealed, input dropout) trained with the
 * accelerated Sinkhorn loss of the paper's Algorithm 1 (sinkhorn.h) in
 * place of the multinomial likelihood. The gradient flows through the
 * unrolled Sinkhorn iterations into the logits, and from there through
 * vae.c's backward pass.
 *
 * This file owns what SinkhornCF adds: its options, the item-item cost
 * C = 1 - S (cooccur.h), built once from the training matrix when the model
 * is created, and the per-batch loss workspaces. It is published and served
 * exactly as Mult-VAE is (same tensors, same encoder description); the
 * manifest names the family "sinkhorn" and its loss settings
 * (model_options.loss).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "cooccur.h"
#include "family.h"
#include "sinkhorn.h"
#include "vae.h"

typedef struct sinkhorn_family_options {
    rs_vae_options vae; /* first: RS_OPT_VAE addresses it as an rs_vae_options */
    rs_sinkhorn_options loss;
    rs_cooccur_options cost;
} sinkhorn_family_options;

_Static_assert(offsetof(sinkhorn_family_options, vae) == 0, "RS_OPT_VAE needs vae first");

/* The loss the Mult-VAE trains with (rs_vae_loss.self). */
typedef struct sinkhorn_loss {
    rs_sinkhorn_options options;
    rs_cooccur cost;
    rs_sinkhorn_batch *batch;
    /* The terms summed since the last report, per user (see report()). */
    rs_sinkhorn_parts sum;
    uint64_t users;
    int epoch; /* the epoch under way (0: none began, e.g. in gradient checks) */
} sinkhorn_loss;

static int loss_compute(void *self, float *dlogits, const float *logits,
                        const rs_sparse_batch *targets, float scale, double *loss, rs_error *err)
{
    sinkhorn_loss *s = self;
    rs_sinkhorn_parts parts;
    if (rs_sinkhorn_batch_loss(s->batch, &s->cost, dlogits, logits, targets, scale, loss, &parts,
                               err) != 0)
        return -1;
    s->sum.transport += parts.transport;
    s->sum.concentration += parts.concentration;
    s->sum.topk_mass += parts.topk_mass;
    s->users += targets->n_rows;
    return 0;
}

/* The two terms' means over the epoch, on stderr (at the start of the
 * next one, and at the end for the last): how the loss splits between
 * transport and concentration is what its tuning is about (the loss line
 * of the epoch shows only their sum). */
static void report(sinkhorn_loss *s, int epoch)
{
    if (s->users) {
        double n = (double)s->users;
        fprintf(stderr,
                "sinkhorn, epoch %d, per user: transport %.4f  concentration %.2f  "
                "top-%u mass %.4f\n",
                epoch, s->sum.transport / n, s->sum.concentration / n, s->options.k,
                s->sum.topk_mass / n);
    }
    s->sum = (rs_sinkhorn_parts){0};
    s->users = 0;
}

static void loss_begin_epoch(void *self, int epoch)
{
    sinkhorn_loss *s = self;
    if (s->epoch > 0) report(s, s->epoch);
    s->epoch = epoch;
}

static json_t *loss_options_json(const void *self)
{
    const sinkhorn_loss *s = self;
    const rs_sinkhorn_options *o = &s->options;
    return json_pack("{s:s, s:I, s:i, s:f, s:f, s:b, s:f, s:f, s:I}", "name", "sinkhorn", "k",
                     (json_int_t)o->k, "iterations", o->iterations, "epsilon", o->epsilon, "alpha",
                     o->alpha, "renormalise_topk", o->renormalise_topk, "transport_weight",
                     o->transport_weight, "cost_shrink", s->cost.shrink, "cost_neighbours",
                     (json_int_t)s->cost.neighbours);
}

static size_t loss_footprint(const void *self)
{
    const sinkhorn_loss *s = self;
    return rs_cooccur_bytes(&s->cost) + rs_sinkhorn_batch_bytes(s->batch);
}

static void loss_free(void *self)
{
    sinkhorn_loss *s = self;
    if (!s) return;
    if (s->epoch > 0) report(s, s->epoch); /* the last epoch's terms */
    rs_sinkhorn_batch_free(s->batch);
    rs_cooccur_free(&s->cost);
    free(s);
}

static uint32_t longest_row(const rs_csr *m)
{
    uint64_t longest = 0;
    for (uint32_t u = 0; u < m->n_rows; u++)
        if (m->indptr[u + 1] - m->indptr[u] > longest) longest = m->indptr[u + 1] - m->indptr[u];
    return (uint32_t)longest;
}

/* The cost from the training matrix and workspaces for its longest row. */
static sinkhorn_loss *loss_create(const sinkhorn_family_options *o, const rs_csr *train,
                                  rs_error *err)
{
    sinkhorn_loss *s = rs_calloc(1, sizeof(*s), err);
    if (!s) return NULL;
    s->options = o->loss;
    if (rs_cooccur_build(train, &o->cost, &s->cost, err) != 0 ||
        !(s->batch = rs_sinkhorn_batch_create(&o->loss, train->n_cols, longest_row(train),
                                              o->vae.batch_size, err))) {
        loss_free(s);
        return NULL;
    }
    fprintf(stderr, "sinkhorn: item-item cost of %u items (%u neighbours, shrink %g) in %.1f s\n",
            s->cost.n_items, s->cost.neighbours, s->cost.shrink, s->cost.build_seconds);
    return s;
}

static int sinkhorn_create(const void *options, const rs_family_inputs *in, rs_train_model *out,
                           rs_error *err)
{
    const sinkhorn_family_options *o = options;
    if (!in->train || in->train->n_cols != in->n_items)
        return rs_fail(err, "sinkhorn: the cost needs the training matrix of the %u items",
                       in->n_items);
    sinkhorn_loss *s = loss_create(o, in->train, err);
    if (!s) return -1;
    rs_vae_loss loss = {"sinkhorn",     s,        loss_compute, loss_begin_epoch, loss_options_json,
                        loss_footprint, loss_free};
    rs_vae_options vae = o->vae;
    vae.seed = in->seed;
    return rs_vae_create_with_loss(&vae, in->n_items, &loss, out, err);
}

static const rs_option sinkhorn_option_table[] = {
    RS_OPT_VAE,
    RS_OPT_INT_("sinkhorn-k", RS_OPT_U32, sinkhorn_family_options, loss.k, "K", 1, 100000,
                "the transport's target: the model's top K items", NULL),
    RS_OPT_INT_("sinkhorn-iters", RS_OPT_INT, sinkhorn_family_options, loss.iterations, "L", 1,
                1000, "Sinkhorn iterations unrolled (gradients flow through all of them)", NULL),
    RS_OPT_REAL_("sinkhorn-eps", RS_OPT_DOUBLE, sinkhorn_family_options, loss.epsilon, "E", 0.01,
                 1e6, "entropic smoothing of the transport", NULL),
    RS_OPT_REAL_("sinkhorn-alpha", RS_OPT_DOUBLE, sinkhorn_family_options, loss.alpha, "A", 0, 0.99,
                 "weight of each unconsumed item in the concentration term", NULL),
    {.name = "sinkhorn-renormalise",
     .type = RS_OPT_FLAG,
     .offset = offsetof(sinkhorn_family_options, loss.renormalise_topk),
     .help = "transport to the top-K probabilities renormalised to mass 1 (the paper: as they "
             "are)",
     .default_text = ""},
    RS_OPT_REAL_("sinkhorn-transport-weight", RS_OPT_DOUBLE, sinkhorn_family_options,
                 loss.transport_weight, "W", 0, 1e9,
                 "weight of the transport term L1 against L2 (the paper: 1)", NULL),
    RS_OPT_REAL_("sinkhorn-shrink", RS_OPT_DOUBLE, sinkhorn_family_options, cost.shrink, "S", 0,
                 1e9, "shrink of the co-occurrence cosine behind the cost C = 1 - S", NULL),
    RS_OPT_INT_("sinkhorn-neighbours", RS_OPT_U32, sinkhorn_family_options, cost.neighbours, "N", 1,
                1000000, "most similar items kept per item (the others cost 1)", NULL),
};

static void sinkhorn_default(void *options)
{
    sinkhorn_family_options *o = options;
    rs_vae_options_default(&o->vae);
    rs_sinkhorn_options_default(&o->loss);
    rs_cooccur_options_default(&o->cost);
}

const rs_family rs_family_sinkhorn = {
    "sinkhorn",
    "SinkhornCF: Mult-VAE trained with the accelerated Sinkhorn loss",
    "SinkhornCF (--model sinkhorn)",
    sizeof(sinkhorn_family_options),
    sinkhorn_default,
    RS_FAMILY_OPTIONS(sinkhorn_option_table),
    sinkhorn_create,
    NULL,
};
