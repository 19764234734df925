/* The eight DARTS operations and the cell preprocessing modules, with the
 * parameter names of the reference PyTorch modules. */
#include <string.h>

#include "tsedarts/darts.h"

static const char *const op_names[DOP_COUNT] = {
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"};

const char *darts_op_name(int op) { return op >= 0 && op < DOP_COUNT ? op_names[op] : "?"; }

int darts_op_by_name(const char *name)
{
    for (int i = 0; i < DOP_COUNT; i++)
        if (strcmp(op_names[i], name) == 0) return i;
    return -1;
}

/* Sequential(ReLU, Conv, BN): op.1 is the conv, op.2 the BN. */
int darts_relu_conv_bn(layer_builder *b, int x, int cout, int k, int stride, int pad, int affine)
{
    layer_push(b, "op");
    int y = layer_conv(b, "1", layer_relu(b, x), cout, k, stride, pad, 1, 1);
    y = layer_bn(b, "2", y, affine);
    layer_pop(b);
    return y;
}

int darts_factorized_reduce(layer_builder *b, int x, int cout, int affine)
{
    if (x < 0) return -1;
    graph *g = b->g;
    shape4 s = g->values[x].shape;
    if (cout % 2) return graph_fail(g, "%s: FactorizedReduce needs an even channel count", b->prefix);
    if (s.h % 2 || s.w % 2)
        return graph_fail(g, "%s: FactorizedReduce needs even spatial sizes, got %dx%d", b->prefix, s.h, s.w);
    int r = layer_relu(b, x);
    int a = layer_conv(b, "conv_1", r, cout / 2, 1, 2, 0, 1, 1);
    int shifted = op_crop(g, r, 1, 1, s.h - 1, s.w - 1);
    int c = layer_conv(b, "conv_2", shifted, cout / 2, 1, 2, 0, 1, 1);
    int parts[2] = {a, c};
    return layer_bn(b, "bn", op_concat_c(g, 2, parts), affine);
}

/* SepConv: ReLU, dw k, pw, BN, ReLU, dw k, pw, BN (op.1 .. op.7). */
static int sep_conv(layer_builder *b, int x, int C, int k, int stride, int affine)
{
    int pad = k / 2;
    layer_push(b, "op");
    int y = layer_conv(b, "1", layer_relu(b, x), C, k, stride, pad, 1, C);
    y = layer_conv(b, "2", y, C, 1, 1, 0, 1, 1);
    y = layer_bn(b, "3", y, affine);
    y = layer_conv(b, "5", layer_relu(b, y), C, k, 1, pad, 1, C);
    y = layer_conv(b, "6", y, C, 1, 1, 0, 1, 1);
    y = layer_bn(b, "7", y, affine);
    layer_pop(b);
    return y;
}

/* DilConv: ReLU, dw k dilation 2, pw, BN (op.1 .. op.3). */
static int dil_conv(layer_builder *b, int x, int C, int k, int stride, int affine)
{
    int pad = (k / 2) * 2;
    layer_push(b, "op");
    int y = layer_conv(b, "1", layer_relu(b, x), C, k, stride, pad, 2, C);
    y = layer_conv(b, "2", y, C, 1, 1, 0, 1, 1);
    y = layer_bn(b, "3", y, affine);
    layer_pop(b);
    return y;
}

int darts_op(layer_builder *b, int op, int x, int C, int stride, int affine, int search)
{
    graph *g = b->g;
    switch (op) {
    case DOP_NONE:
        return -1;
    case DOP_MAX_POOL_3X3:
    case DOP_AVG_POOL_3X3: {
        int y = op == DOP_MAX_POOL_3X3 ? layer_maxpool(b, x, 3, stride, 1) : op_avgpool(g, x, 3, stride, 1, 0);
        /* In search: Sequential(pool, BN(affine=False)) -> BN is "1". */
        return search ? layer_bn(b, "1", y, 0) : y;
    }
    case DOP_SKIP_CONNECT:
        return stride == 1 ? x : darts_factorized_reduce(b, x, C, affine);
    case DOP_SEP_CONV_3X3:
        return sep_conv(b, x, C, 3, stride, affine);
    case DOP_SEP_CONV_5X5:
        return sep_conv(b, x, C, 5, stride, affine);
    case DOP_DIL_CONV_3X3:
        return dil_conv(b, x, C, 3, stride, affine);
    case DOP_DIL_CONV_5X5:
        return dil_conv(b, x, C, 5, stride, affine);
    }
    return graph_fail(g, "unknown DARTS op %d", op);
}
