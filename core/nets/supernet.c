/* Supernet: stem, cells of mixed operations weighted by softmax(alpha),
 * global pooling and a linear classifier. */
#include "tsedarts/supernet.h"

#include <stdlib.h>

#include "tsedarts/darts.h"
#include "tsedarts/space.h"

/* The second half of the cells keeps its activations: from the
 * second stage on a cell's maps hold half the first stage's values
 * (a quarter from the third) while its pointwise convolutions cost
 * as much, so recomputing them would buy little memory for a full
 * share of the time. A backward pass for the alphas alone keeps
 * about 0.4 times as much per cell (no convolution inputs for
 * weight gradients, no ReLU outputs, batch norms keep their outputs
 * only), so it keeps all but the first quarter of the cells in no
 * more than the memory of the weight pass. A fifth was enough until
 * max pooling kept its window indices (one int32 per pooled value,
 * 14 edges a cell): then the alpha pass outgrew the weight pass.
 * (Batch 64, C=16, 8 cells: the shared arena 1839 MiB with cells 1-7
 * kept in the alpha pass, 1562 MiB with cells 2-7, the step's time
 * within the machine's noise. 20 cells: weight pass 3636 MiB; alpha
 * pass 4630 MiB with cells 2-19, 3766 MiB with cells 4-19, before
 * the indices.) */
int supernet_cell_keeps_activations(const layer_builder *b, int layers, int i)
{
    return i >= (b->grads_alpha_only ? layers / 4 : layers / 2);
}

int darts_is_reduction(int layers, int i)
{
    return i == layers / 3 || i == 2 * layers / 3;
}

/* The input state of alpha row e: rows 0-1 feed node 0, 2-4 node 1, ... */
static int edge_input(int e)
{
    int first = 0;
    for (int n_in = 2; e >= first + n_in; n_in++) first += n_in;
    return e - first;
}

int supernet_ops_per_edge(const supernet_config *cfg, const supernet_edge_ops *edges)
{
    return edges && edges->n_ops > 0 ? edges->n_ops : space_ops(cfg->space);
}

int supernet_edge_op(const supernet_config *cfg, const supernet_edge_ops *edges, int reduce, int edge, int k)
{
    return edges && edges->n_ops > 0 ? edges->ops[reduce][edge][k] : space_darts_op(cfg->space, k);
}

int supernet_skip_dropout_at(const supernet_config *cfg, const supernet_edge_ops *edges, int cell, int edge)
{
    if (!edges || !edges->skip_dropout) return 0;
    int reduce = darts_is_reduction(cfg->layers, cell);
    if (reduce && edge_input(edge) < 2) return 0; /* stride 2: FactorizedReduce, no dropout */
    for (int k = 0; k < supernet_ops_per_edge(cfg, edges); k++)
        if (supernet_edge_op(cfg, edges, reduce, edge, k) == DOP_SKIP_CONNECT) return 1;
    return 0;
}

/* The skip's input through inverted dropout. The mask is an input holding 0
 * or 1/(1-p) (as PyTorch's noise tensor), so the graph does not depend on
 * p, which changes every epoch. */
static int skip_dropout(layer_builder *b, int x, net_io *io)
{
    int m = graph_input(b->g, b->g->values[x].shape, 0);
    if (io->skip_mask < 0) io->skip_mask = m;
    io->n_skip_masks++;
    io->skip_mask_numel += shape_numel(b->g->values[x].shape);
    return op_dropout(b->g, x, m, 0.0);
}

/* Node outputs of one cell as single weighted sums over every op of every
 * incoming edge: out = sum_j sum_k softmax(alpha)[row_j, k] op_k(s_j). */
static int search_cell(layer_builder *b, const supernet_config *cfg, const supernet_edge_ops *edges, int cell, int s0,
                       int s1, int C, int reduction, int reduction_prev, int weights, net_io *io)
{
    int n_ops = supernet_ops_per_edge(cfg, edges);
    graph *g = b->g;
    int states[2 + DARTS_NODES];
    layer_push(b, "preprocess0");
    states[0] = reduction_prev ? darts_factorized_reduce(b, s0, C, 0) : darts_relu_conv_bn(b, s0, C, 1, 1, 0, 0);
    layer_pop(b);
    layer_push(b, "preprocess1");
    states[1] = darts_relu_conv_bn(b, s1, C, 1, 1, 0, 0);
    layer_pop(b);
    int edge = 0;
    int xs[5 * DOP_COUNT], idx[5 * DOP_COUNT];
    for (int i = 0; i < DARTS_NODES; i++) {
        int n = 0, first = g->n_nodes;
        for (int j = 0; j < 2 + i; j++, edge++) {
            int stride = reduction && j < 2 ? 2 : 1;
            int dropped = b->train && supernet_skip_dropout_at(cfg, edges, cell, edge);
            layer_push(b, "_ops.%d", edge);
            for (int k = 0; k < n_ops; k++) {
                int op = supernet_edge_op(cfg, edges, reduction, edge, k);
                layer_push(b, "_ops.%d", k);
                int y = darts_op(b, op, states[j], C, stride, 0, 1);
                layer_pop(b);
                if (op == DOP_NONE) continue; /* contributes exactly zero */
                if (op == DOP_SKIP_CONNECT && dropped) y = skip_dropout(b, y, io);
                xs[n] = y;
                idx[n++] = edge * n_ops + k;
            }
            layer_pop(b);
        }
        states[2 + i] = op_weighted_sum(g, weights, n, xs, idx);
        /* a node's mixed ops are recomputed in the backward pass instead of
         * kept: their activations are most of the supernet's memory */
        if (b->recompute && states[2 + i] >= 0) graph_add_segment(g, first, g->n_nodes - 1);
    }
    return op_concat_c(g, DARTS_NODES, states + 2);
}

void supernet_inputs(layer_builder *b, const supernet_config *cfg, int batch, net_io *io)
{
    b->smooth = cfg->smooth;
    io->images = graph_input(b->g, shape_make(batch, cfg->in_ch, cfg->hw, cfg->hw), 0);
    io->labels = graph_input(b->g, shape_make(batch, 1, 1, 1), 1);
    io->aux_logits = -1;
    io->drop_mask = -1;
    io->n_masks = 0;
    io->skip_mask = -1;
    io->n_skip_masks = 0;
    io->skip_mask_numel = 0;
}

td_status supernet_build(layer_builder *b, const supernet_config *cfg, int batch, net_io *io)
{
    return supernet_build_edges(b, cfg, NULL, batch, io);
}

td_status supernet_build_edges(layer_builder *b, const supernet_config *cfg, const supernet_edge_ops *edges, int batch,
                               net_io *io)
{
    graph *g = b->g;
    if (cfg->space == SPACE_NB201) return nb201_build(b, cfg, batch, io);
    if (cfg->space != SPACE_DARTS && cfg->space != SPACE_S2)
        return TD_FAIL(TD_ERR_ARG, "supernet: unknown search space %d", cfg->space);
    if (cfg->C < 2 || cfg->C % 2 || cfg->layers < 3 || cfg->in_ch < 1 || cfg->hw < 4 || cfg->classes < 2 || batch < 1)
        return TD_FAIL(TD_ERR_ARG, "supernet: bad configuration (C=%d layers=%d in_ch=%d hw=%d classes=%d batch=%d)",
                       cfg->C, cfg->layers, cfg->in_ch, cfg->hw, cfg->classes, batch);
    supernet_inputs(b, cfg, batch, io);
    int C = cfg->C, c_curr = 3 * C;
    layer_push(b, "stem");
    int s = layer_conv(b, "0", io->images, c_curr, 3, 1, 1, 1, 1);
    s = layer_bn(b, "1", s, 1);
    layer_pop(b);
    /* Alphas come right after the stem in the registry; their offsets do
     * not depend on the depth of the network. */
    int n_ops = supernet_ops_per_edge(cfg, edges), listed = edges && edges->n_ops > 0;
    if (edges && (edges->n_ops < 0 || edges->n_ops > DOP_COUNT))
        return TD_FAIL(TD_ERR_ARG, "supernet: %d ops per edge (at most %d)", edges->n_ops, DOP_COUNT);
    if (listed && cfg->space != SPACE_DARTS)
        return TD_FAIL(TD_ERR_ARG, "supernet: per-edge op lists need the darts space");
    for (int t = 0; t < 2 && listed; t++)
        for (int e = 0; e < DARTS_EDGES; e++)
            for (int k = 0; k < n_ops; k++) {
                int op = edges->ops[t][e][k];
                if (op < 0 || op >= DOP_COUNT || (k > 0 && op <= edges->ops[t][e][k - 1]))
                    return TD_FAIL(TD_ERR_ARG, "supernet: %s edge %d: op list not ascending darts ops",
                                   t ? "reduce" : "normal", e);
            }
    int adims[2] = {DARTS_EDGES, n_ops};
    shape4 as = shape_make(DARTS_EDGES, n_ops, 1, 1);
    io->alphas[0] = graph_param(g, ROLE_ALPHA, "alphas_normal", as, INIT_ALPHA, 0, 2, adims);
    io->alphas[1] = graph_param(g, ROLE_ALPHA, "alphas_reduce", as, INIT_ALPHA, 0, 2, adims);
    int weights[2] = {op_softmax_rows(g, io->alphas[0]), op_softmax_rows(g, io->alphas[1])};
    int s0 = s, s1 = s, red_prev = 0;
    c_curr = C;
    for (int i = 0; i < cfg->layers; i++) {
        int red = darts_is_reduction(cfg->layers, i);
        if (red) c_curr *= 2;
        layer_push(b, "cells.%d", i);
        int recompute = b->recompute;
        if (supernet_cell_keeps_activations(b, cfg->layers, i)) b->recompute = 0;
        int out = search_cell(b, cfg, edges, i, s0, s1, c_curr, red, red_prev, weights[red], io);
        b->recompute = recompute;
        layer_pop(b);
        s0 = s1;
        s1 = out;
        red_prev = red;
    }
    int pooled = op_gap(g, s1);
    io->logits = layer_linear(b, "classifier", pooled, cfg->classes);
    io->loss = layer_cross_entropy(g, io->logits, io->labels);
    return graph_status(g);
}

td_status supernet_build_fn(layer_builder *b, const void *cfg, int batch, net_io *io)
{
    return supernet_build(b, (const supernet_config *)cfg, batch, io);
}

td_status supernet_stage_build_fn(layer_builder *b, const void *stage, int batch, net_io *io)
{
    const supernet_stage *s = stage;
    return supernet_build_edges(b, &s->cfg, &s->edges, batch, io);
}
