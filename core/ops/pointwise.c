/* Elementwise ops: activations and their adjoints, products, scaled sums,
 * powers, fills and constants. */
#include "op_family.h"

/* f32 against f64 on the cases below. Evidence: test_f32_f64 prints the
 * worst |a - b| / (1e-7 + 1e-7 |b|) per op; the largest seen in this
 * family was 0.66 (axpby). The project-wide bar (atol 2e-6, rtol 1e-6, set
 * by the convolutions) leaves far more than that. */
static const op_tolerance pointwise_tol = {.rtol = 1e-6, .atol = 2e-6};

/* --- relu: (x) -> max(x, 0) -------------------------------------------- */

int op_relu(graph *g, int x) { return op_unary(g, OP_RELU, x); }

/* The mask from the output: relu(x) > 0 exactly when x > 0, and the input
 * need not be kept (a BN output that only feeds a ReLU dies after the
 * forward pass). */
static void relu_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_relu_bwd(g, a->y, G);
}

static int relu_jvp(graph *g, const op_rule_args *a, const int *t) { return op_relu_bwd(g, a->in[0], t[0]); }

static int relu_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_relu(g, in[0]);
}

static const op_case relu_cases[] = {
    {"relu", OP_RELU, 1, {S(2, 3, 4, 5)}, {R}},
    {"relu odd", OP_RELU, 1, {S(1, 1, 3, 7)}, {R}},
};

const op_def op_def_relu = {
    .op = OP_RELU,
    .shape = op_shape_same_as_input,
    .vjp = relu_vjp,
    .jvp = relu_jvp,
    .build_case = relu_case,
    OP_CASES(relu_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- relu_bwd: (x, g) -> g * [x > 0]; x only selects -------------------- */

int op_relu_bwd(graph *g, int x, int gr) { return op_binary(g, OP_RELU_BWD, x, gr); }

static void relu_bwd_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[1] = op_relu_bwd(g, a->in[0], G);
}

static int relu_bwd_jvp(graph *g, const op_rule_args *a, const int *t)
{
    return t[1] >= 0 ? op_relu_bwd(g, a->in[0], t[1]) : -1;
}

static int relu_bwd_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_relu_bwd(g, in[0], in[1]);
}

static const op_case relu_bwd_cases[] = {
    {"relu_bwd", OP_RELU_BWD, 2, {S(2, 3, 4, 5), S(2, 3, 4, 5)}, {R, R}},
};

const op_def op_def_relu_bwd = {
    .op = OP_RELU_BWD,
    .nondiff_inputs = 1u << 0,
    .shape = op_shape_same_pair,
    .vjp = relu_bwd_vjp,
    .jvp = relu_bwd_jvp,
    .build_case = relu_bwd_case,
    OP_CASES(relu_bwd_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- softplus: (x) -> log(1 + e^x), the smooth stand-in for ReLU ------- */

int op_softplus(graph *g, int x) { return op_unary(g, OP_SOFTPLUS, x); }

static void softplus_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_mul(g, op_sigmoid(g, a->in[0]), G);
}

static int softplus_jvp(graph *g, const op_rule_args *a, const int *t)
{
    return op_mul(g, op_sigmoid(g, a->in[0]), t[0]);
}

static int softplus_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_softplus(g, in[0]);
}

static const op_case softplus_cases[] = {
    {"softplus", OP_SOFTPLUS, 1, {S(2, 3, 4, 5)}, {R}},
};

const op_def op_def_softplus = {
    .op = OP_SOFTPLUS,
    .shape = op_shape_same_as_input,
    .vjp = softplus_vjp,
    .jvp = softplus_jvp,
    .build_case = softplus_case,
    OP_CASES(softplus_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- sigmoid: (x) -> 1 / (1 + e^-x) ------------------------------------ */

int op_sigmoid(graph *g, int x) { return op_unary(g, OP_SIGMOID, x); }

static void sigmoid_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    int y = a->y;
    ct[0] = op_mul(g, G, op_axpby(g, y, op_mul(g, y, y), 1.0, -1.0));
}

static int sigmoid_jvp(graph *g, const op_rule_args *a, const int *t)
{
    int y = a->y;
    return op_mul(g, t[0], op_axpby(g, y, op_mul(g, y, y), 1.0, -1.0));
}

static int sigmoid_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_sigmoid(g, in[0]);
}

static const op_case sigmoid_cases[] = {
    {"sigmoid", OP_SIGMOID, 1, {S(2, 3, 4, 5)}, {R}},
};

const op_def op_def_sigmoid = {
    .op = OP_SIGMOID,
    .shape = op_shape_same_as_input,
    .vjp = sigmoid_vjp,
    .jvp = sigmoid_jvp,
    .build_case = sigmoid_case,
    OP_CASES(sigmoid_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- axpby: (a[, b]) -> s*a + t*b -------------------------------------- */

int op_axpby(graph *g, int a, int b, double s, double t)
{
    int in[2] = {a, b};
    int nin = b >= 0 ? 2 : 1;
    if (op_any_bad(g, nin, in)) return -1;
    node_params p = op_params();
    p.a = s;
    p.b = t;
    return graph_add_node(g, OP_AXPBY, nin, in, &p);
}

static int axpby_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)p;
    NEED(nin == 1 || nin == 2, "axpby: expects 1 or 2 inputs");
    if (nin == 2) SAME(in[0], in[1]);
    *out = vshape(g, in[0]);
    return 1;
}

static void axpby_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const node_params *p = a->p;
    if (want[0]) ct[0] = p->a == 1.0 ? G : op_axpby(g, G, -1, p->a, 0.0);
    if (a->nin > 1 && want[1]) ct[1] = p->b == 1.0 ? G : op_axpby(g, G, -1, p->b, 0.0);
}

static int axpby_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    if (a->nin > 1 && t[0] >= 0 && t[1] >= 0) return op_axpby(g, t[0], t[1], p->a, p->b);
    if (t[0] >= 0) return op_axpby(g, t[0], -1, p->a, 0.0);
    if (a->nin > 1 && t[1] >= 0) return op_axpby(g, t[1], -1, p->b, 0.0);
    return -1;
}

/* dp = {s, t} */
static int axpby_case(graph *g, const op_case *c, const int *in)
{
    return op_axpby(g, in[0], c->nin > 1 ? in[1] : -1, c->dp[0], c->dp[1]);
}

static const op_case axpby_cases[] = {
    {"axpby two inputs", OP_AXPBY, 2, {S(2, 3, 4, 5), S(2, 3, 4, 5)}, {R, R}, {0}, {0.7, -1.3}},
    {"axpby one input", OP_AXPBY, 1, {S(2, 3, 1, 5)}, {R}, {0}, {-2.5, 0}},
};

const op_def op_def_axpby = {
    .op = OP_AXPBY,
    .shape = axpby_shape,
    .vjp = axpby_vjp,
    .jvp = axpby_jvp,
    .build_case = axpby_case,
    OP_CASES(axpby_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- mul: (a, b) -> a * b ---------------------------------------------- */

int op_mul(graph *g, int a, int b) { return op_binary(g, OP_MUL, a, b); }

static void mul_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    if (want[0]) ct[0] = op_mul(g, G, a->in[1]);
    if (want[1]) ct[1] = op_mul(g, G, a->in[0]);
}

static int mul_jvp(graph *g, const op_rule_args *a, const int *t)
{
    return op_add_opt(g, t[0] >= 0 ? op_mul(g, t[0], a->in[1]) : -1, t[1] >= 0 ? op_mul(g, a->in[0], t[1]) : -1);
}

static int mul_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_mul(g, in[0], in[1]);
}

static const op_case mul_cases[] = {
    {"mul", OP_MUL, 2, {S(2, 3, 4, 5), S(2, 3, 4, 5)}, {R, R}},
};

const op_def op_def_mul = {
    .op = OP_MUL,
    .shape = op_shape_same_pair,
    .vjp = mul_vjp,
    .jvp = mul_jvp,
    .build_case = mul_case,
    OP_CASES(mul_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- exp: (a) -> e^a --------------------------------------------------- */

int op_exp(graph *g, int a) { return op_unary(g, OP_EXP, a); }

static void exp_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_mul(g, G, a->y);
}

static int exp_jvp(graph *g, const op_rule_args *a, const int *t) { return op_mul(g, a->y, t[0]); }

static int exp_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_exp(g, in[0]);
}

static const op_case exp_cases[] = {
    {"exp", OP_EXP, 1, {S(2, 3, 2, 2)}, {R}},
};

const op_def op_def_exp = {
    .op = OP_EXP,
    .shape = op_shape_same_as_input,
    .vjp = exp_vjp,
    .jvp = exp_jvp,
    .build_case = exp_case,
    OP_CASES(exp_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- powadd: (a) -> (a + eps)^p ---------------------------------------- */

int op_powadd(graph *g, int a, double eps, double pw)
{
    if (op_any_bad(g, 1, &a)) return -1;
    node_params p = op_params();
    p.a = eps;
    p.b = pw;
    return graph_add_node(g, OP_POWADD, 1, &a, &p);
}

static void powadd_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    const node_params *p = a->p;
    ct[0] = op_axpby(g, op_mul(g, G, op_powadd(g, a->in[0], p->a, p->b - 1.0)), -1, p->b, 0.0);
}

static int powadd_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    return op_axpby(g, op_mul(g, op_powadd(g, a->in[0], p->a, p->b - 1.0), t[0]), -1, p->b, 0.0);
}

/* dp = {eps, p} */
static int powadd_case(graph *g, const op_case *c, const int *in)
{
    return op_powadd(g, in[0], c->dp[0], c->dp[1]);
}

static const op_case powadd_cases[] = {
    {"powadd rsqrt", OP_POWADD, 1, {S(1, 6, 1, 1)}, {IN_POSITIVE}, {0}, {1e-5, -0.5}},
    {"powadd cube", OP_POWADD, 1, {S(1, 6, 1, 1)}, {IN_POSITIVE}, {0}, {0.0, 3.0}},
};

const op_def op_def_powadd = {
    .op = OP_POWADD,
    .shape = op_shape_same_as_input,
    .vjp = powadd_vjp,
    .jvp = powadd_jvp,
    .build_case = powadd_case,
    OP_CASES(powadd_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- fill: (s) -> s broadcast to a shape ------------------------------- */

int op_fill(graph *g, int s, shape4 shape)
{
    if (op_any_bad(g, 1, &s)) return -1;
    node_params p = op_params();
    p.shape = shape;
    return graph_add_node(g, OP_FILL, 1, &s, &p);
}

static int fill_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(1);
    NEED(shape_numel(vshape(g, in[0])) == 1, "fill: source must be a scalar");
    *out = p->shape;
    return 1;
}

static void fill_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)a, (void)want;
    ct[0] = op_sum_all(g, G);
}

static int fill_jvp(graph *g, const op_rule_args *a, const int *t) { return op_fill(g, t[0], a->p->shape); }

/* sp = the filled shape */
static int fill_case(graph *g, const op_case *c, const int *in) { return op_fill(g, in[0], c->sp); }

static const op_case fill_cases[] = {
    {"fill", OP_FILL, 1, {S(1, 1, 1, 1)}, {R}, {0}, {0}, S(2, 3, 2, 2)},
};

const op_def op_def_fill = {
    .op = OP_FILL,
    .shape = fill_shape,
    .vjp = fill_vjp,
    .jvp = fill_jvp,
    .build_case = fill_case,
    OP_CASES(fill_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- const: () -> a constant tensor ------------------------------------ */

int op_const(graph *g, shape4 shape, double c)
{
    if (g->status != TD_OK) return -1;
    node_params p = op_params();
    p.shape = shape;
    p.a = c;
    return graph_add_node(g, OP_CONST, 0, NULL, &p);
}

static int const_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)in;
    NIN(0);
    NEED(shape_numel(p->shape) > 0, "const: empty shape");
    *out = p->shape;
    return 1;
}

/* sp = the shape, dp = {value} */
static int const_case(graph *g, const op_case *c, const int *in)
{
    (void)in;
    return op_const(g, c->sp, c->dp[0]);
}

static const op_case const_cases[] = {
    {"const", OP_CONST, 0, {S(0, 0, 0, 0)}, {R}, {0}, {0.25}, S(2, 3, 2, 2)},
};

const op_def op_def_const = {
    .op = OP_CONST,
    .shape = const_shape,
    .build_case = const_case,
    OP_CASES(const_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- elu: (x) -> x for x > 0, e^x - 1 otherwise (DrNAS's ELU(alpha) + 1
 * concentration is this plus one) ------------------------------------- */

int op_elu(graph *g, int x) { return op_unary(g, OP_ELU, x); }

/* elu'(x) = 1 for x > 0, e^x otherwise: e^min(x, 0), written with
 * primitives (min(x, 0) = -relu(-x)) so that it differentiates again. */
static int elu_slope(graph *g, int x)
{
    return op_exp(g, op_axpby(g, op_relu(g, op_axpby(g, x, -1, -1.0, 0.0)), -1, -1.0, 0.0));
}

static void elu_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_mul(g, G, elu_slope(g, a->in[0]));
}

static int elu_jvp(graph *g, const op_rule_args *a, const int *t) { return op_mul(g, t[0], elu_slope(g, a->in[0])); }

static int elu_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_elu(g, in[0]);
}

static const op_case elu_cases[] = {
    {"elu", OP_ELU, 1, {S(2, 3, 4, 5)}, {R}},
    {"elu alpha rows", OP_ELU, 1, {S(14, 7, 1, 1)}, {R}},
};

const op_def op_def_elu = {
    .op = OP_ELU,
    .shape = op_shape_same_as_input,
    .vjp = elu_vjp,
    .jvp = elu_jvp,
    .build_case = elu_case,
    OP_CASES(elu_cases),
    .f32_vs_f64 = &pointwise_tol,
};

/* --- dropout: (x, m) -> x * m / (1 - p), the keep mask m an input ------ */

int op_dropout(graph *g, int x, int m, double p)
{
    int in[2] = {x, m};
    if (op_any_bad(g, 2, in)) return -1;
    node_params np = op_params();
    np.a = p;
    return graph_add_node(g, OP_DROPOUT, 2, in, &np);
}

static int dropout_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(2);
    SAME(in[0], in[1]);
    NEED(p->a >= 0 && p->a < 1, "dropout: drop probability %g outside [0, 1)", p->a);
    *out = vshape(g, in[0]);
    return 1;
}

/* Linear in x with the mask fixed, so both rules are dropout again. */
static void dropout_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_dropout(g, G, a->in[1], a->p->a);
}

static int dropout_jvp(graph *g, const op_rule_args *a, const int *t) { return op_dropout(g, t[0], a->in[1], a->p->a); }

/* dp = {p} */
static int dropout_case(graph *g, const op_case *c, const int *in) { return op_dropout(g, in[0], in[1], c->dp[0]); }

static const op_case dropout_cases[] = {
    {"dropout p 0.4", OP_DROPOUT, 2, {S(2, 3, 4, 5), S(2, 3, 4, 5)}, {R, IN_MASK}, {0}, {0.4, 0}},
    {"dropout p 0", OP_DROPOUT, 2, {S(1, 2, 3, 3), S(1, 2, 3, 3)}, {R, IN_MASK}, {0}, {0.0, 0}},
};

const op_def op_def_dropout = {
    .op = OP_DROPOUT,
    .nondiff_inputs = 1u << 1,
    .shape = dropout_shape,
    .vjp = dropout_vjp,
    .jvp = dropout_jvp,
    .build_case = dropout_case,
    OP_CASES(dropout_cases),
    .f32_vs_f64 = &pointwise_tol,
};
