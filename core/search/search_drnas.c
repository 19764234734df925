/* DrNAS (docs/numerics.md s.6.3) and TSE-DrNAS (s.8.1) steps. Both run
 * on the DrNAS network in two stages (drnas_stages.c); every forward pass
 * draws its own Dirichlet sample, keyed by a pass counter that the
 * checkpoint holds, so a resumed run draws what the uninterrupted one did.
 *
 * DrNAS, one unit per step, first order: from the stage's warm-up on, an
 * architecture step (Adam, L2 as its weight decay, or the KL regulariser
 * added to the architecture loss) on a batch drawn anew
 * from the architecture half (a fresh permutation every step: sampling
 * with replacement across steps, as next(iter(valid_queue))); then a
 * weight step on the step's train batch, gradient clipped.
 *
 * TSE-DrNAS has two forms (tse_drnas_form):
 * - as-run (default): what the authors' fork computes. Its rollout on a
 *   functional copy yields no alpha gradient (the alphas are not
 *   registered parameters), so the weights train by plain SGD, one step
 *   per batch, no clipping, and in architecture epochs the alphas take one
 *   Adam step per chunk of T batches with the sum of dCE_t/dalpha that the
 *   previous chunk's real training steps left in alpha.grad: one chunk
 *   late, the first update of a stage using the last chunk of the epoch
 *   before, the last chunk's sum never applied. The dead rollout is not
 *   run (it changes nothing but the reference's random stream).
 * - intended: the paper's Algorithm 1 per chunk: roll the weights through
 *   the T batches summing first-order alpha gradients, restore weights, BN
 *   statistics and momentum, one Adam step on the sum, train again on the
 *   same batches (search_tse.c's loop, on this network). */
#include <math.h>
#include <stdlib.h>

#include "tsedarts/buffers.h"
#include "tsedarts/drnas_search.h"
#include "tsedarts/gamma_draws.h"
#include "tsedarts/philox.h"
#include "tsedarts/search_internal.h"

/* ------------------------------------------------------------ per pass */

td_status drnas_before_run(search_state *st, net_exec *ne)
{
    drnas_state *d = st->drnas;
    model *m = &st->m;
    int n_ops = drnas_ops(d->net.with_none), n = DRNAS_ROWS * n_ops;
    drnas_io dio;
    TD_CHECK(drnas_find_inputs(ne->g, &ne->io, d->net.masked, &dio));
    double *alpha = d->host, *beta = d->host + n, *draws = d->host + 2 * n, *mask = d->host + 3 * n;
    TD_CHECK(model_download_f64(m, ROLE_ALPHA, alpha));
    /* beta = ELU(alpha) + 1, as the graph computes it from the same alphas */
    for (int i = 0; i < n; i++) beta[i] = alpha[i] > 0 ? alpha[i] + 1 : exp(alpha[i]);
    if (gamma_draws(st->cfg.seed, (uint64_t)d->passes, beta, (size_t)n, draws))
        return TD_FAIL(TD_ERR_STATE, "DrNAS: no gamma draws for pass %ld", d->passes);
    d->passes++;
    size_t es = dtype_size(m->dt), half = (size_t)DARTS_EDGES * n_ops;
    for (int t = 0; t < 2; t++) {
        const value *v = &ne->g->values[dio.dirichlet_gamma[t]];
        convert_from_f64(draws + t * half, m->dt, d->upload, half);
        TD_CHECK(m->be->upload((char *)ne->io_buf[ROLE_INPUT] + v->offset * es, d->upload, half * es));
    }
    if (!d->net.masked) return TD_OK;
    for (int r = 0; r < DRNAS_ROWS; r++)
        for (int o = 0; o < n_ops; o++) mask[r * n_ops + o] = d->net.keep[r][o];
    for (int t = 0; t < 2; t++) {
        const value *v = &ne->g->values[dio.prune_mask[t]];
        convert_from_f64(mask + t * half, m->dt, d->upload, half);
        TD_CHECK(m->be->upload((char *)ne->io_buf[ROLE_INPUT] + v->offset * es, d->upload, half * es));
    }
    return TD_OK;
}

/* ------------------------------------------------------------ batches */

/* The architecture batch of step t: the first images of a permutation of
 * the architecture half drawn for this step alone. About a third of the
 * draws of an epoch repeat an image drawn earlier in it; each gets its own
 * crop and flip, keyed by (step, slot), as the reference's fresh loader
 * transforms it anew. */
int drnas_arch_batch(search_state *st, int t)
{
    int n = st->n_a, B = st->cfg.batch < st->n_a ? st->cfg.batch : st->n_a;
    uint64_t step = (uint64_t)st->epoch * (uint64_t)search_steps_per_epoch(st) + (uint64_t)t;
    data_permutation(st->cfg.seed, PURPOSE_DRNAS_ARCH_BATCH, step, n, st->order_a);
    st->orders_ready = 0; /* order_a no longer holds the epoch's order */
    for (int i = 0; i < B; i++) st->batch_ids[i] = st->ids_a[st->order_a[i]];
    augment aug = {4, 1, 0};
    search_next_buffers(st);
    data_make_draws(&st->train, st->batch_ids, B, &aug, st->cfg.seed, PURPOSE_DRNAS_ARCH_AUGMENT, step, st->cfg.dt,
                    st->images, st->labels);
    return B;
}

static int arch_epoch(const search_state *st)
{
    return drnas_stage_epoch(&st->cfg, st->epoch) >= st->cfg.drnas_warmup;
}

/* ------------------------------------------------------------ DrNAS */

static int steps(const search_state *st) { return search_steps_per_epoch(st); }
static int same_step(const search_state *st, int unit)
{
    (void)st;
    return unit;
}

/* With the KL regulariser the architecture loss is CE + scale * KL, scale
 * = arch_weight_decay (the reference's one reg_scale), and Adam has no
 * weight decay. */
static td_status kl_arch_step(search_state *st)
{
    model *m = &st->m;
    drnas_state *d = st->drnas;
    int n_ops = drnas_ops(d->net.with_none);
    size_t na = m->n[ROLE_ALPHA];
    double *alpha = d->host, *grad = d->host + na;
    TD_CHECK(model_download_f64(m, ROLE_ALPHA, alpha));
    TD_CHECK(model_download_f64(m, ROLE_GRAD_ALPHA, grad));
    drnas_kl_add_grad(alpha, DRNAS_ROWS, n_ops, st->cfg.arch_weight_decay, grad);
    convert_from_f64(grad, m->dt, d->upload, na);
    TD_CHECK(m->be->upload(st->tmp_a, d->upload, na * dtype_size(m->dt)));
    st->arch_steps++;
    return m->be->adam_step(m->role[ROLE_ALPHA], st->tmp_a, st->adam_m, st->adam_v, na, m->dt, st->cfg.arch_lr,
                            st->cfg.arch_beta1, st->cfg.arch_beta2, st->cfg.arch_eps, 0.0, st->arch_steps);
}

static td_status drnas_unit(search_state *st, int t, double lr)
{
    if (arch_epoch(st)) {
        int b = drnas_arch_batch(st, t);
        TD_CHECK(search_run_batch(st, K_A, b, 0, NULL));
        if (st->cfg.drnas_reg == DRNAS_REG_KL)
            TD_CHECK(kl_arch_step(st));
        else
            TD_CHECK(search_arch_step(st, st->m.role[ROLE_GRAD_ALPHA]));
    }
    int b = search_make_batch(st, 0, t, st->epoch);
    TD_CHECK(search_run_batch(st, K_W, b, RUN_COUNT, NULL));
    return search_weight_step(st, lr, 1);
}

const search_algorithm search_drnas = {
    .units_per_epoch = steps, .step_of_unit = same_step, .run_unit = drnas_unit, .stages = &drnas_stage_hooks};

/* ------------------------------------------------------------ TSE-DrNAS */

static td_status tse_as_run_unit(search_state *st, int t, double lr)
{
    model *m = &st->m;
    const backend *be = m->be;
    size_t na = m->n[ROLE_ALPHA];
    if (t % st->cfg.tse_steps == 0) {
        /* alpha.grad is None before the first real step: Adam skips it */
        if (arch_epoch(st) && st->weight_steps > 0) TD_CHECK(search_arch_step(st, st->a_acc));
        TD_CHECK(be->zero(st->a_acc, na * dtype_size(m->dt)));
    }
    int b = search_make_batch(st, 0, t, st->epoch);
    TD_CHECK(search_run_batch(st, K_WA, b, RUN_COUNT | RUN_TSE_SUM, NULL));
    TD_CHECK(be->flat_axpy(st->a_acc, m->role[ROLE_GRAD_ALPHA], na, m->dt, 1.0));
    return search_weight_step(st, lr, 0);
}

static int intended(const search_state *st) { return st->cfg.tse_drnas_form == DRNAS_INTENDED; }

static int tse_units(const search_state *st)
{
    return intended(st) ? search_tse.units_per_epoch(st) : search_steps_per_epoch(st);
}

static int tse_step_of_unit(const search_state *st, int unit)
{
    return intended(st) ? search_tse.step_of_unit(st, unit) : unit;
}

static td_status tse_drnas_unit(search_state *st, int unit, double lr)
{
    if (!intended(st)) return tse_as_run_unit(st, unit, lr);
    if (arch_epoch(st)) return search_tse.run_unit(st, unit, lr);
    /* warm-up: the first S units train the weights, the others idle, so
     * every epoch has the same units */
    if (unit >= search_steps_per_epoch(st)) return TD_OK;
    int b = search_make_batch(st, 0, unit, st->epoch);
    TD_CHECK(search_run_batch(st, K_W, b, RUN_COUNT, NULL));
    return search_weight_step(st, lr, 0);
}

const search_algorithm search_tse_drnas = {.units_per_epoch = tse_units,
                                           .step_of_unit = tse_step_of_unit,
                                           .run_unit = tse_drnas_unit,
                                           .stages = &drnas_stage_hooks};
