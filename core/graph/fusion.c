/* The fused groups' patterns (fusion.h). */
#include "tsedarts/fusion.h"

#include <stddef.h>

#define ANY FUSED_IN_ANY
#define OUT FUSED_IN_HEAD_OUT
#define NOT_OUT FUSED_IN_NOT_HEAD_OUT
#define IN0 FUSED_IN_HEAD_IN0

static const fused_group groups[FUSED_KIND_END] = {
    /* a batch norm's backward statistics sum G and sum G Z in one read */
    [FUSED_SUM_DOT] = {.kind = FUSED_SUM_DOT,
                       .n = 2,
                       .m = {{OP_SUM_AXIS, FUSED_HEAD, {ANY}}, {OP_DOT_AXIS, FUSED_NEXT, {IN0, ANY}}},
                       .head_stored = 1,
                       .runs_at = 0},
    /* the forward's centring and variance in one pass, xc kept */
    [FUSED_CENTRED_DOT] = {.kind = FUSED_CENTRED_DOT,
                           .n = 2,
                           .m = {{OP_AFFINE_AXIS, FUSED_HEAD, {ANY}}, {OP_DOT_AXIS, FUSED_NEXT, {OUT, OUT}}},
                           .head_stored = 1,
                           .runs_at = 0},
    /* the same with xc only in a plane-sized scratch ... */
    [FUSED_CENTRED_VARIANCE] = {.kind = FUSED_CENTRED_VARIANCE,
                                .n = 2,
                                .m = {{OP_AFFINE_AXIS, FUSED_HEAD, {ANY}}, {OP_DOT_AXIS, FUSED_NEXT, {OUT, OUT}}},
                                .head_stored = 0,
                                .runs_at = 0},
    /* ... and the normalised output (xc r) from x */
    [FUSED_CENTRED_SCALE] = {.kind = FUSED_CENTRED_SCALE,
                             .n = 2,
                             .m = {{OP_AFFINE_AXIS, FUSED_HEAD, {ANY}}, {OP_SCALE_AXIS, FUSED_LAST_READER, {OUT, NOT_OUT}}},
                             .head_stored = 0,
                             .runs_at = 1,
                             .required = 1},
    /* a mixed op's share of its node's cotangent, S = w G (a one-term
     * weighted_sum), never stored: the batch norm's backward statistics
     * recompute it ... */
    [FUSED_SCALED_PAIR] = {.kind = FUSED_SCALED_PAIR,
                           .n = 3,
                           .m = {{OP_WEIGHTED_SUM, FUSED_HEAD, {ANY}},
                                 {OP_SUM_AXIS, FUSED_FIRST_READER, {OUT}},
                                 {OP_DOT_AXIS, FUSED_NEXT, {OUT, NOT_OUT}}},
                           .head_stored = 0,
                           .runs_at = 1,
                           .required = 1},
    /* ... and so does its lincomb */
    [FUSED_SCALED_LINCOMB] = {.kind = FUSED_SCALED_LINCOMB,
                              .n = 2,
                              .m = {{OP_WEIGHTED_SUM, FUSED_HEAD, {ANY}},
                                    {OP_LINCOMB_AXIS, FUSED_LAST_READER, {OUT, NOT_OUT, NOT_OUT, NOT_OUT, NOT_OUT}}},
                              .head_stored = 0,
                              .runs_at = 1,
                              .required = 1},
    /* max pooling: each window's maximum written beside its index, which
     * is kept for the backward pass (one pass over x, as before the index
     * was a node of its own) */
    [FUSED_ARGMAX_GATHER] = {.kind = FUSED_ARGMAX_GATHER,
                             .n = 2,
                             .m = {{OP_MAXPOOL_ARGMAX, FUSED_HEAD, {ANY}}, {OP_GATHER_AT, FUSED_NEXT, {IN0, OUT}}},
                             .head_stored = 1,
                             .runs_at = 0},
    /* The ReLU before a depthwise convolution (every sep_conv and dil_conv)
     * is never stored: the convolution and its filter gradient apply it to
     * x while they copy planes into their padded buffers, and the mask of
     * its backward is read from x (x > 0 exactly when relu(x) > 0). One
     * instance per reader: an edge's four convolutions share the ReLU of
     * its input state. Where x is kept anyway (that state) this saves a
     * tensor and the ReLU's own pass. */
    [FUSED_RELU_CONV] = {.kind = FUSED_RELU_CONV,
                         .n = 2,
                         .m = {{OP_RELU, FUSED_HEAD, {ANY}}, {OP_CONV2D, FUSED_ANY_READER, {OUT, ANY}}},
                         .head_stored = 0,
                         .runs_at = 1,
                         .repeats = 1},
    [FUSED_RELU_FILTER] = {.kind = FUSED_RELU_FILTER,
                           .n = 2,
                           .m = {{OP_RELU, FUSED_HEAD, {ANY}}, {OP_CONV2D_BWD_FILTER, FUSED_ANY_READER, {OUT, NOT_OUT}}},
                           .head_stored = 0,
                           .runs_at = 1,
                           .repeats = 1},
    [FUSED_RELU_MASK] = {.kind = FUSED_RELU_MASK,
                         .n = 2,
                         .m = {{OP_RELU, FUSED_HEAD, {ANY}}, {OP_RELU_BWD, FUSED_ANY_READER, {OUT, NOT_OUT}}},
                         .head_stored = 0,
                         .runs_at = 1,
                         .repeats = 1},
};

/* The chain's members are found by fusion_plan.c, not by a pattern: n
 * is 0 here, and each instance says its own. */
static const fused_group chain_group = {.kind = FUSED_CHAIN, .n = 0, .head_stored = 1, .runs_at = 0};

int fused_chain_member_fits(const graph *g, const node *nd, size_t elems)
{
    switch (nd->op) {
    case OP_AXPBY:
    case OP_MUL:
    case OP_POWADD:
    case OP_BN_RUNNING_UPDATE: break;
    default: return 0;
    }
    if (nd->nin > FUSED_MAX_MEMBER_INPUTS || elems > FUSED_CHAIN_MAX_ELEMS) return 0;
    if (nd->out >= 0 && shape_numel(g->values[nd->out].shape) != elems) return 0;
    const int *in = graph_node_inputs(g, nd);
    for (int k = 0; k < nd->nin; k++)
        if (g->values[in[k]].is_int || shape_numel(g->values[in[k]].shape) != elems) return 0;
    return 1;
}

const fused_group *fused_group_of(fused_kind k)
{
    if (k == FUSED_CHAIN) return &chain_group;
    return k > FUSED_NONE && k < FUSED_KIND_END ? &groups[k] : NULL;
}

const char *fused_kind_name(fused_kind k)
{
    static const char *const names[FUSED_KIND_END] = {
        [FUSED_NONE] = "none",
#define TD_FUSED_NAME(id, name) [FUSED_##id] = name,
        TD_FUSED_GROUP_LIST(TD_FUSED_NAME)
#undef TD_FUSED_NAME
    };
    return k >= 0 && k < FUSED_KIND_END ? names[k] : "?";
}

int fused_member_op_fits(const fused_member *m, const graph *g, const node *nd)
{
    if (nd->op != m->op) return 0;
    switch (nd->op) {
    case OP_SUM_AXIS:
    case OP_DOT_AXIS:
    case OP_SCALE_AXIS:
    case OP_AFFINE_AXIS:
    case OP_LINCOMB_AXIS:
        return nd->p.axis == AXIS_C;
    case OP_WEIGHTED_SUM:
        /* one term with its weight: S = w[idx] G */
        return nd->p.wlen > 0 && nd->p.idx_len == 1 && nd->nin == 2;
    case OP_CONV2D:
    case OP_CONV2D_BWD_FILTER: {
        /* depthwise: one channel per group (both read x first) */
        int c = g->values[graph_node_inputs(g, nd)[0]].shape.c;
        return nd->p.groups > 1 && nd->p.groups == c;
    }
    default:
        return 1;
    }
}
