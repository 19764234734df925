/* Sums: the mixed op's weighted sum of op outputs, its adjoint for the
 * weights (dots of the cotangent with each output), and the full sum. */
#include "op_family.h"

/* f32 against f64. Evidence: test_f32_f64 prints the worst |a - b| /
 * (1e-7 + 1e-7 |b|) per op; the largest seen in this family was 0.65
 * (weighted_sum), and test_wide_kernels 4.5 on the wide cases (dots over
 * 3 x 5 x 13 x 13 values). The project-wide bars (atol 2e-6, rtol 1e-6;
 * wide 4e-5, 2e-5, set by the convolutions) leave far more than that. */
static const op_tolerance sums_tol = {.rtol = 1e-6, .atol = 2e-6};
static const op_tolerance sums_wide_tol = {.rtol = 2e-5, .atol = 4e-5};

/* --- weighted_sum: ([w,] x1..xk) -> sum_i w[idx[i]] x_i ---------------- */

int op_weighted_sum(graph *g, int w, int k, const int *xs, const int *idx)
{
    if (g->status != TD_OK || k < 1) return k < 1 ? graph_fail(g, "weighted_sum: no terms") : -1;
    if (op_any_bad(g, k, xs)) return -1;
    int *in = malloc((size_t)(k + 1) * sizeof *in);
    if (!in) return graph_fail(g, "out of memory");
    int nin = 0;
    node_params p = op_params();
    if (w >= 0) {
        in[nin++] = w;
        p.wlen = (int)shape_numel(vshape(g, w));
        p.idx_off = graph_push_ints(g, k, idx);
    } else {
        /* A plain sum: the index list is unused but kept the same length. */
        p.idx_off = g->n_ints;
        for (int i = 0; i < k; i++) graph_push_ints(g, 1, &(int){-1});
    }
    p.idx_len = k;
    for (int i = 0; i < k; i++) in[nin++] = xs[i];
    int out = graph_add_node(g, OP_WEIGHTED_SUM, nin, in, &p);
    free(in);
    return out;
}

static int weighted_sum_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    int has_w = p->wlen > 0;
    int k = nin - has_w;
    NEED(k >= 1 && k == p->idx_len, "weighted_sum: %d terms but %d indices", k, p->idx_len);
    for (int i = has_w + 1; i < nin; i++) SAME(in[has_w], in[i]);
    if (has_w) {
        NEED((int)shape_numel(vshape(g, in[0])) == p->wlen, "weighted_sum: weight length mismatch");
        const int *idx = g->ints + p->idx_off;
        for (int i = 0; i < k; i++)
            NEED(idx[i] >= 0 && idx[i] < p->wlen, "weighted_sum: index %d out of range", idx[i]);
    }
    *out = vshape(g, in[has_w]);
    return 1;
}

static void weighted_sum_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const int *in = a->in, *idx = a->idx;
    int has_w = a->p->wlen > 0, k = a->p->idx_len;
    for (int j = 0; j < k; j++) {
        if (!want[has_w + j]) continue;
        ct[has_w + j] = has_w ? op_weighted_sum(g, in[0], 1, &G, &idx[j]) : G;
    }
    if (has_w && want[0]) ct[0] = op_dots(g, G, k, in + 1, idx, vshape(g, in[0]));
}

static int weighted_sum_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const int *in = a->in, *idx = a->idx;
    int has_w = a->p->wlen > 0, k = a->p->idx_len;
    int *tx = malloc((size_t)k * sizeof *tx), *ti = malloc((size_t)k * sizeof *ti);
    if (!tx || !ti) {
        free(tx);
        free(ti);
        return graph_fail(g, "out of memory");
    }
    int kt = 0;
    for (int j = 0; j < k; j++)
        if (t[has_w + j] >= 0) {
            tx[kt] = t[has_w + j];
            ti[kt++] = idx[j];
        }
    int term_x = kt ? op_weighted_sum(g, has_w ? in[0] : -1, kt, tx, has_w ? ti : NULL) : -1;
    int term_w = has_w && t[0] >= 0 ? op_weighted_sum(g, t[0], k, in + 1, idx) : -1;
    free(tx);
    free(ti);
    return op_add_opt(g, term_x, term_w);
}

/* ip = {has_w, idx0, idx1, ...}; the inputs are w (when has_w) then xs */
static int weighted_sum_case(graph *g, const op_case *c, const int *in)
{
    if (c->ip[0]) return op_weighted_sum(g, in[0], c->nin - 1, in + 1, c->ip + 1);
    return op_weighted_sum(g, -1, c->nin, in, NULL);
}

static const op_case weighted_sum_cases[] = {
    {"weighted_sum alpha row", OP_WEIGHTED_SUM, 4, {S(2, 8, 1, 1), S(2, 3, 3, 3), S(2, 3, 3, 3), S(2, 3, 3, 3)},
     {R, R, R, R}, {1, 3, 9, 3}},
    {"weighted_sum plain", OP_WEIGHTED_SUM, 3, {S(2, 3, 3, 3), S(2, 3, 3, 3), S(2, 3, 3, 3)}, {R, R, R}, {0}},
};

/* mixed-op sums and summed cotangents at a real map width */
static const op_case weighted_sum_wide_cases[] = {
    {"wide weighted_sum plain 13x13", OP_WEIGHTED_SUM, 3, {S(3, 5, 13, 13), S(3, 5, 13, 13), S(3, 5, 13, 13)},
     {R, R, R}, {0}},
};

const op_def op_def_weighted_sum = {
    .op = OP_WEIGHTED_SUM,
    .shape = weighted_sum_shape,
    .vjp = weighted_sum_vjp,
    .jvp = weighted_sum_jvp,
    .build_case = weighted_sum_case,
    OP_CASES(weighted_sum_cases),
    OP_WIDE_CASES(weighted_sum_wide_cases),
    .f32_vs_f64 = &sums_tol,
    .f32_vs_f64_wide = &sums_wide_tol,
};

/* --- dots: (g, x1..xk) -> out[idx[i]] += <g, x_i>, shaped like w -------- */

int op_dots(graph *g, int gr, int k, const int *xs, const int *idx, shape4 wshape)
{
    if (g->status != TD_OK || gr < 0) return -1;
    if (k < 1) return graph_fail(g, "dots: no terms");
    if (op_any_bad(g, k, xs)) return -1;
    int *in = malloc((size_t)(k + 1) * sizeof *in);
    if (!in) return graph_fail(g, "out of memory");
    in[0] = gr;
    for (int i = 0; i < k; i++) in[1 + i] = xs[i];
    node_params p = op_params();
    p.idx_off = graph_push_ints(g, k, idx);
    p.idx_len = k;
    p.shape = wshape;
    p.wlen = (int)shape_numel(wshape);
    int out = graph_add_node(g, OP_DOTS, k + 1, in, &p);
    free(in);
    return out;
}

static int dots_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    NEED(nin >= 2 && nin - 1 == p->idx_len, "dots: terms and indices differ");
    for (int i = 1; i < nin; i++) SAME(in[0], in[i]);
    NEED((int)shape_numel(p->shape) == p->wlen && p->wlen > 0, "dots: bad output length");
    const int *idx = g->ints + p->idx_off;
    for (int i = 0; i < p->idx_len; i++) NEED(idx[i] >= 0 && idx[i] < p->wlen, "dots: index %d out of range", idx[i]);
    *out = p->shape;
    return 1;
}

static void dots_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    const int *in = a->in, *idx = a->idx;
    int k = a->p->idx_len;
    if (want[0]) ct[0] = op_weighted_sum(g, G, k, in + 1, idx);
    for (int j = 0; j < k; j++)
        if (want[1 + j]) ct[1 + j] = op_weighted_sum(g, G, 1, &in[0], &idx[j]);
}

static int dots_jvp(graph *g, const op_rule_args *a, const int *t)
{
    const int *in = a->in, *idx = a->idx;
    int k = a->p->idx_len;
    int *tx = malloc((size_t)k * sizeof *tx), *ti = malloc((size_t)k * sizeof *ti);
    if (!tx || !ti) {
        free(tx);
        free(ti);
        return graph_fail(g, "out of memory");
    }
    int kt = 0;
    for (int j = 0; j < k; j++)
        if (t[1 + j] >= 0) {
            tx[kt] = t[1 + j];
            ti[kt++] = idx[j];
        }
    int term_g = t[0] >= 0 ? op_dots(g, t[0], k, in + 1, idx, a->p->shape) : -1;
    int term_x = kt ? op_dots(g, in[0], kt, tx, ti, a->p->shape) : -1;
    free(tx);
    free(ti);
    return op_add_opt(g, term_g, term_x);
}

/* inputs: g then xs; ip = {idx0, idx1, ...}; sp = the weight shape */
static int dots_case(graph *g, const op_case *c, const int *in)
{
    return op_dots(g, in[0], c->nin - 1, in + 1, c->ip, c->sp);
}

static const op_case dots_cases[] = {
    {"dots", OP_DOTS, 4, {S(2, 3, 3, 3), S(2, 3, 3, 3), S(2, 3, 3, 3), S(2, 3, 3, 3)}, {R, R, R, R}, {5, 0, 5}, {0},
     S(2, 4, 1, 1)},
};

/* the alphas' gradients at real map widths */
static const op_case dots_wide_cases[] = {
    {"wide dots 32x32", OP_DOTS, 4, {S(2, 8, 32, 32), S(2, 8, 32, 32), S(2, 8, 32, 32), S(2, 8, 32, 32)},
     {R, R, R, R}, {5, 0, 5}, {0}, S(2, 4, 1, 1)},
    {"wide dots 13x13", OP_DOTS, 3, {S(3, 5, 13, 13), S(3, 5, 13, 13), S(3, 5, 13, 13)}, {R, R, R}, {1, 6}, {0},
     S(2, 4, 1, 1)},
};

const op_def op_def_dots = {
    .op = OP_DOTS,
    .shape = dots_shape,
    .vjp = dots_vjp,
    .jvp = dots_jvp,
    .build_case = dots_case,
    OP_CASES(dots_cases),
    OP_WIDE_CASES(dots_wide_cases),
    .f32_vs_f64 = &sums_tol,
    .f32_vs_f64_wide = &sums_wide_tol,
};

/* --- sum_all: (x) -> scalar sum ---------------------------------------- */

int op_sum_all(graph *g, int x) { return op_unary(g, OP_SUM_ALL, x); }

static int sum_all_shape(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)in, (void)p;
    NIN(1);
    *out = shape_make(1, 1, 1, 1);
    return 1;
}

static void sum_all_vjp(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct)
{
    (void)want;
    ct[0] = op_fill(g, G, vshape(g, a->in[0]));
}

static int sum_all_jvp(graph *g, const op_rule_args *a, const int *t)
{
    (void)a;
    return op_sum_all(g, t[0]);
}

static int sum_all_case(graph *g, const op_case *c, const int *in)
{
    (void)c;
    return op_sum_all(g, in[0]);
}

static const op_case sum_all_cases[] = {
    {"sum_all", OP_SUM_ALL, 1, {S(2, 3, 4, 5)}, {R}},
};

const op_def op_def_sum_all = {
    .op = OP_SUM_ALL,
    .shape = sum_all_shape,
    .vjp = sum_all_vjp,
    .jvp = sum_all_jvp,
    .build_case = sum_all_case,
    OP_CASES(sum_all_cases),
    .f32_vs_f64 = &sums_tol,
};
