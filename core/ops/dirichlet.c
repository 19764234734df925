/* The Dirichlet family (DrNAS): a sample per row of (rows, ops, 1, 1)
 * from gamma draws, and the pathwise gradient that carries the
 * concentrations' effect on it (docs/numerics.md s.9.2).
 *
 * The sample is x = G / sum G with G ~ Gamma(beta, 1) drawn on the host
 * (gamma_draws.h) and passed in. Its forward kernel sees only G, so its
 * derivative in beta is supplied by the rules: dx/dbeta_j = D_j (e_j - x),
 * D = dirichlet_grad(x, beta), as in PyTorch's Dirichlet.rsample. */
#include "op_family.h"

/* f32 against f64. dirichlet_rows is a row sum and a division;
 * dirichlet_grad runs in double for both element types, so f32 differs
 * only by its inputs rounded to float. Evidence: test_f32_f64 prints the
 * worst |a - b| / (1e-7 + 1e-7 |b|) per op; the largest seen in this
 * family was 0.35 (dirichlet_grad). The project-wide bar (atol 2e-6, rtol
 * 1e-6) leaves far more than that. */
static const op_tolerance dirichlet_tol = {.rtol = 1e-6, .atol = 2e-6};

static int rows_pair_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)p;
    NIN(2);
    SAME(in[0], in[1]);
    shape4 s = vshape(g, in[0]);
    NEED(s.h == 1 && s.w == 1 && s.c >= 2, "%s: operands must be (rows, ops >= 2, 1, 1), got %s", op_name(op),
         op_fmt_shape(0, s));
    *out = s;
    return 1;
}

/* --- dirichlet_rows: (beta, G) -> G / row sum of G --------------------- */

int op_dirichlet_rows(graph *g, int beta, int gamma) { return op_binary(g, OP_DIRICHLET_ROWS, beta, gamma); }

static int dirichlet_rows_grad(graph *g, const op_rule_args *a) { return op_dirichlet_grad(g, a->y, a->in[0]); }

/* dL/dbeta_j = D_j (G_j - sum_i x_i G_i) */
static void dirichlet_rows_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    int centred = op_axpby(g, G, op_bcast_axis(g, op_sum_axis(g, op_mul(g, G, a->y), AXIS_N), vshape(g, G), AXIS_N),
                           1.0, -1.0);
    ct[0] = op_mul(g, dirichlet_rows_grad(g, a), centred);
}

/* The transpose of the VJP: dx = D t - x sum_j D_j t_j. */
static int dirichlet_rows_jvp(graph *g, const op_rule_args *a, const int *t)
{
    int dt = op_mul(g, dirichlet_rows_grad(g, a), t[0]);
    return op_axpby(g, dt, op_scale_axis(g, a->y, op_sum_axis(g, dt, AXIS_N), AXIS_N), 1.0, -1.0);
}

static int dirichlet_rows_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_dirichlet_rows(g, in[0], in[1]);
}

static const op_case dirichlet_rows_cases[] = {
    {"dirichlet_rows", OP_DIRICHLET_ROWS, 2, {S(3, 7, 1, 1), S(3, 7, 1, 1)}, {IN_POSITIVE, IN_POSITIVE}},
    {"dirichlet_rows 14x8", OP_DIRICHLET_ROWS, 2, {S(14, 8, 1, 1), S(14, 8, 1, 1)}, {IN_POSITIVE, IN_POSITIVE}},
};

const op_def op_def_dirichlet_rows = {
    .op = OP_DIRICHLET_ROWS,
    .nondiff_inputs = 1u << 1,
    .shape = rows_pair_shape,
    .vjp = dirichlet_rows_vjp,
    .jvp = dirichlet_rows_jvp,
    .build_case = dirichlet_rows_case,
    OP_CASES(dirichlet_rows_cases),
    .f32_vs_f64 = &dirichlet_tol,
    .surrogate_rules = "the pathwise gradient of a Dirichlet sample, while the kernel sees only the gamma draws",
};

/* --- dirichlet_grad: (x, beta) -> D ------------------------------------ */

int op_dirichlet_grad(graph *g, int x, int beta) { return op_binary(g, OP_DIRICHLET_GRAD, x, beta); }

/* D is an approximation in four regimes with no derivative of its own
 * here. Reverse mode needs none; forward over reverse needs one only for
 * a tangent in the concentrations (an alpha tangent), and the exact TSE
 * gradient's tangents are in the weights, which D does not depend on. */
static const char dirichlet_grad_why[] =
    "the Dirichlet pathwise gradient is not differentiated (a second derivative in the concentrations)";

static void dirichlet_grad_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)a, (void)G, (void)want, (void)ct;
    op_refuse_derivative(g, OP_DIRICHLET_GRAD, dirichlet_grad_why);
}

static int dirichlet_grad_jvp(graph *g, const op_rule_args *a, const int *t)
{
    (void)a, (void)t;
    return op_refuse_derivative(g, OP_DIRICHLET_GRAD, dirichlet_grad_why);
}

static int dirichlet_grad_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_dirichlet_grad(g, in[0], in[1]);
}

static const op_case dirichlet_grad_cases[] = {
    {"dirichlet_grad", OP_DIRICHLET_GRAD, 2, {S(3, 7, 1, 1), S(3, 7, 1, 1)}, {IN_UNIT, IN_POSITIVE}},
    {"dirichlet_grad two ops", OP_DIRICHLET_GRAD, 2, {S(5, 2, 1, 1), S(5, 2, 1, 1)}, {IN_UNIT, IN_POSITIVE}},
};

const op_def op_def_dirichlet_grad = {
    .op = OP_DIRICHLET_GRAD,
    .shape = rows_pair_shape,
    .vjp = dirichlet_grad_vjp,
    .jvp = dirichlet_grad_jvp,
    .build_case = dirichlet_grad_case,
    OP_CASES(dirichlet_grad_cases),
    .f32_vs_f64 = &dirichlet_tol,
    .refused_rules = dirichlet_grad_why,
};
