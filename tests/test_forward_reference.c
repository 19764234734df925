/* Forward kernels against naive formulas written independently here (the
 * finite-difference tests only show that rules and kernels agree with each
 * other; these show the kernels compute what docs/numerics.md says). f64, so any
 * disagreement beyond 1e-12 is a bug, not rounding. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "tsedarts/layers.h"

#define EXACT 1e-12

static double at(const host_run *r, int v, int n, int c, int h, int w)
{
    shape4 s = r->g->values[v].shape;
    return host_get(r, v, (((size_t)n * s.c + c) * s.h + h) * s.w + w);
}

/* Builds in -> op -> out, fills the input, runs in f64. */
static void run_unary(graph *g, host_run *r, int x, int *y)
{
    *y = graph_bind(g, *y, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_status(g), TD_OK, "%s", g->error);
    cr_assert_eq(host_run_init(r, g, DT_F64), TD_OK);
    host_fill_uniform(r, x, 77, -1.0, 1.0);
}

Test(forward, conv2d_matches_the_definition)
{
    int cases[][9] = {/* N Ci H W Co k stride pad dil, groups below */
                      {2, 4, 7, 6, 6, 3, 2, 1, 1}, {1, 4, 9, 9, 4, 5, 1, 4, 2}, {2, 3, 5, 5, 5, 1, 2, 0, 1}};
    int groups[] = {2, 4, 1};
    for (int t = 0; t < 3; t++) {
        int *c = cases[t], G = groups[t];
        graph *g = graph_create();
        int x = graph_input(g, shape_make(c[0], c[1], c[2], c[3]), 0);
        int w = graph_input(g, shape_make(c[4], c[1] / G, c[5], c[5]), 0);
        int y = op_conv2d(g, x, w, c[6], c[7], c[8], G);
        host_run r;
        run_unary(g, &r, x, &y);
        host_fill_uniform(&r, w, 78, -1.0, 1.0);
        cr_assert_eq(host_run_exec(&r), TD_OK);
        shape4 ys = g->values[y].shape;
        double worst = 0;
        for (int n = 0; n < ys.n; n++)
            for (int co = 0; co < ys.c; co++)
                for (int oh = 0; oh < ys.h; oh++)
                    for (int ow = 0; ow < ys.w; ow++) {
                        double acc = 0;
                        int cig = c[1] / G, grp = co / (c[4] / G);
                        for (int ci = 0; ci < cig; ci++)
                            for (int kh = 0; kh < c[5]; kh++)
                                for (int kw = 0; kw < c[5]; kw++) {
                                    int ih = oh * c[6] - c[7] + kh * c[8], iw = ow * c[6] - c[7] + kw * c[8];
                                    if (ih < 0 || ih >= c[2] || iw < 0 || iw >= c[3]) continue;
                                    acc += at(&r, w, co, ci, kh, kw) * at(&r, x, n, grp * cig + ci, ih, iw);
                                }
                        double d = fabs(acc - at(&r, y, n, co, oh, ow));
                        if (d > worst) worst = d;
                    }
        cr_expect_leq(worst, EXACT, "conv case %d: max error %g", t, worst);
        host_run_free(&r);
        graph_destroy(g);
    }
}

Test(forward, pooling_matches_the_definition)
{
    for (int stride = 1; stride <= 2; stride++) {
        graph *g = graph_create();
        int x = graph_input(g, shape_make(2, 3, 7, 6), 0);
        int mx = graph_bind(g, op_maxpool(g, x, 3, stride, 1), ROLE_OUTPUT, (size_t)-1);
        int av = graph_bind(g, op_avgpool(g, x, 3, stride, 1, 0), ROLE_OUTPUT, (size_t)-1);
        int ai = graph_bind(g, op_avgpool(g, x, 3, stride, 1, 1), ROLE_OUTPUT, (size_t)-1);
        host_run r;
        cr_assert_eq(host_run_init(&r, g, DT_F64), TD_OK);
        /* Negative inputs: a zero from padding would win if it counted. */
        host_fill_uniform(&r, x, 3, -2.0, -1.0);
        cr_assert_eq(host_run_exec(&r), TD_OK);
        shape4 ys = g->values[mx].shape;
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 3; c++)
                for (int oh = 0; oh < ys.h; oh++)
                    for (int ow = 0; ow < ys.w; ow++) {
                        double best = -INFINITY, sum = 0;
                        int cnt = 0;
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 3; kw++) {
                                int ih = oh * stride - 1 + kh, iw = ow * stride - 1 + kw;
                                if (ih < 0 || ih >= 7 || iw < 0 || iw >= 6) continue;
                                double v = at(&r, x, n, c, ih, iw);
                                best = v > best ? v : best;
                                sum += v;
                                cnt++;
                            }
                        cr_expect_eq(at(&r, mx, n, c, oh, ow), best);
                        cr_expect_leq(fabs(at(&r, av, n, c, oh, ow) - sum / cnt), EXACT);
                        cr_expect_leq(fabs(at(&r, ai, n, c, oh, ow) - sum / 9), EXACT);
                    }
        host_run_free(&r);
        graph_destroy(g);
    }
}

Test(forward, batch_norm_train_eval_and_running_statistics)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    int x = graph_input(g, shape_make(3, 2, 4, 5), 0);
    int y = graph_bind(g, layer_bn(&b, "bn", x, 1), ROLE_OUTPUT, (size_t)-1);
    layer_builder e;
    layer_init(&e, g, 0, 0);
    layer_push(&e, "eval"); /* a second BN reading its own running stats */
    int ye = graph_bind(g, layer_bn(&e, "bn", x, 0), ROLE_OUTPUT, (size_t)-1);
    host_run r;
    cr_assert_eq(host_run_init(&r, g, DT_F64), TD_OK);
    host_fill_uniform(&r, x, 9, 3.0, 5.0); /* mean far from zero */
    int gamma = g->params[graph_find_param(g, "bn.weight")].value;
    int beta = g->params[graph_find_param(g, "bn.bias")].value;
    int rm = g->params[graph_find_param(g, "bn.running_mean")].value;
    int rv = g->params[graph_find_param(g, "bn.running_var")].value;
    int erm = g->params[graph_find_param(g, "eval.bn.running_mean")].value;
    int erv = g->params[graph_find_param(g, "eval.bn.running_var")].value;
    for (int c = 0; c < 2; c++) {
        host_set(&r, gamma, c, 1.5 + c);
        host_set(&r, beta, c, -0.25 * c);
        host_set(&r, rm, c, 0.0);
        host_set(&r, rv, c, 1.0);
        host_set(&r, erm, c, 0.3 * c);
        host_set(&r, erv, c, 2.0 + c);
    }
    cr_assert_eq(host_run_exec(&r), TD_OK);
    int M = 3 * 4 * 5;
    for (int c = 0; c < 2; c++) {
        double m = 0, v = 0;
        for (int n = 0; n < 3; n++)
            for (int i = 0; i < 20; i++) m += at(&r, x, n, c, i / 5, i % 5);
        m /= M;
        for (int n = 0; n < 3; n++)
            for (int i = 0; i < 20; i++) v += pow(at(&r, x, n, c, i / 5, i % 5) - m, 2);
        v /= M;
        for (int n = 0; n < 3; n++)
            for (int i = 0; i < 20; i++) {
                double xv = at(&r, x, n, c, i / 5, i % 5);
                double want = (xv - m) / sqrt(v + 1e-5) * (1.5 + c) - 0.25 * c;
                cr_expect_leq(fabs(at(&r, y, n, c, i / 5, i % 5) - want), EXACT);
                double want_e = (xv - 0.3 * c) / sqrt(2.0 + c + 1e-5);
                cr_expect_leq(fabs(at(&r, ye, n, c, i / 5, i % 5) - want_e), EXACT);
            }
        /* momentum 0.1, unbiased variance for the running estimate */
        cr_expect_leq(fabs(host_get(&r, rm, c) - 0.1 * m), EXACT);
        cr_expect_leq(fabs(host_get(&r, rv, c) - (0.9 + 0.1 * v * M / (M - 1))), EXACT);
        cr_expect_eq(host_get(&r, erm, c), 0.3 * c, "eval BN must not update its statistics");
    }
    host_run_free(&r);
    layer_free(&b);
    layer_free(&e);
    graph_destroy(g);
}

Test(forward, cross_entropy_and_softmax)
{
    graph *g = graph_create();
    int z = graph_input(g, shape_make(4, 5, 1, 1), 0);
    int lab = graph_input(g, shape_make(4, 1, 1, 1), 1);
    int loss = graph_bind(g, layer_cross_entropy(g, z, lab), ROLE_OUTPUT, (size_t)-1);
    int p = graph_bind(g, op_softmax_rows(g, z), ROLE_OUTPUT, (size_t)-1);
    host_run r;
    cr_assert_eq(host_run_init(&r, g, DT_F64), TD_OK);
    host_fill_uniform(&r, z, 1, -3.0, 3.0);
    for (int n = 0; n < 4; n++) host_set_label(&r, lab, n, (n * 2) % 5);
    cr_assert_eq(host_run_exec(&r), TD_OK);
    double want = 0;
    for (int n = 0; n < 4; n++) {
        double s = 0;
        for (int k = 0; k < 5; k++) s += exp(host_get(&r, z, n * 5 + k));
        want -= log(exp(host_get(&r, z, n * 5 + (n * 2) % 5)) / s) / 4;
        for (int k = 0; k < 5; k++)
            cr_expect_leq(fabs(host_get(&r, p, n * 5 + k) - exp(host_get(&r, z, n * 5 + k)) / s), EXACT);
    }
    cr_expect_leq(fabs(host_get(&r, loss, 0) - want), EXACT);
    host_run_free(&r);
    graph_destroy(g);
}

Test(forward, labels_out_of_range_are_rejected)
{
    graph *g = graph_create();
    int z = graph_input(g, shape_make(2, 3, 1, 1), 0);
    int lab = graph_input(g, shape_make(2, 1, 1, 1), 1);
    graph_bind(g, layer_cross_entropy(g, z, lab), ROLE_OUTPUT, (size_t)-1);
    host_run r;
    cr_assert_eq(host_run_init(&r, g, DT_F64), TD_OK);
    host_set_label(&r, lab, 1, 3);
    cr_expect_eq(host_run_exec(&r), TD_ERR_ARG);
    cr_expect(strstr(td_error_message(), "label 3") != NULL, "message: %s", td_error_message());
    host_run_free(&r);
    graph_destroy(g);
}

Test(forward, matmul_matches_the_definition)
{
    graph *g = graph_create();
    int a = graph_input(g, shape_make(3, 4, 1, 1), 0);
    int bm = graph_input(g, shape_make(5, 4, 1, 1), 0);
    int c = graph_bind(g, op_matmul(g, a, bm, 0, 1), ROLE_OUTPUT, (size_t)-1);
    host_run r;
    cr_assert_eq(host_run_init(&r, g, DT_F64), TD_OK);
    host_fill_uniform(&r, a, 1, -1.0, 1.0);
    host_fill_uniform(&r, bm, 2, -1.0, 1.0);
    cr_assert_eq(host_run_exec(&r), TD_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) {
            double acc = 0;
            for (int k = 0; k < 4; k++) acc += host_get(&r, a, i * 4 + k) * host_get(&r, bm, j * 4 + k);
            cr_expect_leq(fabs(host_get(&r, c, i * 5 + j) - acc), EXACT);
        }
    host_run_free(&r);
    graph_destroy(g);
}
