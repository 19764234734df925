/* The memory planner never lets two live activations overlap, checked by an
 * independent sweep on a full-size supernet training graph, and it reuses
 * memory (the arena is far smaller than the sum of all activations). */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "tsedarts/autodiff.h"
#include "tsedarts/planner.h"
#include "tsedarts/supernet.h"

static void check_graph(graph *g)
{
    unsigned char *needed = malloc((size_t)g->n_nodes);
    graph_needed_nodes(g, needed);
    memory_plan plan;
    cr_assert_eq(planner_plan(g, needed, 16, &plan), TD_OK);
    char msg[256] = "";
    int bad = planner_count_overlaps(g, &plan, msg, sizeof msg);
    cr_expect_eq(bad, 0, "%d overlaps, first: %s", bad, msg);
    size_t total = 0;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].role == ROLE_ACT && plan.first[v] >= 0) total += shape_numel(g->values[v].shape);
    cr_expect_lt(plan.arena_elems, total / 2, "arena %zu elements vs %zu without reuse", plan.arena_elems, total);
    for (int v = 0; v < g->n_values; v++)
        if (plan.first[v] >= 0 && g->values[v].role == ROLE_ACT) cr_expect_eq(plan.offset[v] % 16, 0);
    planner_free(&plan);
    free(needed);
}

Test(planner, supernet_training_graph_has_no_overlaps)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    supernet_config cfg = {16, 8, 3, 32, 10, 0};
    net_io io;
    cr_assert_eq(supernet_build(&b, &cfg, 64, &io), TD_OK);
    graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.loss, 1, 1), TD_OK);
    check_graph(g);
    layer_free(&b);
    graph_destroy(g);
}

Test(planner, detects_a_planted_overlap)
{
    /* The checker itself must be able to fail. */
    graph *g = graph_create();
    int x = graph_input(g, shape_make(1, 1, 4, 4), 0);
    int a = op_relu(g, x), c = op_exp(g, x);
    graph_bind(g, op_mul(g, a, c), ROLE_OUTPUT, (size_t)-1);
    unsigned char needed[8];
    graph_needed_nodes(g, needed);
    memory_plan plan;
    cr_assert_eq(planner_plan(g, needed, 16, &plan), TD_OK);
    cr_expect_eq(planner_count_overlaps(g, &plan, NULL, 0), 0);
    plan.offset[c] = plan.offset[a];
    cr_expect_gt(planner_count_overlaps(g, &plan, NULL, 0), 0);
    planner_free(&plan);
    graph_destroy(g);
}

/* A backward pass for the alphas alone keeps no value twice: it reads a
 * ReLU's output only where it does not read the ReLU's input (masks come
 * from whichever is kept anyway), and no batch norm's centred input
 * (without affine parameters their backward reads their outputs). The same
 * graph with weight gradients must read ReLU outputs beside their inputs
 * (the convolutions' inputs, for the weight gradients), or the check could
 * not fail. */
static int read_after(const graph *g, int n_forward, int v)
{
    for (int i = n_forward; i < g->n_nodes; i++) {
        const int *in = graph_node_inputs(g, &g->nodes[i]);
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (in[k] == v) return 1;
    }
    return 0;
}

static int forward_values_read_after(const graph *g, int n_forward, op_kind producer_op, int with_input)
{
    int reads = 0;
    for (int p = 0; p < n_forward; p++) {
        const node *nd = &g->nodes[p];
        if (nd->op != producer_op || !read_after(g, n_forward, nd->out)) continue;
        if (!with_input || read_after(g, n_forward, graph_node_inputs(g, nd)[0])) reads++;
    }
    return reads;
}

Test(planner, alpha_backward_keeps_no_value_twice)
{
    for (int weights = 0; weights < 2; weights++) {
        graph *g = graph_create();
        layer_builder b;
        layer_init(&b, g, 1, 1);
        b.grads_alpha_only = !weights;
        supernet_config cfg = {8, 5, 3, 16, 10, 0};
        net_io io;
        cr_assert_eq(supernet_build(&b, &cfg, 4, &io), TD_OK);
        graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
        int n_forward = g->n_nodes;
        cr_assert_eq(graph_param_grads(g, io.loss, weights, 1), TD_OK, "%s", td_error_message());
        int relu_pairs = forward_values_read_after(g, n_forward, OP_RELU, 1);
        int centred = forward_values_read_after(g, n_forward, OP_AFFINE_AXIS, 0);
        if (weights) {
            cr_expect_gt(relu_pairs, 0, "weight gradients read ReLU inputs and outputs");
        } else {
            cr_expect_eq(relu_pairs, 0, "the alpha backward reads %d ReLUs' inputs and outputs", relu_pairs);
            cr_expect_eq(centred, 0, "the alpha backward reads %d centred BN inputs", centred);
        }
        check_graph(g);
        layer_free(&b);
        graph_destroy(g);
    }
}
