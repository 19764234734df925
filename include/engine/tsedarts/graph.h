/* The computation graph: values (tensors) produced by nodes (primitive ops).
 *
 * A graph is built once for a network and a purpose (forward only; forward
 * and backward; forward, backward and tangents) and then executed many
 * times. Values that are not activations live in per-role buffers at fixed
 * offsets (weights, alphas, BN running statistics, their gradients, inputs,
 * outputs); activations get offsets from the memory planner.
 *
 * Builder calls never fail loudly: a misuse records a message in the graph
 * (graph_status) and returns -1, and every builder given -1 returns -1, so a
 * whole network can be built and checked once at the end. */
#ifndef TSEDARTS_GRAPH_H
#define TSEDARTS_GRAPH_H

#include <stddef.h>

#include "tsedarts/status.h"
#include "tsedarts/tensor.h"

/* X-macro list of every primitive. Columns: enum suffix, name. */
#define TD_OP_LIST(X)                                                          \
    X(CONV2D, "conv2d")                     /* (x, w) -> y */                  \
    X(CONV2D_BWD_DATA, "conv2d_bwd_data")   /* (dy, w) -> dx */                \
    X(CONV2D_BWD_FILTER, "conv2d_bwd_filter") /* (x, dy) -> dw */              \
    X(MATMUL, "matmul")                     /* (A, B) -> op(A) op(B) */        \
    X(RELU, "relu")                         /* (x) -> max(x, 0) */             \
    X(RELU_BWD, "relu_bwd")                 /* (x, g) -> g * [x > 0] */        \
    X(SOFTPLUS, "softplus")                 /* (x) -> log(1 + e^x) */          \
    X(SIGMOID, "sigmoid")                   /* (x) -> 1 / (1 + e^-x) */        \
    X(MAXPOOL, "maxpool")                   /* (x) -> window max */            \
    X(MAXPOOL_GATHER, "maxpool_gather")     /* (x, t) -> t at argmax of x */   \
    X(MAXPOOL_SCATTER, "maxpool_scatter")   /* (x, g) -> g sent to argmax */   \
    X(AVGPOOL, "avgpool")                   /* (x) -> window mean */           \
    X(AVGPOOL_BWD, "avgpool_bwd")           /* (g) -> adjoint of avgpool */    \
    X(GAP, "global_avgpool")                /* (x) -> (N, C, 1, 1) mean */     \
    X(GAP_BWD, "global_avgpool_bwd")        /* (g) -> g / HW broadcast */      \
    X(SUM_AXIS, "sum_axis")                 /* (x) -> sum keeping one axis */  \
    X(BCAST_AXIS, "bcast_axis")             /* (v) -> v spread along axis */   \
    X(SCALE_AXIS, "scale_axis")             /* (x, v) -> x * v[axis] */        \
    X(DOT_AXIS, "dot_axis")                 /* (a, b) -> sum a*b keep axis */  \
    X(AFFINE_AXIS, "affine_axis")           /* (x, a[, b]) -> x*a + b */       \
    X(LINCOMB_AXIS, "lincomb_axis")         /* (u, v, a, b, e) -> au + bv + e */\
    X(BN_RUNNING_UPDATE, "bn_running_update") /* sink: (m, v, rm, rv) */       \
    X(AXPBY, "axpby")                       /* (a[, b]) -> s*a + t*b */        \
    X(MUL, "mul")                           /* (a, b) -> a * b */              \
    X(EXP, "exp")                           /* (a) -> e^a */                   \
    X(POWADD, "powadd")                     /* (a) -> (a + eps)^p */           \
    X(WEIGHTED_SUM, "weighted_sum")         /* ([w,] x1..xk) -> sum w[i]x */   \
    X(DOTS, "dots")                         /* (g, x1..xk) -> w-shaped dots */ \
    X(SOFTMAX_ROWS, "softmax_rows")         /* (a) -> row softmax */           \
    X(LOG_SOFTMAX_ROWS, "log_softmax_rows") /* (z) -> row log-softmax */       \
    X(PICK_LABELS, "pick_labels")           /* (z, labels) -> z[n, y_n] */     \
    X(PLACE_LABELS, "place_labels")         /* (v, labels) -> one-hot * v */   \
    X(SUM_ALL, "sum_all")                   /* (x) -> scalar sum */            \
    X(FILL, "fill")                         /* (s) -> s broadcast to shape */  \
    X(CONST, "const")                       /* () -> constant tensor */        \
    X(CONCAT_C, "concat_channels")          /* (x1..xk) -> channel concat */   \
    X(SLICE_C, "slice_channels")            /* (x) -> channels [c0, c1) */     \
    X(CROP, "crop")                         /* (x) -> spatial window */        \
    X(UNCROP, "uncrop")                     /* (g) -> zero-padded back */

typedef enum op_kind {
#define TD_OP_ENUM(id, name) OP_##id,
    TD_OP_LIST(TD_OP_ENUM)
#undef TD_OP_ENUM
    OP_COUNT
} op_kind;

const char *op_name(op_kind op);
/* Looks an op up by name; returns OP_COUNT if unknown. */
op_kind op_by_name(const char *name);

/* Axis kept by the *_AXIS reductions and broadcasts. */
enum { AXIS_N = 0, AXIS_C = 1 };

/* Where a value's storage lives. */
typedef enum value_role {
    ROLE_ACT = 0,     /* activation: offset chosen by the memory planner */
    ROLE_WEIGHT,      /* trainable weights */
    ROLE_ALPHA,       /* architecture parameters */
    ROLE_BNSTAT,      /* BN running statistics */
    ROLE_GRAD_WEIGHT, /* gradient of a weight, same offset as the weight */
    ROLE_GRAD_ALPHA,  /* gradient of an alpha, same offset as the alpha */
    ROLE_INPUT,       /* per-run inputs: images, masks, tangents */
    ROLE_LABEL,       /* int32 class labels */
    ROLE_OUTPUT,      /* values read back after a run: loss, logits, ... */
    ROLE_TANGENT_WEIGHT, /* a direction in weight space, offsets as the weights */
    ROLE_TANGENT_ALPHA,  /* a direction in alpha space */
    ROLE_HVP_WEIGHT,     /* (d/dw grad_w) t: Hessian-vector product, weight part */
    ROLE_HVP_ALPHA,      /* (d/dw grad_alpha) t: the alpha part */
    ROLE_COUNT
} value_role;

const char *role_name(value_role r);

typedef struct node_params {
    int stride, pad, dil, groups; /* conv and pooling */
    int k;                        /* pooling window */
    int kh, kw;                   /* conv kernel size (for bwd_filter) */
    int axis;                     /* AXIS_N or AXIS_C */
    int ta, tb;                   /* matmul transposes */
    int count_pad;                /* avgpool: count padding in divisor */
    int top, left;                /* crop offsets */
    int c0, c1;                   /* slice range */
    double a, b;                  /* axpby/const/powadd/bn-update scalars */
    shape4 shape;                 /* target shape of bwd/broadcast ops */
    int idx_off;                  /* weighted_sum/dots: index list in pool */
    int idx_len;                  /* its length (number of x inputs) */
    int wlen;                     /* dots: length of the weight vector */
} node_params;

typedef struct node {
    op_kind op;
    int nin;
    int in_off; /* inputs are g->ints[in_off .. in_off + nin) */
    int out;    /* output value, -1 for sinks */
    node_params p;
} node;

typedef struct value {
    shape4 shape;
    value_role role;
    size_t offset;  /* elements into the role buffer (planner for ACT) */
    int producer;   /* node index, -1 for leaves */
    int is_int;     /* int32 (labels) */
    int param;      /* parameter index for WEIGHT/ALPHA/BNSTAT, else -1 */
} value;

/* A named parameter: one tensor in the weight, alpha or BN-stat buffer. */
typedef enum param_init {
    INIT_UNIFORM_FAN_IN, /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    INIT_ONES,
    INIT_ZEROS,
    INIT_ALPHA /* 1e-3 * N(0, 1) */
} param_init;

typedef struct param {
    char *name; /* PyTorch state_dict name */
    value_role role;
    shape4 shape; /* as stored; PyTorch's shape is in torch_dims */
    int torch_ndim;
    int torch_dims[4];
    size_t offset;
    param_init init;
    int fan_in;
    int value; /* the leaf value that reads it */
} param;

/* A run of nodes whose reverse mode is given by a hand-written rule (made
 * of primitives, so forward-over-reverse still works) instead of the
 * rules of its nodes: batch norm's backward in three passes, not ten. */
typedef enum vjp_block_kind { BLOCK_BATCHNORM = 1 } vjp_block_kind;

typedef struct vjp_block {
    vjp_block_kind kind;
    int first, last; /* node range, inclusive */
    int out;         /* the only value read outside the block */
    int x, gamma, beta; /* inputs (gamma, beta: -1 when not affine) */
    int xc, r;       /* saved inside: centred input, 1/sqrt(var + eps) */
    double count;    /* N H W */
} vjp_block;

/* A run of forward nodes whose activations are not kept for the backward
 * pass: reverse mode recomputes them (same kernels, same bits) just before
 * it needs them, trading one extra forward for the memory. */
typedef struct recompute_segment {
    int first, last; /* node range, inclusive */
} recompute_segment;

typedef struct graph {
    node *nodes;
    int n_nodes, cap_nodes;
    value *values;
    int n_values, cap_values;
    int *ints;
    int n_ints, cap_ints;
    param *params;
    int n_params, cap_params;
    size_t role_size[ROLE_COUNT]; /* elements in each role buffer */
    vjp_block *blocks;
    int n_blocks, cap_blocks;
    recompute_segment *segments;
    int n_segments, cap_segments;
    td_status status;
    char error[512];
} graph;

graph *graph_create(void);
void graph_destroy(graph *g);
td_status graph_status(const graph *g);

static inline const int *graph_node_inputs(const graph *g, const node *nd)
{
    return g->ints + nd->in_off;
}
static inline const int *graph_node_index(const graph *g, const node *nd)
{
    return g->ints + nd->p.idx_off;
}

/* --- leaves ----------------------------------------------------------- */
/* A per-run input (ROLE_INPUT, or ROLE_LABEL when is_int). */
int graph_input(graph *g, shape4 s, int is_int);
/* A named parameter in role WEIGHT, ALPHA or BNSTAT. torch_ndim/dims give
 * the PyTorch shape of the same memory (NULL: same as s, 4-D). */
int graph_param(graph *g, value_role role, const char *name, shape4 s,
                param_init init, int fan_in, int torch_ndim,
                const int *torch_dims);

/* Makes value v readable after a run in `role` at `offset` (elements); for
 * ROLE_OUTPUT pass offset (size_t)-1 to append. Returns the value now
 * holding the data (v itself when it could be retargeted, else a copy). */
int graph_bind(graph *g, int v, value_role role, size_t offset);

/* --- primitive builders (one per op; shapes checked here) -------------- */
int op_conv2d(graph *g, int x, int w, int stride, int pad, int dil,
             int groups);
int op_conv2d_bwd_data(graph *g, int dy, int w, shape4 xshape, int stride,
                      int pad, int dil, int groups);
int op_conv2d_bwd_filter(graph *g, int x, int dy, int kh, int kw, int stride,
                        int pad, int dil, int groups);
int op_matmul(graph *g, int a, int b, int ta, int tb);
int op_relu(graph *g, int x);
int op_relu_bwd(graph *g, int x, int gr);
int op_softplus(graph *g, int x);
int op_sigmoid(graph *g, int x);
int op_maxpool(graph *g, int x, int k, int stride, int pad);
int op_maxpool_gather(graph *g, int x, int t, int k, int stride, int pad);
int op_maxpool_scatter(graph *g, int x, int gr, int k, int stride, int pad);
int op_avgpool(graph *g, int x, int k, int stride, int pad, int count_pad);
int op_avgpool_bwd(graph *g, int gr, shape4 xshape, int k, int stride,
                  int pad, int count_pad);
int op_gap(graph *g, int x);
int op_gap_bwd(graph *g, int gr, shape4 xshape);
int op_sum_axis(graph *g, int x, int axis);
int op_bcast_axis(graph *g, int v, shape4 s, int axis);
int op_scale_axis(graph *g, int x, int v, int axis);
int op_dot_axis(graph *g, int a, int b, int axis);
int op_affine_axis(graph *g, int x, int a, int b /* or -1 */, int axis);
/* a u + b v + e with per-axis coefficients (the batch-norm backward). */
int op_lincomb_axis(graph *g, int u, int v, int a, int b, int e, int axis);
/* Sink: rm <- (1-mom) rm + mom m; rv <- (1-mom) rv + mom v * M/(M-1). */
int op_bn_running_update(graph *g, int m, int v, int rm, int rv,
                        double momentum, double count);
int op_axpby(graph *g, int a, int b /* or -1 */, double s, double t);
int op_mul(graph *g, int a, int b);
int op_exp(graph *g, int a);
int op_powadd(graph *g, int a, double eps, double p);
/* sum_i w[idx[i]] * xs[i]; w may be -1 (then idx must be NULL: plain sum). */
int op_weighted_sum(graph *g, int w, int k, const int *xs, const int *idx);
/* out[idx[i]] += <gr, xs[i]>, out shaped like w (wshape). */
int op_dots(graph *g, int gr, int k, const int *xs, const int *idx,
           shape4 wshape);
int op_softmax_rows(graph *g, int a);
int op_log_softmax_rows(graph *g, int z);
int op_pick_labels(graph *g, int z, int labels);
int op_place_labels(graph *g, int v, int labels, int classes);
int op_sum_all(graph *g, int x);
int op_fill(graph *g, int s, shape4 shape);
int op_const(graph *g, shape4 shape, double c);
int op_concat_c(graph *g, int k, const int *xs);
int op_slice_c(graph *g, int x, int c0, int c1);
int op_crop(graph *g, int x, int top, int left, int h, int w);
int op_uncrop(graph *g, int gr, shape4 xshape, int top, int left);

/* Builds a node of any kind from explicit inputs and params, inferring the
 * output shape; the typed builders above call this. */
int graph_add_node(graph *g, op_kind op, int nin, const int *in,
                   const node_params *p);

/* Sets the sticky error (first one wins) and returns -1. */
int graph_fail(graph *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Moves each node from first_tail on to just after the last node before
 * first_tail it depends on, keeping every order among them: a forward-mode
 * pass appended after a whole graph then runs beside the nodes it
 * differentiates, and the values it reads need not stay alive until the
 * end. Same nodes, same results. Call it last: it drops the node ranges
 * that reverse mode uses (segments, custom-VJP blocks). */
void graph_interleave_tail(graph *g, int first_tail);

/* Registers a recompute segment (see recompute_segment); segments must
 * not overlap. */
int graph_add_segment(graph *g, int first, int last);

/* Registers a custom-VJP block (see vjp_block). */
int graph_add_vjp_block(graph *g, const vjp_block *b);

/* Total elements of the parameters in a role. */
size_t graph_param_count(const graph *g, value_role role);
int graph_find_param(const graph *g, const char *name);

/* Marks nodes that contribute to a bound (non-activation) value or are
 * sinks. needed must hold n_nodes entries. */
void graph_needed_nodes(const graph *g, unsigned char *needed);

#endif
