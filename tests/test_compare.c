/* The node-by-node comparator names the first node that differs: a backend
 * with one deliberately wrong kernel must be caught at exactly that node,
 * and a faithful run must pass. */
#include <criterion/criterion.h>
#include <string.h>

#include "tsedarts/compare.h"
#include "tsedarts/op_registry.h"
#include "tsedarts/layers.h"
#include "tsedarts/params.h"
#include "tsedarts/philox.h"
#include "tsedarts/supernet.h"
#include "tsedarts/backend_cpu.h"

static op_kind broken_op;
static td_status broken_run(const kernel_args *a)
{
    td_status s = backend_cpu()->run_node(a);
    if (a->nd->op == broken_op && a->dt == DT_F32) ((float *)a->out)[0] += 0.01f;
    return s;
}

static graph *small_supernet(void)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    supernet_config cfg = {4, 3, 1, 8, 10, 0};
    /* batch 4: BN statistics over 4 x 2 x 2 values in the last cells */
    net_io io;
    cr_assert_eq(supernet_build(&b, &cfg, 4, &io), TD_OK);
    graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    layer_free(&b);
    return g;
}

Test(compare, names_the_first_wrong_node)
{
    graph *g = small_supernet();
    double *host[ROLE_COUNT] = {0};
    for (int r = 0; r < ROLE_COUNT; r++) host[r] = calloc(g->role_size[r] + 1, sizeof(double));
    params_init(g, 5, DT_F64, host[ROLE_WEIGHT], host[ROLE_ALPHA], host[ROLE_BNSTAT]);
    philox_stream s;
    philox_stream_init(&s, 5, PURPOSE_TEST, 0);
    for (size_t i = 0; i < g->role_size[ROLE_INPUT]; i++) host[ROLE_INPUT][i] = 2 * philox_next_uniform_f64(&s) - 1;
    for (size_t i = 0; i < g->role_size[ROLE_LABEL]; i++) host[ROLE_LABEL][i] = (double)(i % 10);
    compare_side f32 = {backend_cpu(), DT_F32}, f64 = {backend_cpu(), DT_F64};
    compare_result res;
    cr_assert_eq(compare_run(g, f32, f64, host, 1e-3, 1e-4, &res), TD_OK);
    cr_expect_eq(res.first_bad_node, -1, "faithful run flagged: %s", res.message);
    fprintf(stderr, "whole supernet f32 vs f64: worst ratio %.3g at node %d (%s)\n", res.worst_ratio, res.worst_node,
            op_name(g->nodes[res.worst_node].op));
    cr_expect_gt(res.nodes_compared, 100);

    backend broken = *backend_cpu();
    broken.name = "broken";
    broken.run_node = broken_run;
    broken_op = OP_WEIGHTED_SUM;
    compare_side bad = {&broken, DT_F32};
    cr_assert_eq(compare_run(g, bad, f64, host, 1e-3, 1e-4, &res), TD_OK);
    int first = -1;
    for (int i = 0; i < g->n_nodes && first < 0; i++)
        if (g->nodes[i].op == OP_WEIGHTED_SUM) first = i;
    cr_expect_eq(res.first_bad_node, first, "expected node %d, got %d: %s", first, res.first_bad_node, res.message);
    cr_expect(strstr(res.message, "weighted_sum") != NULL, "message: %s", res.message);
    for (int r = 0; r < ROLE_COUNT; r++) free(host[r]);
    graph_destroy(g);
}

/* Every op case, CPU f32 against CPU f64, compares at least one value: a
 * case whose node writes nothing the comparator reads (a constant left
 * unbound, a sink whose effect is on its inputs) would otherwise pass the
 * GPU parity test by comparing nothing. */
Test(compare, every_op_case_compares_something)
{
    int n = op_case_count();
    cr_assert_gt(n, 0);
    for (int i = 0; i < n; i++) {
        const op_case *c = op_case_at(i);
        op_tolerance tol = op_case_f32_tolerance(c);
        double *host[ROLE_COUNT];
        graph *g = op_case_graph(c, host, NULL);
        compare_side f32 = {backend_cpu(), DT_F32}, f64 = {backend_cpu(), DT_F64};
        compare_result res;
        cr_assert_eq(compare_run(g, f32, f64, host, tol.rtol, tol.atol, &res), TD_OK, "%s: %s", c->label,
                     td_error_message());
        cr_expect_gt(res.nodes_compared, 0, "%s: nothing compared", c->label);
        cr_expect_eq(res.first_bad_node, -1, "%s: %s", c->label, res.message);
        op_case_host_free(host);
        graph_destroy(g);
    }
}

/* The running-statistics update writes its inputs: a wrong update there
 * is named although the node has no output. */
static td_status broken_running_update(const kernel_args *a)
{
    td_status s = backend_cpu()->run_node(a);
    if (a->nd->op == OP_BN_RUNNING_UPDATE && a->dt == DT_F32) ((float *)a->in[2])[0] += 0.01f;
    return s;
}

Test(compare, a_wrong_running_update_is_named)
{
    const op_case *c = NULL;
    for (int i = 0; i < op_case_count() && !c; i++)
        if (op_case_at(i)->op == OP_BN_RUNNING_UPDATE) c = op_case_at(i);
    cr_assert(c, "no bn_running_update case");
    double *host[ROLE_COUNT];
    graph *g = op_case_graph(c, host, NULL);
    backend broken = *backend_cpu();
    broken.name = "broken";
    broken.run_node = broken_running_update;
    compare_side bad = {&broken, DT_F32}, f64 = {backend_cpu(), DT_F64};
    compare_result res;
    cr_assert_eq(compare_run(g, bad, f64, host, 1e-3, 1e-4, &res), TD_OK);
    cr_expect_geq(res.first_bad_node, 0, "the wrong running statistics were not caught");
    cr_expect(strstr(res.message, "bn_running_update") != NULL, "message: %s", res.message);
    op_case_host_free(host);
    graph_destroy(g);
}
