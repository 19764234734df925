/* Forward-over-reverse: the JVP of the backward graph gives exact
 * Hessian-vector products. Checked against central differences of the
 * gradient on composite graphs that contain every DARTS building block: a
 * separable convolution, a full mixed op (normal and reduction), and a
 * FactorizedReduce, each with batch norm in training mode. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "tsedarts/autodiff.h"
#include "tsedarts/darts.h"
#include "tsedarts/params.h"

#define FD_STEP 1e-5
/* Gradients of these graphs are O(1); central differences of them carry
 * ~1e-10 truncation and rounding, so 1e-6 leaves a wide margin. */
#define HVP_TOL 1e-6

typedef int (*composite_fn)(layer_builder *b, int x);

static int sep_conv_s1(layer_builder *b, int x)
{
    return darts_op(b, DOP_SEP_CONV_3X3, x, 4, 1, 0, 1);
}

static int sep_conv5_s2(layer_builder *b, int x)
{
    return darts_op(b, DOP_SEP_CONV_5X5, x, 4, 2, 1, 1);
}

static int factorized_reduce(layer_builder *b, int x)
{
    return darts_factorized_reduce(b, x, 4, 1);
}

/* One edge of the supernet: softmax(alpha)-weighted sum of the 7 ops. */
static int mixed_op(layer_builder *b, int x, int stride)
{
    graph *g = b->g;
    int alpha = graph_param(g, ROLE_ALPHA, "alpha", shape_make(1, DOP_COUNT, 1, 1), INIT_ALPHA, 0, 0, NULL);
    int w = op_softmax_rows(g, alpha);
    int xs[8], idx[8], n = 0;
    for (int k = 1; k < DOP_COUNT; k++) {
        layer_push(b, "_ops.%d", k);
        xs[n] = darts_op(b, k, x, 4, stride, 0, 1);
        idx[n++] = k;
        layer_pop(b);
    }
    return op_weighted_sum(g, w, n, xs, idx);
}

static int mixed_op_s1(layer_builder *b, int x) { return mixed_op(b, x, 1); }
static int mixed_op_s2(layer_builder *b, int x) { return mixed_op(b, x, 2); }

static double check_hvp(const char *label, composite_fn f, int smooth)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 0);
    b.smooth = smooth;
    int x = graph_input(g, shape_make(3, 4, 6, 6), 0);
    int y = f(&b, x);
    int G = graph_input(g, g->values[y].shape, 0);
    int loss = graph_bind(g, op_sum_all(g, op_mul(g, y, G)), ROLE_OUTPUT, (size_t)-1);
    /* Differentiate w.r.t. the input, every weight and the alphas. */
    int n = 0, wrt[64], grads[64], tans[64], hv[64];
    wrt[n++] = x;
    for (int p = 0; p < g->n_params; p++)
        if (g->params[p].role != ROLE_BNSTAT) wrt[n++] = g->params[p].value;
    cr_assert_eq(graph_vjp(g, loss, n, wrt, grads), TD_OK, "%s: %s", label, td_error_message());
    int n_nodes = g->n_nodes;
    for (int i = 0; i < n; i++) tans[i] = graph_input(g, g->values[wrt[i]].shape, 0);
    cr_assert_eq(graph_jvp(g, 0, n_nodes, n, wrt, tans, n, grads, hv), TD_OK);
    for (int i = 0; i < n; i++) {
        /* A gradient that is constant (a BN shift feeding the loss
         * linearly) has no tangent; its Hessian rows are exactly zero. */
        if (hv[i] < 0) hv[i] = op_const(g, g->values[wrt[i]].shape, 0.0);
        grads[i] = graph_bind(g, grads[i], ROLE_OUTPUT, (size_t)-1);
        hv[i] = graph_bind(g, hv[i], ROLE_OUTPUT, (size_t)-1);
    }
    cr_assert_eq(graph_status(g), TD_OK, "%s: %s", label, g->error);
    host_run r;
    cr_assert_eq(host_run_init(&r, g, DT_F64), TD_OK);
    params_init(g, 11, DT_F64, r.role[ROLE_WEIGHT], r.role[ROLE_ALPHA], r.role[ROLE_BNSTAT]);
    /* Alphas far from zero so that the softmax is not flat. */
    int alpha = graph_find_param(g, "alpha");
    if (alpha >= 0) host_fill_uniform(&r, g->params[alpha].value, 4, -1.0, 1.0);
    host_fill_uniform(&r, x, 5, -1.0, 1.0);
    host_fill_uniform(&r, G, 6, -1.0, 1.0);
    for (int i = 0; i < n; i++) host_fill_uniform(&r, tans[i], 20 + i, -1.0, 1.0);
    cr_assert_eq(host_run_exec(&r), TD_OK);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += shape_numel(g->values[wrt[i]].shape);
    /* First order too: <grad, t> against differences of the loss, so that
     * a wrong reverse rule cannot hide behind a consistent JVP of it. */
    double dir = 0, lpm[2];
    for (int i = 0; i < n; i++)
        for (size_t e = 0; e < shape_numel(g->values[wrt[i]].shape); e++)
            dir += host_get(&r, grads[i], e) * host_get(&r, tans[i], e);
    for (int sign = 1; sign >= -1; sign -= 2) {
        for (int i = 0; i < n; i++)
            for (size_t e = 0; e < shape_numel(g->values[wrt[i]].shape); e++)
                host_set(&r, wrt[i], e, host_get(&r, wrt[i], e) + sign * FD_STEP * host_get(&r, tans[i], e));
        host_run_exec(&r);
        lpm[sign > 0 ? 0 : 1] = host_get(&r, loss, 0);
        for (int i = 0; i < n; i++)
            for (size_t e = 0; e < shape_numel(g->values[wrt[i]].shape); e++)
                host_set(&r, wrt[i], e, host_get(&r, wrt[i], e) - sign * FD_STEP * host_get(&r, tans[i], e));
    }
    host_run_exec(&r);
    double gerr = fabs(dir - (lpm[0] - lpm[1]) / (2 * FD_STEP)) / fmax(fabs(dir), 1e-12);
    cr_expect_leq(gerr, HVP_TOL, "%s: gradient (directional) relative error %.3g", label, gerr);
    double *ad = malloc(total * sizeof *ad), *gp = malloc(total * sizeof *gp), *fd = malloc(total * sizeof *fd);
    size_t o = 0;
    for (int i = 0; i < n; i++)
        for (size_t e = 0; e < shape_numel(g->values[wrt[i]].shape); e++) ad[o++] = host_get(&r, hv[i], e);
    for (int sign = 1; sign >= -1; sign -= 2) {
        for (int i = 0; i < n; i++)
            for (size_t e = 0; e < shape_numel(g->values[wrt[i]].shape); e++)
                host_set(&r, wrt[i], e, host_get(&r, wrt[i], e) + sign * FD_STEP * host_get(&r, tans[i], e));
        host_run_exec(&r);
        o = 0;
        for (int i = 0; i < n; i++)
            for (size_t e = 0; e < shape_numel(g->values[wrt[i]].shape); e++, o++) {
                double gv = host_get(&r, grads[i], e);
                if (sign > 0)
                    gp[o] = gv;
                else
                    fd[o] = (gp[o] - gv) / (2 * FD_STEP);
            }
        /* Undo the step (two steps back after +, one forward after -). */
        for (int i = 0; i < n; i++)
            for (size_t e = 0; e < shape_numel(g->values[wrt[i]].shape); e++)
                host_set(&r, wrt[i], e, host_get(&r, wrt[i], e) - sign * FD_STEP * host_get(&r, tans[i], e));
    }
    double err = rel_error(ad, fd, total);
    cr_expect_leq(err, HVP_TOL, "%s: Hessian-vector product relative error %.3g", label, err);
    fprintf(stderr, "%-28s %6zu params  gradient rel err %.3g  HVP rel err %.3g\n", label, total, gerr, err);
    free(ad);
    free(gp);
    free(fd);
    host_run_free(&r);
    layer_free(&b);
    graph_destroy(g);
    return err;
}

Test(hvp, sep_conv_3x3) { check_hvp("sep_conv_3x3 stride 1", sep_conv_s1, 0); }
Test(hvp, sep_conv_5x5_stride2_affine) { check_hvp("sep_conv_5x5 stride 2 affine", sep_conv5_s2, 0); }
Test(hvp, factorized_reduce) { check_hvp("FactorizedReduce", factorized_reduce, 0); }
Test(hvp, mixed_op_normal) { check_hvp("mixed op stride 1", mixed_op_s1, 0); }
Test(hvp, mixed_op_reduction) { check_hvp("mixed op stride 2", mixed_op_s2, 0); }
Test(hvp, mixed_op_smooth_stand_in) { check_hvp("mixed op stride 2 (smooth)", mixed_op_s2, 1); }
