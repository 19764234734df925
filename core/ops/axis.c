/* Per-axis ops: reductions and broadcasts that keep the batch axis (N) or
 * the channel axis (C), and the per-axis affine maps of batch norm, its
 * backward's linear combination and its running-statistics update. */
#include "op_family.h"

/* f32 against f64. Evidence: test_f32_f64 prints the worst |a - b| /
 * (1e-7 + 1e-7 |b|) per op; the largest seen in this family was 1.25
 * (sum_axis), and test_wide_kernels 15.5 on the wide cases (sum_axis over
 * 4 x 32 x 32 values per channel: f32 rounding grows with the square root
 * of the count). The project-wide bars (atol 2e-6, rtol 1e-6; wide 4e-5,
 * 2e-5, set by the convolutions) leave at least eight times that. */
static const op_tolerance axis_tol = {.rtol = 1e-6, .atol = 2e-6};
static const op_tolerance axis_wide_tol = {.rtol = 2e-5, .atol = 4e-5};

static shape4 axis_vec_shape(shape4 x, int axis)
{
    return axis == AXIS_C ? shape_make(1, x.c, 1, 1) : shape_make(x.n, 1, 1, 1);
}

static node_params axis_params(int axis)
{
    node_params p = op_params();
    p.axis = axis;
    return p;
}

/* Case parameters: ip = {axis}; bcast_axis's sp is the output shape. */

/* --- sum_axis: (x) -> sum keeping one axis ----------------------------- */

int op_sum_axis(graph *g, int x, int axis)
{
    if (op_any_bad(g, 1, &x)) return -1;
    node_params p = axis_params(axis);
    return graph_add_node(g, OP_SUM_AXIS, 1, &x, &p);
}

static int sum_axis_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(1);
    NEED(p->axis == AXIS_N || p->axis == AXIS_C, "sum_axis: bad axis");
    *out = axis_vec_shape(vshape(g, in[0]), p->axis);
    return 1;
}

static void sum_axis_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_bcast_axis(g, G, vshape(g, a->in[0]), a->p->axis);
}

static int sum_axis_jvp(graph *g, const op_rule_args *a, const int *t) { return op_sum_axis(g, t[0], a->p->axis); }

static int sum_axis_case(graph *g, const op_case *c, const int *in) { return op_sum_axis(g, in[0], c->ip[0]); }

static const op_case sum_axis_cases[] = {
    {"sum_axis C", OP_SUM_AXIS, 1, {S(3, 4, 2, 3)}, {R}, {AXIS_C}},
    {"sum_axis N", OP_SUM_AXIS, 1, {S(3, 4, 2, 3)}, {R}, {AXIS_N}},
};

/* the per-channel reductions of batch norm at real map widths */
static const op_case sum_axis_wide_cases[] = {
    {"wide sum_axis C 32x32", OP_SUM_AXIS, 1, {S(4, 8, 32, 32)}, {R}, {AXIS_C}},
    {"wide sum_axis C 7x7", OP_SUM_AXIS, 1, {S(3, 8, 7, 7)}, {R}, {AXIS_C}},
    {"wide sum_axis C 70 channels 5x5", OP_SUM_AXIS, 1, {S(2, 70, 5, 5)}, {R}, {AXIS_C}},
};

const op_def op_def_sum_axis = {
    .op = OP_SUM_AXIS,
    .shape = sum_axis_shape,
    .vjp = sum_axis_vjp,
    .jvp = sum_axis_jvp,
    .build_case = sum_axis_case,
    OP_CASES(sum_axis_cases),
    OP_WIDE_CASES(sum_axis_wide_cases),
    .f32_vs_f64 = &axis_tol,
    .f32_vs_f64_wide = &axis_wide_tol,
};

/* --- bcast_axis: (v) -> v spread along the other axes ------------------ */

int op_bcast_axis(graph *g, int v, shape4 s, int axis)
{
    if (op_any_bad(g, 1, &v)) return -1;
    node_params p = axis_params(axis);
    p.shape = s;
    return graph_add_node(g, OP_BCAST_AXIS, 1, &v, &p);
}

static int bcast_axis_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(1);
    NEED(p->axis == AXIS_N || p->axis == AXIS_C, "bcast_axis: bad axis");
    NEED(shape_equal(vshape(g, in[0]), axis_vec_shape(p->shape, p->axis)), "bcast_axis: v %s does not fit %s",
         op_fmt_shape(0, vshape(g, in[0])), op_fmt_shape(1, p->shape));
    *out = p->shape;
    return 1;
}

static void bcast_axis_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_sum_axis(g, G, a->p->axis);
}

static int bcast_axis_jvp(graph *g, const op_rule_args *a, const int *t)
{
    return op_bcast_axis(g, t[0], a->p->shape, a->p->axis);
}

static int bcast_axis_case(graph *g, const op_case *c, const int *in)
{
    return op_bcast_axis(g, in[0], c->sp, c->ip[0]);
}

static const op_case bcast_axis_cases[] = {
    {"bcast_axis C", OP_BCAST_AXIS, 1, {S(1, 4, 1, 1)}, {R}, {AXIS_C}, {0}, S(3, 4, 2, 3)},
    {"bcast_axis N", OP_BCAST_AXIS, 1, {S(3, 1, 1, 1)}, {R}, {AXIS_N}, {0}, S(3, 4, 2, 3)},
};

const op_def op_def_bcast_axis = {
    .op = OP_BCAST_AXIS,
    .shape = bcast_axis_shape,
    .vjp = bcast_axis_vjp,
    .jvp = bcast_axis_jvp,
    .build_case = bcast_axis_case,
    OP_CASES(bcast_axis_cases),
    .f32_vs_f64 = &axis_tol,
};

/* --- scale_axis: (x, v) -> x * v[axis] --------------------------------- */

int op_scale_axis(graph *g, int x, int v, int axis)
{
    int in[2] = {x, v};
    if (op_any_bad(g, 2, in)) return -1;
    node_params p = axis_params(axis);
    return graph_add_node(g, OP_SCALE_AXIS, 2, in, &p);
}

static int scale_axis_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(2);
    NEED(p->axis == AXIS_N || p->axis == AXIS_C, "scale_axis: bad axis");
    NEED(shape_equal(vshape(g, in[1]), axis_vec_shape(vshape(g, in[0]), p->axis)), "scale_axis: v %s does not fit x %s",
         op_fmt_shape(0, vshape(g, in[1])), op_fmt_shape(1, vshape(g, in[0])));
    *out = vshape(g, in[0]);
    return 1;
}

static void scale_axis_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const int *in = a->in;
    if (want[0]) ct[0] = op_scale_axis(g, G, in[1], a->p->axis);
    if (want[1]) ct[1] = op_dot_axis(g, G, in[0], a->p->axis);
}

static int scale_axis_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const int *in = a->in;
    int axis = a->p->axis;
    return op_add_opt(g, t[0] >= 0 ? op_scale_axis(g, t[0], in[1], axis) : -1,
                      t[1] >= 0 ? op_scale_axis(g, in[0], t[1], axis) : -1);
}

static int scale_axis_case(graph *g, const op_case *c, const int *in)
{
    return op_scale_axis(g, in[0], in[1], c->ip[0]);
}

static const op_case scale_axis_cases[] = {
    {"scale_axis C", OP_SCALE_AXIS, 2, {S(3, 4, 2, 3), S(1, 4, 1, 1)}, {R, R}, {AXIS_C}},
    {"scale_axis N (drop path)", OP_SCALE_AXIS, 2, {S(3, 4, 2, 3), S(3, 1, 1, 1)}, {R, R}, {AXIS_N}},
};

const op_def op_def_scale_axis = {
    .op = OP_SCALE_AXIS,
    .shape = scale_axis_shape,
    .vjp = scale_axis_vjp,
    .jvp = scale_axis_jvp,
    .build_case = scale_axis_case,
    OP_CASES(scale_axis_cases),
    .f32_vs_f64 = &axis_tol,
};

/* --- dot_axis: (a, b) -> sum of a*b keeping one axis ------------------- */

int op_dot_axis(graph *g, int a, int b, int axis)
{
    int in[2] = {a, b};
    if (op_any_bad(g, 2, in)) return -1;
    node_params p = axis_params(axis);
    return graph_add_node(g, OP_DOT_AXIS, 2, in, &p);
}

static int dot_axis_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(2);
    NEED(p->axis == AXIS_N || p->axis == AXIS_C, "dot_axis: bad axis");
    SAME(in[0], in[1]);
    *out = axis_vec_shape(vshape(g, in[0]), p->axis);
    return 1;
}

static void dot_axis_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const int *in = a->in;
    if (want[0]) ct[0] = op_scale_axis(g, in[1], G, a->p->axis);
    if (want[1]) ct[1] = op_scale_axis(g, in[0], G, a->p->axis);
}

static int dot_axis_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const int *in = a->in;
    int axis = a->p->axis;
    return op_add_opt(g, t[0] >= 0 ? op_dot_axis(g, t[0], in[1], axis) : -1,
                      t[1] >= 0 ? op_dot_axis(g, in[0], t[1], axis) : -1);
}

static int dot_axis_case(graph *g, const op_case *c, const int *in) { return op_dot_axis(g, in[0], in[1], c->ip[0]); }

static const op_case dot_axis_cases[] = {
    {"dot_axis C", OP_DOT_AXIS, 2, {S(3, 4, 2, 3), S(3, 4, 2, 3)}, {R, R}, {AXIS_C}},
    {"dot_axis N", OP_DOT_AXIS, 2, {S(3, 4, 2, 3), S(3, 4, 2, 3)}, {R, R}, {AXIS_N}},
};

static const op_case dot_axis_wide_cases[] = {
    {"wide dot_axis C 28x28", OP_DOT_AXIS, 2, {S(4, 8, 28, 28), S(4, 8, 28, 28)}, {R, R}, {AXIS_C}},
};

const op_def op_def_dot_axis = {
    .op = OP_DOT_AXIS,
    .shape = dot_axis_shape,
    .vjp = dot_axis_vjp,
    .jvp = dot_axis_jvp,
    .build_case = dot_axis_case,
    OP_CASES(dot_axis_cases),
    OP_WIDE_CASES(dot_axis_wide_cases),
    .f32_vs_f64 = &axis_tol,
    .f32_vs_f64_wide = &axis_wide_tol,
};

/* --- affine_axis: (x, a[, b]) -> x * a + b ----------------------------- */

int op_affine_axis(graph *g, int x, int a, int b, int axis)
{
    int in[3] = {x, a, b};
    int nin = b >= 0 ? 3 : 2;
    if (op_any_bad(g, nin, in)) return -1;
    node_params p = axis_params(axis);
    return graph_add_node(g, OP_AFFINE_AXIS, nin, in, &p);
}

static int affine_axis_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)op;
    NEED(nin == 2 || nin == 3, "affine_axis: expects 2 or 3 inputs");
    NEED(p->axis == AXIS_N || p->axis == AXIS_C, "affine_axis: bad axis");
    shape4 vs = axis_vec_shape(vshape(g, in[0]), p->axis);
    for (int i = 1; i < nin; i++)
        NEED(shape_equal(vshape(g, in[i]), vs), "affine_axis: coefficient %d has shape %s, want %s", i,
             op_fmt_shape(0, vshape(g, in[i])), op_fmt_shape(1, vs));
    *out = vshape(g, in[0]);
    return 1;
}

static void affine_axis_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const int *in = a->in;
    int axis = a->p->axis;
    if (want[0]) ct[0] = op_scale_axis(g, G, in[1], axis);
    if (want[1]) ct[1] = op_dot_axis(g, G, in[0], axis);
    if (a->nin > 2 && want[2]) ct[2] = op_sum_axis(g, G, axis);
}

static int affine_axis_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const int *in = a->in;
    int axis = a->p->axis;
    int tb = a->nin > 2 ? t[2] : -1;
    int term_x = -1;
    if (t[0] >= 0)
        term_x = op_affine_axis(g, t[0], in[1], tb, axis);
    else if (tb >= 0)
        term_x = op_bcast_axis(g, tb, vshape(g, in[0]), axis);
    return op_add_opt(g, term_x, t[1] >= 0 ? op_scale_axis(g, in[0], t[1], axis) : -1);
}

static int affine_axis_case(graph *g, const op_case *c, const int *in)
{
    return op_affine_axis(g, in[0], in[1], c->nin > 2 ? in[2] : -1, c->ip[0]);
}

static const op_case affine_axis_cases[] = {
    {"affine_axis C", OP_AFFINE_AXIS, 3, {S(3, 4, 2, 3), S(1, 4, 1, 1), S(1, 4, 1, 1)}, {R, R, R}, {AXIS_C}},
    {"affine_axis C no shift", OP_AFFINE_AXIS, 2, {S(2, 5, 3, 3), S(1, 5, 1, 1)}, {R, R}, {AXIS_C}},
    {"affine_axis N", OP_AFFINE_AXIS, 3, {S(3, 4, 2, 3), S(3, 1, 1, 1), S(3, 1, 1, 1)}, {R, R, R}, {AXIS_N}},
};

const op_def op_def_affine_axis = {
    .op = OP_AFFINE_AXIS,
    .shape = affine_axis_shape,
    .vjp = affine_axis_vjp,
    .jvp = affine_axis_jvp,
    .build_case = affine_axis_case,
    OP_CASES(affine_axis_cases),
    .f32_vs_f64 = &axis_tol,
};

/* --- lincomb_axis: (u, v, a, b, e) -> a u + b v + e -------------------- */

int op_lincomb_axis(graph *g, int u, int v, int a, int b, int e, int axis)
{
    int in[5] = {u, v, a, b, e};
    if (op_any_bad(g, 5, in)) return -1;
    node_params p = axis_params(axis);
    return graph_add_node(g, OP_LINCOMB_AXIS, 5, in, &p);
}

static int lincomb_axis_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(5);
    NEED(p->axis == AXIS_N || p->axis == AXIS_C, "lincomb_axis: bad axis");
    SAME(in[0], in[1]);
    shape4 vs = axis_vec_shape(vshape(g, in[0]), p->axis);
    for (int i = 2; i < 5; i++)
        NEED(shape_equal(vshape(g, in[i]), vs), "lincomb_axis: coefficient %d has shape %s, want %s", i,
             op_fmt_shape(0, vshape(g, in[i])), op_fmt_shape(1, vs));
    *out = vshape(g, in[0]);
    return 1;
}

static void lincomb_axis_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const int *in = a->in;
    int axis = a->p->axis;
    if (want[0]) ct[0] = op_scale_axis(g, G, in[2], axis);
    if (want[1]) ct[1] = op_scale_axis(g, G, in[3], axis);
    if (want[2]) ct[2] = op_dot_axis(g, G, in[0], axis);
    if (want[3]) ct[3] = op_dot_axis(g, G, in[1], axis);
    if (want[4]) ct[4] = op_sum_axis(g, G, axis);
}

/* d(au + bv + e) = a du + b dv + (da u + db v + de): the first pair is a
 * lincomb of the tangents, the rest a lincomb with zero shift. */
static int lincomb_axis_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const int *in = a->in;
    int axis = a->p->axis;
    shape4 s = vshape(g, in[0]), vsh = vshape(g, in[2]);
    int zero_t = -1, zero_c = -1;
    if ((t[0] >= 0 || t[1] >= 0) || t[4] >= 0) {
        zero_t = op_const(g, s, 0.0);
        zero_c = op_const(g, vsh, 0.0);
    }
    int term1 = -1, term2 = -1;
    if (t[0] >= 0 || t[1] >= 0 || t[4] >= 0)
        term1 = op_lincomb_axis(g, t[0] >= 0 ? t[0] : zero_t, t[1] >= 0 ? t[1] : zero_t, in[2], in[3],
                                t[4] >= 0 ? t[4] : zero_c, axis);
    if (t[2] >= 0 || t[3] >= 0) {
        int zc = op_const(g, vsh, 0.0);
        term2 = op_lincomb_axis(g, in[0], in[1], t[2] >= 0 ? t[2] : zc, t[3] >= 0 ? t[3] : zc, zc, axis);
    }
    return op_add_opt(g, term1, term2);
}

static int lincomb_axis_case(graph *g, const op_case *c, const int *in)
{
    return op_lincomb_axis(g, in[0], in[1], in[2], in[3], in[4], c->ip[0]);
}

static const op_case lincomb_axis_cases[] = {
    {"lincomb_axis C", OP_LINCOMB_AXIS, 5, {S(3, 4, 2, 3), S(3, 4, 2, 3), S(1, 4, 1, 1), S(1, 4, 1, 1), S(1, 4, 1, 1)},
     {R, R, R, R, R}, {AXIS_C}},
    {"lincomb_axis N", OP_LINCOMB_AXIS, 5, {S(2, 3, 3, 1), S(2, 3, 3, 1), S(2, 1, 1, 1), S(2, 1, 1, 1), S(2, 1, 1, 1)},
     {R, R, R, R, R}, {AXIS_N}},
};

const op_def op_def_lincomb_axis = {
    .op = OP_LINCOMB_AXIS,
    .shape = lincomb_axis_shape,
    .vjp = lincomb_axis_vjp,
    .jvp = lincomb_axis_jvp,
    .build_case = lincomb_axis_case,
    OP_CASES(lincomb_axis_cases),
    .f32_vs_f64 = &axis_tol,
};

/* --- bn_running_update: sink (m, v, rm, rv) ---------------------------- */

int op_bn_running_update(graph *g, int m, int v, int rm, int rv, double momentum, double count)
{
    int in[4] = {m, v, rm, rv};
    if (op_any_bad(g, 4, in)) return -1;
    node_params p = op_params();
    p.a = momentum;
    p.b = count;
    return graph_add_node(g, OP_BN_RUNNING_UPDATE, 4, in, &p);
}

static int bn_running_update_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p,
                                   shape4 *out)
{
    (void)p;
    NIN(4);
    for (int i = 1; i < 4; i++) SAME(in[0], in[i]);
    NEED(g->values[in[2]].role == ROLE_BNSTAT && g->values[in[3]].role == ROLE_BNSTAT,
         "bn_running_update: running statistics must be BN-stat parameters");
    out->n = -1;
    return 1;
}

/* dp = {momentum, count} */
static int bn_running_update_case(graph *g, const op_case *c, const int *in)
{
    return op_bn_running_update(g, in[0], in[1], in[2], in[3], c->dp[0], c->dp[1]);
}

static const op_case bn_running_update_cases[] = {
    {"bn_running_update", OP_BN_RUNNING_UPDATE, 4, {S(1, 4, 1, 1), S(1, 4, 1, 1), S(1, 4, 1, 1), S(1, 4, 1, 1)},
     {R, IN_POSITIVE, IN_BNSTAT, IN_BNSTAT}, {0}, {0.1, 50.0}},
};

/* A side effect on the running statistics: nothing to differentiate. */
const op_def op_def_bn_running_update = {
    .op = OP_BN_RUNNING_UPDATE,
    .nondiff_inputs = ~0u,
    .shape = bn_running_update_shape,
    .build_case = bn_running_update_case,
    OP_CASES(bn_running_update_cases),
    .f32_vs_f64 = &axis_tol,
};
