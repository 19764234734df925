/* The NAS-Bench-201 search network (its DARTS search model): a stem, three
 * stages of N search cells separated by residual blocks that halve the
 * resolution and double the channels, BN + ReLU, global pooling and a
 * linear classifier. One alpha matrix (6 edges x 5 ops) is shared by every
 * cell. Parameter names follow the reference PyTorch modules. */
#include "tsedarts/space.h"
#include "tsedarts/supernet.h"

/* ReLUConvBN: Sequential(ReLU, Conv2d(bias = not affine), BN(affine)). */
static int relu_conv_bn(layer_builder *b, int x, int cout, int k, int stride, int pad, int affine)
{
    layer_push(b, "op");
    int r = layer_relu(b, x);
    int y = affine ? layer_conv(b, "1", r, cout, k, stride, pad, 1, 1) : layer_conv_bias(b, "1", r, cout, k, stride, pad);
    y = layer_bn(b, "2", y, affine);
    layer_pop(b);
    return y;
}

/* Op k of an edge in a search cell (C channels in and out, stride 1;
 * affine = False, so convolutions carry a bias). -1 for none. */
static int nb201_op(layer_builder *b, int op, int x, int C)
{
    switch (op) {
    case NB_NONE: return -1;
    case NB_SKIP_CONNECT: return x;
    case NB_CONV_1X1: return relu_conv_bn(b, x, C, 1, 1, 0, 0);
    case NB_CONV_3X3: return relu_conv_bn(b, x, C, 3, 1, 1, 0);
    case NB_AVG_POOL_3X3: return op_avgpool(b->g, x, 3, 1, 1, 0); /* count_include_pad = False */
    }
    return graph_fail(b->g, "unknown NAS-Bench-201 op %d", op);
}

/* node_i = sum_{j<i} sum_k softmax(alpha)[edge(i<-j), k] op_k(node_j); the
 * cell's output is node 3. */
static int search_cell(layer_builder *b, int x, int C, int weights)
{
    graph *g = b->g;
    int nodes[NB201_NODES] = {x};
    int edge = 0;
    for (int i = 1; i < NB201_NODES; i++) {
        int xs[3 * NB_OP_COUNT], idx[3 * NB_OP_COUNT], n = 0, first = g->n_nodes;
        for (int j = 0; j < i; j++, edge++) {
            layer_push(b, "edges.%d<-%d", i, j);
            for (int k = 0; k < NB_OP_COUNT; k++) {
                layer_push(b, "%d", k);
                int y = nb201_op(b, k, nodes[j], C);
                layer_pop(b);
                if (k == NB_NONE) continue; /* exactly zero */
                xs[n] = y;
                idx[n++] = edge * NB_OP_COUNT + k;
            }
            layer_pop(b);
        }
        nodes[i] = op_weighted_sum(g, weights, n, xs, idx);
        if (b->recompute && nodes[i] >= 0) graph_add_segment(g, first, g->n_nodes - 1);
    }
    return nodes[NB201_NODES - 1];
}

/* ResNetBasicblock(stride 2): conv_b(conv_a(x)) + conv1x1(avgpool2(x)). */
static int residual_block(layer_builder *b, int x, int cout)
{
    graph *g = b->g;
    layer_push(b, "conv_a");
    int y = relu_conv_bn(b, x, cout, 3, 2, 1, 1);
    layer_pop(b);
    layer_push(b, "conv_b");
    y = relu_conv_bn(b, y, cout, 3, 1, 1, 1);
    layer_pop(b);
    layer_push(b, "downsample");
    int r = layer_conv(b, "1", op_avgpool(g, x, 2, 2, 0, 0), cout, 1, 1, 0, 1, 1);
    layer_pop(b);
    return op_axpby(g, r, y, 1.0, 1.0);
}

td_status nb201_build(layer_builder *b, const supernet_config *cfg, int batch, net_io *io)
{
    graph *g = b->g;
    if (cfg->C < 1 || cfg->layers < 1 || cfg->in_ch < 1 || cfg->hw < 4 || cfg->hw % 4 || cfg->classes < 2 || batch < 1)
        return TD_FAIL(TD_ERR_ARG,
                       "nb201: bad configuration (C=%d cells per stage=%d in_ch=%d hw=%d classes=%d batch=%d; hw must "
                       "be a multiple of 4)",
                       cfg->C, cfg->layers, cfg->in_ch, cfg->hw, cfg->classes, batch);
    supernet_inputs(b, cfg, batch, io);
    layer_push(b, "stem");
    int s = layer_conv(b, "0", io->images, cfg->C, 3, 1, 1, 1, 1);
    s = layer_bn(b, "1", s, 1);
    layer_pop(b);
    int adims[2] = {NB201_EDGES, NB_OP_COUNT};
    io->alphas[0] = graph_param(g, ROLE_ALPHA, "arch_parameters", shape_make(NB201_EDGES, NB_OP_COUNT, 1, 1), INIT_ALPHA,
                                0, 2, adims);
    io->alphas[1] = -1;
    int weights = op_softmax_rows(g, io->alphas[0]);
    int N = cfg->layers, cell = 0, C = cfg->C;
    for (int stage = 0; stage < 3; stage++) {
        if (stage > 0) {
            C *= 2;
            layer_push(b, "cells.%d", cell++);
            s = residual_block(b, s, C);
            layer_pop(b);
        }
        for (int i = 0; i < N; i++) {
            layer_push(b, "cells.%d", cell++);
            s = search_cell(b, s, C, weights);
            layer_pop(b);
        }
    }
    layer_push(b, "lastact");
    s = layer_relu(b, layer_bn(b, "0", s, 1));
    layer_pop(b);
    io->logits = layer_linear(b, "classifier", op_gap(g, s), cfg->classes);
    io->loss = layer_cross_entropy(g, io->logits, io->labels);
    return graph_status(g);
}
