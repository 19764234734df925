/* Central finite differences in f64 against every primitive's VJP and JVP
 * rule, over the whole op registry. A rule that is wrong for any input of
 * any case fails here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "op_cases.h"
#include "tsedarts/autodiff.h"

/* Central differences with h = 1e-5 on O(1) inputs in f64: truncation
 * ~h^2 = 1e-10 and rounding ~1e-16/h = 1e-11, far below the 1e-6 bar. */
#define FD_STEP 1e-5
#define FD_TOL 1e-6

static void fill_inputs(host_run *r, const op_case *c, const int *in)
{
    for (int k = 0; k < c->nin; k++) {
        int v = in[k];
        size_t n = shape_numel(c->in[k]);
        if (c->kind[k] == IN_LABELS) {
            int classes = c->op == OP_PICK_LABELS ? c->in[0].c : c->ip[0];
            for (size_t i = 0; i < n; i++) host_set_label(r, v, i, (int32_t)((i * 3 + 1) % (size_t)classes));
        } else if (c->kind[k] == IN_POSITIVE) {
            host_fill_uniform(r, v, 100 + k, 0.5, 2.0);
        } else if (c->kind[k] == IN_REAL) {
            host_fill_uniform(r, v, 100 + k, -1.0, 1.0);
        }
    }
}

static int has_derivative(const op_case *c)
{
    if (c->op == OP_BN_RUNNING_UPDATE) return 0;
    for (int k = 0; k < c->nin; k++)
        if (op_case_input_differentiable(c, k)) return 1;
    return 0;
}

typedef struct worst {
    double vjp, jvp;
    int cases;
} worst;

static worst worst_by_op[OP_COUNT];

/* d/dx of L = <G, f(x)> by the VJP rule vs central differences, every
 * element of every differentiable input. */
static double check_vjp(const op_case *c)
{
    graph *g = graph_create();
    int in[OP_CASE_MAX_IN], wrt[OP_CASE_MAX_IN], grads[OP_CASE_MAX_IN], nw = 0;
    op_case_inputs(g, c, in);
    int y = op_case_build(g, c, in);
    int G = graph_input(g, g->values[y].shape, 0);
    int L = graph_bind(g, op_sum_all(g, op_mul(g, y, G)), ROLE_OUTPUT, (size_t)-1);
    for (int k = 0; k < c->nin; k++)
        if (op_case_input_differentiable(c, k)) wrt[nw++] = in[k];
    cr_assert_eq(graph_vjp(g, L, nw, wrt, grads), TD_OK, "%s: %s", c->label, td_error_message());
    for (int k = 0; k < nw; k++) grads[k] = graph_bind(g, grads[k], ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_status(g), TD_OK, "%s: %s", c->label, g->error);
    host_run r;
    cr_assert_eq(host_run_init(&r, g, DT_F64), TD_OK);
    fill_inputs(&r, c, in);
    host_fill_uniform(&r, G, 7, -1.0, 1.0);
    cr_assert_eq(host_run_exec(&r), TD_OK, "%s: %s", c->label, td_error_message());
    double worst_err = 0;
    double *ads[OP_CASE_MAX_IN];
    for (int k = 0; k < nw; k++) {
        size_t n = shape_numel(g->values[wrt[k]].shape);
        ads[k] = malloc(n * sizeof *ads[k]);
        for (size_t i = 0; i < n; i++) ads[k][i] = host_get(&r, grads[k], i);
    }
    for (int k = 0; k < nw; k++) {
        size_t n = shape_numel(g->values[wrt[k]].shape);
        double *ad = ads[k], *fd = malloc(n * sizeof *fd);
        for (size_t i = 0; i < n; i++) {
            double x0 = host_get(&r, wrt[k], i);
            host_set(&r, wrt[k], i, x0 + FD_STEP);
            host_run_exec(&r);
            double lp = host_get(&r, L, 0);
            host_set(&r, wrt[k], i, x0 - FD_STEP);
            host_run_exec(&r);
            double lm = host_get(&r, L, 0);
            host_set(&r, wrt[k], i, x0);
            fd[i] = (lp - lm) / (2 * FD_STEP);
        }
        double e = rel_error(ad, fd, n);
        cr_expect_leq(e, FD_TOL, "%s: VJP of input %d: relative error %.3g", c->label, k, e);
        if (e > worst_err) worst_err = e;
        free(ad);
        free(fd);
    }
    host_run_free(&r);
    graph_destroy(g);
    return worst_err;
}

/* Tangent of f by the JVP rule vs (f(x + h t) - f(x - h t)) / 2h. */
static double check_jvp(const op_case *c)
{
    graph *g = graph_create();
    int in[OP_CASE_MAX_IN], seeds[OP_CASE_MAX_IN], tans[OP_CASE_MAX_IN], ns = 0;
    op_case_inputs(g, c, in);
    int y = op_case_build(g, c, in);
    int n_nodes = g->n_nodes;
    for (int k = 0; k < c->nin; k++)
        if (op_case_input_differentiable(c, k)) {
            seeds[ns] = in[k];
            tans[ns++] = graph_input(g, c->in[k], 0);
        }
    int ty;
    cr_assert_eq(graph_jvp(g, 0, n_nodes, ns, seeds, tans, 1, &y, &ty), TD_OK, "%s: %s", c->label,
                 td_error_message());
    cr_assert_geq(ty, 0, "%s: JVP gave no tangent", c->label);
    y = graph_bind(g, y, ROLE_OUTPUT, (size_t)-1);
    ty = graph_bind(g, ty, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_status(g), TD_OK, "%s: %s", c->label, g->error);
    host_run r;
    cr_assert_eq(host_run_init(&r, g, DT_F64), TD_OK);
    fill_inputs(&r, c, in);
    for (int k = 0; k < ns; k++) host_fill_uniform(&r, tans[k], 300 + k, -1.0, 1.0);
    cr_assert_eq(host_run_exec(&r), TD_OK, "%s: %s", c->label, td_error_message());
    size_t n = shape_numel(g->values[y].shape);
    double *ad = malloc(n * sizeof *ad), *yp = malloc(n * sizeof *yp), *fd = malloc(n * sizeof *fd);
    for (size_t i = 0; i < n; i++) ad[i] = host_get(&r, ty, i);
    for (int sign = 1; sign >= -1; sign -= 2) {
        for (int k = 0; k < ns; k++) {
            size_t m = shape_numel(g->values[seeds[k]].shape);
            for (size_t i = 0; i < m; i++)
                host_set(&r, seeds[k], i, host_get(&r, seeds[k], i) + sign * FD_STEP * host_get(&r, tans[k], i));
        }
        host_run_exec(&r);
        for (size_t i = 0; i < n; i++) {
            if (sign > 0)
                yp[i] = host_get(&r, y, i);
            else
                fd[i] = (yp[i] - host_get(&r, y, i)) / (2 * FD_STEP);
        }
        fill_inputs(&r, c, in); /* back to the unperturbed point */
    }
    double e = rel_error(ad, fd, n);
    cr_expect_leq(e, FD_TOL, "%s: JVP relative error %.3g", c->label, e);
    free(ad);
    free(yp);
    free(fd);
    host_run_free(&r);
    graph_destroy(g);
    return e;
}

Test(op_gradients, vjp_and_jvp_rules_match_finite_differences)
{
    int checked = 0;
    for (int i = 0; i < n_op_cases; i++) {
        const op_case *c = &op_cases[i];
        if (!has_derivative(c)) continue;
        double ev = check_vjp(c), ej = check_jvp(c);
        worst *w = &worst_by_op[c->op];
        if (ev > w->vjp) w->vjp = ev;
        if (ej > w->jvp) w->jvp = ej;
        w->cases++;
        checked++;
    }
    fprintf(stderr, "%-20s %5s %12s %12s\n", "op", "cases", "worst vjp", "worst jvp");
    for (int op = 0; op < OP_COUNT; op++)
        if (worst_by_op[op].cases)
            fprintf(stderr, "%-20s %5d %12.3g %12.3g\n", op_name((op_kind)op), worst_by_op[op].cases,
                    worst_by_op[op].vjp, worst_by_op[op].jvp);
    cr_expect_gt(checked, 50);
}
