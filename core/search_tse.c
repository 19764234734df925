/* TSE-DARTS (the paper's Algorithm 1 as the authors' DARTS-space code runs
 * it, SPEC.md s.2). Steps come in groups of T; a group is 2 len units:
 * rollout steps (weights trained, alpha gradients summed), one Adam step on
 * the alphas, a restore of weights and BN statistics, then the same batches
 * again to train the weights with the new alphas. No clipping. */
#include "tsedarts/search_internal.h"

typedef struct tse_pos {
    int start, len; /* the group's first step and size */
    int rollout;    /* 1: rollout phase, 0: retraining phase */
    int i;          /* step within the group */
} tse_pos;

static tse_pos position(const search_state *st, int unit)
{
    int T = st->cfg.tse_steps, S = search_steps_per_epoch(st);
    int g = unit / (2 * T); /* every earlier group is full */
    tse_pos p;
    p.start = g * T;
    p.len = S - p.start < T ? S - p.start : T;
    int off = unit - 2 * g * T;
    p.rollout = off < p.len;
    p.i = p.rollout ? off : off - p.len;
    return p;
}

static int units_per_epoch(const search_state *st) { return 2 * search_steps_per_epoch(st); }

static int step_of_unit(const search_state *st, int unit)
{
    if (unit >= units_per_epoch(st)) return search_steps_per_epoch(st);
    tse_pos p = position(st, unit);
    return p.start + (p.rollout ? p.i / 2 : (p.len + p.i) / 2);
}

static td_status tse_unit(search_state *st, int unit, double lr)
{
    model *m = &st->m;
    const backend *be = m->be;
    size_t es = dtype_size(m->dt), nw = m->n[ROLE_WEIGHT], na = m->n[ROLE_ALPHA], nb = m->n[ROLE_BNSTAT];
    tse_pos p = position(st, unit);
    int b = search_make_batch(st, 0, p.start + p.i, st->epoch);
    if (!p.rollout) {
        TD_CHECK(search_run_batch(st, K_W, b, 1, NULL));
        return search_weight_step(st, lr, 0);
    }
    if (p.i == 0) {
        TD_CHECK(be->flat_copy(st->w_snap, m->role[ROLE_WEIGHT], nw * es));
        TD_CHECK(be->flat_copy(st->bn_snap, m->role[ROLE_BNSTAT], nb * es));
        if (st->cfg.tse_restore_momentum) TD_CHECK(be->flat_copy(st->mom_snap, st->momentum, nw * es));
        TD_CHECK(be->zero(st->a_acc, na * es));
    }
    double loss;
    TD_CHECK(search_run_batch(st, K_WA, b, 0, &loss));
    st->acc.tse_sum += loss;
    /* The alpha gradient is summed, not averaged, each term taken at the
     * weights before that step's update. */
    TD_CHECK(be->flat_axpy(st->a_acc, m->role[ROLE_GRAD_ALPHA], na, m->dt, 1.0));
    TD_CHECK(search_weight_step(st, lr, 0));
    if (p.i == p.len - 1) {
        st->acc.tse_groups++;
        TD_CHECK(search_arch_step(st, st->a_acc));
        TD_CHECK(be->flat_copy(m->role[ROLE_WEIGHT], st->w_snap, nw * es));
        TD_CHECK(be->flat_copy(m->role[ROLE_BNSTAT], st->bn_snap, nb * es));
        if (st->cfg.tse_restore_momentum) TD_CHECK(be->flat_copy(st->momentum, st->mom_snap, nw * es));
    }
    return TD_OK;
}

const search_algorithm search_tse = {units_per_epoch, step_of_unit, tse_unit};
