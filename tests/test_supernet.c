/* The supernet: reference parameter counts, PyTorch names in the export,
 * and a whole-network gradient check in f64 (weights and alphas). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sandbox.h"

#include "tsedarts/autodiff.h"
#include "tsedarts/buffers.h"
#include "tsedarts/params.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"
#include "tsedarts/safetensors.h"
#include "tsedarts/search_internal.h"
#include "tsedarts/space.h"
#include "tsedarts/backend_cpu.h"

static size_t count_of(int space, int C, int layers, value_role role)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    supernet_config cfg = {C, layers, 3, 32, 10, 0, space};
    net_io io;
    cr_assert_eq(supernet_build(&b, &cfg, 2, &io), TD_OK, "%s", td_error_message());
    size_t n = graph_param_count(g, role);
    layer_free(&b);
    graph_destroy(g);
    return n;
}

Test(supernet, reference_parameter_counts)
{
    cr_expect_eq(count_of(SPACE_DARTS, 16, 8, ROLE_WEIGHT), 1930618);
    cr_expect_eq(count_of(SPACE_DARTS, 16, 20, ROLE_WEIGHT), 4548730);
    cr_expect_eq(count_of(SPACE_DARTS, 16, 8, ROLE_ALPHA), 224);
}

/* Directional derivative of the loss along a random direction in
 * (weights, alphas) against central differences, in f64. With ReLU and max
 * pooling the loss is piecewise smooth, so the check runs on the smooth
 * stand-in (same code path) at a tight bar and on the real ops at two step
 * sizes (a kink inside the step would make them disagree). */
static double directional_error_in(int space, int smooth, double h)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 0);
    supernet_config cfg = {4, space == SPACE_NB201 ? 1 : 3, 3, 8, 10, smooth, space};
    net_io io;
    cr_assert_eq(supernet_build(&b, &cfg, 4, &io), TD_OK);
    int loss = graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.loss, 1, 1), TD_OK);
    role_buffers rb;
    cr_assert_eq(role_buffers_alloc(&rb, g, backend_cpu(), DT_F64), TD_OK);
    params_init(g, 4, DT_F64, rb.ptr[ROLE_WEIGHT], rb.ptr[ROLE_ALPHA], rb.ptr[ROLE_BNSTAT]);
    double *w = rb.ptr[ROLE_WEIGHT], *a = rb.ptr[ROLE_ALPHA], *x = rb.ptr[ROLE_INPUT];
    size_t nw = g->role_size[ROLE_WEIGHT], na = g->role_size[ROLE_ALPHA];
    philox_stream s;
    philox_stream_init(&s, 1, PURPOSE_TEST, 77);
    for (size_t i = 0; i < na; i++) a[i] = philox_next_normal(&s) * 0.5; /* far from uniform */
    for (size_t i = 0; i < g->role_size[ROLE_INPUT]; i++) x[i] = 2 * philox_next_uniform_f64(&s) - 1;
    for (int i = 0; i < 4; i++) ((int32_t *)rb.ptr[ROLE_LABEL])[i] = (i * 3) % 10;
    double *dw = malloc(nw * sizeof *dw), *da = malloc(na * sizeof *da);
    for (size_t i = 0; i < nw; i++) dw[i] = 2 * philox_next_uniform_f64(&s) - 1;
    for (size_t i = 0; i < na; i++) da[i] = 2 * philox_next_uniform_f64(&s) - 1;
    exec_ctx *ctx;
    cr_assert_eq(exec_create(g, backend_cpu(), DT_F64, &ctx), TD_OK);
    role_buffers_bind(&rb, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK);
    double ad = 0;
    for (size_t i = 0; i < nw; i++) ad += ((double *)rb.ptr[ROLE_GRAD_WEIGHT])[i] * dw[i];
    for (size_t i = 0; i < na; i++) ad += ((double *)rb.ptr[ROLE_GRAD_ALPHA])[i] * da[i];
    double lv[2];
    for (int sgn = 0; sgn < 2; sgn++) {
        double t = sgn ? -h : h;
        for (size_t i = 0; i < nw; i++) w[i] += t * dw[i];
        for (size_t i = 0; i < na; i++) a[i] += t * da[i];
        cr_assert_eq(exec_run(ctx), TD_OK);
        lv[sgn] = *(double *)exec_value_ptr(ctx, loss);
        for (size_t i = 0; i < nw; i++) w[i] -= t * dw[i];
        for (size_t i = 0; i < na; i++) a[i] -= t * da[i];
    }
    double fd = (lv[0] - lv[1]) / (2 * h);
    exec_destroy(ctx);
    role_buffers_free(&rb);
    free(dw);
    free(da);
    layer_free(&b);
    graph_destroy(g);
    return fabs(ad - fd) / fmax(fabs(ad), 1e-12);
}

static double directional_error(int smooth, double h) { return directional_error_in(SPACE_DARTS, smooth, h); }

Test(supernet, whole_network_gradient_smooth_stand_in)
{
    double e = directional_error(1, 1e-5);
    fprintf(stderr, "supernet (smooth ops) directional derivative: relative error %.3g\n", e);
    cr_expect_leq(e, 1e-6);
}

Test(supernet, whole_network_gradient_real_ops)
{
    /* Real ReLU and max pooling: with ~1e4 units near BN-normalised zero a
     * step of 1e-5 crosses kinks (measured: 9% error at h = 1e-5, 0.4% at
     * 1e-6), so the steps here are 1e-7 and 2e-7, where a kink inside the
     * step is unlikely and rounding (~1e-16 / 1e-7) is still small; both
     * must agree with the gradient. */
    double e1 = directional_error(0, 1e-7), e2 = directional_error(0, 2e-7);
    fprintf(stderr, "supernet (real ops) directional derivative: relative error %.3g (h=1e-7), %.3g (h=2e-7)\n", e1, e2);
    cr_expect_leq(e1, 1e-6);
    cr_expect_leq(e2, 1e-6);
}

Test(supernet, export_uses_pytorch_state_dict_names_and_round_trips)
{
    supernet_config cfg = {4, 3, 3, 8, 10, 0};
    model m;
    cr_assert_eq(model_create(&m, backend_cpu(), DT_F32, supernet_build_fn, &cfg), TD_OK);
    cr_assert_eq(model_init_params(&m, 3), TD_OK);
    char path[256];
    char *scratch = sandbox_dir("export");
    cr_assert_eq(path_format(path, sizeof path, "%s/supernet.safetensors", scratch), TD_OK);
    free(scratch);
    cr_assert_eq(model_export_safetensors(&m, path, 7), TD_OK, "%s", td_error_message());
    st_file f;
    cr_assert_eq(safetensors_open(path, &f), TD_OK);
    const char *expect[] = {"stem.0.weight", "stem.1.weight", "stem.1.running_mean", "stem.1.num_batches_tracked",
                            "cells.0.preprocess0.op.1.weight", "cells.0._ops.0._ops.4.op.1.weight",
                            "cells.0._ops.0._ops.4.op.7.running_var", "cells.0._ops.0._ops.1.1.running_mean",
                            "cells.1._ops.1._ops.3.conv_2.weight", "cells.2.preprocess0.conv_1.weight",
                            "classifier.weight", "classifier.bias", "alphas_normal", "alphas_reduce"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        st_tensor t;
        cr_expect_eq(safetensors_get(&f, expect[i], &t), TD_OK, "missing %s", expect[i]);
    }
    st_tensor t;
    cr_assert_eq(safetensors_get(&f, "classifier.weight", &t), TD_OK);
    cr_expect_eq(t.ndim, 2);
    cr_expect_eq(t.dims[0], 10);
    cr_assert_eq(safetensors_get(&f, "cells.0._ops.0._ops.4.op.1.weight", &t), TD_OK);
    cr_expect(t.ndim == 4 && t.dims[0] == 4 && t.dims[1] == 1 && t.dims[2] == 3 && t.dims[3] == 3);
    safetensors_close(&f);
    /* import into a fresh model gives the same bits */
    model m2;
    cr_assert_eq(model_create(&m2, backend_cpu(), DT_F32, supernet_build_fn, &cfg), TD_OK);
    cr_assert_eq(model_import_safetensors(&m2, path), TD_OK, "%s", td_error_message());
    cr_expect(memcmp(m.role[ROLE_WEIGHT], m2.role[ROLE_WEIGHT], model_role_bytes(&m, ROLE_WEIGHT)) == 0);
    cr_expect(memcmp(m.role[ROLE_ALPHA], m2.role[ROLE_ALPHA], model_role_bytes(&m, ROLE_ALPHA)) == 0);
    cr_expect(memcmp(m.role[ROLE_BNSTAT], m2.role[ROLE_BNSTAT], model_role_bytes(&m, ROLE_BNSTAT)) == 0);
    /* a network of another size refuses the file, naming the tensor */
    supernet_config other = {6, 3, 3, 8, 10, 0};
    model m3;
    cr_assert_eq(model_create(&m3, backend_cpu(), DT_F32, supernet_build_fn, &other), TD_OK);
    cr_expect_neq(model_import_safetensors(&m3, path), TD_OK);
    cr_expect(strstr(td_error_message(), "stem.0.weight") != NULL, "%s", td_error_message());
    model_destroy(&m);
    model_destroy(&m2);
    model_destroy(&m3);
    unlink(path);
}

/* Copies every role's buffer into out[] (bytes[] long), then frees the
 * run: its context, buffers, builder and graph. */
static void copy_roles_and_free(graph *g, exec_ctx *ctx, role_buffers *rbuf, layer_builder *b, void *out[ROLE_COUNT],
                                size_t bytes[ROLE_COUNT])
{
    copy_roles(g, rbuf, DT_F32, out, bytes);
    exec_destroy(ctx);
    role_buffers_free(rbuf);
    layer_free(b);
    graph_destroy(g);
}

/* One training step's forward and backward on a small supernet (C=4, 4
 * cells, 16x16, batch 8) with fixed inputs; copies every role's buffer
 * into out[] (bytes[] long). */
static void run_supernet_of_side(int side, int recompute, int fused, const backend *be, void *out[ROLE_COUNT],
                                 size_t bytes[ROLE_COUNT])
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    b.recompute = recompute;
    supernet_config cfg = {4, 4, 3, side, 10, 0};
    net_io io;
    cr_assert_eq(supernet_build(&b, &cfg, 8, &io), TD_OK);
    graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.loss, 1, 1), TD_OK, "%s", td_error_message());
    if (recompute) cr_expect_gt(g->n_segments, 0);
    role_buffers rbuf;
    cr_assert_eq(role_buffers_alloc(&rbuf, g, be, DT_F32), TD_OK);
    params_init(g, 3, DT_F32, rbuf.ptr[ROLE_WEIGHT], rbuf.ptr[ROLE_ALPHA], rbuf.ptr[ROLE_BNSTAT]);
    philox_stream s;
    philox_stream_init(&s, 1, PURPOSE_TEST, 9);
    for (size_t i = 0; i < g->role_size[ROLE_INPUT]; i++) ((float *)rbuf.ptr[ROLE_INPUT])[i] = 2 * philox_next_uniform_f32(&s) - 1;
    for (int i = 0; i < 8; i++) ((int32_t *)rbuf.ptr[ROLE_LABEL])[i] = i;
    exec_ctx *ctx;
    cr_assert_eq((fused ? exec_create : exec_create_plain)(g, be, DT_F32, &ctx), TD_OK);
    role_buffers_bind(&rbuf, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK);
    fprintf(stderr, "activation arena: %zu elements (%s)\n", ctx->plan.arena_elems,
            recompute ? "with recomputation" : "keeping everything");
    copy_roles_and_free(g, ctx, &rbuf, &b, out, bytes);
}

static void run_small_supernet(int recompute, int fused, const backend *be, void *out[ROLE_COUNT], size_t bytes[ROLE_COUNT])
{
    run_supernet_of_side(16, recompute, fused, be, out, bytes);
}

static void expect_same_roles(void *a[ROLE_COUNT], void *b[ROLE_COUNT], const size_t bytes[ROLE_COUNT], const char *what)
{
    for (int r = 1; r < ROLE_COUNT; r++) {
        cr_expect(memcmp(a[r], b[r], bytes[r]) == 0, "role %s differs %s", role_name((value_role)r), what);
        free(a[r]);
        free(b[r]);
    }
}

/* Recomputing the cell nodes in the backward pass changes memory, not
 * results: gradients and statistics are bit-identical. */
Test(supernet, recompute_gives_identical_bits)
{
    void *out[2][ROLE_COUNT];
    size_t bytes[ROLE_COUNT];
    for (int rc = 0; rc < 2; rc++) run_small_supernet(rc, 1, backend_cpu(), out[rc], bytes);
    expect_same_roles(out[0], out[1], bytes, "with recomputation");
}

/* The fused kernels (the batch norms': sum and dot of a cotangent;
 * centring and variance; the output from the uncentred input; the
 * backward's statistics and lincomb from a mixed op's unstored cotangent
 * share; max pooling's argmax and maxima; the unstored ReLU before each
 * depthwise convolution, its filter gradient and its mask) give the bits
 * of their nodes run in turn; the counting backend shows that each kind
 * ran. So do the kernels that read a batch norm's output unstored
 * (normed inputs, fusion_plan.h): each of their ops read one. */
static int fused_runs[FUSED_KIND_END];
static int normed_reads[OP_COUNT];

static void count_normed(const kernel_args *a)
{
    for (int k = 0; a->normed && k < a->nin; k++) normed_reads[a->nd->op] += a->normed[k].x != NULL;
}

static td_status counting_run_node(const kernel_args *a)
{
    count_normed(a);
    return backend_cpu()->run_node(a);
}

static td_status counting_run_fused(fused_kind kind, int n, const kernel_args *const *members)
{
    fused_runs[kind]++;
    for (int q = 0; q < n; q++) count_normed(members[q]);
    return backend_cpu()->run_fused(kind, n, members);
}

Test(supernet, fused_kernels_give_identical_bits)
{
    backend counting = *backend_cpu();
    counting.run_node = counting_run_node;
    counting.run_fused = counting_run_fused;
    counting.batches = NULL; /* every node through run_node, every group through run_fused, where they are counted */
    counting.run_batched = NULL;
    counting.fused_batches = NULL;
    counting.run_fused_batched = NULL;
    void *out[2][ROLE_COUNT];
    size_t bytes[ROLE_COUNT];
    run_small_supernet(1, 0, &counting, out[0], bytes);
    for (int k = FUSED_NONE + 1; k < FUSED_KIND_END; k++)
        cr_expect_eq(fused_runs[k], 0, "%s ran in a plain context", fused_kind_name((fused_kind)k));
    for (int op = 0; op < OP_COUNT; op++)
        cr_expect_eq(normed_reads[op], 0, "%s read a normed input in a plain context", op_name((op_kind)op));
    run_small_supernet(1, 1, &counting, out[1], bytes);
    fprintf(stderr, "fused kernels run:");
    for (int k = FUSED_NONE + 1; k < FUSED_KIND_END; k++)
        fprintf(stderr, " %s %d%s", fused_kind_name((fused_kind)k), fused_runs[k], k + 1 < FUSED_KIND_END ? "," : "\n");
    for (int k = FUSED_NONE + 1; k < FUSED_KIND_END; k++)
        cr_expect_gt(fused_runs[k], 0, "%s never ran", fused_kind_name((fused_kind)k));
    op_kind readers[] = {OP_WEIGHTED_SUM, OP_DOTS, OP_DOT_AXIS, OP_LINCOMB_AXIS, OP_RELU};
    fprintf(stderr, "normed inputs read:");
    for (int r = 0; r < 5; r++) {
        fprintf(stderr, " %s %d%s", op_name(readers[r]), normed_reads[readers[r]], r < 4 ? "," : "\n");
        cr_expect_gt(normed_reads[readers[r]], 0, "%s never read a normed input", op_name(readers[r]));
    }
    fprintf(stderr, "relu_bwd read %d (a batch norm's output that a plain ReLU mask reads, where there is one)\n",
            normed_reads[OP_RELU_BWD]);
    expect_same_roles(out[0], out[1], bytes, "with fused kernels");
    /* 12x12 images: maps of 144, 36 and 9 values, whose batch-norm sums
     * end in whole vectors past the last block of four and in tail lanes */
    run_supernet_of_side(12, 1, 0, &counting, out[0], bytes);
    run_supernet_of_side(12, 1, 1, &counting, out[1], bytes);
    expect_same_roles(out[0], out[1], bytes, "with fused kernels, 12x12 images");
}

/* The unstored ReLU on depthwise shapes the DARTS cells do and do not
 * have: stride 1 and 2 on odd sizes, dilation, and a channel multiplier,
 * which has no path that applies the ReLU while copying planes (the
 * group's kernel then makes relu(x) in a scratch tensor). Read straight
 * from the input, x holds -0, +0 and NaN, where relu(x) > 0 and x > 0 must
 * agree: the NaNs stop at the ReLUs, so the loss and every gradient stay
 * finite. After a 1x1 convolution (pre), x has a gradient, and so the
 * ReLU's mask runs. Fused against plain, every role bit for bit, and each
 * relu group ran as often as it should. */
static void run_relu_depthwise(int side, int pre, int fused, const backend *be, void *out[ROLE_COUNT],
                               size_t bytes[ROLE_COUNT])
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    int x = graph_input(g, side ? shape_make(3, 4, side, side) : shape_make(3, 4, 9, 11), 0), labels = graph_input(g, shape_make(3, 1, 1, 1), 1);
    if (pre) x = layer_conv(&b, "pre", x, 4, 1, 1, 0, 1, 1);
    if (pre >= 2) x = layer_bn(&b, "bn", x, pre == 2); /* then x is a normed value: read from the conv's output */
    int s1 = layer_conv(&b, "s1", layer_relu(&b, x), 4, 3, 1, 1, 1, 4);
    int s2 = layer_conv(&b, "s2", layer_relu(&b, x), 4, 5, 2, 4, 2, 4);
    int m2 = layer_conv(&b, "m2", layer_relu(&b, x), 8, 3, 1, 1, 1, 4);
    int logits = layer_linear(&b, "fc",
                              op_concat_c(g, 3, (int[]){op_gap(g, s1), op_gap(g, s2), op_gap(g, m2)}), 5);
    int loss = layer_cross_entropy(g, logits, labels);
    graph_bind(g, loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, loss, 1, 0), TD_OK, "%s", td_error_message());
    role_buffers rbuf;
    cr_assert_eq(role_buffers_alloc(&rbuf, g, be, DT_F32), TD_OK);
    params_init(g, 5, DT_F32, rbuf.ptr[ROLE_WEIGHT], rbuf.ptr[ROLE_ALPHA], rbuf.ptr[ROLE_BNSTAT]);
    philox_stream st;
    philox_stream_init(&st, 5, PURPOSE_TEST, 2);
    float *in = rbuf.ptr[ROLE_INPUT];
    for (size_t i = 0; i < g->role_size[ROLE_INPUT]; i++) in[i] = 2 * philox_next_uniform_f32(&st) - 1;
    for (size_t i = 0; i < g->role_size[ROLE_INPUT]; i += 7) in[i] = i % 3 == 0 ? -0.0f : i % 3 == 1 || pre ? 0.0f : NAN;
    for (int i = 0; i < 3; i++) ((int32_t *)rbuf.ptr[ROLE_LABEL])[i] = i;
    exec_ctx *ctx;
    cr_assert_eq((fused ? exec_create : exec_create_plain)(g, be, DT_F32, &ctx), TD_OK, "%s", td_error_message());
    role_buffers_bind(&rbuf, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK, "%s", td_error_message());
    cr_expect(isfinite(((float *)rbuf.ptr[ROLE_OUTPUT])[0]), "the NaNs of the input passed a ReLU");
    copy_roles_and_free(g, ctx, &rbuf, &b, out, bytes);
}

Test(supernet, an_unstored_relu_gives_the_bits_of_a_stored_one)
{
    backend counting = *backend_cpu();
    counting.run_fused = counting_run_fused;
    counting.fused_batches = NULL;
    counting.run_fused_batched = NULL;
    void *out[2][ROLE_COUNT];
    size_t bytes[ROLE_COUNT];
    /* 9x11, and 16x16, where AVX-512 builds take the stride-1 planes in
     * registers (the ReLU applied to each row as it is loaded) */
    /* pre: 0 none, 1 a 1x1 conv, 2 and 3 that conv and a batch norm
     * (with and without its affine terms); after the batch norm the ReLU,
     * its mask and (without affine terms) the batch norm's backward read
     * its output normed (never stored) */
    static const char *const pres[] = {"", ", after a conv", ", after a conv and a batch norm",
                                       ", after a conv and a batch norm without affine terms"};
    for (int c = 0; c < 8; c++) {
        int pre = c % 4, side = c < 4 ? 0 : 16;
        memset(fused_runs, 0, sizeof fused_runs);
        memset(normed_reads, 0, sizeof normed_reads);
        run_relu_depthwise(side, pre, 0, &counting, out[0], bytes);
        cr_expect_eq(normed_reads[OP_RELU], 0, "a normed input in a plain context");
        run_relu_depthwise(side, pre, 1, &counting, out[1], bytes);
        fprintf(stderr, "relu groups run%s%s: conv %d, filter %d, mask %d; normed reads by the ReLU %d\n", pres[pre],
                side ? " at 16x16" : "", fused_runs[FUSED_RELU_CONV], fused_runs[FUSED_RELU_FILTER],
                fused_runs[FUSED_RELU_MASK], normed_reads[OP_RELU]);
        /* one ReLU node (the graph shares relu(x)), read by three
         * convolutions and their filter gradients, and by one mask where x
         * has a gradient */
        cr_expect_eq(fused_runs[FUSED_RELU_CONV], 3);
        cr_expect_eq(fused_runs[FUSED_RELU_FILTER], 3);
        cr_expect_eq(fused_runs[FUSED_RELU_MASK], pre > 0);
        /* after a batch norm, every one of those seven reads its output
         * normed: without affine terms (a DARTS search's) from the
         * convolution's output, with them (a retraining's) from the
         * stored centred input */
        cr_expect_eq(normed_reads[OP_RELU], pre >= 2 ? 7 : 0);
        char what[120];
        snprintf(what, sizeof what, "with the ReLU unstored%s%s", pres[pre], side ? ", 16x16" : "");
        expect_same_roles(out[0], out[1], bytes, what);
    }
}

/* The other spaces' networks, on the smooth stand-in (NB201 has no max
 * pooling, but ReLU): same bar as the DARTS supernet. h = 2e-6: at 1e-5
 * the h^2 truncation alone was 1e-7 (S2) and 4.5e-7 (NB201), measured. */
Test(supernet, s2_and_nb201_gradients_smooth_stand_in)
{
    double e_s2 = directional_error_in(SPACE_S2, 1, 2e-6), e_nb = directional_error_in(SPACE_NB201, 1, 2e-6);
    fprintf(stderr, "directional derivative (smooth ops): S2 %.3g, NAS-Bench-201 %.3g\n", e_s2, e_nb);
    cr_expect_leq(e_s2, 1e-6);
    cr_expect_leq(e_nb, 1e-6);
}


/* NAS-Bench-201 search network, C = 16, N = 5, counted from its modules:
 * stem conv 3x3 (3 -> 16) + BN; per cell 6 edges x (conv1x1 + conv3x3,
 * each with a bias; BN without affine); two residual blocks (conv_a,
 * conv_b with affine BN, 1x1 downsample); BN before pooling; classifier. */
Test(supernet, nb201_parameter_count)
{
    size_t cells = 0;
    for (int C = 16; C <= 64; C *= 2) cells += 5 * 6 * (size_t)(C * C + C + 9 * C * C + C);
    size_t res = 0;
    for (int C = 16; C <= 32; C *= 2) res += 9 * C * 2 * C + 2 * 2 * C + 9 * 4 * C * C + 2 * 2 * C + C * 2 * C;
    size_t expect = 3 * 16 * 9 + 2 * 16 + cells + res + 2 * 64 + 64 * 10 + 10;
    cr_expect_eq(expect, 1692826); /* the formula above, evaluated by hand */
    cr_expect_eq(count_of(SPACE_NB201, 16, 5, ROLE_WEIGHT), expect);
    cr_expect_eq(count_of(SPACE_NB201, 16, 5, ROLE_ALPHA), 30);
}

/* S2 keeps the DARTS supernet and two ops per edge: fewer weights than the
 * DARTS space (no 5x5 or dilated convolutions), 2 x 14 x 2 alphas. */
Test(supernet, s2_shapes)
{
    size_t s2 = count_of(SPACE_S2, 16, 8, ROLE_WEIGHT), darts = count_of(SPACE_DARTS, 16, 8, ROLE_WEIGHT);
    cr_expect_eq(count_of(SPACE_S2, 16, 8, ROLE_ALPHA), 56);
    cr_expect_lt(s2, darts);
    cr_expect_gt(s2, 0);
}
