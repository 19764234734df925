/* NetworkCIFAR of the DARTS code, built from primitives. */
#include "tsedarts/evalnet.h"

#include <string.h>

#include "tsedarts/darts.h"

static int spatial_after(int hw, int layers, int upto)
{
    for (int i = 0; i <= upto; i++)
        if (darts_is_reduction(layers, i)) hw /= 2;
    return hw;
}

td_status evalnet_check(const evalnet_config *c)
{
    if (c->linear) return TD_OK;
    if (c->C < 2 || c->C % 2 || c->layers < 3 || c->in_ch < 1 || c->hw < 4 || c->classes < 2)
        return TD_FAIL(TD_ERR_ARG, "evaluation network: bad configuration (C=%d layers=%d in_ch=%d hw=%d classes=%d)",
                       c->C, c->layers, c->in_ch, c->hw, c->classes);
    int side = spatial_after(c->hw, c->layers, 2 * c->layers / 3);
    if (c->auxiliary && side < 8)
        return TD_FAIL(TD_ERR_ARG,
                       "the auxiliary head needs at least 8x8 features after cell %d, but %dx%d inputs give %dx%d "
                       "(its 5x5/3 pooling and 2x2 convolution do not fit); pad the images to 32x32 or train without "
                       "the auxiliary head",
                       2 * c->layers / 3, c->hw, c->hw, side, side);
    return TD_OK;
}

int evalnet_mask_count(const evalnet_config *c)
{
    if (c->linear) return 0;
    int n = 0;
    for (int i = 0; i < c->layers; i++) {
        int red = darts_is_reduction(c->layers, i);
        const genotype_cell *cell = red ? &c->geno.reduce : &c->geno.normal;
        for (int k = 0; k < GENOTYPE_OPS; k++) {
            int stride = red && cell->input[k] < 2 ? 2 : 1;
            n += !(cell->op[k] == DOP_SKIP_CONNECT && stride == 1);
        }
    }
    return n;
}

static int eval_cell(layer_builder *b, const genotype_cell *cell, int s0, int s1, int C, int reduction,
                     int reduction_prev, int batch, int *mask_next, int *mask_count, int drop)
{
    graph *g = b->g;
    int states[2 + 4];
    layer_push(b, "preprocess0");
    states[0] = reduction_prev ? darts_factorized_reduce(b, s0, C, 1) : darts_relu_conv_bn(b, s0, C, 1, 1, 0, 1);
    layer_pop(b);
    layer_push(b, "preprocess1");
    states[1] = darts_relu_conv_bn(b, s1, C, 1, 1, 0, 1);
    layer_pop(b);
    for (int i = 0; i < 4; i++) {
        int h[2];
        for (int e = 0; e < 2; e++) {
            int k = 2 * i + e, in = cell->input[k], stride = reduction && in < 2 ? 2 : 1;
            layer_push(b, "_ops.%d", k);
            h[e] = darts_op(b, cell->op[k], states[in], C, stride, 1, 0);
            layer_pop(b);
            int identity = cell->op[k] == DOP_SKIP_CONNECT && stride == 1;
            if (drop && !identity) {
                int m = graph_input(g, shape_make(batch, 1, 1, 1), 0);
                if (*mask_next < 0) *mask_next = m;
                (*mask_count)++;
                h[e] = op_scale_axis(g, h[e], m, AXIS_N);
            }
        }
        int pair[2] = {h[0], h[1]};
        states[2 + i] = op_weighted_sum(g, -1, 2, pair, NULL);
    }
    return op_concat_c(g, 4, states + 2);
}

/* ReLU, avg pool 5/3, conv 1x1 -> 128, BN, ReLU, conv 2x2 -> 768, BN, ReLU,
 * linear (AuxiliaryHeadCIFAR). */
static int aux_head(layer_builder *b, int x, int classes)
{
    graph *g = b->g;
    layer_push(b, "auxiliary_head");
    layer_push(b, "features");
    int y = op_avgpool(g, layer_relu(b, x), 5, 3, 0, 0);
    y = layer_conv(b, "2", y, 128, 1, 1, 0, 1, 1);
    y = layer_relu(b, layer_bn(b, "3", y, 1));
    y = layer_conv(b, "5", y, 768, 2, 1, 0, 1, 1);
    y = layer_relu(b, layer_bn(b, "6", y, 1));
    layer_pop(b);
    y = layer_linear(b, "classifier", y, classes);
    layer_pop(b);
    return y;
}

static td_status linear_build(layer_builder *b, const evalnet_config *c, int batch, net_io *io)
{
    graph *g = b->g;
    io->images = graph_input(g, shape_make(batch, c->in_ch, c->hw, c->hw), 0);
    io->labels = graph_input(g, shape_make(batch, 1, 1, 1), 1);
    io->aux_logits = io->drop_mask = -1;
    io->n_masks = 0;
    io->alphas[0] = io->alphas[1] = -1;
    /* a full-image convolution is a linear map of all pixels */
    int z = layer_conv(b, "linear", io->images, c->classes, c->hw, 1, 0, 1, 1);
    char name[64];
    snprintf(name, sizeof name, "linear.bias");
    int dims[1] = {c->classes};
    int bias = graph_param(g, ROLE_WEIGHT, name, shape_make(1, c->classes, 1, 1), INIT_UNIFORM_FAN_IN,
                           c->in_ch * c->hw * c->hw, 1, dims);
    io->logits = op_affine_axis(g, z, op_const(g, shape_make(1, c->classes, 1, 1), 1.0), bias, AXIS_C);
    io->loss = layer_cross_entropy(g, io->logits, io->labels);
    return graph_status(g);
}

td_status evalnet_build(layer_builder *b, const void *cfgp, int batch, net_io *io)
{
    const evalnet_config *c = cfgp;
    TD_CHECK(evalnet_check(c));
    if (c->linear) return linear_build(b, c, batch, io);
    graph *g = b->g;
    io->images = graph_input(g, shape_make(batch, c->in_ch, c->hw, c->hw), 0);
    io->labels = graph_input(g, shape_make(batch, 1, 1, 1), 1);
    io->aux_logits = -1;
    io->drop_mask = -1;
    io->n_masks = 0;
    io->alphas[0] = io->alphas[1] = -1;
    int drop = c->drop_path && b->train;
    int aux = c->auxiliary && b->train;
    layer_push(b, "stem");
    int s = layer_conv(b, "0", io->images, 3 * c->C, 3, 1, 1, 1, 1);
    s = layer_bn(b, "1", s, 1);
    layer_pop(b);
    int s0 = s, s1 = s, red_prev = 0, c_curr = c->C, aux_at = 2 * c->layers / 3;
    for (int i = 0; i < c->layers; i++) {
        int red = darts_is_reduction(c->layers, i);
        if (red) c_curr *= 2;
        layer_push(b, "cells.%d", i);
        int out = eval_cell(b, red ? &c->geno.reduce : &c->geno.normal, s0, s1, c_curr, red, red_prev, batch,
                            &io->drop_mask, &io->n_masks, drop);
        layer_pop(b);
        s0 = s1;
        s1 = out;
        red_prev = red;
        /* The head is registered even in graphs that do not use it, so that
         * every graph of the network has the same parameter layout. */
        if (i == aux_at && c->auxiliary) {
            int al = aux_head(b, s1, c->classes);
            if (aux) io->aux_logits = al;
        }
    }
    io->logits = layer_linear(b, "classifier", op_gap(g, s1), c->classes);
    io->loss = layer_cross_entropy(g, io->logits, io->labels);
    if (io->aux_logits >= 0)
        io->loss = op_axpby(g, io->loss, layer_cross_entropy(g, io->aux_logits, io->labels), 1.0, AUX_WEIGHT);
    return graph_status(g);
}
