/* TSE-DARTS (the paper's Algorithm 1 as the authors' DARTS-space code runs
 * it, docs/numerics.md s.2.5). Steps come in groups of T; a group is 2 len units:
 * rollout steps (weights trained, alpha gradients summed), one Adam step on
 * the alphas, a restore of weights and BN statistics, then the same batches
 * again to train the weights with the new alphas. No clipping.
 *
 * tse-exact is the same loop with the alpha step taken along the exact
 * gradient of the group's TSE (tse_exact.h): the rollout stores the weight
 * snapshots, and the last rollout unit runs the reverse sweep. With
 * tse_analysis, both gradients are formed and their cosine logged. */
#include <jansson.h>
#include <stdlib.h>

#include "tsedarts/search_internal.h"
#include "tsedarts/tse_exact.h"

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

int search_tse_is_rollout(const search_state *st, int unit) { return position(st, unit).rollout; }

static int step_of_unit(const search_state *st, int unit)
{
    if (unit >= units_per_epoch(st)) return search_steps_per_epoch(st);
    tse_pos p = position(st, unit);
    return p.start + (p.rollout ? p.i / 2 : (p.len + p.i) / 2);
}

/* The reverse sweep's passes, on the group's batches. */
typedef struct sweep_ctx {
    search_state *st;
    int start;
} sweep_ctx;

static td_status sweep_run(void *vctx, tse_pass pass, int t, double *loss)
{
    sweep_ctx *c = vctx;
    static const int kind_of[] = {[TSE_PASS_TRAIN] = K_W, [TSE_PASS_GRAD] = K_WA_NOUPD, [TSE_PASS_HVP] = K_HVP_W};
    int b = search_make_batch(c->st, 0, c->start + t, c->st->epoch);
    return search_run_batch(c->st, kind_of[pass], b, 0, loss);
}

/* Exact (into tmp_a) and first-order (tmp_a2) gradients of the group's
 * TSE; logs their comparison when analysis is on. */
static td_status exact_gradient(search_state *st, tse_pos p, double lr)
{
    double *lrs = malloc((size_t)p.len * sizeof *lrs);
    if (!lrs) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    for (int t = 0; t < p.len; t++) lrs[t] = lr; /* the schedule is per epoch */
    sweep_ctx c = {st, p.start};
    tse_problem prob = {&st->m, p.len, lrs, st->cfg.momentum, st->cfg.weight_decay, sweep_run, &c};
    td_status s = tse_exact_gradient(&prob, st->tse_snaps, st->tmp_w, st->tmp_w2, st->tmp_a, st->tmp_a2);
    free(lrs);
    if (s != TD_OK || !st->cfg.tse_analysis) return s;
    double cosine, ratio, ne, nf;
    TD_CHECK(tse_compare_gradients(&st->m, st->tmp_a, st->tmp_a2, &cosine, &ratio, &ne, &nf));
    st->acc.cos_sum += cosine;
    st->acc.cos_n++;
    json_t *o = json_object();
    json_object_set_new(o, "record", json_string("tse_gradient"));
    json_object_set_new(o, "epoch", json_integer(st->epoch));
    json_object_set_new(o, "first_step", json_integer(p.start));
    json_object_set_new(o, "steps", json_integer(p.len));
    json_object_set_new(o, "cosine", json_real(cosine));
    json_object_set_new(o, "norm_ratio", json_real(ratio));
    json_object_set_new(o, "exact_norm", json_real(ne));
    json_object_set_new(o, "first_order_norm", json_real(nf));
    char *rec = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    s = rec ? chain_log_append(&st->metrics, rec) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
    free(rec);
    return s;
}

static td_status tse_unit(search_state *st, int unit, double lr)
{
    model *m = &st->m;
    const backend *be = m->be;
    size_t es = dtype_size(m->dt), nw = m->n[ROLE_WEIGHT], na = m->n[ROLE_ALPHA], nb = m->n[ROLE_BNSTAT];
    int exact = st->cfg.algo == ALGO_TSE_EXACT, sweep = exact || st->cfg.tse_analysis;
    tse_pos p = position(st, unit);
    int b = search_make_batch(st, 0, p.start + p.i, st->epoch);
    if (!p.rollout) {
        TD_CHECK(search_run_batch(st, K_W, b, RUN_COUNT, NULL));
        return search_weight_step(st, lr, 0);
    }
    if (p.i == 0) {
        TD_CHECK(be->flat_copy(st->w_snap, m->role[ROLE_WEIGHT], nw * es));
        TD_CHECK(be->flat_copy(st->bn_snap, m->role[ROLE_BNSTAT], nb * es));
        if (st->cfg.tse_restore_momentum) TD_CHECK(be->flat_copy(st->mom_snap, st->momentum, nw * es));
        TD_CHECK(be->zero(st->a_acc, na * es));
    }
    if (sweep) TD_CHECK(be->flat_copy((char *)st->tse_snaps + (size_t)p.i * nw * es, m->role[ROLE_WEIGHT], nw * es));
    /* the loss goes to the group's TSE sum where it is computed */
    if (exact) {
        /* the alpha gradients come from the reverse sweep */
        TD_CHECK(search_run_batch(st, K_W, b, RUN_TSE_SUM, NULL));
    } else {
        TD_CHECK(search_run_batch(st, K_WA, b, RUN_TSE_SUM, NULL));
        /* The alpha gradient is summed, not averaged, each term taken at
         * the weights before that step's update. */
        TD_CHECK(be->flat_axpy(st->a_acc, m->role[ROLE_GRAD_ALPHA], na, m->dt, 1.0));
    }
    TD_CHECK(search_weight_step(st, lr, 0));
    if (p.i == p.len - 1) {
        st->acc.tse_groups++;
        if (sweep) TD_CHECK(exact_gradient(st, p, lr));
        TD_CHECK(search_arch_step(st, exact ? st->tmp_a : st->a_acc));
        TD_CHECK(be->flat_copy(m->role[ROLE_WEIGHT], st->w_snap, nw * es));
        TD_CHECK(be->flat_copy(m->role[ROLE_BNSTAT], st->bn_snap, nb * es));
        if (st->cfg.tse_restore_momentum) TD_CHECK(be->flat_copy(st->momentum, st->mom_snap, nw * es));
    }
    return TD_OK;
}

const search_algorithm search_tse = {
    .units_per_epoch = units_per_epoch, .step_of_unit = step_of_unit, .run_unit = tse_unit};
