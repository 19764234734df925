/* The PyTorch peer (bench/peer_pytorch.py, an independent implementation
 * of docs/numerics.md) as an oracle: it loads this project's export of a supernet
 * and one batch, recomputes loss and gradients in f64, and compares them
 * with ours (f32): loss within 1e-5, gradients within 1e-4 (relative).
 * The DARTS supernet, and PDARTS stage networks with skip dropout (the
 * masks travel with the batch). Not run where Python with torch is
 * missing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oracle_grads.h"
#include "sandbox.h"

#include "tsedarts/autodiff.h"
#include "tsedarts/buffers.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/model.h"
#include "tsedarts/params.h"
#include "tsedarts/philox.h"
#include "tsedarts/safetensors.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/darts.h"
#include "tsedarts/pdarts.h"

/* JSON of a stage's op lists for oracle.json (malloc'd). */
static char *edge_ops_json(const supernet_edge_ops *e)
{
    size_t cap = 16384, at = 0;
    char *j = malloc(cap);
    at += (size_t)snprintf(j + at, cap - at, "{");
    for (int t = 0; t < 2; t++) {
        at += (size_t)snprintf(j + at, cap - at, "%s\"%s\": [", t ? ", " : "", t ? "reduce" : "normal");
        for (int r = 0; r < DARTS_EDGES; r++) {
            at += (size_t)snprintf(j + at, cap - at, "%s[", r ? ", " : "");
            for (int k = 0; k < e->n_ops; k++)
                at += (size_t)snprintf(j + at, cap - at, "%s\"%s\"", k ? ", " : "", darts_op_name(e->ops[t][r][k]));
            at += (size_t)snprintf(j + at, cap - at, "]");
        }
        at += (size_t)snprintf(j + at, cap - at, "]");
    }
    snprintf(j + at, cap - at, "}");
    return j;
}

/* One batch through the supernet of cfg (with edges, if given) here and in
 * the peer. With skip dropout, every mask keeps an element with
 * probability 0.7 and holds 0 or 1/0.7, as PyTorch's dropout noise. */
static void oracle_case(const char *tag, const supernet_config *cfg_in, const supernet_edge_ops *edges)
{
    const char *py = sandbox_oracle_python();
    const char *src = getenv("TSEDARTS_SOURCE_DIR");
    cr_assert_not_null(src, "TSEDARTS_SOURCE_DIR not set");
    char *dir = sandbox_dir(tag);
    supernet_config cfg = *cfg_in;
    supernet_stage stage = {.cfg = cfg};
    if (edges) stage.edges = *edges;
    int batch = 8;
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    net_io io;
    cr_assert_eq(supernet_build_edges(&b, &cfg, edges, batch, &io), TD_OK, "%s", td_error_message());
    int loss = graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.loss, 1, 1), TD_OK);
    role_buffers rb;
    cr_assert_eq(role_buffers_alloc(&rb, g, backend_cpu(), DT_F32), TD_OK);
    params_init(g, 21, DT_F32, rb.ptr[ROLE_WEIGHT], rb.ptr[ROLE_ALPHA], rb.ptr[ROLE_BNSTAT]);
    philox_stream s;
    philox_stream_init(&s, 3, PURPOSE_TEST, 0);
    float *alphas = rb.ptr[ROLE_ALPHA];
    for (size_t i = 0; i < g->role_size[ROLE_ALPHA]; i++) alphas[i] = (float)(0.5 * philox_next_normal(&s));
    float *img = (float *)rb.ptr[ROLE_INPUT] + g->values[io.images].offset;
    size_t nimg = shape_numel(g->values[io.images].shape);
    for (size_t i = 0; i < nimg; i++) img[i] = (float)philox_next_normal(&s);
    int32_t *lab = rb.ptr[ROLE_LABEL];
    int64_t lab64[8];
    for (int i = 0; i < batch; i++) lab64[i] = lab[i] = (int32_t)philox_next_below(&s, 10);
    /* the skip-dropout masks, one tensor per (cell, edge) for the peer */
    st_tensor bt[2 + 17 * DARTS_EDGES];
    char mask_names[17 * DARTS_EDGES][32];
    int n_bt = 2;
    if (io.skip_mask >= 0) {
        float *mask = (float *)rb.ptr[ROLE_INPUT] + g->values[io.skip_mask].offset;
        size_t at = 0;
        int C = cfg.C, hw = cfg.hw;
        for (int i = 0; i < cfg.layers; i++) {
            if (darts_is_reduction(cfg.layers, i)) {
                C *= 2;
                hw /= 2;
            }
            for (int e = 0; e < DARTS_EDGES; e++) {
                if (!supernet_skip_dropout_at(&cfg, edges, i, e)) continue;
                size_t numel = (size_t)batch * C * hw * hw;
                for (size_t k = 0; k < numel; k++)
                    mask[at + k] = philox_next_uniform_f64(&s) < 0.7 ? (float)(1.0 / 0.7) : 0.0f;
                cr_assert_lt(n_bt, (int)(sizeof bt / sizeof bt[0]));
                char *name = mask_names[n_bt - 2];
                snprintf(name, sizeof mask_names[0], "skip_mask.%d.%d", i, e);
                bt[n_bt] = (st_tensor){name, "F32", 4, {batch, C, hw, hw}, mask + at, numel * sizeof(float)};
                n_bt++;
                at += numel;
            }
        }
        cr_assert_eq(at, io.skip_mask_numel, "masks laid out as the builder made them");
    }
    exec_ctx *ctx;
    cr_assert_eq(exec_create(g, backend_cpu(), DT_F32, &ctx), TD_OK);
    role_buffers_bind(&rb, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK);
    /* weights: the export of a model with these parameters */
    model m;
    cr_assert_eq(model_create(&m, backend_cpu(), DT_F32, supernet_stage_build_fn, &stage), TD_OK);
    memcpy(m.role[ROLE_WEIGHT], rb.ptr[ROLE_WEIGHT], model_role_bytes(&m, ROLE_WEIGHT));
    memcpy(m.role[ROLE_ALPHA], rb.ptr[ROLE_ALPHA], model_role_bytes(&m, ROLE_ALPHA));
    memcpy(m.role[ROLE_BNSTAT], rb.ptr[ROLE_BNSTAT], model_role_bytes(&m, ROLE_BNSTAT));
    char path[512];
    cr_assert_eq(path_format(path, sizeof path, "%s/weights.safetensors", dir), TD_OK);
    cr_assert_eq(model_export_safetensors(&m, path, 0), TD_OK);
    /* the batch */
    bt[0] = (st_tensor){"images", "F32", 4, {batch, cfg.in_ch, cfg.hw, cfg.hw}, img, nimg * sizeof(float)};
    bt[1] = (st_tensor){"labels", "I64", 1, {batch}, lab64, sizeof lab64};
    cr_assert_eq(path_format(path, sizeof path, "%s/batch.safetensors", dir), TD_OK);
    cr_assert_eq(safetensors_write(path, bt, n_bt, NULL), TD_OK);
    /* our loss and gradients, under the parameters' names */
    cr_assert_eq(path_format(path, sizeof path, "%s/grads.safetensors", dir), TD_OK);
    cr_assert_eq(oracle_write_grads(g, &rb, ctx, loss, path), TD_OK, "%s", td_error_message());
    cr_assert_eq(path_format(path, sizeof path, "%s/oracle.json", dir), TD_OK);
    char *ops = edges && edges->n_ops ? edge_ops_json(edges) : NULL;
    char meta[20000];
    snprintf(meta, sizeof meta,
             "{\"channels\": %d, \"layers\": %d, \"in_channels\": %d, \"classes\": %d, \"skip_dropout\": %d%s%s}\n",
             cfg.C, cfg.layers, cfg.in_ch, cfg.classes, io.skip_mask >= 0, ops ? ", \"edge_ops\": " : "", ops ? ops : "");
    free(ops);
    cr_assert_eq(file_write_text_atomic(path, meta), TD_OK);
    char peer[1024], log[600], *out = NULL;
    cr_assert_eq(path_format(peer, sizeof peer, "%s/bench/peer_pytorch.py", src), TD_OK);
    cr_assert_eq(path_format(log, sizeof log, "%s/peer.log", dir), TD_OK);
    const char *argv[] = {py, peer, "--oracle", dir, "--threads", "2", NULL};
    int rc = sandbox_run(argv, log);
    cr_assert_eq(file_read_all(log, &out, NULL), TD_OK);
    fprintf(stderr, "%s", out);
    cr_expect_eq(rc, 0, "the PyTorch peer disagrees:\n%s", out);
    free(out);
    free(dir);
    exec_destroy(ctx);
    role_buffers_free(&rb);
    model_destroy(&m);
    layer_free(&b);
    graph_destroy(g);
}

Test(oracle, pytorch_peer_agrees_on_loss_and_gradients, .timeout = 600)
{
    supernet_config cfg = {4, 5, 3, 16, 10, 0};
    oracle_case("oracle", &cfg, NULL);
}

/* PDARTS stage 1: every op, skip dropout after every stride-1 skip. */
Test(oracle, pdarts_stage1_with_skip_dropout, .timeout = 600)
{
    supernet_config cfg = {4, 5, 3, 16, 10, 0};
    supernet_edge_ops edges = {.skip_dropout = 1};
    pdarts_full_ops(&edges);
    oracle_case("oracle-pdarts1", &cfg, &edges);
}

/* A later stage: three ops per edge, none and skip_connect on some edges
 * only, so that alpha columns name different ops on different edges. */
Test(oracle, pdarts_stage3_op_lists, .timeout = 600)
{
    supernet_config cfg = {4, 5, 3, 16, 10, 0};
    supernet_edge_ops edges = {.n_ops = 3, .skip_dropout = 1};
    static const signed char lists[4][3] = {{DOP_NONE, DOP_SKIP_CONNECT, DOP_SEP_CONV_3X3},
                                            {DOP_MAX_POOL_3X3, DOP_SEP_CONV_5X5, DOP_DIL_CONV_3X3},
                                            {DOP_AVG_POOL_3X3, DOP_SKIP_CONNECT, DOP_DIL_CONV_5X5},
                                            {DOP_NONE, DOP_SEP_CONV_3X3, DOP_DIL_CONV_5X5}};
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < DARTS_EDGES; e++) memcpy(edges.ops[t][e], lists[(e + t) % 4], 3);
    oracle_case("oracle-pdarts3", &cfg, &edges);
}
