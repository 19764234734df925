/* The computation graph: values (tensors) produced by nodes (primitive ops).
 * This layer stores graphs; what each op means is the ops layer's.
 *
 * A graph is built once for a network and a purpose (forward only; forward
 * and backward; forward, backward and tangents) and then executed many
 * times. Values that are not activations live in per-role buffers at fixed
 * offsets (weights, alphas, BN running statistics, their gradients, inputs,
 * outputs); activations get offsets from the memory planner.
 *
 * Building never fails loudly: a misuse records a message in the graph
 * (graph_status) and returns -1, and every builder given -1 returns -1, so a
 * whole network can be built and checked once at the end. */
#ifndef TSEDARTS_GRAPH_H
#define TSEDARTS_GRAPH_H

#include <stddef.h>

#include "tsedarts/status.h"
#include "tsedarts/tensor.h"

/* X-macro list of every primitive: the single index of ops. Columns: enum
 * suffix, name. Everything else about an op (builder, shape rule, VJP,
 * JVP, test cases and tolerances) is in core/ops/<family>.c, its kernels
 * in ref/<family>*.c; each line's comment ends with its family. */
#define TD_OP_LIST(X)                                                                      \
    X(CONV2D, conv2d)                       /* (x, w) -> y                     conv */      \
    X(CONV2D_BWD_DATA, conv2d_bwd_data)     /* (dy, w) -> dx                   conv */      \
    X(CONV2D_BWD_FILTER, conv2d_bwd_filter) /* (x, dy) -> dw                   conv */      \
    X(MATMUL, matmul)                       /* (A, B) -> op(A) op(B)           rows */      \
    X(RELU, relu)                           /* (x) -> max(x, 0)                pointwise */ \
    X(RELU_BWD, relu_bwd)                   /* (x, g) -> g * [x > 0]           pointwise */ \
    X(SOFTPLUS, softplus)                   /* (x) -> log(1 + e^x)             pointwise */ \
    X(SIGMOID, sigmoid)                     /* (x) -> 1 / (1 + e^-x)           pointwise */ \
    X(MAXPOOL_ARGMAX, maxpool_argmax)       /* (x) -> int32 window argmax      pool */      \
    X(GATHER_AT, gather_at)                 /* (x, idx) -> x at each idx       pool */      \
    X(SCATTER_AT, scatter_at)               /* (g, idx) -> g sent to each idx  pool */      \
    X(AVGPOOL, avgpool)                     /* (x) -> window mean              pool */      \
    X(AVGPOOL_BWD, avgpool_bwd)             /* (g) -> adjoint of avgpool       pool */      \
    X(GAP, global_avgpool)                  /* (x) -> (N, C, 1, 1) mean        pool */      \
    X(GAP_BWD, global_avgpool_bwd)          /* (g) -> g / HW broadcast         pool */      \
    X(SUM_AXIS, sum_axis)                   /* (x) -> sum keeping one axis     axis */      \
    X(BCAST_AXIS, bcast_axis)               /* (v) -> v spread along axis      axis */      \
    X(SCALE_AXIS, scale_axis)               /* (x, v) -> x * v[axis]           axis */      \
    X(DOT_AXIS, dot_axis)                   /* (a, b) -> sum a*b keep axis     axis */      \
    X(AFFINE_AXIS, affine_axis)             /* (x, a[, b]) -> x*a + b          axis */      \
    X(LINCOMB_AXIS, lincomb_axis)           /* (u, v, a, b, e) -> au + bv + e  axis */      \
    X(BN_RUNNING_UPDATE, bn_running_update) /* sink: (m, v, rm, rv)            axis */      \
    X(AXPBY, axpby)                         /* (a[, b]) -> s*a + t*b           pointwise */ \
    X(MUL, mul)                             /* (a, b) -> a * b                 pointwise */ \
    X(EXP, exp)                             /* (a) -> e^a                      pointwise */ \
    X(POWADD, powadd)                       /* (a) -> (a + eps)^p              pointwise */ \
    X(WEIGHTED_SUM, weighted_sum)           /* ([w,] x1..xk) -> sum w[i]x      sums */      \
    X(DOTS, dots)                           /* (g, x1..xk) -> w-shaped dots    sums */      \
    X(SOFTMAX_ROWS, softmax_rows)           /* (a) -> row softmax              rows */      \
    X(LOG_SOFTMAX_ROWS, log_softmax_rows)   /* (z) -> row log-softmax          rows */      \
    X(PICK_LABELS, pick_labels)             /* (z, labels) -> z[n, y_n]        rows */      \
    X(PLACE_LABELS, place_labels)           /* (v, labels) -> one-hot * v      rows */      \
    X(SUM_ALL, sum_all)                     /* (x) -> scalar sum               sums */      \
    X(FILL, fill)                           /* (s) -> s broadcast to shape     pointwise */ \
    X(CONST, const)                         /* () -> constant tensor           pointwise */ \
    X(CONCAT_C, concat_channels)            /* (x1..xk) -> channel concat      layout */    \
    X(SLICE_C, slice_channels)              /* (x) -> channels [c0, c1)        layout */    \
    X(CROP, crop)                           /* (x) -> spatial window           layout */    \
    X(UNCROP, uncrop)                       /* (g) -> zero-padded back         layout */    \
    X(CHANNEL_SHUFFLE, channel_shuffle)     /* (x) -> channels interleaved     layout */    \
    X(ELU, elu)                             /* (x) -> x > 0 ? x : e^x - 1      pointwise */ \
    X(DROPOUT, dropout)                     /* (x, m) -> x * m / (1 - p)       pointwise */ \
    X(MASK_RENORM_ROWS, mask_renorm_rows)   /* (x, m) -> x*m / row sum of x*m  rows */      \
    X(DIRICHLET_ROWS, dirichlet_rows)       /* (beta, G) -> G / row sum of G   dirichlet */ \
    X(DIRICHLET_GRAD, dirichlet_grad)       /* (x, beta) -> pathwise D         dirichlet */

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
    int is_int;     /* int32 (labels, window indices) */
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

/* Appends a node of op whose inputs and output shape the caller has
 * checked (the ops layer's shape rules do; out.n < 0 for a sink). Returns
 * the output value, 0 for a sink, -1 after an error. */
int graph_append_node(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 out);

/* Appends k ints to the graph's pool (index lists of weighted_sum and
 * dots); returns their offset, or -1 after an error. */
int graph_push_ints(graph *g, int k, const int *xs);

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
