/* Forward kernels against naive formulas written independently here (the
 * finite-difference tests only show that rules and kernels agree with each
 * other; these show the kernels compute what docs/numerics.md says). f64, so any
 * disagreement beyond 1e-12 is a bug, not rounding. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tsedarts/backend_cpu.h"
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
        layer_builder b;
        layer_init(&b, g, 0, 0);
        int x = graph_input(g, shape_make(2, 3, 7, 6), 0);
        int mx = graph_bind(g, layer_maxpool(&b, x, 3, stride, 1), ROLE_OUTPUT, (size_t)-1);
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
        layer_free(&b);
        host_run_free(&r);
        graph_destroy(g);
    }
}

/* The window index rule on data made of ties, signed zeros, NaN and -inf,
 * in both element types, on every CPU path (the f32 fast path's vector
 * and scalar parts at stride 1 and 2, the plain kernels, the fused kernel):
 * each index is the first in-image pixel of its window unless a later one
 * is strictly greater, and the gathered maximum is that pixel, bit for bit.
 * So a NaN wins only as its window's first pixel, padding never. */
static double tricky_value(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    switch ((*s >> 24) % 16) {
    case 0: return NAN;
    case 1: return -INFINITY;
    case 2: return -0.0;
    case 3: return 0.0;
    default: return (double)((int)((*s >> 16) % 5) - 3); /* -3 .. 1, many ties */
    }
}

static int expected_index(const host_run *r, int x, int pl, int H, int W, int k, int s, int p, int oh, int ow)
{
    size_t base = (size_t)pl * H * W;
    int best = -1;
    double bv = 0;
    for (int ih = oh * s - p; ih < oh * s - p + k; ih++)
        for (int iw = ow * s - p; iw < ow * s - p + k; iw++) {
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            double v = host_get(r, x, base + (size_t)ih * W + iw);
            if (best < 0 || v > bv) {
                best = ih * W + iw;
                bv = v;
            }
        }
    return best;
}

static void check_window_indices(dtype dt, int fused, int H, int W, int k, int s, int p)
{
    graph *g = graph_create();
    int x = graph_input(g, shape_make(2, 3, H, W), 0);
    int idx = op_maxpool_argmax(g, x, k, s, p);
    int y = graph_bind(g, op_gather_at(g, x, idx, k, s, p), ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_status(g), TD_OK, "%s", g->error);
    host_run r;
    cr_assert_eq(host_run_init(&r, g, dt), TD_OK);
    if (!fused) {
        exec_destroy(r.ctx);
        cr_assert_eq(exec_create_plain(g, backend_cpu(), dt, &r.ctx), TD_OK);
        for (int role = 1; role < ROLE_COUNT; role++) exec_bind(r.ctx, (value_role)role, r.role[role]);
    }
    uint32_t seed = 12345u + (uint32_t)(H * 100 + W * 10 + s);
    size_t n = shape_numel(g->values[x].shape);
    for (size_t i = 0; i < n; i++) host_set(&r, x, i, tricky_value(&seed));
    cr_assert_eq(host_run_exec(&r), TD_OK, "%s", td_error_message());
    shape4 ys = g->values[y].shape;
    int wrong = 0;
    for (int pl = 0; pl < 6; pl++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++) {
                size_t o = ((size_t)pl * ys.h + oh) * ys.w + ow;
                int want = expected_index(&r, x, pl, H, W, k, s, p, oh, ow);
                double got = host_get(&r, y, o), at_want = host_get(&r, x, (size_t)pl * H * W + want);
                int same = memcmp(&got, &at_want, sizeof got) == 0 || (isnan(got) && isnan(at_want));
                if ((int)host_get(&r, idx, o) != want || !same) wrong++;
            }
    cr_expect_eq(wrong, 0, "%s %s, %dx%d planes, window %d stride %d pad %d: %d outputs break the rule",
                 dtype_name(dt), fused ? "fused" : "plain", H, W, k, s, p, wrong);
    host_run_free(&r);
    graph_destroy(g);
}

Test(forward, max_pooling_takes_each_windows_first_maximum)
{
    for (int dt = DT_F32; dt <= DT_F64; dt++)
        for (int fused = 0; fused < 2; fused++) {
            check_window_indices((dtype)dt, fused, 7, 19, 3, 1, 1); /* vectors of 8 and a scalar tail */
            check_window_indices((dtype)dt, fused, 9, 21, 3, 2, 1); /* stride-2 vectors */
            check_window_indices((dtype)dt, fused, 5, 6, 3, 2, 1);
            /* with AVX-512, vectors of 16 first: 16 + 8 + 3 wide, and at
             * stride 2 (Wo 26) 16 + 8 + 2 */
            check_window_indices((dtype)dt, fused, 6, 27, 3, 1, 1);
            check_window_indices((dtype)dt, fused, 7, 51, 3, 2, 1);
            check_window_indices((dtype)dt, fused, 7, 9, 2, 2, 0); /* DrNAS's reduction */
        }
}

/* gather_at and scatter_at require each index to lie in its own window;
 * one that does not (a wrong graph: here int32 inputs, where graphs use
 * maxpool_argmax's output) gathers NaN and scatters nowhere, on the f32
 * fast scatter and the plain kernels alike (and on the GPU). The valid
 * ones are checked against the definition, sums in output order. */
static void check_foreign_indices(dtype dt, int H, int W, int k, int s, int p)
{
    graph *g = graph_create();
    shape4 xs = shape_make(1, 2, H, W);
    int x = graph_input(g, xs, 0);
    shape4 ys = shape_make(1, 2, (H + 2 * p - k) / s + 1, (W + 2 * p - k) / s + 1);
    int idx = graph_input(g, ys, 1), G = graph_input(g, ys, 0);
    int y = graph_bind(g, op_gather_at(g, x, idx, k, s, p), ROLE_OUTPUT, (size_t)-1);
    int dx = graph_bind(g, op_scatter_at(g, G, idx, xs, k, s, p), ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_status(g), TD_OK, "%s", g->error);
    host_run r;
    cr_assert_eq(host_run_init(&r, g, dt), TD_OK);
    host_fill_uniform(&r, x, 5, -1.0, 1.0);
    host_fill_uniform(&r, G, 6, -1.0, 1.0);
    size_t n = shape_numel(ys);
    int *want = malloc(n * sizeof *want);
    uint32_t seed = 777u + (uint32_t)(W * 10 + s);
    for (size_t o = 0; o < n; o++) {
        int ow = (int)(o % ys.w), oh = (int)(o / ys.w % ys.h), h0 = oh * s - p, w0 = ow * s - p;
        seed = seed * 1664525u + 1013904223u;
        int kh = (int)(seed >> 20) % k, kw = (int)(seed >> 12) % k, ih = h0 + kh, iw = w0 + kw;
        int valid = ih >= 0 && ih < H && iw >= 0 && iw < W && (seed >> 28) % 4 != 0;
        /* invalid: in the plane but outside the window, before it, or past the plane */
        int bad[3] = {(h0 + k + 1 < H ? h0 + k + 1 : 0) * W + (w0 < 0 ? 0 : w0), -1, H * W + 3};
        want[o] = valid ? ih * W + iw : -1;
        host_set_label(&r, idx, o, valid ? want[o] : bad[(seed >> 8) % 3]);
    }
    cr_assert_eq(host_run_exec(&r), TD_OK, "%s", td_error_message());
    int wrong = 0;
    for (size_t o = 0; o < n; o++) {
        size_t pl = o / (size_t)(ys.h * ys.w) * (size_t)(H * W);
        double got = host_get(&r, y, o);
        wrong += want[o] < 0 ? !isnan(got) : got != host_get(&r, x, pl + (size_t)want[o]);
    }
    for (size_t e = 0; e < shape_numel(xs); e++) {
        size_t pl = e / (size_t)(H * W) * n / (size_t)xs.c;
        double acc = 0;
        for (size_t o = pl; o < pl + n / (size_t)xs.c; o++)
            if (want[o] >= 0 && (size_t)want[o] == e % (size_t)(H * W)) acc += host_get(&r, G, o);
        wrong += fabs(host_get(&r, dx, e) - acc) > (dt == DT_F64 ? EXACT : 1e-6);
    }
    cr_expect_eq(wrong, 0, "%s, %dx%d, window %d stride %d pad %d: %d values wrong", dtype_name(dt), H, W, k, s, p,
                 wrong);
    free(want);
    host_run_free(&r);
    graph_destroy(g);
}

Test(forward, indices_outside_their_windows_gather_nan_and_scatter_nowhere)
{
    for (int dt = DT_F32; dt <= DT_F64; dt++) {
        check_foreign_indices((dtype)dt, 6, 19, 3, 1, 1);
        check_foreign_indices((dtype)dt, 7, 9, 3, 2, 1);
        check_foreign_indices((dtype)dt, 5, 5, 2, 2, 0);
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

/* One f32 pooling node through the CPU backend, as the executor calls it. */
static void cpu_pool(op_kind op, int s, const float *in, shape4 is, float *out, shape4 os)
{
    node nd;
    memset(&nd, 0, sizeof nd);
    nd.op = op;
    nd.nin = 1;
    nd.p.k = 3;
    nd.p.stride = s;
    nd.p.pad = 1;
    void *const ins[1] = {(void *)in};
    kernel_args a = {NULL, &nd, 1, ins, &is, out, os, DT_F32};
    cr_assert_eq(backend_cpu()->run_node(&a), TD_OK, "%s", td_error_message());
}

/* f32 average pooling (padding not counted) and its gradient, bit for
 * bit: a mean sums its window's nine taps in row-major order (a padding
 * tap adds +0) and divides by the in-image count; a gradient element sums
 * g / count of the windows that hold it, in the windows' row-major order.
 * Widths give rows of 16-wide (AVX-512), 8-wide and scalar windows. */
static void check_average_pool_bits(int H, int W, int s)
{
    int Ho = (H - 1) / s + 1, Wo = (W - 1) / s + 1, N = 2 * 3;
    shape4 xs = shape_make(2, 3, H, W), ys = shape_make(2, 3, Ho, Wo);
    float *x = malloc(shape_numel(xs) * sizeof *x), *y = malloc(shape_numel(ys) * sizeof *y);
    float *g = malloc(shape_numel(ys) * sizeof *g), *dx = malloc(shape_numel(xs) * sizeof *dx);
    uint32_t seed = 99u + (uint32_t)(W * 10 + s);
    for (size_t i = 0; i < shape_numel(xs); i++) x[i] = (float)tricky_value(&seed) * 0.37f + (i % 5 ? 0.1f : 0.0f);
    for (size_t i = 0; i < shape_numel(xs); i++) x[i] = isfinite(x[i]) ? x[i] : -0.0f;
    for (size_t i = 0; i < shape_numel(ys); i++) g[i] = (float)(i % 13) * 0.173f - 1.0f;
    cpu_pool(OP_AVGPOOL, s, x, xs, y, ys);
    int wrong = 0;
    for (int pl = 0; pl < N; pl++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                float acc = 0.0f;
                int cnt = 0;
                for (int t = 0; t < 9; t++) {
                    int ih = oh * s - 1 + t / 3, iw = ow * s - 1 + t % 3, in = ih >= 0 && ih < H && iw >= 0 && iw < W;
                    acc += in ? x[((size_t)pl * H + ih) * W + iw] : 0.0f;
                    cnt += in;
                }
                float want = acc / (float)cnt, got = y[((size_t)pl * Ho + oh) * Wo + ow];
                wrong += memcmp(&want, &got, sizeof want) != 0;
            }
    cr_expect_eq(wrong, 0, "average pool %dx%d stride %d: %d means differ", H, W, s, wrong);
    cpu_pool(OP_AVGPOOL_BWD, s, g, ys, dx, xs);
    wrong = 0;
    for (int pl = 0; pl < N; pl++)
        for (int ih = 0; ih < H; ih++)
            for (int iw = 0; iw < W; iw++) {
                float acc = 0.0f;
                for (int oh = 0; oh < Ho; oh++)
                    for (int ow = 0; ow < Wo; ow++) {
                        int h0 = oh * s - 1, w0 = ow * s - 1;
                        if (ih < h0 || ih > h0 + 2 || iw < w0 || iw > w0 + 2) continue;
                        int hs = h0 < 0 ? 0 : h0, he = h0 + 3 > H ? H : h0 + 3, ws = w0 < 0 ? 0 : w0, we = w0 + 3 > W ? W : w0 + 3;
                        acc += g[((size_t)pl * Ho + oh) * Wo + ow] / (float)((he - hs) * (we - ws));
                    }
                float got = dx[((size_t)pl * H + ih) * W + iw];
                wrong += memcmp(&acc, &got, sizeof acc) != 0;
            }
    cr_expect_eq(wrong, 0, "average pool gradient %dx%d stride %d: %d elements differ", H, W, s, wrong);
    free(x), free(y), free(g), free(dx);
}

Test(forward, average_pooling_f32_sums_in_window_order)
{
    check_average_pool_bits(5, 35, 1); /* 16 + 16 + 3 */
    check_average_pool_bits(6, 27, 1); /* 16 + 8 + 3 */
    check_average_pool_bits(32, 32, 1);
    check_average_pool_bits(7, 51, 2); /* 26 outputs: 16 + 8 + 2 */
    check_average_pool_bits(32, 32, 2);
}

/* uncrop writes every element of its output: the gradient's rows at
 * (top, left) and +0 everywhere else, whatever the buffer held (NaN here),
 * with a margin on all four sides and planes enough to split across
 * threads; crop reads the same window back. */
Test(forward, uncrop_places_the_window_and_zeroes_the_rest)
{
    int top = 1, left = 2, H = 7, W = 9, h = 4, w = 5;
    shape4 gs = shape_make(64, 9, h, w), xs = shape_make(64, 9, H, W);
    float *g = malloc(shape_numel(gs) * sizeof *g), *x = malloc(shape_numel(xs) * sizeof *x);
    float *back = malloc(shape_numel(gs) * sizeof *back);
    for (size_t i = 0; i < shape_numel(gs); i++) g[i] = (float)(i % 101) - 50.5f;
    for (size_t i = 0; i < shape_numel(xs); i++) x[i] = NAN;
    node nd;
    memset(&nd, 0, sizeof nd);
    nd.op = OP_UNCROP;
    nd.nin = 1;
    nd.p.top = top;
    nd.p.left = left;
    nd.p.shape = xs;
    void *const ins[1] = {g};
    kernel_args a = {NULL, &nd, 1, ins, &gs, x, xs, DT_F32};
    cr_assert_eq(backend_cpu()->run_node(&a), TD_OK, "%s", td_error_message());
    int wrong = 0;
    const float zero = 0.0f;
    for (int pl = 0; pl < xs.n * xs.c; pl++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                int inside = i >= top && i < top + h && j >= left && j < left + w;
                const float *want = inside ? &g[((size_t)pl * h + i - top) * w + j - left] : &zero;
                wrong += memcmp(want, &x[((size_t)pl * H + i) * W + j], sizeof zero) != 0;
            }
    cr_expect_eq(wrong, 0, "uncrop: %d elements differ", wrong);
    nd.op = OP_CROP;
    nd.p.shape = gs;
    void *const crop_in[1] = {x};
    kernel_args c = {NULL, &nd, 1, crop_in, &xs, back, gs, DT_F32};
    cr_assert_eq(backend_cpu()->run_node(&c), TD_OK, "%s", td_error_message());
    cr_expect_eq(memcmp(back, g, shape_numel(gs) * sizeof *g), 0, "crop does not give the window back");
    free(g), free(x), free(back);
}

/* f32 weighted sums, bit for bit: y = f0 x0, then y + f_j x_j term after
 * term in list order (each product and sum rounded), or the plain sum
 * without weights; lengths with 16-, 8-wide and scalar parts, and more
 * terms than the vector path takes. */
static void check_weighted_sum_bits(int k, int weighted, size_t n)
{
    graph *g = graph_create();
    int xs[80], idx[80];
    for (int j = 0; j < k; j++) {
        xs[j] = graph_input(g, shape_make(1, 1, 1, (int)n), 0);
        idx[j] = (j * 7) % 5;
    }
    int w = weighted ? graph_input(g, shape_make(1, 1, 1, 5), 0) : -1;
    int y = graph_bind(g, op_weighted_sum(g, w, k, xs, weighted ? idx : NULL), ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_status(g), TD_OK, "%s", g->error);
    host_run r;
    cr_assert_eq(host_run_init(&r, g, DT_F32), TD_OK);
    for (int j = 0; j < k; j++) host_fill_uniform(&r, xs[j], 40 + j, -1.0, 1.0);
    if (weighted) host_fill_uniform(&r, w, 7, -2.0, 2.0);
    cr_assert_eq(host_run_exec(&r), TD_OK, "%s", td_error_message());
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        float acc = 0;
        for (int j = 0; j < k; j++) {
            float x = (float)host_get(&r, xs[j], i), t = weighted ? (float)host_get(&r, w, (size_t)idx[j]) * x : x;
            acc = j ? acc + t : t;
        }
        float got = (float)host_get(&r, y, i);
        wrong += memcmp(&acc, &got, sizeof acc) != 0;
    }
    cr_expect_eq(wrong, 0, "weighted sum of %d terms (%s), %zu values: %d differ", k, weighted ? "weighted" : "plain", n,
                 wrong);
    host_run_free(&r);
    graph_destroy(g);
}

Test(forward, weighted_sums_f32_add_terms_in_list_order)
{
    int ks[] = {1, 3, 8, 70};
    for (int i = 0; i < 4; i++)
        for (int weighted = 0; weighted < 2; weighted++) {
            check_weighted_sum_bits(ks[i], weighted, 16 * 5 + 8 + 3);
            check_weighted_sum_bits(ks[i], weighted, 40000); /* several chunks, on two threads where there are */
        }
}
