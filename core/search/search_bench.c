/* Timing of search steps on synthetic data (`tsedarts bench step`) and of
 * one exact against one first-order TSE gradient (`bench tse-gradient`). */
#include <stdlib.h>
#include <string.h>

#include "tsedarts/search_internal.h"
#include "tsedarts/tse_exact.h"

static double graph_gflop(const graph *g, const unsigned char *needed)
{
    double f = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (needed[i]) f += exec_node_gflop(g, &g->nodes[i]);
    return f;
}

int search_bench_uses(search_algo a, int kind)
{
    switch (a) {
    case ALGO_DARTS1: return kind == K_A || kind == K_W;
    case ALGO_DARTS2: return kind == K_A_NOUPD ? 2 : (kind == K_W_NOUPD || kind == K_WA_NOUPD || kind == K_W);
    case ALGO_TSE: return kind == K_WA || kind == K_W;
    case ALGO_TSE_EXACT: return kind == K_W ? 2 : kind == K_HVP_W;
    default: return 0;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A search state on synthetic data (3x32x32 images; the network is the
 * caller's), parameters initialised, epoch 0's orders drawn. */
static td_status bench_state_open(const search_config *cfg, const backend *be, activation_policy activations, search_state **out)
{
    if (search_algo_is_drnas(cfg->algo))
        return TD_FAIL(TD_ERR_UNSUPPORTED, "algorithm %s cannot be benchmarked (its network is not the DARTS supernet)",
                       search_algo_name(cfg->algo));
    search_state *st = calloc(1, sizeof *st);
    if (!st) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    st->cfg = *cfg;
    snprintf(st->cfg.dataset, sizeof st->cfg.dataset, "synthetic");
    st->opt.be = be;
    st->opt.quiet = 1;
    td_status s = search_load_data(st);
    if (s == TD_OK) s = model_create(&st->m, be, st->cfg.dt, supernet_build_fn, &st->cfg.net);
    st->m.activations = activations;
    if (s == TD_OK) s = search_alloc_buffers(st);
    if (s == TD_OK) s = model_init_params(&st->m, st->cfg.seed);
    if (s == TD_OK) search_epoch_orders(st, 0);
    if (s != TD_OK) {
        search_free_state(st);
        free(st);
        return s;
    }
    *out = st;
    return TD_OK;
}

td_status search_bench(const search_config *cfg, const backend *be, int warmup, int steps, activation_policy activations,
                       search_bench_result *r)
{
    memset(r, 0, sizeof *r);
    search_state *st = NULL;
    td_status s = bench_state_open(cfg, be, activations, &st);
    if (s != TD_OK) return s;
    const search_algorithm *alg = search_algorithm_for(st->cfg.algo);
    if (st->cfg.algo == ALGO_TSE_EXACT) alg = NULL; /* a step has no fixed cost: see bench tse-gradient */
    /* a PDARTS step's cost depends on its stage; a stage's step is a darts1
     * or tse step at that stage's size */
    if (search_algo_staged(st->cfg.algo)) alg = NULL;
    if (s == TD_OK && !alg) s = TD_FAIL(TD_ERR_UNSUPPORTED, "algorithm %s cannot be benchmarked", search_algo_name(st->cfg.algo));
    double *times = calloc((size_t)(steps > 0 ? steps : 1), sizeof *times);
    int per_step = s == TD_OK ? alg->units_per_epoch(st) / search_steps_per_epoch(st) : 1;
    /* TSE's units of a step are a rollout and a retraining pass; with T = 1
     * they are adjacent, so a timed step is two consecutive units. */
    if (st->cfg.algo == ALGO_TSE) st->cfg.tse_steps = 1;
    int unit = 0;
    long launches0 = 0;
    for (int k = 0; s == TD_OK && k < warmup + steps; k++) {
        if (k == warmup) {
            exec_profile_reset();
            launches0 = be->launches ? be->launches() : 0;
        }
        double t0 = now_seconds();
        for (int u = 0; s == TD_OK && u < per_step; u++) s = alg->run_unit(st, unit++ % alg->units_per_epoch(st), 0.025);
        if (s == TD_OK) s = be->sync();
        if (k >= warmup) times[k - warmup] = now_seconds() - t0;
    }
    if (s == TD_OK && steps > 0) {
        qsort(times, (size_t)steps, sizeof *times, cmp_double);
        r->median_s = steps % 2 ? times[steps / 2] : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
        r->min_s = times[0];
        r->max_s = times[steps - 1];
        for (int i = 0; i < st->n_execs; i++) {
            net_exec *ne = st->execs[i];
            if (ne->batch == st->cfg.batch && st->exec_kind[i] != K_EVAL)
                r->gflop_per_step += graph_gflop(ne->g, ne->ctx->needed) * search_bench_uses(st->cfg.algo, st->exec_kind[i]);
        }
        /* the backend counts what was recorded, not what replays ran; the
         * executor knows both */
        const exec_profile *p = exec_profile_get();
        if (be->launches)
            r->launches_per_step =
                (double)(be->launches() - launches0 - p->recorded_launches + p->replayed_launches) / steps;
        r->arena_mib = (double)st->m.ws.bytes / (1 << 20);
        for (int k = 0; k < st->n_execs; k++)
            if (st->execs[k]->kind.grad_w || st->execs[k]->kind.grad_a) {
                r->graphs++;
                r->graphs_recomputing += st->execs[k]->recomputes;
            }
        size_t es = dtype_size(st->cfg.dt);
        r->param_mib = (double)es * (2.0 * st->m.n[ROLE_WEIGHT] + 2.0 * st->m.n[ROLE_ALPHA] + st->m.n[ROLE_BNSTAT]) / (1 << 20);
    }
    free(times);
    search_free_state(st);
    free(st);
    return s;
}

/* ------------------------------------------------------------ TSE gradient */

typedef struct bench_sweep {
    search_state *st;
    int kind_train; /* K_W for the exact rollout, K_WA for first order */
} bench_sweep;

static td_status bench_run(void *vctx, tse_pass pass, int t, double *loss)
{
    bench_sweep *c = vctx;
    int kind = pass == TSE_PASS_TRAIN ? c->kind_train : pass == TSE_PASS_GRAD ? K_WA_NOUPD : K_HVP_W;
    int b = search_make_batch(c->st, 0, t % search_steps_per_epoch(c->st), 0);
    return search_run_batch(c->st, kind, b, 0, loss);
}

td_status search_bench_tse_gradient(const search_config *cfg, const backend *be, int T, activation_policy activations,
                                    tse_gradient_bench *r)
{
    memset(r, 0, sizeof *r);
    search_config c0 = *cfg;
    c0.algo = ALGO_TSE; /* the snapshots are allocated here, for T steps */
    search_state *st = NULL;
    td_status s = bench_state_open(&c0, be, activations, &st);
    if (s != TD_OK) return s;
    model *m = &st->m;
    size_t es = dtype_size(st->cfg.dt), nw = m->n[ROLE_WEIGHT], na = m->n[ROLE_ALPHA];
    double *lrs = malloc((size_t)T * sizeof *lrs);
    for (int t = 0; lrs && t < T; t++) lrs[t] = 0.025;
    void *snaps = s == TD_OK ? be->alloc((size_t)T * nw * es) : NULL;
    if (s == TD_OK && (!snaps || !lrs))
        s = TD_FAIL(TD_ERR_MEMORY, "cannot allocate %zu MiB of weight snapshots", ((size_t)T * nw * es) >> 20);
    bench_sweep c = {st, K_WA};
    tse_problem prob = {m, T, lrs, st->cfg.momentum, st->cfg.weight_decay, bench_run, &c};
    /* keep the starting point: both gradients start from the same weights */
    if (s == TD_OK) s = be->flat_copy(st->w_snap, m->role[ROLE_WEIGHT], nw * es);
    if (s == TD_OK) s = be->flat_copy(st->mom_snap, st->momentum, nw * es);
    /* warm-up: build every graph once (planning is not part of the figure) */
    double l;
    if (s == TD_OK) s = bench_run(&c, TSE_PASS_TRAIN, 0, &l);
    if (s == TD_OK) s = bench_run(&c, TSE_PASS_HVP, 0, &l);
    if (s == TD_OK) s = bench_run(&c, TSE_PASS_GRAD, 0, &l);
    c.kind_train = K_W;
    if (s == TD_OK) s = bench_run(&c, TSE_PASS_TRAIN, 0, &l);
    c.kind_train = K_WA;
    if (s == TD_OK) s = be->flat_copy(m->role[ROLE_WEIGHT], st->w_snap, nw * es);
    if (s == TD_OK) s = be->sync();
    exec_profile_reset();
    /* first order: the rollout with alpha gradients summed (tse) */
    double t0 = now_seconds();
    if (s == TD_OK) s = be->zero(st->a_acc, na * es);
    for (int t = 0; s == TD_OK && t < T; t++) {
        s = bench_run(&c, TSE_PASS_TRAIN, t, &l);
        if (s == TD_OK) s = be->flat_axpy(st->a_acc, m->role[ROLE_GRAD_ALPHA], na, m->dt, 1.0);
        if (s == TD_OK) s = be->sgd_step(m->role[ROLE_WEIGHT], m->role[ROLE_GRAD_WEIGHT], st->momentum, nw, m->dt, 0.025,
                                         st->cfg.momentum, st->cfg.weight_decay, 0);
    }
    if (s == TD_OK) s = be->sync();
    r->first_order_s = now_seconds() - t0;
    /* exact: rollout storing snapshots, then the reverse sweep */
    if (s == TD_OK) s = be->flat_copy(m->role[ROLE_WEIGHT], st->w_snap, nw * es);
    if (s == TD_OK) s = be->flat_copy(st->momentum, st->mom_snap, nw * es);
    c.kind_train = K_W;
    t0 = now_seconds();
    if (s == TD_OK) s = tse_rollout(&prob, st->momentum, snaps, NULL);
    if (s == TD_OK) s = be->sync();
    r->exact_rollout_s = now_seconds() - t0;
    if (s == TD_OK) s = tse_exact_gradient(&prob, snaps, st->tmp_w, st->tmp_w2, st->tmp_a, st->tmp_a2);
    if (s == TD_OK) s = be->sync();
    r->exact_s = now_seconds() - t0;
    if (s == TD_OK) s = tse_compare_gradients(m, st->tmp_a, st->a_acc, &r->cosine, &r->norm_ratio, &l, &l);
    r->snapshot_mib = (double)T * nw * es / (1 << 20);
    r->arena_mib = (double)m->ws.bytes / (1 << 20);
    r->param_mib = (double)es * nw / (1 << 20);
    if (snaps) be->release(snaps);
    free(lrs);
    search_free_state(st);
    free(st);
    return s;
}
