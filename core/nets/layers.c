/* Layer builders: how the DARTS modules map to primitives. */
#include "tsedarts/layers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void layer_init(layer_builder *b, graph *g, int train, int update_running)
{
    memset(b, 0, sizeof *b);
    b->g = g;
    b->train = train;
    b->update_running = train && update_running;
    b->smooth_beta = 3.0;
}

void layer_free(layer_builder *b)
{
    free(b->relu_of);
    b->relu_of = NULL;
    b->relu_cap = 0;
}

void layer_push(layer_builder *b, const char *fmt, ...)
{
    size_t len = strlen(b->prefix);
    b->mark[b->depth++] = (int)len;
    if (len && len < sizeof b->prefix - 1) b->prefix[len++] = '.';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->prefix + len, sizeof b->prefix - len, fmt, ap);
    va_end(ap);
}

void layer_pop(layer_builder *b)
{
    if (b->depth > 0) b->prefix[b->mark[--b->depth]] = '\0';
}

static void full_name(const layer_builder *b, const char *name, const char *leaf, char *out, size_t len)
{
    const char *sep1 = b->prefix[0] && name[0] ? "." : "";
    const char *sep2 = (b->prefix[0] || name[0]) ? "." : "";
    snprintf(out, len, "%s%s%s%s%s", b->prefix, sep1, name, sep2, leaf);
}

int layer_relu(layer_builder *b, int x)
{
    if (x < 0) return -1;
    if (x >= b->relu_cap) {
        int nc = b->relu_cap ? b->relu_cap : 1024;
        while (nc <= x) nc *= 2;
        int *p = realloc(b->relu_of, (size_t)nc * sizeof *p);
        if (!p) return graph_fail(b->g, "out of memory");
        for (int i = b->relu_cap; i < nc; i++) p[i] = -1;
        b->relu_of = p;
        b->relu_cap = nc;
    }
    if (b->relu_of[x] >= 0) return b->relu_of[x];
    int y;
    if (b->smooth)
        y = op_axpby(b->g, op_softplus(b->g, op_axpby(b->g, x, -1, b->smooth_beta, 0.0)), -1, 1.0 / b->smooth_beta, 0.0);
    else
        y = op_relu(b->g, x);
    b->relu_of[x] = y;
    return y;
}

/* The window indices are kept for the backward pass, which sends the
 * gradient to them instead of finding each window's maximum again; the
 * two nodes run as one kernel (FUSED_ARGMAX_GATHER). */
int layer_maxpool(layer_builder *b, int x, int k, int stride, int pad)
{
    if (b->smooth) return op_avgpool(b->g, x, k, stride, pad, 0);
    return op_gather_at(b->g, x, op_maxpool_argmax(b->g, x, k, stride, pad), k, stride, pad);
}

int layer_conv(layer_builder *b, const char *name, int x, int cout, int k,
            int stride, int pad, int dil, int groups)
{
    if (x < 0) return -1;
    graph *g = b->g;
    int cin = g->values[x].shape.c;
    if (groups < 1 || cin % groups || cout % groups)
        return graph_fail(g, "%s.%s: %d -> %d channels cannot use %d groups", b->prefix, name, cin, cout, groups);
    char pname[320];
    full_name(b, name, "weight", pname, sizeof pname);
    int fan_in = cin / groups * k * k;
    int w = graph_param(g, ROLE_WEIGHT, pname, shape_make(cout, cin / groups, k, k), INIT_UNIFORM_FAN_IN, fan_in,
                        0, NULL);
    return op_conv2d(g, x, w, stride, pad, dil, groups);
}

int layer_conv_bias(layer_builder *b, const char *name, int x, int cout, int k, int stride, int pad)
{
    int y = layer_conv(b, name, x, cout, k, stride, pad, 1, 1);
    if (y < 0) return -1;
    graph *g = b->g;
    char pname[320];
    int bdims[1] = {cout};
    full_name(b, name, "bias", pname, sizeof pname);
    int fan_in = g->values[x].shape.c * k * k;
    int bias = graph_param(g, ROLE_WEIGHT, pname, shape_make(1, cout, 1, 1), INIT_UNIFORM_FAN_IN, fan_in, 1, bdims);
    return op_affine_axis(g, y, op_const(g, shape_make(1, cout, 1, 1), 1.0), bias, AXIS_C);
}

int layer_bn(layer_builder *b, const char *name, int x, int affine)
{
    if (x < 0) return -1;
    graph *g = b->g;
    shape4 s = g->values[x].shape;
    shape4 vs = shape_make(1, s.c, 1, 1);
    int torch_dims[1] = {s.c};
    char pname[320];
    int gamma = -1, beta = -1;
    if (affine) {
        full_name(b, name, "weight", pname, sizeof pname);
        gamma = graph_param(g, ROLE_WEIGHT, pname, vs, INIT_ONES, 0, 1, torch_dims);
        full_name(b, name, "bias", pname, sizeof pname);
        beta = graph_param(g, ROLE_WEIGHT, pname, vs, INIT_ZEROS, 0, 1, torch_dims);
    }
    full_name(b, name, "running_mean", pname, sizeof pname);
    int rm = graph_param(g, ROLE_BNSTAT, pname, vs, INIT_ZEROS, 0, 1, torch_dims);
    full_name(b, name, "running_var", pname, sizeof pname);
    int rv = graph_param(g, ROLE_BNSTAT, pname, vs, INIT_ONES, 0, 1, torch_dims);
    /* y = (x - m) * r * gamma + beta with r = (v + eps)^-1/2. Centring
     * first (x * 1 - m, one rounding) keeps f32 accurate when |m| >> std. */
    int first = g->n_nodes;
    int ones = op_const(g, vs, 1.0);
    int m, v;
    if (b->train) {
        double count = (double)s.n * s.h * s.w;
        m = op_axpby(g, op_sum_axis(g, x, AXIS_C), -1, 1.0 / count, 0.0);
        int xc = op_affine_axis(g, x, ones, op_axpby(g, m, -1, -1.0, 0.0), AXIS_C);
        v = op_axpby(g, op_dot_axis(g, xc, xc, AXIS_C), -1, 1.0 / count, 0.0);
        if (b->update_running) op_bn_running_update(g, m, v, rm, rv, BN_MOMENTUM, count);
        int r = op_powadd(g, v, BN_EPS, -0.5);
        int y = affine ? op_affine_axis(g, xc, op_mul(g, r, gamma), beta, AXIS_C) : op_scale_axis(g, xc, r, AXIS_C);
        /* The backward of batch statistics, by hand in three passes. */
        vjp_block blk = {BLOCK_BATCHNORM, first, g->n_nodes - 1, y, x, gamma, beta, xc, r, count};
        if (y >= 0) graph_add_vjp_block(g, &blk);
        return y;
    }
    m = rm;
    v = rv;
    int xc = op_affine_axis(g, x, ones, op_axpby(g, m, -1, -1.0, 0.0), AXIS_C);
    int r = op_powadd(g, v, BN_EPS, -0.5);
    if (affine) return op_affine_axis(g, xc, op_mul(g, r, gamma), beta, AXIS_C);
    return op_scale_axis(g, xc, r, AXIS_C);
}

int layer_linear(layer_builder *b, const char *name, int x, int out)
{
    if (x < 0) return -1;
    graph *g = b->g;
    shape4 s = g->values[x].shape;
    if (s.h != 1 || s.w != 1) return graph_fail(g, "%s.%s: linear needs (N, K, 1, 1) input", b->prefix, name);
    char pname[320];
    int wdims[2] = {out, s.c}, bdims[1] = {out};
    full_name(b, name, "weight", pname, sizeof pname);
    int w = graph_param(g, ROLE_WEIGHT, pname, shape_make(out, s.c, 1, 1), INIT_UNIFORM_FAN_IN, s.c, 2, wdims);
    full_name(b, name, "bias", pname, sizeof pname);
    int bias = graph_param(g, ROLE_WEIGHT, pname, shape_make(1, out, 1, 1), INIT_UNIFORM_FAN_IN, s.c, 1, bdims);
    int z = op_matmul(g, x, w, 0, 1);
    return op_affine_axis(g, z, op_const(g, shape_make(1, out, 1, 1), 1.0), bias, AXIS_C);
}

int layer_cross_entropy(graph *g, int logits, int labels)
{
    if (logits < 0) return -1;
    int n = g->values[logits].shape.n;
    int picked = op_pick_labels(g, op_log_softmax_rows(g, logits), labels);
    return op_axpby(g, op_sum_all(g, picked), -1, -1.0 / n, 0.0);
}
