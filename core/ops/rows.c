/* Row ops on (rows, cols, 1, 1) tensors: matrix products, row softmax and
 * log-softmax, and the label gather/scatter of the cross-entropy. */
#include "op_family.h"

/* f32 against f64 on the cases below. Evidence: test_f32_f64 prints the
 * worst |a - b| / (1e-7 + 1e-7 |b|) per op; the largest seen in this
 * family was 0.60 (log_softmax_rows). The project-wide bar (atol 2e-6,
 * rtol 1e-6, set by the convolutions) leaves far more than that. */
static const op_tolerance rows_tol = {.rtol = 1e-6, .atol = 2e-6};

/* --- matmul: (A, B) -> op(A) op(B) ------------------------------------- */

int op_matmul(graph *g, int a, int b, int ta, int tb)
{
    int in[2] = {a, b};
    if (op_any_bad(g, 2, in)) return -1;
    node_params p = op_params();
    p.ta = ta;
    p.tb = tb;
    return graph_add_node(g, OP_MATMUL, 2, in, &p);
}

static int matmul_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(2);
    shape4 a = vshape(g, in[0]), b = vshape(g, in[1]);
    NEED(a.h == 1 && a.w == 1 && b.h == 1 && b.w == 1, "matmul: operands must be (rows, cols, 1, 1)");
    int m = p->ta ? a.c : a.n, ka = p->ta ? a.n : a.c;
    int kb = p->tb ? b.c : b.n, n = p->tb ? b.n : b.c;
    NEED(ka == kb, "matmul: inner sizes differ (%d vs %d)", ka, kb);
    *out = shape_make(m, n, 1, 1);
    return 1;
}

static void matmul_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const node_params *p = a->p;
    const int *in = a->in;
    if (want[0]) ct[0] = p->ta ? op_matmul(g, in[1], G, p->tb, 1) : op_matmul(g, G, in[1], 0, !p->tb);
    if (want[1]) ct[1] = p->tb ? op_matmul(g, G, in[0], 1, p->ta) : op_matmul(g, in[0], G, !p->ta, 0);
}

static int matmul_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const node_params *p = a->p;
    const int *in = a->in;
    return op_add_opt(g, t[0] >= 0 ? op_matmul(g, t[0], in[1], p->ta, p->tb) : -1,
                      t[1] >= 0 ? op_matmul(g, in[0], t[1], p->ta, p->tb) : -1);
}

/* ip = {ta, tb} */
static int matmul_case(graph *g, const op_case *c, const int *in)
{
    return op_matmul(g, in[0], in[1], c->ip[0], c->ip[1]);
}

static const op_case matmul_cases[] = {
    {"matmul nn", OP_MATMUL, 2, {S(3, 4, 1, 1), S(4, 5, 1, 1)}, {R, R}, {0, 0}},
    {"matmul tn", OP_MATMUL, 2, {S(4, 3, 1, 1), S(4, 5, 1, 1)}, {R, R}, {1, 0}},
    {"matmul nt (linear)", OP_MATMUL, 2, {S(3, 4, 1, 1), S(5, 4, 1, 1)}, {R, R}, {0, 1}},
    {"matmul tt", OP_MATMUL, 2, {S(4, 3, 1, 1), S(5, 4, 1, 1)}, {R, R}, {1, 1}},
};

const op_def op_def_matmul = {
    .op = OP_MATMUL,
    .shape = matmul_shape,
    .vjp = matmul_vjp,
    .jvp = matmul_jvp,
    .build_case = matmul_case,
    OP_CASES(matmul_cases),
    .f32_vs_f64 = &rows_tol,
};

/* --- softmax_rows: (a) -> row softmax ---------------------------------- */

int op_softmax_rows(graph *g, int a) { return op_unary(g, OP_SOFTMAX_ROWS, a); }

static void softmax_rows_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    int y = a->y;
    int pg = op_mul(g, y, G);
    ct[0] = op_axpby(g, pg, op_scale_axis(g, y, op_sum_axis(g, pg, AXIS_N), AXIS_N), 1.0, -1.0);
}

static int softmax_rows_jvp(graph *g, const op_rule_args *a, const int *t)
{
    int y = a->y;
    int pt = op_mul(g, y, t[0]);
    return op_axpby(g, pt, op_scale_axis(g, y, op_sum_axis(g, pt, AXIS_N), AXIS_N), 1.0, -1.0);
}

static int softmax_rows_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_softmax_rows(g, in[0]);
}

static const op_case softmax_rows_cases[] = {
    {"softmax_rows", OP_SOFTMAX_ROWS, 1, {S(3, 8, 1, 1)}, {R}},
};

const op_def op_def_softmax_rows = {
    .op = OP_SOFTMAX_ROWS,
    .shape = op_shape_same_as_input,
    .vjp = softmax_rows_vjp,
    .jvp = softmax_rows_jvp,
    .build_case = softmax_rows_case,
    OP_CASES(softmax_rows_cases),
    .f32_vs_f64 = &rows_tol,
};

/* --- log_softmax_rows: (z) -> row log-softmax -------------------------- */

int op_log_softmax_rows(graph *g, int z) { return op_unary(g, OP_LOG_SOFTMAX_ROWS, z); }

static void log_softmax_rows_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    int y = a->y;
    ct[0] = op_axpby(g, G, op_scale_axis(g, op_exp(g, y), op_sum_axis(g, G, AXIS_N), AXIS_N), 1.0, -1.0);
}

static int log_softmax_rows_jvp(graph *g, const op_rule_args *a, const int *t)
{
    int y = a->y;
    return op_axpby(g, t[0],
                    op_bcast_axis(g, op_sum_axis(g, op_mul(g, op_exp(g, y), t[0]), AXIS_N), vshape(g, y), AXIS_N),
                    1.0, -1.0);
}

static int log_softmax_rows_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_log_softmax_rows(g, in[0]);
}

static const op_case log_softmax_rows_cases[] = {
    {"log_softmax_rows", OP_LOG_SOFTMAX_ROWS, 1, {S(4, 10, 1, 1)}, {R}},
};

const op_def op_def_log_softmax_rows = {
    .op = OP_LOG_SOFTMAX_ROWS,
    .shape = op_shape_same_as_input,
    .vjp = log_softmax_rows_vjp,
    .jvp = log_softmax_rows_jvp,
    .build_case = log_softmax_rows_case,
    OP_CASES(log_softmax_rows_cases),
    .f32_vs_f64 = &rows_tol,
};

/* --- pick_labels: (z, labels) -> z[n, y_n] ----------------------------- */

int op_pick_labels(graph *g, int z, int labels) { return op_binary(g, OP_PICK_LABELS, z, labels); }

static int pick_labels_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)p;
    NIN(2);
    shape4 z = vshape(g, in[0]), l = vshape(g, in[1]);
    NEED(z.h == 1 && z.w == 1 && shape_equal(l, shape_make(z.n, 1, 1, 1)),
         "pick_labels: logits %s and labels %s do not fit", op_fmt_shape(0, z), op_fmt_shape(1, l));
    *out = l;
    return 1;
}

static void pick_labels_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_place_labels(g, G, a->in[1], vshape(g, a->in[0]).c);
}

static int pick_labels_jvp(graph *g, const op_rule_args *a, const int *t)
{
    return op_pick_labels(g, t[0], a->in[1]);
}

static int pick_labels_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_pick_labels(g, in[0], in[1]);
}

static const op_case pick_labels_cases[] = {
    {"pick_labels", OP_PICK_LABELS, 2, {S(4, 5, 1, 1), S(4, 1, 1, 1)}, {R, IN_LABELS}},
};

const op_def op_def_pick_labels = {
    .op = OP_PICK_LABELS,
    .int_inputs = 1u << 1,
    .nondiff_inputs = 1u << 1,
    .shape = pick_labels_shape,
    .vjp = pick_labels_vjp,
    .jvp = pick_labels_jvp,
    .build_case = pick_labels_case,
    OP_CASES(pick_labels_cases),
    .f32_vs_f64 = &rows_tol,
};

/* --- place_labels: (v, labels) -> one-hot * v -------------------------- */

int op_place_labels(graph *g, int v, int labels, int classes)
{
    int in[2] = {v, labels};
    if (op_any_bad(g, 2, in)) return -1;
    node_params p = op_params();
    p.k = classes;
    return graph_add_node(g, OP_PLACE_LABELS, 2, in, &p);
}

static int place_labels_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NIN(2);
    shape4 v = vshape(g, in[0]), l = vshape(g, in[1]);
    NEED(shape_equal(v, l) && v.c == 1 && v.h == 1 && v.w == 1 && p->k >= 1,
         "place_labels: v %s and labels %s do not fit", op_fmt_shape(0, v), op_fmt_shape(1, l));
    *out = shape_make(v.n, p->k, 1, 1);
    return 1;
}

static void place_labels_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_pick_labels(g, G, a->in[1]);
}

static int place_labels_jvp(graph *g, const op_rule_args *a, const int *t)
{
    return op_place_labels(g, t[0], a->in[1], a->p->k);
}

/* ip = {classes} */
static int place_labels_case(graph *g, const op_case *c, const int *in)
{
    return op_place_labels(g, in[0], in[1], c->ip[0]);
}

static const op_case place_labels_cases[] = {
    {"place_labels", OP_PLACE_LABELS, 2, {S(4, 1, 1, 1), S(4, 1, 1, 1)}, {R, IN_LABELS}, {5}},
};

const op_def op_def_place_labels = {
    .op = OP_PLACE_LABELS,
    .int_inputs = 1u << 1,
    .nondiff_inputs = 1u << 1,
    .shape = place_labels_shape,
    .vjp = place_labels_vjp,
    .jvp = place_labels_jvp,
    .build_case = place_labels_case,
    OP_CASES(place_labels_cases),
    .f32_vs_f64 = &rows_tol,
};

/* --- mask_renorm_rows: (x, m) -> x*m / row sum of x*m ------------------ */

int op_mask_renorm_rows(graph *g, int x, int m) { return op_binary(g, OP_MASK_RENORM_ROWS, x, m); }

static int mask_renorm_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)p;
    NIN(2);
    SAME(in[0], in[1]);
    shape4 s = vshape(g, in[0]);
    NEED(s.h == 1 && s.w == 1, "mask_renorm_rows: operand must be (rows, cols, 1, 1), got %s", op_fmt_shape(0, s));
    *out = s;
    return 1;
}

/* 1 / row sum of x*m, recomputed from the inputs. */
static int mask_renorm_inverse_sum(graph *g, const op_rule_args *a)
{
    return op_powadd(g, op_sum_axis(g, op_mul(g, a->in[0], a->in[1]), AXIS_N), 0.0, -1.0);
}

/* With s = sum x*m and y the output: dy_i/dx_j = (m_i [i = j] - y_i m_j) / s. */
static void mask_renorm_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    int centred = op_axpby(g, G, op_bcast_axis(g, op_sum_axis(g, op_mul(g, G, a->y), AXIS_N), vshape(g, G), AXIS_N),
                           1.0, -1.0);
    ct[0] = op_scale_axis(g, op_mul(g, a->in[1], centred), mask_renorm_inverse_sum(g, a), AXIS_N);
}

static int mask_renorm_jvp(graph *g, const op_rule_args *a, const int *t)
{
    int mt = op_mul(g, a->in[1], t[0]);
    int centred = op_axpby(g, mt, op_scale_axis(g, a->y, op_sum_axis(g, mt, AXIS_N), AXIS_N), 1.0, -1.0);
    return op_scale_axis(g, centred, mask_renorm_inverse_sum(g, a), AXIS_N);
}

static int mask_renorm_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_mask_renorm_rows(g, in[0], in[1]);
}

/* positive entries, as the mixing weights it renormalises (IN_MASK keeps
 * at least one entry in every row of two or more) */
static const op_case mask_renorm_cases[] = {
    {"mask_renorm_rows", OP_MASK_RENORM_ROWS, 2, {S(3, 7, 1, 1), S(3, 7, 1, 1)}, {IN_POSITIVE, IN_MASK}},
    {"mask_renorm_rows 14x8", OP_MASK_RENORM_ROWS, 2, {S(14, 8, 1, 1), S(14, 8, 1, 1)}, {IN_POSITIVE, IN_MASK}},
};

const op_def op_def_mask_renorm_rows = {
    .op = OP_MASK_RENORM_ROWS,
    .nondiff_inputs = 1u << 1,
    .shape = mask_renorm_shape,
    .vjp = mask_renorm_vjp,
    .jvp = mask_renorm_jvp,
    .build_case = mask_renorm_case,
    OP_CASES(mask_renorm_cases),
    .f32_vs_f64 = &rows_tol,
};
