/* Layer builders on top of the graph: named parameters (PyTorch state_dict
 * names), batch norm, ReLU, linear, cross-entropy. */
#ifndef TSEDARTS_LAYERS_H
#define TSEDARTS_LAYERS_H

#include "tsedarts/ops.h"

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1

typedef struct layer_builder {
    graph *g;
    int train;          /* BN normalises with batch statistics */
    int update_running; /* BN appends running-statistics updates */
    int smooth;         /* smooth stand-in: softplus ReLU, average pooling */
    double smooth_beta; /* ReLU stand-in is softplus(beta x) / beta */
    int recompute;      /* mark recompute segments (memory for time) */
    int grads_alpha_only; /* the graph's backward computes alpha gradients only */
    char prefix[256];
    int depth;
    int mark[32];
    int *relu_of; /* memo: value -> its ReLU, so shared inputs share one */
    int relu_cap;
} layer_builder;

void layer_init(layer_builder *b, graph *g, int train, int update_running);
void layer_free(layer_builder *b);

/* Appends ".<segment>" to the parameter name prefix; layer_pop removes it. */
void layer_push(layer_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void layer_pop(layer_builder *b);

int layer_relu(layer_builder *b, int x);
/* Max pooling, or its smooth stand-in (average, padding excluded). */
int layer_maxpool(layer_builder *b, int x, int k, int stride, int pad);
/* Convolution without bias; weight "<prefix>.<name>.weight". */
int layer_conv(layer_builder *b, const char *name, int x, int cout, int k,
            int stride, int pad, int dil, int groups);
/* The same with a bias "<prefix>.<name>.bias" (PyTorch's default init). */
int layer_conv_bias(layer_builder *b, const char *name, int x, int cout, int k, int stride, int pad);
/* Batch norm "<prefix>.<name>": weight/bias when affine, running stats. */
int layer_bn(layer_builder *b, const char *name, int x, int affine);
/* Linear layer on (N, K, 1, 1): "<prefix>.<name>.weight" (out, K) and bias. */
int layer_linear(layer_builder *b, const char *name, int x, int out);
/* Mean cross-entropy of logits (N, classes, 1, 1) against int labels. */
int layer_cross_entropy(graph *g, int logits, int labels);

#endif
