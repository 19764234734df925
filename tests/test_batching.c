/* Horizontal batching (engine/schedule.c, backend.h run_batched): nodes
 * of one op and shape that do not depend on each other run as one call,
 * and each gives the bits it gives alone. Checked for every op of the
 * registry (three copies of each case in one graph, batched against run
 * one by one), for the fused groups and a whole supernet, for whole
 * searches, and for the schedule's own promises: every value written
 * before it is read, no two live values in the same memory. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "op_copies.h"
#include "quiet_runs.h"
#include "sandbox.h"
#include "tsedarts/autodiff.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/buffers.h"
#include "tsedarts/fileio.h"
#include "tsedarts/layers.h"
#include "tsedarts/op_registry.h"
#include "tsedarts/params.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"
#include "tsedarts/supernet.h"

static void every_case(int wide, dtype dt)
{
    int n = wide ? op_wide_case_count() : op_case_count(), batched_cases = 0;
    cr_assert_gt(n, 0);
    for (int i = 0; i < n; i++) {
        const op_case *c = wide ? op_wide_case_at(i) : op_case_at(i);
        double *host[ROLE_COUNT], *alone[ROLE_COUNT], *together[ROLE_COUNT];
        graph *g = copies_of(c, host);
        int steps_alone, steps_together;
        run_graph(g, host, backend_cpu(), dt, 0, alone, &steps_alone);
        run_graph(g, host, backend_cpu(), dt, 1, together, &steps_together);
        char why[256];
        cr_expect(same_roles(g, together, alone, why, sizeof why), "%s %s: %s", c->label, dtype_name(dt), why);
        /* the copies' nodes of the case's op went as one call */
        cr_expect_lt(steps_together, steps_alone, "%s: nothing was batched (%d calls either way)", c->label,
                     steps_alone);
        batched_cases += steps_together < steps_alone;
        free_roles(alone);
        free_roles(together);
        op_case_host_free(host);
        graph_destroy(g);
    }
    fprintf(stderr, "%s cases, %s: %d of %d ran batched, each member's bits its own\n", wide ? "wide" : "small",
            dtype_name(dt), batched_cases, n);
}

Test(batching, every_op_case_batched_gives_the_bits_of_its_members_alone)
{
    every_case(0, DT_F32);
    every_case(0, DT_F64);
}

/* The wide cases' members split their own work, so the CPU leaves them
 * unbatched in graph order by default (the next test); TSEDARTS_BATCH=all
 * batches them, as a GPU does. */
Test(batching, every_wide_case_batched_gives_the_bits_of_its_members_alone)
{
    cr_assert_eq(setenv("TSEDARTS_BATCH", "all", 1), 0);
    every_case(1, DT_F32);
    unsetenv("TSEDARTS_BATCH");
}

/* By default the CPU batches only units too small to split their own
 * work (backend.h batch_member_max): each wide case's copies, larger than
 * that, run one call each in graph order, so every tensor is read again
 * while it is still in cache; a small case is scheduled exactly as with
 * no limit (TSEDARTS_BATCH=all). */
static exec_schedule schedule_copy(const exec_schedule *sc)
{
    exec_schedule c = *sc;
    c.unit = malloc((size_t)sc->n_units * sizeof *c.unit);
    c.step_first = malloc((size_t)(sc->n_steps + 1) * sizeof *c.step_first);
    cr_assert(c.unit && c.step_first);
    memcpy(c.unit, sc->unit, (size_t)sc->n_units * sizeof *c.unit);
    memcpy(c.step_first, sc->step_first, (size_t)(sc->n_steps + 1) * sizeof *c.step_first);
    return c;
}

static exec_schedule schedule_of(const graph *g, const char *batch)
{
    if (batch) cr_assert_eq(setenv("TSEDARTS_BATCH", batch, 1), 0);
    else cr_assert_eq(unsetenv("TSEDARTS_BATCH"), 0);
    exec_ctx *ctx;
    cr_assert_eq(exec_create(g, backend_cpu(), DT_F32, &ctx), TD_OK, "%s", td_error_message());
    exec_schedule c = schedule_copy(&ctx->sched);
    exec_destroy(ctx);
    unsetenv("TSEDARTS_BATCH");
    return c;
}

/* Checks case c's schedule: each copy of c is one node, so all its units
 * are as large as its largest value. Returns 1 when the copies were large
 * (and ran alone, in graph order), 0 when small (and were scheduled as with
 * no limit); *batched says whether any two units went as one call. */
static int check_order(const op_case *c, size_t largest_batched, int *batched)
{
    double *host[ROLE_COUNT];
    graph *g = copies_of(c, host);
    size_t size = 0;
    for (int v = 0; v < g->n_values; v++)
        if (shape_numel(g->values[v].shape) > size) size = shape_numel(g->values[v].shape);
    exec_schedule dflt = schedule_of(g, NULL), all = schedule_of(g, "all");
    int large = size > largest_batched;
    if (large) {
        cr_expect_eq(dflt.n_steps, dflt.n_units, "%s: a unit too large to batch was batched", c->label);
        for (int k = 1; k < dflt.n_units; k++)
            cr_expect_lt(dflt.unit[k - 1], dflt.unit[k], "%s: a unit too large to batch left graph order", c->label);
    } else {
        cr_expect(dflt.n_steps == all.n_steps && dflt.n_units == all.n_units &&
                      !memcmp(dflt.unit, all.unit, (size_t)dflt.n_units * sizeof *dflt.unit) &&
                      !memcmp(dflt.step_first, all.step_first, (size_t)(dflt.n_steps + 1) * sizeof *dflt.step_first),
                  "%s: the limit changed a small case's schedule", c->label);
    }
    *batched = dflt.n_steps < dflt.n_units;
    free(dflt.unit);
    free(dflt.step_first);
    free(all.unit);
    free(all.step_first);
    op_case_host_free(host);
    graph_destroy(g);
    return large;
}

Test(batching, units_too_large_to_batch_keep_graph_order_on_the_cpu)
{
    size_t largest = backend_cpu()->batch_member_max();
    int large = 0, small = 0, small_batched = 0, b;
    for (int wide = 0; wide < 2; wide++)
        for (int i = 0; i < (wide ? op_wide_case_count() : op_case_count()); i++) {
            if (check_order(wide ? op_wide_case_at(i) : op_case_at(i), largest, &b)) {
                large++;
            } else {
                small++;
                small_batched += b;
            }
        }
    /* both sides of the limit were seen, and small cases do still batch */
    cr_expect_gt(large, 10, "only %d cases above the limit", large);
    cr_expect_gt(small_batched, small / 2, "only %d of %d small cases batched", small_batched, small);
    fprintf(stderr, "graph order: %d cases above %zu elements one call per copy in graph order; %d of %d below it "
                    "batched as with no limit\n",
            large, largest, small_batched, small);
}

/* A small supernet's training graph: batch norms' fused groups and
 * chains, mixed ops, the gradients of weights and alphas, cells recomputed
 * in the backward pass. */
static graph *small_training_graph(void)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    b.recompute = 1;
    supernet_config cfg = {4, 5, 1, 8, 10, 0};
    net_io io;
    cr_assert_eq(supernet_build(&b, &cfg, 4, &io), TD_OK);
    layer_free(&b);
    graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.loss, 1, 1), TD_OK, "%s", td_error_message());
    return g;
}

/* A supernet's training graph (batch norms' fused groups, mixed ops,
 * their gradients, recomputed cells): batched against plain, every role
 * bit for bit, and the batched run takes far fewer calls. */
Test(batching, a_supernet_step_batched_is_bit_identical_and_takes_fewer_calls)
{
    graph *g = small_training_graph();
    double *host[ROLE_COUNT];
    for (int r = 0; r < ROLE_COUNT; r++) host[r] = calloc(g->role_size[r] + 1, sizeof(double));
    params_init(g, 3, DT_F64, host[ROLE_WEIGHT], host[ROLE_ALPHA], host[ROLE_BNSTAT]);
    philox_stream s;
    philox_stream_init(&s, 3, PURPOSE_TEST, 1);
    for (size_t i = 0; i < g->role_size[ROLE_INPUT]; i++) host[ROLE_INPUT][i] = 2 * philox_next_uniform_f64(&s) - 1;
    for (size_t i = 0; i < g->role_size[ROLE_LABEL]; i++) host[ROLE_LABEL][i] = (double)(i % 10);
    double *alone[ROLE_COUNT], *together[ROLE_COUNT];
    int steps_alone, steps_together;
    /* the plain executor fuses nothing: against it, the batched one both
     * fuses and batches; setting TSEDARTS_BATCH=0 isolates the fusion */
    run_graph(g, host, backend_cpu(), DT_F32, 0, alone, &steps_alone);
    run_graph(g, host, backend_cpu(), DT_F32, 1, together, &steps_together);
    char why[256];
    cr_expect(same_roles(g, together, alone, why, sizeof why), "%s", why);
    double *unbatched[ROLE_COUNT];
    int steps_unbatched;
    cr_assert_eq(setenv("TSEDARTS_BATCH", "0", 1), 0);
    run_graph(g, host, backend_cpu(), DT_F32, 1, unbatched, &steps_unbatched);
    unsetenv("TSEDARTS_BATCH");
    cr_expect(same_roles(g, together, unbatched, why, sizeof why), "%s", why);
    fprintf(stderr, "supernet step: %d calls plain, %d fused, %d fused and batched\n", steps_alone, steps_unbatched,
            steps_together);
    cr_expect_lt(steps_together * 3, steps_unbatched, "batching saved too few calls");
    free_roles(alone);
    free_roles(together);
    free_roles(unbatched);
    for (int r = 0; r < ROLE_COUNT; r++) free(host[r]);
    graph_destroy(g);
}

/* Normed values (fusion_plan.h) on that graph: every batch-normalised
 * term of a mixed op that only kernels able to read it normed read (the
 * final batch norm of each candidate op) is never stored, in the first forward and its recomputation alike, and nothing
 * but the kernels that can read it so reads it: the mixed ops' sums, the
 * alphas' gradients, the batch norms' backward statistics and input
 * gradients. None in f64, which the CPU does not read so. The step's
 * bits with them are checked against the plain executor above. */
static int normed_reader(op_kind op)
{
    return op == OP_WEIGHTED_SUM || op == OP_DOTS || op == OP_DOT_AXIS || op == OP_LINCOMB_AXIS || op == OP_RELU ||
           op == OP_RELU_BWD || op == OP_SCALE_AXIS;
}

/* Whether only such kernels read v (a skip_connect's term is the cell's
 * input state, which pools and ReLUs read too: stored). */
static int read_only_by_normed_readers(const graph *g, const exec_ctx *ctx, int v)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const int *in = graph_node_inputs(g, &g->nodes[i]);
        for (int k = 0; ctx->needed[i] && k < g->nodes[i].nin; k++)
            if (in[k] == v && !normed_reader(g->nodes[i].op)) return 0;
    }
    return 1;
}

Test(batching, batch_norms_that_end_candidate_ops_are_never_stored)
{
    graph *g = small_training_graph();
    dtype types[] = {DT_F32, DT_F64};
    for (int t = 0; t < 2; t++) {
        exec_ctx *ctx;
        cr_assert_eq(exec_create(g, backend_cpu(), types[t], &ctx), TD_OK, "%s", td_error_message());
        const fusion_plan *fp = &ctx->fusion;
        int normed = 0, terms = 0, stored_terms = 0;
        for (int p = 0; p < g->n_nodes; p++) {
            if (!fp->normed[p]) continue;
            normed++;
            /* a batch norm's y: the scale_axis after its centring, or with
             * affine terms (the stem's) the affine_axis after its stored
             * centred input */
            const node *nd = &g->nodes[p];
            int from = g->values[graph_node_inputs(g, nd)[0]].producer;
            cr_expect(nd->op == OP_SCALE_AXIS || (nd->op == OP_AFFINE_AXIS && nd->p.axis == AXIS_C && from >= 0 &&
                                                   !fp->recomputing[from] && !fp->normed[from]),
                      "node %d: a normed value made by %s", p, op_name(nd->op));
            for (int i = 0; i < g->n_nodes; i++) {
                const int *in = graph_node_inputs(g, &g->nodes[i]);
                for (int k = 0; ctx->needed[i] && k < g->nodes[i].nin; k++) {
                    if (in[k] != g->nodes[p].out) continue;
                    cr_expect(normed_reader(g->nodes[i].op), "node %d (%s) reads normed value %d", i,
                              op_name(g->nodes[i].op), g->nodes[p].out);
                }
            }
        }
        for (int W = 0; W < g->n_nodes; W++) {
            const node *nd = &g->nodes[W];
            if (!ctx->needed[W] || nd->op != OP_WEIGHTED_SUM || nd->p.wlen <= 0 || nd->nin < 3) continue;
            const int *in = graph_node_inputs(g, nd);
            for (int k = 1; k < nd->nin; k++) {
                int p = g->values[in[k]].producer;
                if (p < 0 || g->nodes[p].op != OP_SCALE_AXIS || !read_only_by_normed_readers(g, ctx, in[k])) continue;
                terms++;
                stored_terms += !fp->normed[p];
            }
        }
        if (types[t] == DT_F32) {
            cr_expect_gt(terms, 0, "no mixed op with batch-normalised terms");
            cr_expect_eq(stored_terms, 0, "%d of %d batch-normalised terms of mixed ops stored", stored_terms, terms);
            fprintf(stderr, "normed values: %d, %d of them mixed-op terms\n", normed, terms);
        } else {
            cr_expect_eq(normed, 0, "%d normed values in f64", normed);
        }
        exec_destroy(ctx);
    }
    graph_destroy(g);
}

/* The schedule keeps its promises on that graph: each step reads only
 * values made by an earlier step (or given), no step reads what another
 * member of its own batch makes, and the memory plan over the steps has
 * no two live values overlapping. */
/* Whether value v is made by a step before t, or by unit k itself; a
 * value no unit makes (a recomputed head, a normed value and the centring
 * it is made from) is made where it is read: its own inputs are what is
 * read. */
static int made_before(const graph *g, int v, int t, int k, const int *step_of, const int *unit_of, int depth)
{
    int p = g->values[v].producer;
    if (p < 0) return 1;
    if (unit_of[p] < 0) {
        const int *in = graph_node_inputs(g, &g->nodes[p]);
        for (int h = 0; h < g->nodes[p].nin; h++)
            if (depth > 3 || !made_before(g, in[h], t, k, step_of, unit_of, depth + 1)) return 0;
        return 1;
    }
    return (step_of[p] >= 0 && step_of[p] < t) || unit_of[p] == k;
}

Test(batching, the_schedule_orders_reads_after_writes_and_plans_sound_memory)
{
    graph *g = small_training_graph();
    int windows[] = {0, 16, 1024};
    for (int w = 0; w < 3; w++) {
        char wv[16];
        snprintf(wv, sizeof wv, "%d", windows[w]);
        cr_assert_eq(setenv("TSEDARTS_BATCH_WINDOW", wv, 1), 0);
        exec_ctx *ctx;
        cr_assert_eq(exec_create(g, backend_cpu(), DT_F32, &ctx), TD_OK, "%s", td_error_message());
        const exec_schedule *sc = &ctx->sched;
        /* where each node's kernel runs: its step and unit (-1: a head its
         * group recomputes, which runs nowhere by itself) */
        int *step_of = malloc((size_t)g->n_nodes * sizeof *step_of), *unit_of = malloc((size_t)g->n_nodes * sizeof *unit_of);
        for (int i = 0; i < g->n_nodes; i++) step_of[i] = unit_of[i] = -1;
        for (int t = 0; t < sc->n_steps; t++)
            for (int k = sc->step_first[t]; k < sc->step_first[t + 1]; k++) {
                int members[FUSED_MAX_MEMBERS], n = schedule_unit_members(&ctx->fusion, sc->unit[k], members);
                for (int q = 0; q < n; q++) step_of[members[q]] = t, unit_of[members[q]] = k;
            }
        int bad = 0;
        for (int t = 0; t < sc->n_steps && !bad; t++)
            for (int k = sc->step_first[t]; k < sc->step_first[t + 1] && !bad; k++) {
                int members[FUSED_MAX_MEMBERS], n = schedule_unit_members(&ctx->fusion, sc->unit[k], members);
                for (int q = 0; q < n && !bad; q++) {
                    const node *nd = &g->nodes[members[q]];
                    const int *in = graph_node_inputs(g, nd);
                    for (int j = 0; j < nd->nin && !bad; j++) bad = !made_before(g, in[j], t, k, step_of, unit_of, 0);
                    if (bad) cr_expect(0, "window %d: node %d (step %d) reads a value made later or by another member of its batch",
                                       windows[w], members[q], t);
                }
            }
        free(step_of);
        free(unit_of);
        char first[200] = "";
        cr_expect_eq(planner_count_overlaps(g, &ctx->plan, first, sizeof first), 0, "window %d: %s", windows[w],
                     first);
        if (windows[w] == 0) cr_expect_eq(sc->n_steps, sc->n_units, "window 0 batches nothing");
        else cr_expect_lt(sc->n_steps, sc->n_units, "window %d batched nothing", windows[w]);
        exec_destroy(ctx);
    }
    unsetenv("TSEDARTS_BATCH_WINDOW");
    graph_destroy(g);
}

/* Whole searches, batched or not: the same files, byte for byte. */
static void search_with_and_without(search_algo algo, const char *tag)
{
    search_config c;
    search_config_defaults(&c);
    c.algo = algo;
    search_config_algo_defaults(&c);
    snprintf(c.dataset, sizeof c.dataset, "synthetic");
    c.net.C = 4;
    c.net.layers = 3;
    c.batch = 8;
    c.epochs = 1;
    c.subset = 24;
    c.eval_images = 8;
    c.tse_steps = 2;
    if (algo == ALGO_DRNAS) { /* one epoch per stage; channels that split into its partial channels */
        c.epochs = 2;
        c.net.C = 8;
        c.drnas_k1 = 4;
        c.drnas_k2 = 2;
        c.drnas_warmup = 0;
    }
    char name[64];
    snprintf(name, sizeof name, "batch-%s-on", tag);
    char *on = sandbox_dir(name);
    snprintf(name, sizeof name, "batch-%s-off", tag);
    char *off = sandbox_dir(name);
    cr_assert_eq(quiet_search(backend_cpu(), &c, on, 0, 0), TD_OK, "%s", td_error_message());
    cr_assert_eq(setenv("TSEDARTS_BATCH", "0", 1), 0);
    cr_assert_eq(quiet_search(backend_cpu(), &c, off, 0, 0), TD_OK, "%s", td_error_message());
    unsetenv("TSEDARTS_BATCH");
    const char *files[] = {"weights.safetensors", "alphas.safetensors", "metrics.jsonl", "genotype.txt", NULL};
    for (int i = 0; files[i]; i++) {
        char pa[4200], pb[4200], *ta, *tb;
        size_t na, nb;
        cr_assert_eq(path_format(pa, sizeof pa, "%s/%s", on, files[i]), TD_OK);
        cr_assert_eq(path_format(pb, sizeof pb, "%s/%s", off, files[i]), TD_OK);
        cr_assert_eq(file_read_all(pa, &ta, &na), TD_OK, "%s", td_error_message());
        cr_assert_eq(file_read_all(pb, &tb, &nb), TD_OK, "%s", td_error_message());
        cr_expect(na == nb && !memcmp(ta, tb, na), "%s: %s differs batched and not", tag, files[i]);
        free(ta);
        free(tb);
    }
    free(on);
    free(off);
}

Test(batching, darts1_search_is_the_same_batched) { search_with_and_without(ALGO_DARTS1, "darts1"); }
Test(batching, darts2_search_is_the_same_batched) { search_with_and_without(ALGO_DARTS2, "darts2"); }
Test(batching, tse_search_is_the_same_batched) { search_with_and_without(ALGO_TSE, "tse"); }
Test(batching, exact_tse_search_is_the_same_batched) { search_with_and_without(ALGO_TSE_EXACT, "tse-exact"); }
Test(batching, drnas_search_is_the_same_batched) { search_with_and_without(ALGO_DRNAS, "drnas"); }
