/* Pooling: window max (an argmax, then a gather at it; the scatter to it
 * is the gather's adjoint), window mean and its adjoint, global average
 * and its adjoint. */
#include "op_family.h"

/* f32 against f64. Evidence: test_f32_f64 prints the worst |a - b| /
 * (1e-7 + 1e-7 |b|) per op; the largest seen in this family was 0.80
 * (scatter_at), and test_wide_kernels 1.9 on the wide cases (the
 * scatter's sums of up to nine window terms). The project-wide bars (atol
 * 2e-6, rtol 1e-6; wide 4e-5, 2e-5, set by the convolutions) leave far
 * more than that; a wrong window position errs by 1e-2 or more. */
static const op_tolerance pool_tol = {.rtol = 1e-6, .atol = 2e-6};
static const op_tolerance pool_wide_tol = {.rtol = 2e-5, .atol = 4e-5};

static node_params pool_params(int k, int stride, int pad)
{
    node_params p = op_params();
    p.k = k;
    p.stride = stride;
    p.pad = pad;
    return p;
}

static shape4 pool_out_shape(shape4 x, const node_params *p)
{
    shape4 bad = {-1, 0, 0, 0};
    if (p->k < 1 || p->stride < 1 || p->pad < 0 || 2 * p->pad > p->k || x.h + 2 * p->pad < p->k ||
        x.w + 2 * p->pad < p->k)
        return bad;
    return shape_make(x.n, x.c, (x.h + 2 * p->pad - p->k) / p->stride + 1, (x.w + 2 * p->pad - p->k) / p->stride + 1);
}

/* The pooled x, for the ops whose one input is x. */
static int pool_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(1);
    shape4 s = pool_out_shape(vshape(g, in[0]), p);
    NEED(s.n > 0, "%s: window %d stride %d pad %d does not fit %s", op_name(op), p->k, p->stride, p->pad,
         op_fmt_shape(0, vshape(g, in[0])));
    *out = s;
    return 1;
}

/* Case parameters: ip = {k, stride, pad, count_pad}; avgpool_bwd's sp is
 * the x shape. */

/* --- max pooling ------------------------------------------------------- */
/* Two nodes (layer_maxpool builds them): idx = maxpool_argmax(x), then
 * y = gather_at(x, idx). The backward sends G to those same indices
 * (scatter_at) and the forward-mode rule gathers the tangent there, so no
 * rule scans a window again; backends run the pair as one kernel
 * (FUSED_ARGMAX_GATHER). gather_at and scatter_at carry the pooling's
 * geometry and require each index to lie in its own window: that is what
 * lets the scatter visit, for each pixel, only the windows holding it. */

static int window_indices_fit(graph *g, int idx, shape4 x, const node_params *p)
{
    shape4 s = pool_out_shape(x, p);
    return s.n > 0 && shape_equal(s, vshape(g, idx));
}

/* --- maxpool_argmax: (x) -> int32 index of each window's first maximum - */

int op_maxpool_argmax(graph *g, int x, int k, int stride, int pad)
{
    if (op_any_bad(g, 1, &x)) return -1;
    node_params p = pool_params(k, stride, pad);
    return graph_add_node(g, OP_MAXPOOL_ARGMAX, 1, &x, &p);
}

/* The index is an int32 value, which no role buffer can hold: the cases
 * read it through gather_at, so every check sees both the indices (node by
 * node) and the maxima they pick. */
static int maxpool_argmax_case(graph *g, const op_case *c, const int *in)
{
    int idx = op_maxpool_argmax(g, in[0], c->ip[0], c->ip[1], c->ip[2]);
    return op_gather_at(g, in[0], idx, c->ip[0], c->ip[1], c->ip[2]);
}

static const op_case maxpool_argmax_cases[] = {
    {"maxpool_argmax 3x3 s1 p1", OP_MAXPOOL_ARGMAX, 1, {S(2, 3, 6, 7)}, {R}, {3, 1, 1}},
    {"maxpool_argmax 3x3 s2 p1 odd", OP_MAXPOOL_ARGMAX, 1, {S(1, 2, 5, 5)}, {R}, {3, 2, 1}},
    {"maxpool_argmax 3x3 s2 p1 even", OP_MAXPOOL_ARGMAX, 1, {S(2, 2, 6, 6)}, {R}, {3, 2, 1}},
};

static const op_case maxpool_argmax_wide_cases[] = {
    {"wide maxpool_argmax 3x3 s1 32x32", OP_MAXPOOL_ARGMAX, 1, {S(2, 8, 32, 32)}, {R}, {3, 1, 1}},
    {"wide maxpool_argmax 3x3 s1 13x13", OP_MAXPOOL_ARGMAX, 1, {S(2, 8, 13, 13)}, {R}, {3, 1, 1}},
    {"wide maxpool_argmax 3x3 s2 32x32", OP_MAXPOOL_ARGMAX, 1, {S(2, 8, 32, 32)}, {R}, {3, 2, 1}},
};

const op_def op_def_maxpool_argmax = {
    .op = OP_MAXPOOL_ARGMAX,
    .nondiff_inputs = 1u << 0, /* an index has no derivative */
    .int_output = 1,
    .shape = pool_shape,
    .build_case = maxpool_argmax_case,
    OP_CASES(maxpool_argmax_cases),
    OP_WIDE_CASES(maxpool_argmax_wide_cases),
    .f32_vs_f64 = &pool_tol,
    .f32_vs_f64_wide = &pool_wide_tol,
};

/* --- gather_at: (x, idx) -> x at each window's index ------------------- */

int op_gather_at(graph *g, int x, int idx, int k, int stride, int pad)
{
    int in[2] = {x, idx};
    if (op_any_bad(g, 2, in)) return -1;
    node_params p = pool_params(k, stride, pad);
    return graph_add_node(g, OP_GATHER_AT, 2, in, &p);
}

static int gather_at_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(2);
    NEED(window_indices_fit(g, in[1], vshape(g, in[0]), p),
         "gather_at: indices %s are not x %s pooled by window %d stride %d pad %d", op_fmt_shape(0, vshape(g, in[1])),
         op_fmt_shape(1, vshape(g, in[0])), p->k, p->stride, p->pad);
    *out = vshape(g, in[1]);
    return 1;
}

static void gather_at_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    const node_params *p = a->p;
    ct[0] = op_scatter_at(g, G, a->in[1], vshape(g, a->in[0]), p->k, p->stride, p->pad);
}

static int gather_at_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    return op_gather_at(g, t[0], a->in[1], p->k, p->stride, p->pad);
}

/* in = {x, s}: gathers x at the window maxima of an independent s, so
 * that finite differences in x never cross a change of index. */
static int gather_at_case(graph *g, const op_case *c, const int *in)
{
    int idx = op_maxpool_argmax(g, in[1], c->ip[0], c->ip[1], c->ip[2]);
    return op_gather_at(g, in[0], idx, c->ip[0], c->ip[1], c->ip[2]);
}

static const op_case gather_at_cases[] = {
    {"gather_at 3x3 s1", OP_GATHER_AT, 2, {S(2, 3, 6, 7), S(2, 3, 6, 7)}, {R, R}, {3, 1, 1}},
    {"gather_at 3x3 s2", OP_GATHER_AT, 2, {S(1, 2, 5, 5), S(1, 2, 5, 5)}, {R, R}, {3, 2, 1}},
};

static const op_case gather_at_wide_cases[] = {
    {"wide gather_at 3x3 s1 32x32", OP_GATHER_AT, 2, {S(2, 8, 32, 32), S(2, 8, 32, 32)}, {R, R}, {3, 1, 1}},
    {"wide gather_at 3x3 s2 28x28", OP_GATHER_AT, 2, {S(2, 8, 28, 28), S(2, 8, 28, 28)}, {R, R}, {3, 2, 1}},
};

const op_def op_def_gather_at = {
    .op = OP_GATHER_AT,
    .int_inputs = 1u << 1,
    .nondiff_inputs = 1u << 1,
    .shape = gather_at_shape,
    .vjp = gather_at_vjp,
    .jvp = gather_at_jvp,
    .build_case = gather_at_case,
    OP_CASES(gather_at_cases),
    OP_WIDE_CASES(gather_at_wide_cases),
    .f32_vs_f64 = &pool_tol,
    .f32_vs_f64_wide = &pool_wide_tol,
};

/* --- scatter_at: (g, idx) -> g sent to each window's index ------------- */

int op_scatter_at(graph *g, int gr, int idx, shape4 xshape, int k, int stride, int pad)
{
    int in[2] = {gr, idx};
    if (op_any_bad(g, 2, in)) return -1;
    node_params p = pool_params(k, stride, pad);
    p.shape = xshape;
    return graph_add_node(g, OP_SCATTER_AT, 2, in, &p);
}

static int scatter_at_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(2);
    SAME(in[0], in[1]);
    NEED(window_indices_fit(g, in[1], p->shape, p), "scatter_at: g %s is not x %s pooled by window %d stride %d pad %d",
         op_fmt_shape(0, vshape(g, in[0])), op_fmt_shape(1, p->shape), p->k, p->stride, p->pad);
    *out = p->shape;
    return 1;
}

static void scatter_at_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    const node_params *p = a->p;
    ct[0] = op_gather_at(g, G, a->in[1], p->k, p->stride, p->pad);
}

static int scatter_at_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    return op_scatter_at(g, t[0], a->in[1], p->shape, p->k, p->stride, p->pad);
}

/* in = {g, s}: g sent to the window maxima of s, which has x's shape. */
static int scatter_at_case(graph *g, const op_case *c, const int *in)
{
    int idx = op_maxpool_argmax(g, in[1], c->ip[0], c->ip[1], c->ip[2]);
    return op_scatter_at(g, in[0], idx, c->in[1], c->ip[0], c->ip[1], c->ip[2]);
}

/* The 2x2 case is DrNAS's reduction pooling; its fifth row and column lie
 * in no window. */
static const op_case scatter_at_cases[] = {
    {"scatter_at 3x3 s1", OP_SCATTER_AT, 2, {S(2, 3, 6, 7), S(2, 3, 6, 7)}, {R, R}, {3, 1, 1}},
    {"scatter_at 2x2 s2 p0", OP_SCATTER_AT, 2, {S(1, 2, 2, 2), S(1, 2, 5, 5)}, {R, R}, {2, 2, 0}},
};

static const op_case scatter_at_wide_cases[] = {
    {"wide scatter_at 3x3 s1 32x32", OP_SCATTER_AT, 2, {S(2, 8, 32, 32), S(2, 8, 32, 32)}, {R, R}, {3, 1, 1}},
    {"wide scatter_at 3x3 s1 13x13", OP_SCATTER_AT, 2, {S(2, 8, 13, 13), S(2, 8, 13, 13)}, {R, R}, {3, 1, 1}},
    {"wide scatter_at 3x3 s2 32x32", OP_SCATTER_AT, 2, {S(2, 8, 16, 16), S(2, 8, 32, 32)}, {R, R}, {3, 2, 1}},
};

const op_def op_def_scatter_at = {
    .op = OP_SCATTER_AT,
    .int_inputs = 1u << 1,
    .nondiff_inputs = 1u << 1,
    .shape = scatter_at_shape,
    .vjp = scatter_at_vjp,
    .jvp = scatter_at_jvp,
    .build_case = scatter_at_case,
    OP_CASES(scatter_at_cases),
    OP_WIDE_CASES(scatter_at_wide_cases),
    .f32_vs_f64 = &pool_tol,
    .f32_vs_f64_wide = &pool_wide_tol,
};

/* --- avgpool: (x) -> window mean --------------------------------------- */

int op_avgpool(graph *g, int x, int k, int stride, int pad, int count_pad)
{
    if (op_any_bad(g, 1, &x)) return -1;
    node_params p = pool_params(k, stride, pad);
    p.count_pad = count_pad;
    return graph_add_node(g, OP_AVGPOOL, 1, &x, &p);
}

static void avgpool_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    const node_params *p = a->p;
    ct[0] = op_avgpool_bwd(g, G, vshape(g, a->in[0]), p->k, p->stride, p->pad, p->count_pad);
}

static int avgpool_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    return op_avgpool(g, t[0], p->k, p->stride, p->pad, p->count_pad);
}

static int avgpool_case(graph *g, const op_case *c, const int *in)
{
    return op_avgpool(g, in[0], c->ip[0], c->ip[1], c->ip[2], c->ip[3]);
}

static const op_case avgpool_cases[] = {
    {"avgpool 3x3 s1 p1 exclude-pad", OP_AVGPOOL, 1, {S(2, 3, 6, 7)}, {R}, {3, 1, 1, 0}},
    {"avgpool 3x3 s2 p1 exclude-pad", OP_AVGPOOL, 1, {S(1, 2, 5, 5)}, {R}, {3, 2, 1, 0}},
    {"avgpool 3x3 s1 p1 include-pad", OP_AVGPOOL, 1, {S(1, 2, 5, 4)}, {R}, {3, 1, 1, 1}},
    {"avgpool 5x5 s3 (aux head)", OP_AVGPOOL, 1, {S(2, 3, 8, 8)}, {R}, {5, 3, 0, 0}},
};

static const op_case avgpool_wide_cases[] = {
    {"wide avgpool 3x3 s1 32x32", OP_AVGPOOL, 1, {S(2, 8, 32, 32)}, {R}, {3, 1, 1, 0}},
    {"wide avgpool 3x3 s2 28x28", OP_AVGPOOL, 1, {S(2, 8, 28, 28)}, {R}, {3, 2, 1, 0}},
};

const op_def op_def_avgpool = {
    .op = OP_AVGPOOL,
    .shape = pool_shape,
    .vjp = avgpool_vjp,
    .jvp = avgpool_jvp,
    .build_case = avgpool_case,
    OP_CASES(avgpool_cases),
    OP_WIDE_CASES(avgpool_wide_cases),
    .f32_vs_f64 = &pool_tol,
    .f32_vs_f64_wide = &pool_wide_tol,
};

/* --- avgpool_bwd: (g) -> the adjoint of avgpool ------------------------ */

int op_avgpool_bwd(graph *g, int gr, shape4 xshape, int k, int stride, int pad, int count_pad)
{
    if (op_any_bad(g, 1, &gr)) return -1;
    node_params p = pool_params(k, stride, pad);
    p.count_pad = count_pad;
    p.shape = xshape;
    return graph_add_node(g, OP_AVGPOOL_BWD, 1, &gr, &p);
}

static int avgpool_bwd_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(1);
    shape4 s = pool_out_shape(p->shape, p);
    NEED(s.n > 0 && shape_equal(s, vshape(g, in[0])), "avgpool_bwd: g does not match the pooled x");
    *out = p->shape;
    return 1;
}

static void avgpool_bwd_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    const node_params *p = a->p;
    ct[0] = op_avgpool(g, G, p->k, p->stride, p->pad, p->count_pad);
}

static int avgpool_bwd_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    return op_avgpool_bwd(g, t[0], p->shape, p->k, p->stride, p->pad, p->count_pad);
}

static int avgpool_bwd_case(graph *g, const op_case *c, const int *in)
{
    return op_avgpool_bwd(g, in[0], c->sp, c->ip[0], c->ip[1], c->ip[2], c->ip[3]);
}

static const op_case avgpool_bwd_cases[] = {
    {"avgpool_bwd 3x3 s1", OP_AVGPOOL_BWD, 1, {S(2, 3, 6, 7)}, {R}, {3, 1, 1, 0}, {0}, S(2, 3, 6, 7)},
    {"avgpool_bwd 3x3 s2 odd", OP_AVGPOOL_BWD, 1, {S(1, 2, 3, 3)}, {R}, {3, 2, 1, 0}, {0}, S(1, 2, 5, 5)},
    {"avgpool_bwd 5x5 s3", OP_AVGPOOL_BWD, 1, {S(2, 3, 2, 2)}, {R}, {5, 3, 0, 0}, {0}, S(2, 3, 8, 8)},
};

static const op_case avgpool_bwd_wide_cases[] = {
    {"wide avgpool_bwd 3x3 s1 32x32", OP_AVGPOOL_BWD, 1, {S(2, 8, 32, 32)}, {R}, {3, 1, 1, 0}, {0}, S(2, 8, 32, 32)},
    {"wide avgpool_bwd 3x3 s2 32x32", OP_AVGPOOL_BWD, 1, {S(2, 8, 16, 16)}, {R}, {3, 2, 1, 0}, {0}, S(2, 8, 32, 32)},
};

const op_def op_def_avgpool_bwd = {
    .op = OP_AVGPOOL_BWD,
    .shape = avgpool_bwd_shape,
    .vjp = avgpool_bwd_vjp,
    .jvp = avgpool_bwd_jvp,
    .build_case = avgpool_bwd_case,
    OP_CASES(avgpool_bwd_cases),
    OP_WIDE_CASES(avgpool_bwd_wide_cases),
    .f32_vs_f64 = &pool_tol,
    .f32_vs_f64_wide = &pool_wide_tol,
};

/* --- global_avgpool: (x) -> (N, C, 1, 1) mean -------------------------- */

int op_gap(graph *g, int x) { return op_unary(g, OP_GAP, x); }

static int gap_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)p;
    NIN(1);
    shape4 x = vshape(g, in[0]);
    *out = shape_make(x.n, x.c, 1, 1);
    return 1;
}

static void gap_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_gap_bwd(g, G, vshape(g, a->in[0]));
}

static int gap_jvp(graph *g, const op_rule_args *a, const int *t)
{
    (void)a;
    return op_gap(g, t[0]);
}

static int gap_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_gap(g, in[0]);
}

static const op_case gap_cases[] = {
    {"global_avgpool", OP_GAP, 1, {S(2, 3, 4, 5)}, {R}},
};

const op_def op_def_global_avgpool = {
    .op = OP_GAP,
    .shape = gap_shape,
    .vjp = gap_vjp,
    .jvp = gap_jvp,
    .build_case = gap_case,
    OP_CASES(gap_cases),
    .f32_vs_f64 = &pool_tol,
};

/* --- global_avgpool_bwd: (g) -> g / HW broadcast ----------------------- */

int op_gap_bwd(graph *g, int gr, shape4 xshape)
{
    if (op_any_bad(g, 1, &gr)) return -1;
    node_params p = op_params();
    p.shape = xshape;
    return graph_add_node(g, OP_GAP_BWD, 1, &gr, &p);
}

static int gap_bwd_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(1);
    shape4 gr = vshape(g, in[0]);
    NEED(gr.n == p->shape.n && gr.c == p->shape.c && gr.h == 1 && gr.w == 1,
         "global_avgpool_bwd: g %s does not match x %s", op_fmt_shape(0, gr), op_fmt_shape(1, p->shape));
    *out = p->shape;
    return 1;
}

static void gap_bwd_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)a, (void)want;
    ct[0] = op_gap(g, G);
}

static int gap_bwd_jvp(graph *g, const op_rule_args *a, const int *t) { return op_gap_bwd(g, t[0], a->p->shape); }

static int gap_bwd_case(graph *g, const op_case *c, const int *in) { return op_gap_bwd(g, in[0], c->sp); }

static const op_case gap_bwd_cases[] = {
    {"global_avgpool_bwd", OP_GAP_BWD, 1, {S(2, 3, 1, 1)}, {R}, {0}, {0}, S(2, 3, 4, 5)},
};

const op_def op_def_global_avgpool_bwd = {
    .op = OP_GAP_BWD,
    .shape = gap_bwd_shape,
    .vjp = gap_bwd_vjp,
    .jvp = gap_bwd_jvp,
    .build_case = gap_bwd_case,
    OP_CASES(gap_bwd_cases),
    .f32_vs_f64 = &pool_tol,
};
