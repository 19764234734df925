/* The DrNAS search network: reference parameter counts of both stages,
 * and the partial-channel mixed op against a direct computation written
 * here from docs/numerics.md s.6.1. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/backend_cpu.h"
#include "tsedarts/buffers.h"
#include "tsedarts/drnas_net.h"
#include "tsedarts/philox.h"

static size_t count_of(int C, int layers, int k, int with_none, int masked, value_role role)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    drnas_net_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.net = (supernet_config){.C = C, .layers = layers, .in_ch = 3, .hw = 32, .classes = 10};
    cfg.k = k;
    cfg.with_none = with_none;
    cfg.masked = masked;
    /* keep the first four ops of every row: pruning must not change the layout */
    for (int r = 0; r < DRNAS_ROWS; r++)
        for (int o = 0; o < 4; o++) cfg.keep[r][o] = 1;
    drnas_io io;
    cr_assert_eq(drnas_supernet_build(&b, &cfg, 2, &io), TD_OK, "%s", td_error_message());
    size_t n = graph_param_count(g, role);
    layer_free(&b);
    graph_destroy(g);
    return n;
}

/* docs/numerics.md s.6.1: C=36, 20 cells, CIFAR-10. */
Test(drnas_net, reference_parameter_counts)
{
    cr_expect_eq(count_of(36, 20, 6, 0, 0, ROLE_WEIGHT), 2221750);
    cr_expect_eq(count_of(36, 20, 4, 0, 1, ROLE_WEIGHT), 2986462);
    cr_expect_eq(count_of(36, 20, 4, 0, 0, ROLE_WEIGHT), 2986462);
    cr_expect_eq(count_of(36, 20, 6, 0, 0, ROLE_ALPHA), 2 * 14 * 7);
    /* `none` has no parameters: only the alphas grow */
    cr_expect_eq(count_of(36, 20, 6, 1, 0, ROLE_WEIGHT), 2221750);
    cr_expect_eq(count_of(36, 20, 6, 1, 0, ROLE_ALPHA), 2 * 14 * 8);
}

Test(drnas_net, channel_counts_that_do_not_split_are_refused)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    drnas_net_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.net = (supernet_config){.C = 16, .layers = 5, .in_ch = 3, .hw = 8, .classes = 10};
    cfg.k = 6;
    drnas_io io;
    cr_expect_eq(drnas_supernet_build(&b, &cfg, 2, &io), TD_ERR_ARG);
    cr_expect(strstr(td_error_message(), "multiple of k") != NULL, "%s", td_error_message());
    layer_free(&b);
    graph_destroy(g);
}

/* --- the mixed op, directly ---------------------------------------------- */

enum { N = 2, C = 12, H = 6 };

static double at(const double *x, int c_all, int n, int c, int h, int w, int hw)
{
    return x[((n * c_all + c) * hw + h) * hw + w];
}

/* 3x3 pooling, stride s, padding 1: max, or mean over the cells inside */
static double pool3(const double *x, int c_all, int n, int c, int oh, int ow, int s, int is_max)
{
    double best = -INFINITY, sum = 0;
    int cnt = 0;
    for (int dh = -1; dh <= 1; dh++)
        for (int dw = -1; dw <= 1; dw++) {
            int h = oh * s + dh, w = ow * s + dw;
            if (h < 0 || w < 0 || h >= H || w >= H) continue;
            double v = at(x, c_all, n, c, h, w, H);
            best = v > best ? v : best;
            sum += v;
            cnt++;
        }
    return is_max ? best : sum / cnt;
}

/* y for ops (max_pool, avg_pool, skip when stride 1) with weights wt;
 * op i left out when drop[i]. BN in eval mode with fresh statistics is
 * x / sqrt(1 + eps). */
static void direct(const double *x, const double *wt, int k, int stride, const int *drop, double *y)
{
    int part = C / k, ho = H / stride;
    double bn = 1 / sqrt(1 + BN_EPS);
    double *cat = calloc((size_t)N * C * ho * ho, sizeof *cat);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < ho; h++)
                for (int w = 0; w < ho; w++) {
                    double v;
                    if (c < part) {
                        v = 0;
                        if (!drop[0]) v += wt[0] * bn * pool3(x, C, n, c, h, w, stride, 1);
                        if (!drop[1]) v += wt[1] * bn * pool3(x, C, n, c, h, w, stride, 0);
                        if (stride == 1 && !drop[2]) v += wt[2] * at(x, C, n, c, h, w, H);
                    } else if (stride == 1) {
                        v = at(x, C, n, c, h, w, H);
                    } else { /* MaxPool2d(2, 2) on the bypass */
                        v = -INFINITY;
                        for (int d = 0; d < 4; d++) v = fmax(v, at(x, C, n, c, 2 * h + d / 2, 2 * w + d % 2, H));
                    }
                    cat[((n * C + c) * ho + h) * ho + w] = v;
                }
    /* output channel j*k + g is input channel g*(C/k) + j */
    for (int n = 0; n < N; n++)
        for (int g = 0; g < k; g++)
            for (int j = 0; j < part; j++)
                memcpy(y + ((size_t)(n * C + j * k + g) * ho * ho), cat + ((size_t)(n * C + g * part + j) * ho * ho),
                       (size_t)ho * ho * sizeof *y);
    free(cat);
}

static double mixed_op_error(int k, int stride, const int *drop)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 0, 0);
    int n_ops = stride == 1 ? 3 : 2;
    int x = graph_input(g, shape_make(N, C, H, H), 0);
    int w = graph_input(g, shape_make(1, n_ops, 1, 1), 0);
    int ops[3] = {DOP_MAX_POOL_3X3, DOP_AVG_POOL_3X3, DOP_SKIP_CONNECT}, idx[3] = {0, 1, 2};
    unsigned char skip[3] = {(unsigned char)drop[0], (unsigned char)drop[1], (unsigned char)drop[2]};
    int y = drnas_mixed_op(&b, x, C, k, stride, w, n_ops, ops, idx, skip);
    y = graph_bind(g, y, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_status(g), TD_OK, "%s", td_error_message());
    role_buffers rb;
    cr_assert_eq(role_buffers_alloc(&rb, g, backend_cpu(), DT_F64), TD_OK);
    double *in = rb.ptr[ROLE_INPUT], *bn = rb.ptr[ROLE_BNSTAT];
    for (size_t i = 0; i < g->role_size[ROLE_BNSTAT]; i += 2 * (C / k)) /* mean 0, var 1 per pool BN */
        for (int c = 0; c < C / k; c++) bn[i + c] = 0, bn[i + C / k + c] = 1;
    philox_stream s;
    philox_stream_init(&s, 5, PURPOSE_TEST, (uint64_t)(k * 10 + stride));
    double *xs = in + g->values[x].offset, *ws = in + g->values[w].offset;
    for (int i = 0; i < N * C * H * H; i++) xs[i] = philox_next_normal(&s);
    double wt[3] = {0.2, 0.3, 0.5};
    for (int i = 0; i < n_ops; i++) ws[i] = wt[i];
    exec_ctx *ctx;
    cr_assert_eq(exec_create(g, backend_cpu(), DT_F64, &ctx), TD_OK, "%s", td_error_message());
    role_buffers_bind(&rb, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK, "%s", td_error_message());
    int ho = H / stride;
    double *want = malloc((size_t)N * C * ho * ho * sizeof *want);
    direct(xs, wt, k, stride, drop, want);
    const double *got = exec_value_ptr(ctx, y);
    double worst = 0;
    for (int i = 0; i < N * C * ho * ho; i++) worst = fmax(worst, fabs(got[i] - want[i]));
    free(want);
    exec_destroy(ctx);
    role_buffers_free(&rb);
    layer_free(&b);
    graph_destroy(g);
    return worst;
}

/* Both sides sum the same three terms in f64 (possibly in another order),
 * so they agree to a few ulps of values of order 1; 1e-12 leaves room for
 * that and catches any misplaced channel (errors of order 1). */
Test(drnas_net, mixed_op_matches_direct_computation)
{
    int none[3] = {0, 0, 0}, pruned[3] = {0, 1, 0};
    for (int k = 2; k <= 6; k += 2) {
        if (C % k) continue;
        cr_expect_leq(mixed_op_error(k, 1, none), 1e-12, "k=%d stride 1", k);
        cr_expect_leq(mixed_op_error(k, 2, none), 1e-12, "k=%d stride 2", k);
        cr_expect_leq(mixed_op_error(k, 1, pruned), 1e-12, "k=%d stride 1, avg_pool pruned", k);
    }
    cr_expect_leq(mixed_op_error(4, 1, none), 1e-12, "k=4");
}

/* The checker itself must be able to fail: the direct computation with
 * the other shuffle (groups C/k) or without the pruning differs. */
Test(drnas_net, direct_computation_catches_a_wrong_layout)
{
    int none[3] = {0, 0, 0}, pruned[3] = {0, 1, 0};
    cr_expect_leq(mixed_op_error(3, 1, none), 1e-12);
    /* k = 3 and k = 4 on 12 channels give different layouts */
    double a[N * C * H * H], y3[N * C * H * H], y4[N * C * H * H];
    for (int i = 0; i < N * C * H * H; i++) a[i] = i;
    double wt[3] = {0.2, 0.3, 0.5};
    direct(a, wt, 3, 1, none, y3);
    direct(a, wt, 4, 1, none, y4);
    double diff = 0;
    for (int i = 0; i < N * C * H * H; i++) diff = fmax(diff, fabs(y3[i] - y4[i]));
    cr_expect_gt(diff, 1.0, "two channel layouts look the same to the checker");
    direct(a, wt, 3, 1, pruned, y4);
    diff = 0;
    for (int i = 0; i < N * C * H * H; i++) diff = fmax(diff, fabs(y3[i] - y4[i]));
    cr_expect_gt(diff, 1.0, "pruning is invisible to the checker");
}
