/* The evaluation network and retraining: reference parameter counts, a
 * gradient check with the auxiliary head and drop path, drop-path masks,
 * identities never dropped, resume bit-identical, bad genotype files. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sandbox.h"

#include "tsedarts/autodiff.h"
#include "tsedarts/buffers.h"
#include "tsedarts/darts.h"
#include "tsedarts/fileio.h"
#include "tsedarts/params.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"
#include "tsedarts/model.h"
#include "tsedarts/safetensors.h"
#include "tsedarts/train.h"
#include "tsedarts/backend_cpu.h"

static size_t weights(const char *geno, int layers, int C, int aux)
{
    evalnet_config c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(genotype_load(geno, &c.geno), TD_OK, "%s", td_error_message());
    c.C = C;
    c.layers = layers;
    c.in_ch = 3;
    c.hw = 32;
    c.classes = 10;
    c.auxiliary = aux;
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    net_io io;
    cr_assert_eq(evalnet_build(&b, &c, 2, &io), TD_OK, "%s", td_error_message());
    size_t n = graph_param_count(g, ROLE_WEIGHT);
    layer_free(&b);
    graph_destroy(g);
    return n;
}

/* DARTS_V2 at C=36, 20 layers: the reference counts (docs/numerics.md s.4). DARTS_V1
 * and the 8-layer network: the counts of the PyTorch reference model
 * (bench/peer_pytorch.py --count-eval reproduces them). */
Test(train, parameter_counts)
{
    cr_expect_eq(weights("DARTS_V2", 20, 36, 0), 3349342);
    cr_expect_eq(weights("DARTS_V2", 20, 36, 1), 3825768);
    cr_expect_eq(weights("DARTS_V1", 20, 36, 0), 3169414);
    cr_expect_eq(weights("DARTS_V1", 20, 36, 1), 3645840);
    cr_expect_eq(weights("DARTS_V2", 8, 36, 0), 1154926);
    cr_expect_eq(weights("DARTS_V2", 8, 36, 1), 1631352);
}

Test(train, auxiliary_head_refused_where_it_cannot_fit)
{
    evalnet_config c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(genotype_load("DARTS_V2", &c.geno), TD_OK);
    c.C = 8;
    c.layers = 8;
    c.in_ch = 1;
    c.hw = 28;
    c.classes = 10;
    c.auxiliary = 1;
    cr_expect_eq(evalnet_check(&c), TD_ERR_ARG);
    cr_expect(strstr(td_error_message(), "pad the images to 32x32") != NULL, "%s", td_error_message());
    c.auxiliary = 0;
    cr_expect_eq(evalnet_check(&c), TD_OK);
}

/* A tiny DARTS_V2 evaluation network (C=4, 3 cells, 32x32) with the
 * auxiliary head and drop path. */
static evalnet_config tiny_evalnet(void)
{
    evalnet_config c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(genotype_load("DARTS_V2", &c.geno), TD_OK);
    c.C = 4;
    c.layers = 3;
    c.in_ch = 3;
    c.hw = 32;
    c.classes = 10;
    c.auxiliary = 1;
    c.drop_path = 1;
    return c;
}

/* Directional derivative of the training loss (CE + 0.4 CE_aux, fixed drop
 * masks) in f64 on the smooth stand-in of a tiny evaluation network. */
Test(train, gradient_with_auxiliary_head_and_drop_path)
{
    evalnet_config c = tiny_evalnet();
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 0);
    b.smooth = 1;
    net_io io;
    /* batch 6: the auxiliary head's last BN normalises over 6 values of a
     * 1x1 map; with 2 it is nearly a sign function (huge curvature) */
    cr_assert_eq(evalnet_build(&b, &c, 6, &io), TD_OK, "%s", td_error_message());
    cr_assert_geq(io.aux_logits, 0);
    cr_assert_eq(io.n_masks, evalnet_mask_count(&c));
    int loss = graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.loss, 1, 0), TD_OK);
    role_buffers rb;
    cr_assert_eq(role_buffers_alloc(&rb, g, backend_cpu(), DT_F64), TD_OK);
    params_init(g, 2, DT_F64, rb.ptr[ROLE_WEIGHT], NULL, rb.ptr[ROLE_BNSTAT]);
    philox_stream s;
    philox_stream_init(&s, 3, PURPOSE_TEST, 0);
    double *in = rb.ptr[ROLE_INPUT];
    size_t img = shape_numel(g->values[io.images].shape);
    for (size_t i = 0; i < img; i++) in[g->values[io.images].offset + i] = 2 * philox_next_uniform_f64(&s) - 1;
    /* fixed masks: some dropped, survivors scaled by 1 / keep */
    drop_path_masks(5, 0.5, 1, 1, 0, io.n_masks, 6, DT_F64, in + g->values[io.drop_mask].offset);
    for (int i = 0; i < 6; i++) ((int32_t *)rb.ptr[ROLE_LABEL])[i] = (3 * i + 1) % 10;
    size_t nw = g->role_size[ROLE_WEIGHT];
    double *w = rb.ptr[ROLE_WEIGHT], *d = malloc(nw * sizeof *d);
    for (size_t i = 0; i < nw; i++) d[i] = 2 * philox_next_uniform_f64(&s) - 1;
    exec_ctx *ctx;
    cr_assert_eq(exec_create(g, backend_cpu(), DT_F64, &ctx), TD_OK);
    role_buffers_bind(&rb, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK);
    double ad = 0;
    for (size_t i = 0; i < nw; i++) ad += ((double *)rb.ptr[ROLE_GRAD_WEIGHT])[i] * d[i];
    double h = 2e-6, l[2]; /* high curvature (small BN batches): a short step */
    for (int k = 0; k < 2; k++) {
        double t = k ? -h : h;
        for (size_t i = 0; i < nw; i++) w[i] += t * d[i];
        cr_assert_eq(exec_run(ctx), TD_OK);
        l[k] = *(double *)exec_value_ptr(ctx, loss);
        for (size_t i = 0; i < nw; i++) w[i] -= t * d[i];
    }
    double err = fabs(ad - (l[0] - l[1]) / (2 * h)) / fabs(ad);
    fprintf(stderr, "evaluation network (aux head, drop path) directional derivative: relative error %.3g\n", err);
    cr_expect_leq(err, 1e-6);
    free(d);
    exec_destroy(ctx);
    role_buffers_free(&rb);
    layer_free(&b);
    graph_destroy(g);
}

/* The batch norms of the evaluation network have affine terms; their
 * outputs y = xc a + beta are read where they are needed (normed values,
 * engine/fusion_plan.c) by the ReLUs, the cells' sums and the drop path's
 * scaling, never stored; where the cells' sums read them, the drop path's
 * y m is not stored either. One f32 training step (auxiliary head, drop
 * path with some paths dropped) planned plain, planned fused, and planned
 * fused by a CPU whose sums read nothing normed (so that the drop path's
 * scaling runs, reading y) gives the same bits in every role; a counting
 * backend shows what was read so. */
static int train_normed_reads[OP_COUNT];

static td_status counting_node(const kernel_args *a)
{
    for (int k = 0; a->normed && k < a->nin; k++) train_normed_reads[a->nd->op] += a->normed[k].x != NULL;
    return backend_cpu()->run_node(a);
}

static td_status counting_fused(fused_kind kind, int n, const kernel_args *const *members)
{
    for (int q = 0; q < n; q++)
        for (int k = 0; members[q]->normed && k < members[q]->nin; k++)
            train_normed_reads[members[q]->nd->op] += members[q]->normed[k].x != NULL;
    return backend_cpu()->run_fused(kind, n, members);
}

static int sums_read_stored(const node *nd, int k, dtype dt)
{
    return nd->op != OP_WEIGHTED_SUM && backend_cpu()->reads_normed(nd, k, dt);
}

/* Normed values of a plan by the op that defines them: affine_axis (an
 * affine batch norm's y) and scale_axis over images (a drop path's). */
typedef struct normed_count {
    int affine, dropped;
} normed_count;

static void train_step_roles(int fused, const backend *be, void *out[ROLE_COUNT], size_t bytes[ROLE_COUNT],
                             normed_count *nc)
{
    evalnet_config c = tiny_evalnet();
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    net_io io;
    cr_assert_eq(evalnet_build(&b, &c, 6, &io), TD_OK, "%s", td_error_message());
    graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.loss, 1, 0), TD_OK);
    role_buffers rb;
    cr_assert_eq(role_buffers_alloc(&rb, g, be, DT_F32), TD_OK);
    params_init(g, 2, DT_F32, rb.ptr[ROLE_WEIGHT], NULL, rb.ptr[ROLE_BNSTAT]);
    philox_stream s;
    philox_stream_init(&s, 3, PURPOSE_TEST, 1);
    float *in = rb.ptr[ROLE_INPUT];
    size_t img = shape_numel(g->values[io.images].shape);
    for (size_t i = 0; i < img; i++) in[g->values[io.images].offset + i] = 2 * philox_next_uniform_f32(&s) - 1;
    drop_path_masks(5, 0.5, 1, 1, 0, io.n_masks, 6, DT_F32, in + g->values[io.drop_mask].offset);
    for (int i = 0; i < 6; i++) ((int32_t *)rb.ptr[ROLE_LABEL])[i] = (3 * i + 1) % 10;
    exec_ctx *ctx;
    cr_assert_eq((fused ? exec_create : exec_create_plain)(g, be, DT_F32, &ctx), TD_OK, "%s", td_error_message());
    role_buffers_bind(&rb, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK, "%s", td_error_message());
    memset(nc, 0, sizeof *nc);
    for (int p = 0; ctx->fusion.normed && p < g->n_nodes; p++) {
        if (!ctx->fusion.normed[p]) continue;
        nc->affine += g->nodes[p].op == OP_AFFINE_AXIS;
        nc->dropped += g->nodes[p].op == OP_SCALE_AXIS && g->nodes[p].p.axis == AXIS_N;
    }
    copy_roles(g, &rb, DT_F32, out, bytes);
    exec_destroy(ctx);
    role_buffers_free(&rb);
    layer_free(&b);
    graph_destroy(g);
}

Test(train, unstored_batch_norm_outputs_give_identical_bits)
{
    backend counting = *backend_cpu();
    counting.run_node = counting_node;
    counting.run_fused = counting_fused;
    counting.batches = NULL;
    counting.run_batched = NULL;
    counting.fused_batches = NULL;
    counting.run_fused_batched = NULL;
    backend stored_sums = counting;
    stored_sums.reads_normed = sums_read_stored;
    const backend *bes[3] = {&counting, &counting, &stored_sums};
    static const char *const runs[3] = {"plain", "fused", "fused, the sums reading nothing normed"};
    void *out[3][ROLE_COUNT];
    size_t bytes[ROLE_COUNT];
    normed_count nc[3];
    int reads[3][OP_COUNT];
    for (int k = 0; k < 3; k++) {
        memset(train_normed_reads, 0, sizeof train_normed_reads);
        train_step_roles(k > 0, bes[k], out[k], bytes, &nc[k]);
        memcpy(reads[k], train_normed_reads, sizeof train_normed_reads);
        fprintf(stderr, "evaluation network, %s: unstored %d batch-norm outputs, %d drop paths; normed inputs read by "
                        "relu %d, weighted_sum %d, scale_axis %d\n",
                runs[k], nc[k].affine, nc[k].dropped, reads[k][OP_RELU], reads[k][OP_WEIGHTED_SUM], reads[k][OP_SCALE_AXIS]);
    }
    cr_expect_eq(nc[0].affine + nc[0].dropped, 0, "normed values in a plain plan");
    cr_expect_gt(nc[1].affine, 0, "no affine batch norm's output left unstored");
    cr_expect_gt(nc[1].dropped, 0, "no drop path's output left unstored");
    cr_expect_gt(reads[1][OP_RELU], 0, "no ReLU read a batch norm's output normed");
    cr_expect_gt(reads[1][OP_WEIGHTED_SUM], 0, "no cell sum read a normed input");
    cr_expect_eq(nc[2].dropped, 0, "drop paths unstored with sums that read nothing normed");
    cr_expect_gt(reads[2][OP_SCALE_AXIS], 0, "no drop path read a batch norm's output normed");
    for (int k = 1; k < 3; k++)
        for (int r = 1; r < ROLE_COUNT; r++)
            cr_expect(memcmp(out[0][r], out[k][r], bytes[r]) == 0, "role %s differs (%s)", role_name((value_role)r), runs[k]);
    for (int k = 0; k < 3; k++)
        for (int r = 1; r < ROLE_COUNT; r++) free(out[k][r]);
}

Test(train, drop_path_fraction_and_scaling)
{
    int n_masks = 50, batch = 200;
    double *m = malloc(sizeof(double) * n_masks * batch);
    /* epoch 30 of 60 with probability 0.2: drop 0.1, keep 0.9 */
    drop_path_masks(1, 0.2, 30, 60, 7, n_masks, batch, DT_F64, m);
    int dropped = 0;
    for (int i = 0; i < n_masks * batch; i++) {
        cr_assert(m[i] == 0.0 || m[i] == 1.0 / 0.9, "mask value %g", m[i]);
        dropped += m[i] == 0.0;
    }
    double frac = (double)dropped / (n_masks * batch);
    /* 10,000 Bernoulli(0.1) draws: std 0.003; 5 sigma */
    cr_expect(fabs(frac - 0.1) < 0.015, "dropped fraction %g", frac);
    drop_path_masks(1, 0.2, 0, 60, 7, n_masks, batch, DT_F64, m);
    for (int i = 0; i < n_masks * batch; i++) cr_assert_eq(m[i], 1.0, "nothing is dropped in epoch 0");
    free(m);
}

Test(train, identities_are_never_dropped)
{
    evalnet_config c;
    memset(&c, 0, sizeof c);
    /* node 2 of the normal cell: skip_connect from state 0 plus a conv */
    cr_assert_eq(genotype_parse("t | normal: skip_connect:0 sep_conv_3x3:1 skip_connect:1 skip_connect:0 "
                                "skip_connect:2 skip_connect:3 skip_connect:4 skip_connect:0 | reduce: "
                                "max_pool_3x3:0 max_pool_3x3:1 skip_connect:2 max_pool_3x3:1 max_pool_3x3:0 "
                                "skip_connect:2 skip_connect:2 max_pool_3x3:1 | concat 2-5",
                                "test", &c.geno),
                 TD_OK, "%s", td_error_message());
    c.C = 4;
    c.layers = 3;
    c.in_ch = 3;
    c.hw = 16;
    c.classes = 10;
    c.drop_path = 1;
    /* normal cell (cell 0): only the sep conv is droppable; reduction cells
     * (1, 2): all 8 (skip from states 0/1 is a FactorizedReduce there, and
     * a stride-1 skip_connect from state 2 is an identity: 3 of them) */
    cr_expect_eq(evalnet_mask_count(&c), 1 + 2 * (8 - 3));
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 0);
    net_io io;
    cr_assert_eq(evalnet_build(&b, &c, 2, &io), TD_OK, "%s", td_error_message());
    cr_expect_eq(io.n_masks, evalnet_mask_count(&c));
    int scaled = 0;
    for (int i = 0; i < g->n_nodes; i++)
        scaled += g->nodes[i].op == OP_SCALE_AXIS && g->nodes[i].p.axis == AXIS_N;
    cr_expect_eq(scaled, io.n_masks, "every mask multiplies exactly one op");
    layer_free(&b);
    graph_destroy(g);
}

static void tiny(train_config *c)
{
    train_config_defaults(c);
    cr_assert_eq(genotype_load("DARTS_V2", &c->net.geno), TD_OK);
    snprintf(c->dataset, sizeof c->dataset, "synthetic");
    c->net.C = 4;
    c->net.layers = 3;
    c->batch = 16;
    c->epochs = 2;
    c->subset = 72; /* 5 steps, the last one short */
    c->valid_images = 32;
    c->test_images = 64;
}

static void run(const train_config *c, const char *dir, int resume, long stop)
{
    train_options o;
    memset(&o, 0, sizeof o);
    o.be = backend_cpu();
    o.out_dir = dir;
    o.resume = resume;
    o.stop_after_steps = stop;
    o.quiet = 1;
    train_result r;
    td_status s = train_run(c, &o, &r);
    cr_assert_eq(s, stop ? TD_ERR_INTERRUPTED : TD_OK, "%s", td_error_message());
}

Test(train, resume_is_bit_identical)
{
    train_config c;
    tiny(&c);
    char *a = sandbox_dir("train-a"), *b = sandbox_dir("train-b");
    run(&c, a, 0, 0);
    run(&c, b, 0, 3);
    run(&c, b, 1, 4);
    run(&c, b, 1, 0);
    const char *files[] = {"metrics.jsonl", "weights.safetensors", "result.json", "checkpoint.bin"};
    for (int i = 0; i < 4; i++) {
        char pa[600], pb[600], *ta, *tb;
        size_t la, lb;
        cr_assert_eq(path_format(pa, sizeof pa, "%s/%s", a, files[i]), TD_OK);
        cr_assert_eq(path_format(pb, sizeof pb, "%s/%s", b, files[i]), TD_OK);
        cr_assert_eq(file_read_all(pa, &ta, &la), TD_OK);
        cr_assert_eq(file_read_all(pb, &tb, &lb), TD_OK);
        cr_expect(la == lb && memcmp(ta, tb, la) == 0, "%s differs after stop/resume", files[i]);
        free(ta);
        free(tb);
    }
    free(a);
    free(b);
}

Test(train, bad_genotype_file_is_rejected_clearly)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    char *dir = sandbox_dir("train-bad"), path[600], never[600], log[600];
    cr_assert_eq(path_format(path, sizeof path, "%s/bad.genotype", dir), TD_OK);
    cr_assert_eq(path_format(never, sizeof never, "%s/never", dir), TD_OK);
    cr_assert_eq(path_format(log, sizeof log, "%s/output", dir), TD_OK);
    cr_assert_eq(file_write_text_atomic(path, "# broken\nX | normal: sep_conv_3x3:0 sep_conv_3x3:9 sep_conv_3x3:0 "
                                              "sep_conv_3x3:1 sep_conv_3x3:1 skip_connect:0 skip_connect:0 "
                                              "dil_conv_3x3:2 | reduce: max_pool_3x3:0 | concat 2-5\n"),
                 TD_OK);
    const char *argv[] = {bin, "train", "--genotype", path, "--out", never, NULL};
    int rc = sandbox_run(argv, log);
    char *out;
    cr_assert_eq(file_read_all(log, &out, NULL), TD_OK);
    cr_expect_neq(rc, 0);
    cr_expect(strstr(out, path) && strstr(out, "line 2") && strstr(out, "input 9 is outside 0..1"), "output: %s", out);
    free(out);
    free(dir);
}

Test(train, export_uses_pytorch_evaluation_model_names)
{
    evalnet_config c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(genotype_load("DARTS_V2", &c.geno), TD_OK);
    c.C = 4;
    c.layers = 3;
    c.in_ch = 3;
    c.hw = 32;
    c.classes = 10;
    c.auxiliary = 1;
    model m;
    cr_assert_eq(model_create(&m, backend_cpu(), DT_F32, evalnet_build, &c), TD_OK, "%s", td_error_message());
    cr_assert_eq(model_init_params(&m, 1), TD_OK);
    char path[600], *dir = sandbox_dir("eval-export");
    cr_assert_eq(path_format(path, sizeof path, "%s/eval.safetensors", dir), TD_OK);
    free(dir);
    cr_assert_eq(model_export_safetensors(&m, path, 3), TD_OK);
    st_file f;
    cr_assert_eq(safetensors_open(path, &f), TD_OK);
    const char *expect[] = {"stem.0.weight", "cells.0._ops.0.op.1.weight", "cells.0._ops.0.op.3.bias",
                            "cells.0.preprocess0.op.1.weight", "cells.1.preprocess1.op.2.running_var",
                            "cells.2.preprocess0.conv_1.weight", "auxiliary_head.features.2.weight", "auxiliary_head.features.3.num_batches_tracked",
                            "auxiliary_head.features.5.weight", "auxiliary_head.classifier.weight", "classifier.bias"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        st_tensor t;
        cr_expect_eq(safetensors_get(&f, expect[i], &t), TD_OK, "missing %s", expect[i]);
    }
    st_tensor t;
    cr_assert_eq(safetensors_get(&f, "auxiliary_head.features.5.weight", &t), TD_OK);
    cr_expect(t.ndim == 4 && t.dims[0] == 768 && t.dims[1] == 128 && t.dims[2] == 2 && t.dims[3] == 2);
    safetensors_close(&f);
    model_destroy(&m);
    unlink(path);
}
