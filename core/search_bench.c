/* Timing of search steps on synthetic data (`tsedarts bench step`). */
#include <stdlib.h>
#include <string.h>

#include "tsedarts/search_internal.h"

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
    default: return 0;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

td_status search_bench(const search_config *cfg, const backend *be, int warmup, int steps, int keep_activations,
                       search_bench_result *r)
{
    memset(r, 0, sizeof *r);
    search_state *st = calloc(1, sizeof *st);
    st->cfg = *cfg;
    snprintf(st->cfg.dataset, sizeof st->cfg.dataset, "synthetic");
    st->opt.be = be;
    st->opt.quiet = 1;
    td_status s = search_load_data(st);
    /* the synthetic set has 3x32x32 images; keep what the caller asked */
    if (s == TD_OK) s = model_create(&st->m, be, st->cfg.dt, supernet_build_fn, &st->cfg.net);
    st->m.recompute = !keep_activations;
    if (s == TD_OK) s = search_alloc_buffers(st);
    if (s == TD_OK) s = model_init_params(&st->m, st->cfg.seed);
    const search_algorithm *alg = search_algorithm_for(st->cfg.algo);
    if (s == TD_OK && !alg) s = TD_FAIL(TD_ERR_UNSUPPORTED, "algorithm %s cannot be benchmarked", search_algo_name(st->cfg.algo));
    double *times = calloc((size_t)(steps > 0 ? steps : 1), sizeof *times);
    int per_step = s == TD_OK ? alg->units_per_epoch(st) / search_steps_per_epoch(st) : 1;
    if (s == TD_OK) search_epoch_orders(st, 0);
    /* TSE's units of a step are a rollout and a retraining pass; with T = 1
     * they are adjacent, so a timed step is two consecutive units. */
    if (st->cfg.algo == ALGO_TSE) st->cfg.tse_steps = 1;
    int unit = 0;
    for (int k = 0; s == TD_OK && k < warmup + steps; k++) {
        if (k == warmup) exec_profile_reset();
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
        r->arena_mib = (double)st->m.ws.bytes / (1 << 20);
        size_t es = dtype_size(st->cfg.dt);
        r->param_mib = (double)es * (2.0 * st->m.n[ROLE_WEIGHT] + 2.0 * st->m.n[ROLE_ALPHA] + st->m.n[ROLE_BNSTAT]) / (1 << 20);
    }
    free(times);
    search_free_state(st);
    free(st);
    return s;
}
