/* The DrNAS search network: DARTS cells whose mixed ops see 1/k of the
 * channels, mixed by one Dirichlet sample per row per pass
 * (docs/numerics.md s.6.1-6.2). Parameter names are the reference's
 * (cells.i._ops.e._ops.j...), as in the DARTS supernet. */
#include "tsedarts/drnas_net.h"

#include <string.h>

int drnas_ops(int with_none) { return with_none ? DOP_COUNT : DOP_COUNT - 1; }

/* DrNAS drops `none` from the front of the DARTS list; the rest keep
 * their order, so column j is op j + 1 without it. */
int drnas_op_of(int with_none, int j)
{
    int n = drnas_ops(with_none);
    if (j < 0 || j >= n) return -1;
    return with_none ? j : j + 1;
}

int drnas_mixed_op(layer_builder *b, int x, int C, int k, int stride, int w, int n, const int *ops, const int *idx,
                   const unsigned char *skip)
{
    graph *g = b->g;
    if (x < 0) return -1;
    if (k < 1 || C % k) return graph_fail(g, "%s: %d channels do not split into 1/%d", b->prefix, C, k);
    int part = C / k;
    int a = k > 1 ? op_slice_c(g, x, 0, part) : x;
    int xs[DOP_COUNT], wi[DOP_COUNT], m = 0;
    int update_running = b->update_running;
    for (int i = 0; i < n; i++) {
        layer_push(b, "_ops.%d", i);
        /* A pruned op keeps its parameters (the reference widens them
         * too) but nothing reads its output, so the executor never runs
         * it; without the statistics update it has no sink either. */
        if (skip && skip[i]) b->update_running = 0;
        int y = darts_op(b, ops[i], a, part, stride, 0, 1);
        b->update_running = update_running;
        layer_pop(b);
        if (ops[i] == DOP_NONE || (skip && skip[i])) continue; /* contributes exactly zero */
        xs[m] = y;
        wi[m++] = idx[i];
    }
    int t = m ? op_weighted_sum(g, w, m, xs, wi) : graph_fail(g, "%s: every op of the edge is pruned", b->prefix);
    if (k == 1) return t;
    int rest = op_slice_c(g, x, part, C);
    if (stride == 2) rest = layer_maxpool(b, rest, 2, 2, 0);
    int parts[2] = {t, rest};
    return op_channel_shuffle(g, op_concat_c(g, 2, parts), k);
}

static int drnas_cell(layer_builder *b, const drnas_net_config *cfg, int s0, int s1, int C, int reduction,
                      int reduction_prev, int weights)
{
    graph *g = b->g;
    int n_ops = drnas_ops(cfg->with_none), type = reduction ? 1 : 0;
    int states[2 + DARTS_NODES];
    layer_push(b, "preprocess0");
    states[0] = reduction_prev ? darts_factorized_reduce(b, s0, C, 0) : darts_relu_conv_bn(b, s0, C, 1, 1, 0, 0);
    layer_pop(b);
    layer_push(b, "preprocess1");
    states[1] = darts_relu_conv_bn(b, s1, C, 1, 1, 0, 0);
    layer_pop(b);
    int edge = 0, ops[DOP_COUNT], idx[DOP_COUNT];
    unsigned char skip[DOP_COUNT];
    for (int i = 0; i < DARTS_NODES; i++) {
        int ys[2 + DARTS_NODES], first = g->n_nodes;
        for (int j = 0; j < 2 + i; j++, edge++) {
            int stride = reduction && j < 2 ? 2 : 1;
            for (int o = 0; o < n_ops; o++) {
                ops[o] = drnas_op_of(cfg->with_none, o);
                idx[o] = edge * n_ops + o;
                skip[o] = cfg->masked && !cfg->keep[type * DARTS_EDGES + edge][o];
            }
            layer_push(b, "_ops.%d", edge);
            ys[j] = drnas_mixed_op(b, states[j], C, cfg->k, stride, weights, n_ops, ops, idx, skip);
            layer_pop(b);
        }
        /* no edge normalisation: the node is the plain sum of its edges */
        states[2 + i] = op_weighted_sum(g, -1, 2 + i, ys, NULL);
        if (b->recompute && states[2 + i] >= 0) graph_add_segment(g, first, g->n_nodes - 1);
    }
    return op_concat_c(g, DARTS_NODES, states + 2);
}

/* x = Dirichlet sample of ELU(alpha) + 1 from this pass's gamma draws;
 * with a mask, renormalised over the kept ops. */
static int mixing_weights(graph *g, int alpha, int gamma, int mask)
{
    shape4 s = g->values[alpha].shape;
    int beta = op_axpby(g, op_elu(g, alpha), op_const(g, s, 1.0), 1.0, 1.0);
    int x = op_dirichlet_rows(g, beta, gamma);
    return mask >= 0 ? op_mask_renorm_rows(g, x, mask) : x;
}

td_status drnas_supernet_build(layer_builder *b, const drnas_net_config *cfg, int batch, drnas_io *dio)
{
    graph *g = b->g;
    const supernet_config *nc = &cfg->net;
    net_io *io = &dio->io;
    if (nc->C < 2 || nc->layers < 3 || nc->in_ch < 1 || nc->hw < 4 || nc->classes < 2 || batch < 1 || cfg->k < 1)
        return TD_FAIL(TD_ERR_ARG,
                       "DrNAS supernet: bad configuration (C=%d layers=%d k=%d in_ch=%d hw=%d classes=%d batch=%d)", nc->C,
                       nc->layers, cfg->k, nc->in_ch, nc->hw, nc->classes, batch);
    /* every cell width (C, 2C, 4C) must split into k parts, and the
     * stride-2 skip (FactorizedReduce) on 2C/k channels needs them even */
    if (nc->C % cfg->k || (2 * nc->C / cfg->k) % 2)
        return TD_FAIL(TD_ERR_ARG, "DrNAS supernet: C=%d with k=%d: C must be a multiple of k and 2C/k even", nc->C,
                       cfg->k);
    supernet_inputs(b, nc, batch, io);
    int n_ops = drnas_ops(cfg->with_none);
    shape4 rows = shape_make(DARTS_EDGES, n_ops, 1, 1);
    for (int t = 0; t < 2; t++) dio->dirichlet_gamma[t] = graph_input(g, rows, 0);
    for (int t = 0; t < 2; t++) dio->prune_mask[t] = cfg->masked ? graph_input(g, rows, 0) : -1;
    int C = nc->C, c_curr = 3 * C;
    layer_push(b, "stem");
    int s = layer_conv(b, "0", io->images, c_curr, 3, 1, 1, 1, 1);
    s = layer_bn(b, "1", s, 1);
    layer_pop(b);
    int adims[2] = {DARTS_EDGES, n_ops};
    io->alphas[0] = graph_param(g, ROLE_ALPHA, "alphas_normal", rows, INIT_ALPHA, 0, 2, adims);
    io->alphas[1] = graph_param(g, ROLE_ALPHA, "alphas_reduce", rows, INIT_ALPHA, 0, 2, adims);
    int weights[2];
    for (int t = 0; t < 2; t++) weights[t] = mixing_weights(g, io->alphas[t], dio->dirichlet_gamma[t], dio->prune_mask[t]);
    int s0 = s, s1 = s, red_prev = 0;
    c_curr = C;
    for (int i = 0; i < nc->layers; i++) {
        int red = darts_is_reduction(nc->layers, i);
        if (red) c_curr *= 2;
        layer_push(b, "cells.%d", i);
        int recompute = b->recompute;
        if (supernet_cell_keeps_activations(b, nc->layers, i)) b->recompute = 0;
        int out = drnas_cell(b, cfg, s0, s1, c_curr, red, red_prev, weights[red]);
        b->recompute = recompute;
        layer_pop(b);
        s0 = s1;
        s1 = out;
        red_prev = red;
    }
    io->logits = layer_linear(b, "classifier", op_gap(g, s1), nc->classes);
    io->loss = layer_cross_entropy(g, io->logits, io->labels);
    return graph_status(g);
}

td_status drnas_build_fn(layer_builder *b, const void *cfg, int batch, net_io *io)
{
    drnas_io dio;
    td_status s = drnas_supernet_build(b, (const drnas_net_config *)cfg, batch, &dio);
    *io = dio.io;
    return s;
}

td_status drnas_find_inputs(const graph *g, const net_io *io, int masked, drnas_io *out)
{
    int found[4], n = 0, want = masked ? 4 : 2;
    for (int v = 0; v < g->n_values && n < 4; v++) {
        const value *x = &g->values[v];
        if (x->role == ROLE_INPUT && x->producer < 0 && !x->is_int && v != io->images) found[n++] = v;
    }
    if (n < want) return TD_FAIL(TD_ERR_STATE, "DrNAS network: %d of its %d Dirichlet inputs found", n, want);
    out->io = *io;
    for (int t = 0; t < 2; t++) {
        out->dirichlet_gamma[t] = found[t];
        out->prune_mask[t] = masked ? found[2 + t] : -1;
    }
    return TD_OK;
}
