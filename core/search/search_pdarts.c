/* PDARTS and TSE-PDARTS (docs/numerics.md s.7, s.8.2): three stages,
 * each a freshly built supernet with fresh weights, alphas and optimisers;
 * ops dropped between stages by pdarts_rules.c. Within a stage:
 *   pdarts: one unit is one step, an architecture step (after the warm-up,
 *     alpha gradient clipped) on a validation batch, then a weight step on
 *     a train batch (clipped), skip dropout in both passes;
 *   tse-pdarts: the TSE-DARTS loop of search_tse.c unchanged (rollout of T
 *     steps summing dCE/dalpha, Adam step, weights and BN statistics
 *     restored but not the momentum, retraining on the same batches).
 * The authors' fork runs TSE-PDARTS exactly as Algorithm 1 up to the
 * momentum (tse_restore_momentum gives the fully restored form) and with
 * batch 64, arch lr 3e-4, no warm-up, no clipping, no skip dropout, where
 * the paper says PDARTS' settings were reused: --batch 96 --arch-lr 6e-4
 * --warmup-epochs 10 --skip-dropout2 0.4 --skip-dropout3 0.7 give that
 * intended form (stage 1 at PDARTS' published 0; no clipping, as the
 * fork's TSE loop has none). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/checkpoint.h"
#include "tsedarts/philox.h"
#include "tsedarts/search_internal.h"

/* ------------------------------------------------------------ schedules */

int search_stage_epoch(const search_state *st)
{
    return search_algo_staged(st->cfg.algo) ? st->epoch % st->cfg.epochs : st->epoch;
}

double search_epoch_lr(const search_state *st)
{
    if (!search_algo_staged(st->cfg.algo)) return cosine_lr(st->cfg.lr_max, st->cfg.lr_min, st->epoch, st->cfg.epochs);
    return pdarts_lr(st->cfg.lr_max, st->cfg.lr_min, search_stage_epoch(st), st->cfg.epochs, st->cfg.pdarts_lr_form);
}

double search_epoch_skip_p(const search_state *st)
{
    if (!search_algo_staged(st->cfg.algo)) return 0;
    return pdarts_skip_dropout_p(st->cfg.skip_dropout[st->stage], search_stage_epoch(st), st->cfg.epochs,
                                 st->cfg.warmup_epochs);
}

/* ------------------------------------------------------------ stages */

void search_stage_net(search_state *st, int s)
{
    supernet_stage *net = &st->stage_nets[s];
    net->cfg = st->cfg.net;
    net->cfg.layers = st->cfg.net.layers + s * st->cfg.pdarts_add_layers;
    net->edges.skip_dropout = st->cfg.skip_dropout[s] > 0;
    st->net = *net;
    st->stage = s;
}

td_status search_peek_stage(search_state *st)
{
    ckpt_file f;
    TD_CHECK(checkpoint_read(st->ckpt_path, &f));
    json_error_t err;
    json_t *o = json_loads(f.meta_json, 0, &err);
    checkpoint_free(&f);
    json_t *ops = o ? json_object_get(o, "stage_ops") : NULL;
    json_t *stage = o ? json_object_get(o, "stage") : NULL;
    td_status s = TD_OK;
    int n = json_is_integer(stage) ? (int)json_integer_value(stage) : -1;
    if (n < 0 || n >= PDARTS_STAGES || !json_is_array(ops) || (int)json_array_size(ops) != n + 1)
        s = TD_FAIL(TD_ERR_FORMAT, "%s: no PDARTS stage and op lists in the checkpoint", st->ckpt_path);
    for (int k = 0; s == TD_OK && k <= n; k++) {
        s = pdarts_edges_parse(json_array_get(ops, (size_t)k), &st->stage_nets[k].edges);
        if (s == TD_OK) search_stage_net(st, k);
    }
    json_decref(o);
    return s;
}

/* The stage's record in the log: what each edge kept and what it lost. */
static td_status log_stage_end(search_state *st, const supernet_stage *next)
{
    json_t *o = json_object();
    json_object_set_new(o, "record", json_string("pdarts_stage"));
    json_object_set_new(o, "stage", json_integer(st->stage + 1));
    search_arch arch;
    td_status s = search_arch_describe(st, &arch);
    if (s == TD_OK) json_object_set_new(o, "genotype", json_string(arch.text));
    static const char *const types[2] = {"dropped_normal", "dropped_reduce"};
    for (int t = 0; t < 2; t++) {
        json_t *rows = json_array();
        for (int e = 0; e < DARTS_EDGES; e++) {
            json_t *row = json_array();
            for (int k = 0; k < st->net.edges.n_ops; k++) {
                int op = st->net.edges.ops[t][e][k], kept = 0;
                for (int j = 0; j < next->edges.n_ops; j++) kept |= next->edges.ops[t][e][j] == op;
                if (!kept) json_array_append_new(row, json_string(darts_op_name(op)));
            }
            json_array_append_new(rows, row);
        }
        json_object_set_new(o, types[t], rows);
    }
    json_object_set_new(o, "next", pdarts_stage_json(next->cfg.layers, &next->edges));
    char *rec = s == TD_OK ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (s == TD_OK) s = rec ? chain_log_append(&st->metrics, rec) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
    free(rec);
    return s;
}

td_status search_next_stage(search_state *st)
{
    /* 8 -> 5 -> 3 ops per edge (s.7.3: drop 3, then 2) */
    static const int n_drop[PDARTS_STAGES - 1] = {3, 2};
    if (st->stage >= PDARTS_STAGES - 1) return TD_FAIL(TD_ERR_STATE, "pdarts: no stage after stage %d", st->stage + 1);
    size_t na = st->m.n[ROLE_ALPHA];
    double *alphas = malloc((na + 1) * sizeof *alphas);
    if (!alphas) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    supernet_stage next = st->net;
    td_status s = model_download_f64(&st->m, ROLE_ALPHA, alphas);
    if (s == TD_OK) s = pdarts_drop_ops(&st->net.edges, alphas, n_drop[st->stage], &next.edges);
    next.cfg.layers += st->cfg.pdarts_add_layers;
    free(alphas);
    if (s == TD_OK) s = log_stage_end(st, &next);
    if (s != TD_OK) return s;
    search_free_model(st);
    st->stage_nets[st->stage + 1] = next;
    search_stage_net(st, st->stage + 1);
    /* fresh optimisers: Adam's step count restarts with its moments */
    st->arch_steps = 0;
    st->weight_steps = 0;
    TD_CHECK(search_build_model(st));
    return model_init_params(&st->m, st->cfg.seed ^ ((uint64_t)st->stage << 32));
}

/* ------------------------------------------------------------ masks */

typedef struct mask_site {
    int cell, edge;
    size_t at, numel; /* elements into the masks */
} mask_site;

td_status search_skip_masks(search_state *st, const net_exec *ne, const void **mask)
{
    *mask = NULL;
    if (ne->io.skip_mask < 0) return TD_OK;
    size_t es = dtype_size(st->m.dt), bytes = ne->io.skip_mask_numel * es;
    if (bytes > st->skip_host_bytes) {
        void *p = realloc(st->skip_host, bytes);
        if (!p) return TD_FAIL(TD_ERR_MEMORY, "out of memory for the skip-dropout masks");
        st->skip_host = p;
        st->skip_host_bytes = bytes;
    }
    const supernet_config *net = &st->net.cfg;
    const supernet_edge_ops *edges = &st->net.edges;
    const graph *g = ne->g;
    double p = st->skip_p, keep = 1.0 - p, scale = 1.0 / keep;
    uint64_t pass = (uint64_t)st->skip_passes++;
    /* the mask inputs in the order the builder made them (cells, then
     * edges), each shaped as its skip's input */
    mask_site *sites = malloc(((size_t)net->layers * DARTS_EDGES + 1) * sizeof *sites);
    if (!sites) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    size_t at = 0;
    int n = 0, v = ne->io.skip_mask;
    for (int i = 0; i < net->layers; i++)
        for (int e = 0; e < DARTS_EDGES; e++) {
            if (!supernet_skip_dropout_at(net, edges, i, e)) continue;
            while (v < g->n_values && g->values[v].role != ROLE_INPUT) v++;
            if (v >= g->n_values || g->values[v].offset != g->values[ne->io.skip_mask].offset + at) {
                free(sites);
                return TD_FAIL(TD_ERR_STATE, "skip dropout: cell %d edge %d has no mask input where expected", i, e);
            }
            sites[n] = (mask_site){i, e, at, shape_numel(g->values[v++].shape)};
            at += sites[n++].numel;
        }
    /* each site its own stream, into its own part of the buffer: the same
     * bits for any thread count */
#pragma omp parallel for schedule(dynamic)
    for (int k = 0; k < n; k++) {
        philox_stream r;
        /* index: pass (48 bits), cell (12), edge (4); element = word */
        philox_stream_init(&r, st->cfg.seed, PURPOSE_SKIPDROP,
                           pass << 16 | (uint64_t)sites[k].cell << 4 | (uint64_t)sites[k].edge);
        for (size_t j = 0; j < sites[k].numel; j++) {
            double x = philox_next_uniform_f32(&r) < keep ? scale : 0.0;
            if (st->m.dt == DT_F64) ((double *)st->skip_host)[sites[k].at + j] = x;
            else ((float *)st->skip_host)[sites[k].at + j] = (float)x;
        }
    }
    free(sites);
    if (at != ne->io.skip_mask_numel)
        return TD_FAIL(TD_ERR_STATE, "skip dropout: the graph has %zu mask elements, the search made %zu",
                       ne->io.skip_mask_numel, at);
    *mask = st->skip_host;
    return TD_OK;
}

/* ------------------------------------------------------------ units */

static int steps_per_epoch(const search_state *st) { return search_steps_per_epoch(st); }
static int step_is_unit(const search_state *st, int unit)
{
    (void)st;
    return unit;
}

static td_status clip_alpha_grad(search_state *st)
{
    model *m = &st->m;
    /* torch.nn.utils.clip_grad_norm_'s coefficient */
    return device_step_clip(&st->dstep, m->role[ROLE_GRAD_ALPHA], m->n[ROLE_ALPHA], m->dt, st->cfg.arch_grad_clip);
}

static td_status pdarts_unit(search_state *st, int t, double lr)
{
    if (search_stage_epoch(st) >= st->cfg.warmup_epochs) {
        int b = search_make_batch(st, 1, t, st->epoch);
        TD_CHECK(search_run_batch(st, K_A, b, 0, NULL));
        if (st->cfg.arch_grad_clip > 0) TD_CHECK(clip_alpha_grad(st));
        TD_CHECK(search_arch_step(st, st->m.role[ROLE_GRAD_ALPHA]));
    }
    int b = search_make_batch(st, 0, t, st->epoch);
    TD_CHECK(search_run_batch(st, K_W, b, RUN_COUNT, NULL));
    return search_weight_step(st, lr, 1);
}

/* In a warm-up epoch (none as the authors ran it) the rollout units do
 * nothing and the retraining units train the weights once per batch. */
static td_status tse_pdarts_unit(search_state *st, int unit, double lr)
{
    if (search_stage_epoch(st) < st->cfg.warmup_epochs && search_tse_is_rollout(st, unit)) return TD_OK;
    return search_tse.run_unit(st, unit, lr);
}

static int tse_units(const search_state *st) { return search_tse.units_per_epoch(st); }
static int tse_step_of_unit(const search_state *st, int unit) { return search_tse.step_of_unit(st, unit); }

const search_algorithm search_pdarts = {
    .units_per_epoch = steps_per_epoch, .step_of_unit = step_is_unit, .run_unit = pdarts_unit};
const search_algorithm search_tse_pdarts = {
    .units_per_epoch = tse_units, .step_of_unit = tse_step_of_unit, .run_unit = tse_pdarts_unit};
