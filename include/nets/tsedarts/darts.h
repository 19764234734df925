/* The DARTS search space: its operations and cell modules (docs/numerics.md s.1). */
#ifndef TSEDARTS_DARTS_H
#define TSEDARTS_DARTS_H

#include "tsedarts/layers.h"

enum darts_op {
    DOP_NONE = 0,
    DOP_MAX_POOL_3X3,
    DOP_AVG_POOL_3X3,
    DOP_SKIP_CONNECT,
    DOP_SEP_CONV_3X3,
    DOP_SEP_CONV_5X5,
    DOP_DIL_CONV_3X3,
    DOP_DIL_CONV_5X5,
    DOP_COUNT
};

#define DARTS_NODES 4  /* intermediate nodes per cell */
#define DARTS_EDGES 14 /* alpha rows per cell type */

const char *darts_op_name(int op);
int darts_op_by_name(const char *name); /* -1 if unknown */

/* ReLU, conv k x k (stride, pad), BN. */
int darts_relu_conv_bn(layer_builder *b, int x, int cout, int k, int stride, int pad, int affine);
/* ReLU, then concat(conv1x1 s2 (x), conv1x1 s2 (x shifted by one pixel)), BN. */
int darts_factorized_reduce(layer_builder *b, int x, int cout, int affine);
/* Operation op on x (C channels in and out) with the given stride; in the
 * search network (search = 1) pooling is followed by BN(affine=false).
 * The caller has pushed the op's name prefix. Returns -1 for none. */
int darts_op(layer_builder *b, int op, int x, int C, int stride, int affine, int search);

#endif
