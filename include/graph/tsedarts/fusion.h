/* Fused groups: short runs of nodes that a backend may execute as one
 * kernel, declared once here. The executor finds them in a graph from
 * these declarations (engine/fusion_plan.c) and plans memory by what each
 * member stores; a backend says which groups it implements
 * (backend.fuses) and runs a group given its members' arguments
 * (backend.run_fused). A fused kernel gives the bits of its nodes run one
 * after the other, for any thread count. */
#ifndef TSEDARTS_FUSION_H
#define TSEDARTS_FUSION_H

#include "tsedarts/graph.h"

/* Columns: enum suffix, name. The patterns are in fused_groups[]
 * (core/graph/fusion.c). The first six are batch norm's, over channels;
 * argmax_gather is max pooling's; the three relu groups leave the ReLU
 * before a depthwise convolution unstored, each reader recomputing it from
 * the ReLU's input; the chain is the run of small arithmetic nodes around a
 * batch norm's statistics (the means, variances, their reciprocal roots,
 * the running update, the backward's coefficients), of any length from 2
 * to FUSED_MAX_MEMBERS. */
#define TD_FUSED_GROUP_LIST(X)                                                                           \
    X(SUM_DOT, "sum_dot")                   /* sum_axis(G), dot_axis(G, Z): G read once */             \
    X(CENTRED_DOT, "centred_dot")           /* affine_axis(x) -> xc, dot_axis(xc, xc) in one pass */   \
    X(CENTRED_VARIANCE, "centred_variance") /* the same, xc never stored (plane-sized scratch) */       \
    X(CENTRED_SCALE, "centred_scale")       /* scale_axis(xc, r) with that xc recomputed from x */      \
    X(SCALED_PAIR, "scaled_pair")           /* S = w G never stored: sum_axis(S), dot_axis(S, Z) */     \
    X(SCALED_LINCOMB, "scaled_lincomb")     /* lincomb_axis(S, ...) with that S recomputed from G */     \
    X(ARGMAX_GATHER, "argmax_gather")       /* maxpool_argmax(x) -> idx, gather_at(x, idx): one pass */   \
    X(RELU_CONV, "relu_conv")               /* depthwise conv2d(relu(x), w), relu(x) never stored */      \
    X(RELU_FILTER, "relu_filter")           /* its filter gradient, relu(x) recomputed from x */          \
    X(RELU_MASK, "relu_mask")               /* relu_bwd(relu(x), G) as relu_bwd(x, G): the same mask */   \
    X(CHAIN, "chain")                       /* consecutive per-channel arithmetic: one pass, any length */

typedef enum fused_kind {
    FUSED_NONE = 0,
#define TD_FUSED_ENUM(id, name) FUSED_##id,
    TD_FUSED_GROUP_LIST(TD_FUSED_ENUM)
#undef TD_FUSED_ENUM
    FUSED_KIND_END
} fused_kind;

const char *fused_kind_name(fused_kind k);

/* Where a member is, relative to the members before it. */
typedef enum fused_place {
    FUSED_HEAD,        /* member 0 */
    FUSED_NEXT,        /* the next needed node after the previous member */
    FUSED_FIRST_READER, /* the first needed node that reads the head's output */
    FUSED_LAST_READER, /* the last needed node that reads the head's output */
    FUSED_ANY_READER   /* the first needed node that reads the head's output,
                        * fits the member, and is neither an earlier member
                        * nor in an instance found before for this head */
} fused_place;

/* What a member's input must be. */
typedef enum fused_input {
    FUSED_IN_ANY = 0,
    FUSED_IN_HEAD_OUT,     /* the head's output */
    FUSED_IN_NOT_HEAD_OUT, /* anything but the head's output */
    FUSED_IN_HEAD_IN0      /* the head's first input */
} fused_input;

#define FUSED_MAX_MEMBERS 8
#define FUSED_MAX_MEMBER_INPUTS 5

typedef struct fused_member {
    op_kind op;                                           /* over channels (p.axis == AXIS_C) when it has an axis */
    fused_place place;
    unsigned char in[FUSED_MAX_MEMBER_INPUTS];            /* fused_input, per input */
} fused_member;

typedef struct fused_group {
    fused_kind kind;
    int n;                                /* members */
    fused_member m[FUSED_MAX_MEMBERS];
    /* 0: the head's output is never stored. Its readers must all be
     * members of this head's groups, which recompute it; the head itself
     * runs nothing unless a group runs there. */
    int head_stored;
    /* The member where the kernel runs; it covers that member and the
     * members after it, which are NEXT-placed. Earlier members (an
     * unstored head) run nothing. */
    int runs_at;
    /* An unstored head is accepted only when every required group of its
     * op is found. */
    int required;
    /* An unstored head's group found once for every reader that fits it
     * (its reading member ANY_READER-placed): a ReLU shared by the four
     * convolutions of an edge. */
    int repeats;
} fused_group;

const fused_group *fused_group_of(fused_kind k);

/* The chain (FUSED_CHAIN): a run of consecutive needed nodes, each one of
 * these ops on tensors of one size (every input and output the same
 * number of elements, at most FUSED_CHAIN_MAX_ELEMS), none stored only in
 * part: a kernel computes every member for one element index in turn, so
 * a member reads an earlier member's result where that member wrote it. */
#define FUSED_CHAIN_MAX_ELEMS 65536
int fused_chain_member_fits(const graph *g, const node *nd, size_t elems);

/* Whether node nd fits member m's op and axis (not its inputs). */
int fused_member_op_fits(const fused_member *m, const graph *g, const node *nd);

#endif
