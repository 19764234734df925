/* DARTS first and second order (docs/numerics.md s.2.3-2.4): one unit is one step, an
 * architecture step on a validation batch, then a weight step on a train
 * batch with gradient clipping. */
#include "tsedarts/search_internal.h"

static int units_per_epoch(const search_state *st) { return search_steps_per_epoch(st); }
static int step_of_unit(const search_state *st, int unit)
{
    (void)st;
    return unit;
}

/* The weight half of step t: forward/backward with BN statistics updated,
 * clipping, SGD. Its loss and accuracy are the epoch's training figures. */
static td_status weight_half(search_state *st, int t, double lr)
{
    int b = search_make_batch(st, 0, t, st->epoch);
    TD_CHECK(search_run_batch(st, K_W, b, RUN_COUNT, NULL));
    return search_weight_step(st, lr, 1);
}

static td_status darts1_unit(search_state *st, int t, double lr)
{
    int b = search_make_batch(st, 1, t, st->epoch);
    TD_CHECK(search_run_batch(st, K_A, b, 0, NULL));
    TD_CHECK(search_arch_step(st, st->m.role[ROLE_GRAD_ALPHA]));
    return weight_half(st, t, lr);
}

/* Unrolled DARTS with the finite-difference Hessian-vector product. */
static td_status darts2_unit(search_state *st, int t, double lr)
{
    model *m = &st->m;
    const backend *be = m->be;
    dtype dt = m->dt;
    size_t nw = m->n[ROLE_WEIGHT], na = m->n[ROLE_ALPHA], es = dtype_size(dt);
    void *w = m->role[ROLE_WEIGHT], *gw = m->role[ROLE_GRAD_WEIGHT], *ga = m->role[ROLE_GRAD_ALPHA];
    void *w_saved = st->tmp_w, *v = st->tmp_w2, *dalpha = st->tmp_a, *gplus = st->tmp_a2;
    double xi = lr;
    /* 1. virtual step w' = w - xi (mom buf + g_train(w) + wd w), no clipping */
    int bt = search_make_batch(st, 0, t, st->epoch);
    TD_CHECK(search_run_batch(st, K_W_NOUPD, bt, 0, NULL));
    TD_CHECK(be->flat_copy(w_saved, w, nw * es));
    TD_CHECK(be->flat_axpy(gw, w, nw, dt, st->cfg.weight_decay));
    TD_CHECK(be->flat_axpy(gw, st->momentum, nw, dt, st->cfg.momentum));
    TD_CHECK(be->flat_axpy(w, gw, nw, dt, -xi));
    /* 2. at w': dalpha = dL_val/dalpha, v = dL_val/dw' */
    int bv = search_make_batch(st, 1, t, st->epoch);
    TD_CHECK(search_run_batch(st, K_WA_NOUPD, bv, 0, NULL));
    TD_CHECK(be->flat_copy(dalpha, ga, na * es));
    TD_CHECK(be->flat_copy(v, gw, nw * es));
    /* 3. finite-difference Hessian-vector product at w, R = 0.01 / ||v||,
     * kept where the backend computes (device_step.h): R, -R, -xi / (2 R)
     * and xi / (2 R) are formed there from it */
    device_step *ds = &st->dstep;
    TD_CHECK(device_step_inverse_norm(ds, v, nw, dt, 0.01));
    bt = search_make_batch(st, 0, t, st->epoch);
    TD_CHECK(be->flat_copy(w, w_saved, nw * es));
    TD_CHECK(device_step_axpy(ds, w, v, nw, dt, 1, 0));
    TD_CHECK(search_run_batch(st, K_A_NOUPD, bt, 0, NULL));
    TD_CHECK(be->flat_copy(gplus, ga, na * es));
    TD_CHECK(be->flat_copy(w, w_saved, nw * es));
    TD_CHECK(device_step_axpy(ds, w, v, nw, dt, -1, 0));
    TD_CHECK(search_run_batch(st, K_A_NOUPD, bt, 0, NULL));
    TD_CHECK(be->flat_copy(w, w_saved, nw * es));
    /* 4. dalpha - xi (g+ - g-) / 2R */
    TD_CHECK(device_step_axpy(ds, dalpha, gplus, na, dt, -xi, 2));
    TD_CHECK(device_step_axpy(ds, dalpha, ga, na, dt, xi, 2));
    TD_CHECK(search_arch_step(st, dalpha));
    /* 5. the weight step, as in first order */
    return weight_half(st, t, lr);
}

const search_algorithm search_darts1 = {
    .units_per_epoch = units_per_epoch, .step_of_unit = step_of_unit, .run_unit = darts1_unit};
const search_algorithm search_darts2 = {
    .units_per_epoch = units_per_epoch, .step_of_unit = step_of_unit, .run_unit = darts2_unit};
