/* Convolutions: forward, and the two adjoints (data and filter), which are
 * primitives in their own right so that the backward pass can itself be
 * differentiated. No bias; groups cover depthwise convolutions. */
#include "op_family.h"

/* f32 against f64 on the cases below (inputs in [-1, 1)). Evidence:
 * test_f32_f64 prints the worst |a - b| / (1e-7 + 1e-7 |b|) per op; the
 * largest seen was 3.2 (conv2d_bwd_filter, sums of up to 98 products of
 * f32-rounded inputs), i.e. errors up to 3.2e-7 (1 + |b|). atol 2e-6 and
 * rtol 1e-6 leave about six times that. */
static const op_tolerance conv_tol = {.rtol = 1e-6, .atol = 2e-6};
/* The wide cases (maps up to 33x33, batch 2): weight gradients add up to
 * 2,048 products of f32-rounded inputs, and that rounding grows with the
 * square root of the count. Evidence: test_wide_kernels prints the worst
 * |a - b| / (1e-7 + 1e-7 |b|) per case; the largest seen was 81
 * (conv2d_bwd_filter depthwise 3x3 on 32x32), i.e. errors up to 8.1e-6
 * (1 + |b|). atol 4e-5 and rtol 2e-5 leave about five times that; a wrong
 * tap or index errs by 1e-2 or more. */
static const op_tolerance conv_wide_tol = {.rtol = 2e-5, .atol = 4e-5};

static node_params conv_params(int stride, int pad, int dil, int groups, int kh, int kw)
{
    node_params p = op_params();
    p.stride = stride;
    p.pad = pad;
    p.dil = dil;
    p.groups = groups;
    p.kh = kh;
    p.kw = kw;
    return p;
}

/* Output shape of a conv, or n = -1 if it does not exist. */
static shape4 conv_out_shape(shape4 x, shape4 w, const node_params *p)
{
    shape4 bad = {-1, 0, 0, 0};
    if (p->groups < 1 || x.c % p->groups || w.n % p->groups || w.c != x.c / p->groups || p->stride < 1 ||
        p->dil < 1 || p->pad < 0)
        return bad;
    int ho = (x.h + 2 * p->pad - p->dil * (w.h - 1) - 1) / p->stride + 1;
    int wo = (x.w + 2 * p->pad - p->dil * (w.w - 1) - 1) / p->stride + 1;
    if (x.h + 2 * p->pad - p->dil * (w.h - 1) - 1 < 0 || x.w + 2 * p->pad - p->dil * (w.w - 1) - 1 < 0) return bad;
    return shape_make(x.n, w.n, ho, wo);
}

/* Case parameters of the three ops: ip = {stride, pad, dil, groups, kh, kw}
 * (kh, kw for bwd_filter only); bwd_data's sp is the x shape. */

/* --- conv2d: (x, w) -> y --------------------------------------------- */

int op_conv2d(graph *g, int x, int w, int stride, int pad, int dil, int groups)
{
    int in[2] = {x, w};
    if (op_any_bad(g, 2, in)) return -1;
    shape4 ws = vshape(g, w);
    node_params p = conv_params(stride, pad, dil, groups, ws.h, ws.w);
    return graph_add_node(g, OP_CONV2D, 2, in, &p);
}

static int conv2d_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(2);
    shape4 s = conv_out_shape(vshape(g, in[0]), vshape(g, in[1]), p);
    NEED(s.n > 0, "conv2d: x %s and w %s do not fit (stride %d pad %d dil %d groups %d)",
         op_fmt_shape(0, vshape(g, in[0])), op_fmt_shape(1, vshape(g, in[1])), p->stride, p->pad, p->dil,
         p->groups);
    *out = s;
    return 1;
}

static void conv2d_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const node_params *p = a->p;
    const int *in = a->in;
    if (want[0]) ct[0] = op_conv2d_bwd_data(g, G, in[1], vshape(g, in[0]), p->stride, p->pad, p->dil, p->groups);
    if (want[1]) ct[1] = op_conv2d_bwd_filter(g, in[0], G, p->kh, p->kw, p->stride, p->pad, p->dil, p->groups);
}

static int conv2d_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    const int *in = a->in;
    return op_add_opt(g, t[0] >= 0 ? op_conv2d(g, t[0], in[1], p->stride, p->pad, p->dil, p->groups) : -1,
                      t[1] >= 0 ? op_conv2d(g, in[0], t[1], p->stride, p->pad, p->dil, p->groups) : -1);
}

static int conv2d_case(graph *g, const op_case *c, const int *in)
{
    const int *ip = c->ip;
    return op_conv2d(g, in[0], in[1], ip[0], ip[1], ip[2], ip[3]);
}

static const op_case conv2d_cases[] = {
    {"conv2d 3x3 s1 p1", OP_CONV2D, 2, {S(2, 3, 5, 6), S(4, 3, 3, 3)}, {R, R}, {1, 1, 1, 1}},
    {"conv2d 3x3 s2 p1 odd", OP_CONV2D, 2, {S(2, 3, 7, 7), S(4, 3, 3, 3)}, {R, R}, {2, 1, 1, 1}},
    {"conv2d dw 5x5 s2 p4 d2", OP_CONV2D, 2, {S(2, 4, 9, 9), S(4, 1, 5, 5)}, {R, R}, {2, 4, 2, 4}},
    {"conv2d dw 3x3 s1 p2 d2", OP_CONV2D, 2, {S(1, 3, 6, 5), S(3, 1, 3, 3)}, {R, R}, {1, 2, 2, 3}},
    {"conv2d 1x1 s2", OP_CONV2D, 2, {S(2, 4, 7, 6), S(6, 4, 1, 1)}, {R, R}, {2, 0, 1, 1}},
    {"conv2d groups 2", OP_CONV2D, 2, {S(1, 4, 5, 5), S(6, 2, 3, 3)}, {R, R}, {1, 1, 1, 2}},
    {"conv2d 2x2 valid", OP_CONV2D, 2, {S(2, 3, 2, 2), S(5, 3, 2, 2)}, {R, R}, {1, 0, 1, 1}},
};

/* Map widths of real networks (8 to 33, some odd): the small cases never
 * reach the CPU kernels' vector paths (rows of 8 and more, stride-2 splits
 * of 16 and more) nor their scalar tails. */
#define DW(s, p, d) {s, p, d, 8} /* depthwise on 8 channels */
static const op_case conv2d_wide_cases[] = {
    {"wide conv2d dw 3x3 s1 32x32", OP_CONV2D, 2, {S(2, 8, 32, 32), S(8, 1, 3, 3)}, {R, R}, DW(1, 1, 1)},
    {"wide conv2d dw 5x5 s1 28x28", OP_CONV2D, 2, {S(2, 8, 28, 28), S(8, 1, 5, 5)}, {R, R}, DW(1, 2, 1)},
    {"wide conv2d dw 3x3 s1 d2 16x16", OP_CONV2D, 2, {S(2, 8, 16, 16), S(8, 1, 3, 3)}, {R, R}, DW(1, 2, 2)},
    {"wide conv2d dw 5x5 s1 d2 13x13", OP_CONV2D, 2, {S(2, 8, 13, 13), S(8, 1, 5, 5)}, {R, R}, DW(1, 4, 2)},
    {"wide conv2d dw 3x3 s2 32x32", OP_CONV2D, 2, {S(2, 8, 32, 32), S(8, 1, 3, 3)}, {R, R}, DW(2, 1, 1)},
    {"wide conv2d dw 5x5 s2 28x28", OP_CONV2D, 2, {S(2, 8, 28, 28), S(8, 1, 5, 5)}, {R, R}, DW(2, 2, 1)},
    {"wide conv2d dw 3x3 s2 d2 33x33", OP_CONV2D, 2, {S(2, 8, 33, 33), S(8, 1, 3, 3)}, {R, R}, DW(2, 2, 2)},
    {"wide conv2d dw 5x5 s2 d2 16x16", OP_CONV2D, 2, {S(2, 8, 16, 16), S(8, 1, 5, 5)}, {R, R}, DW(2, 4, 2)},
    {"wide conv2d 1x1 16->16 32x32", OP_CONV2D, 2, {S(2, 16, 32, 32), S(16, 16, 1, 1)}, {R, R}, {1, 0, 1, 1}},
    {"wide conv2d 1x1 s2 16->8 32x32", OP_CONV2D, 2, {S(2, 16, 32, 32), S(8, 16, 1, 1)}, {R, R}, {2, 0, 1, 1}},
    {"wide conv2d 3x3 3->24 32x32", OP_CONV2D, 2, {S(2, 3, 32, 32), S(24, 3, 3, 3)}, {R, R}, {1, 1, 1, 1}},
};

const op_def op_def_conv2d = {
    .op = OP_CONV2D,
    .shape = conv2d_shape,
    .vjp = conv2d_vjp,
    .jvp = conv2d_jvp,
    .build_case = conv2d_case,
    OP_CASES(conv2d_cases),
    OP_WIDE_CASES(conv2d_wide_cases),
    .f32_vs_f64 = &conv_tol,
    .f32_vs_f64_wide = &conv_wide_tol,
};

/* --- conv2d_bwd_data: (dy, w) -> dx ------------------------------------ */

int op_conv2d_bwd_data(graph *g, int dy, int w, shape4 xshape, int stride, int pad, int dil, int groups)
{
    int in[2] = {dy, w};
    if (op_any_bad(g, 2, in)) return -1;
    shape4 ws = vshape(g, w);
    node_params p = conv_params(stride, pad, dil, groups, ws.h, ws.w);
    p.shape = xshape;
    return graph_add_node(g, OP_CONV2D_BWD_DATA, 2, in, &p);
}

static int conv2d_bwd_data_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(2);
    shape4 s = conv_out_shape(p->shape, vshape(g, in[1]), p);
    NEED(s.n > 0 && shape_equal(s, vshape(g, in[0])), "conv2d_bwd_data: dy %s does not match x %s and w %s",
         op_fmt_shape(0, vshape(g, in[0])), op_fmt_shape(1, p->shape), op_fmt_shape(2, vshape(g, in[1])));
    *out = p->shape;
    return 1;
}

/* G is dx-shaped. */
static void conv2d_bwd_data_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const node_params *p = a->p;
    const int *in = a->in;
    if (want[0]) ct[0] = op_conv2d(g, G, in[1], p->stride, p->pad, p->dil, p->groups);
    if (want[1]) ct[1] = op_conv2d_bwd_filter(g, G, in[0], p->kh, p->kw, p->stride, p->pad, p->dil, p->groups);
}

static int conv2d_bwd_data_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    const int *in = a->in;
    return op_add_opt(
        g, t[0] >= 0 ? op_conv2d_bwd_data(g, t[0], in[1], p->shape, p->stride, p->pad, p->dil, p->groups) : -1,
        t[1] >= 0 ? op_conv2d_bwd_data(g, in[0], t[1], p->shape, p->stride, p->pad, p->dil, p->groups) : -1);
}

static int conv2d_bwd_data_case(graph *g, const op_case *c, const int *in)
{
    const int *ip = c->ip;
    return op_conv2d_bwd_data(g, in[0], in[1], c->sp, ip[0], ip[1], ip[2], ip[3]);
}

static const op_case conv2d_bwd_data_cases[] = {
    {"conv2d_bwd_data 3x3 s1", OP_CONV2D_BWD_DATA, 2, {S(2, 4, 5, 6), S(4, 3, 3, 3)}, {R, R}, {1, 1, 1, 1}, {0},
     S(2, 3, 5, 6)},
    {"conv2d_bwd_data 3x3 s2 odd", OP_CONV2D_BWD_DATA, 2, {S(2, 4, 4, 4), S(4, 3, 3, 3)}, {R, R}, {2, 1, 1, 1}, {0},
     S(2, 3, 7, 7)},
    {"conv2d_bwd_data dw 5x5 s2 d2", OP_CONV2D_BWD_DATA, 2, {S(2, 4, 5, 5), S(4, 1, 5, 5)}, {R, R}, {2, 4, 2, 4},
     {0}, S(2, 4, 9, 9)},
    {"conv2d_bwd_data 1x1 s2 even", OP_CONV2D_BWD_DATA, 2, {S(1, 5, 3, 3), S(5, 2, 1, 1)}, {R, R}, {2, 0, 1, 1},
     {0}, S(1, 2, 6, 6)},
};

static const op_case conv2d_bwd_data_wide_cases[] = {
    {"wide conv2d_bwd_data dw 3x3 s1 32x32", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 32, 32), S(8, 1, 3, 3)}, {R, R},
     DW(1, 1, 1), {0}, S(2, 8, 32, 32)},
    {"wide conv2d_bwd_data dw 5x5 s1 28x28", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 28, 28), S(8, 1, 5, 5)}, {R, R},
     DW(1, 2, 1), {0}, S(2, 8, 28, 28)},
    {"wide conv2d_bwd_data dw 3x3 s1 d2 16x16", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 16, 16), S(8, 1, 3, 3)}, {R, R},
     DW(1, 2, 2), {0}, S(2, 8, 16, 16)},
    {"wide conv2d_bwd_data dw 3x3 s2 32x32", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 16, 16), S(8, 1, 3, 3)}, {R, R},
     DW(2, 1, 1), {0}, S(2, 8, 32, 32)},
    {"wide conv2d_bwd_data dw 5x5 s2 28x28", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 14, 14), S(8, 1, 5, 5)}, {R, R},
     DW(2, 2, 1), {0}, S(2, 8, 28, 28)},
    {"wide conv2d_bwd_data dw 3x3 s2 d2 33x33", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 17, 17), S(8, 1, 3, 3)}, {R, R},
     DW(2, 2, 2), {0}, S(2, 8, 33, 33)},
    {"wide conv2d_bwd_data 1x1 32x32", OP_CONV2D_BWD_DATA, 2, {S(2, 16, 32, 32), S(16, 16, 1, 1)}, {R, R},
     {1, 0, 1, 1}, {0}, S(2, 16, 32, 32)},
    {"wide conv2d_bwd_data 1x1 s2 32x32", OP_CONV2D_BWD_DATA, 2, {S(2, 8, 16, 16), S(8, 16, 1, 1)}, {R, R},
     {2, 0, 1, 1}, {0}, S(2, 16, 32, 32)},
};

const op_def op_def_conv2d_bwd_data = {
    .op = OP_CONV2D_BWD_DATA,
    .shape = conv2d_bwd_data_shape,
    .vjp = conv2d_bwd_data_vjp,
    .jvp = conv2d_bwd_data_jvp,
    .build_case = conv2d_bwd_data_case,
    OP_CASES(conv2d_bwd_data_cases),
    OP_WIDE_CASES(conv2d_bwd_data_wide_cases),
    .f32_vs_f64 = &conv_tol,
    .f32_vs_f64_wide = &conv_wide_tol,
};

/* --- conv2d_bwd_filter: (x, dy) -> dw ---------------------------------- */

int op_conv2d_bwd_filter(graph *g, int x, int dy, int kh, int kw, int stride, int pad, int dil, int groups)
{
    int in[2] = {x, dy};
    if (op_any_bad(g, 2, in)) return -1;
    node_params p = conv_params(stride, pad, dil, groups, kh, kw);
    return graph_add_node(g, OP_CONV2D_BWD_FILTER, 2, in, &p);
}

static int conv2d_bwd_filter_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p,
                                   shape4 *out)
{
    NIN(2);
    shape4 x = vshape(g, in[0]), dy = vshape(g, in[1]);
    NEED(p->groups >= 1 && x.c % p->groups == 0, "conv2d_bwd_filter: bad groups");
    shape4 w = shape_make(dy.c, x.c / p->groups, p->kh, p->kw);
    shape4 s = conv_out_shape(x, w, p);
    NEED(s.n > 0 && shape_equal(s, dy), "conv2d_bwd_filter: x %s and dy %s do not fit", op_fmt_shape(0, x),
         op_fmt_shape(1, dy));
    *out = w;
    return 1;
}

/* G is w-shaped. */
static void conv2d_bwd_filter_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const node_params *p = a->p;
    const int *in = a->in;
    if (want[0]) ct[0] = op_conv2d_bwd_data(g, in[1], G, vshape(g, in[0]), p->stride, p->pad, p->dil, p->groups);
    if (want[1]) ct[1] = op_conv2d(g, in[0], G, p->stride, p->pad, p->dil, p->groups);
}

static int conv2d_bwd_filter_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    const int *in = a->in;
    return op_add_opt(
        g, t[0] >= 0 ? op_conv2d_bwd_filter(g, t[0], in[1], p->kh, p->kw, p->stride, p->pad, p->dil, p->groups) : -1,
        t[1] >= 0 ? op_conv2d_bwd_filter(g, in[0], t[1], p->kh, p->kw, p->stride, p->pad, p->dil, p->groups) : -1);
}

static int conv2d_bwd_filter_case(graph *g, const op_case *c, const int *in)
{
    const int *ip = c->ip;
    return op_conv2d_bwd_filter(g, in[0], in[1], ip[4], ip[5], ip[0], ip[1], ip[2], ip[3]);
}

static const op_case conv2d_bwd_filter_cases[] = {
    {"conv2d_bwd_filter 3x3 s1", OP_CONV2D_BWD_FILTER, 2, {S(2, 3, 5, 6), S(2, 4, 5, 6)}, {R, R}, {1, 1, 1, 1, 3, 3}},
    {"conv2d_bwd_filter 3x3 s2 odd", OP_CONV2D_BWD_FILTER, 2, {S(2, 3, 7, 7), S(2, 4, 4, 4)}, {R, R},
     {2, 1, 1, 1, 3, 3}},
    {"conv2d_bwd_filter dw 3x3 d2", OP_CONV2D_BWD_FILTER, 2, {S(2, 3, 6, 5), S(2, 3, 6, 5)}, {R, R},
     {1, 2, 2, 3, 3, 3}},
    {"conv2d_bwd_filter 1x1 s2", OP_CONV2D_BWD_FILTER, 2, {S(2, 4, 7, 6), S(2, 6, 4, 3)}, {R, R}, {2, 0, 1, 1, 1, 1}},
};

static const op_case conv2d_bwd_filter_wide_cases[] = {
    {"wide conv2d_bwd_filter dw 3x3 s1 32x32", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 32, 32), S(2, 8, 32, 32)}, {R, R},
     {1, 1, 1, 8, 3, 3}},
    {"wide conv2d_bwd_filter dw 5x5 s1 28x28", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 28, 28), S(2, 8, 28, 28)}, {R, R},
     {1, 2, 1, 8, 5, 5}},
    {"wide conv2d_bwd_filter dw 3x3 s1 13x13", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 13, 13), S(2, 8, 13, 13)}, {R, R},
     {1, 1, 1, 8, 3, 3}},
    {"wide conv2d_bwd_filter dw 3x3 s2 32x32", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 32, 32), S(2, 8, 16, 16)}, {R, R},
     {2, 1, 1, 8, 3, 3}},
    {"wide conv2d_bwd_filter dw 5x5 s2 d2 16x16", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 16, 16), S(2, 8, 8, 8)},
     {R, R}, {2, 4, 2, 8, 5, 5}},
    {"wide conv2d_bwd_filter dw 3x3 s2 26x26", OP_CONV2D_BWD_FILTER, 2, {S(2, 8, 26, 26), S(2, 8, 13, 13)}, {R, R},
     {2, 1, 1, 8, 3, 3}},
    {"wide conv2d_bwd_filter 1x1 32x32", OP_CONV2D_BWD_FILTER, 2, {S(2, 16, 32, 32), S(2, 16, 32, 32)}, {R, R},
     {1, 0, 1, 1, 1, 1}},
    {"wide conv2d_bwd_filter 1x1 s2 32x32", OP_CONV2D_BWD_FILTER, 2, {S(2, 16, 32, 32), S(2, 8, 16, 16)}, {R, R},
     {2, 0, 1, 1, 1, 1}},
    {"wide conv2d_bwd_filter 3x3 3->24 32x32", OP_CONV2D_BWD_FILTER, 2, {S(2, 3, 32, 32), S(2, 24, 32, 32)},
     {R, R}, {1, 1, 1, 1, 3, 3}},
};
#undef DW

const op_def op_def_conv2d_bwd_filter = {
    .op = OP_CONV2D_BWD_FILTER,
    .shape = conv2d_bwd_filter_shape,
    .vjp = conv2d_bwd_filter_vjp,
    .jvp = conv2d_bwd_filter_jvp,
    .build_case = conv2d_bwd_filter_case,
    OP_CASES(conv2d_bwd_filter_cases),
    OP_WIDE_CASES(conv2d_bwd_filter_wide_cases),
    .f32_vs_f64 = &conv_tol,
    .f32_vs_f64_wide = &conv_wide_tol,
};
