/* The DrNAS network against a PyTorch peer (bench/peer_drnas.py, written
 * from docs/numerics.md s.6 on peer_pytorch.py's modules): the same weights,
 * alphas, batch and gamma draws, so the same Dirichlet sample; the peer
 * recomputes loss and gradients in f64 with PyTorch's own Dirichlet
 * gradient and compares them with ours (f32): loss within 1e-5, weight and
 * alpha gradients within 1e-4 (relative, over all parameters), the bars of
 * test_oracle. Stage 1 (7 ops, k = 4) and a stage-2 layout (8 ops with
 * none, k = 2, pruned to 4 per row). Not run where Python with torch is
 * missing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle_grads.h"
#include "sandbox.h"

#include "tsedarts/autodiff.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/buffers.h"
#include "tsedarts/drnas_search.h"
#include "tsedarts/fileio.h"
#include "tsedarts/gamma_draws.h"
#include "tsedarts/model.h"
#include "tsedarts/params.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"
#include "tsedarts/safetensors.h"

static void compare_with_peer(int k, int with_none, int masked)
{
    const char *py = sandbox_oracle_python();
    const char *src = getenv("TSEDARTS_SOURCE_DIR");
    cr_assert_not_null(src, "TSEDARTS_SOURCE_DIR not set");
    char *dir = sandbox_dir("oracle-drnas");
    drnas_net_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.net = (supernet_config){.C = 8, .layers = 3, .in_ch = 3, .hw = 8, .classes = 10};
    cfg.k = k;
    cfg.with_none = with_none;
    cfg.masked = masked;
    int n_ops = drnas_ops(with_none), batch = 4;
    philox_stream s;
    philox_stream_init(&s, 4, PURPOSE_TEST, (uint64_t)k);
    double alpha[DRNAS_ROWS * DOP_COUNT], beta[DRNAS_ROWS * DOP_COUNT], draws[DRNAS_ROWS * DOP_COUNT];
    for (int i = 0; i < DRNAS_ROWS * n_ops; i++) alpha[i] = 0.5 * philox_next_normal(&s);
    if (masked) {
        double pruned[DRNAS_ROWS * DOP_COUNT];
        memcpy(pruned, alpha, sizeof pruned);
        drnas_prune(pruned, DRNAS_ROWS, n_ops, 4, cfg.keep[0]);
    }
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    drnas_io io;
    cr_assert_eq(drnas_supernet_build(&b, &cfg, batch, &io), TD_OK, "%s", td_error_message());
    int loss = graph_bind(g, io.io.loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.io.loss, 1, 1), TD_OK, "%s", td_error_message());
    role_buffers rb;
    cr_assert_eq(role_buffers_alloc(&rb, g, backend_cpu(), DT_F32), TD_OK);
    params_init(g, 21, DT_F32, rb.ptr[ROLE_WEIGHT], rb.ptr[ROLE_ALPHA], rb.ptr[ROLE_BNSTAT]);
    float *alphas = rb.ptr[ROLE_ALPHA], *in = rb.ptr[ROLE_INPUT];
    for (int i = 0; i < DRNAS_ROWS * n_ops; i++) alphas[i] = (float)alpha[i];
    /* the draws from the f32 alphas, as a search makes them */
    for (int i = 0; i < DRNAS_ROWS * n_ops; i++) beta[i] = alphas[i] > 0 ? alphas[i] + 1.0 : exp(alphas[i]);
    cr_assert_eq(gamma_draws(2, 0, beta, (size_t)DRNAS_ROWS * n_ops, draws), 0);
    float gam[2][DARTS_EDGES * DOP_COUNT], keep[2][DARTS_EDGES * DOP_COUNT];
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < DARTS_EDGES * n_ops; i++) {
            gam[t][i] = (float)draws[t * DARTS_EDGES * n_ops + i];
            keep[t][i] = cfg.keep[t * DARTS_EDGES + i / n_ops][i % n_ops];
        }
    for (int t = 0; t < 2; t++) {
        memcpy(in + g->values[io.dirichlet_gamma[t]].offset, gam[t], (size_t)DARTS_EDGES * n_ops * sizeof(float));
        if (masked) memcpy(in + g->values[io.prune_mask[t]].offset, keep[t], (size_t)DARTS_EDGES * n_ops * sizeof(float));
    }
    float *img = in + g->values[io.io.images].offset;
    size_t nimg = shape_numel(g->values[io.io.images].shape);
    for (size_t i = 0; i < nimg; i++) img[i] = (float)philox_next_normal(&s);
    int32_t *lab = rb.ptr[ROLE_LABEL];
    int64_t lab64[4];
    for (int i = 0; i < batch; i++) lab64[i] = lab[i] = (int32_t)philox_next_below(&s, 10);
    exec_ctx *ctx;
    cr_assert_eq(exec_create(g, backend_cpu(), DT_F32, &ctx), TD_OK);
    role_buffers_bind(&rb, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK, "%s", td_error_message());
    /* weights and alphas: the export of a model holding them */
    model m;
    cr_assert_eq(model_create(&m, backend_cpu(), DT_F32, drnas_build_fn, &cfg), TD_OK, "%s", td_error_message());
    memcpy(m.role[ROLE_WEIGHT], rb.ptr[ROLE_WEIGHT], model_role_bytes(&m, ROLE_WEIGHT));
    memcpy(m.role[ROLE_ALPHA], rb.ptr[ROLE_ALPHA], model_role_bytes(&m, ROLE_ALPHA));
    memcpy(m.role[ROLE_BNSTAT], rb.ptr[ROLE_BNSTAT], model_role_bytes(&m, ROLE_BNSTAT));
    char path[512];
    cr_assert_eq(path_format(path, sizeof path, "%s/weights.safetensors", dir), TD_OK);
    cr_assert_eq(model_export_safetensors(&m, path, 0), TD_OK, "%s", td_error_message());
    /* the batch, the draws and the mask */
    size_t rows_bytes = (size_t)DARTS_EDGES * n_ops * sizeof(float);
    st_tensor bt[6] = {{"images", "F32", 4, {batch, 3, 8, 8}, img, nimg * sizeof(float)},
                       {"labels", "I64", 1, {batch}, lab64, sizeof lab64},
                       {"gamma_normal", "F32", 2, {DARTS_EDGES, n_ops}, gam[0], rows_bytes},
                       {"gamma_reduce", "F32", 2, {DARTS_EDGES, n_ops}, gam[1], rows_bytes},
                       {"keep_normal", "F32", 2, {DARTS_EDGES, n_ops}, keep[0], rows_bytes},
                       {"keep_reduce", "F32", 2, {DARTS_EDGES, n_ops}, keep[1], rows_bytes}};
    cr_assert_eq(path_format(path, sizeof path, "%s/batch.safetensors", dir), TD_OK);
    cr_assert_eq(safetensors_write(path, bt, masked ? 6 : 4, NULL), TD_OK);
    /* our loss and gradients, under the parameters' names */
    cr_assert_eq(path_format(path, sizeof path, "%s/grads.safetensors", dir), TD_OK);
    cr_assert_eq(oracle_write_grads(g, &rb, ctx, loss, path), TD_OK, "%s", td_error_message());
    char meta[256];
    snprintf(meta, sizeof meta,
             "{\"channels\": 8, \"layers\": 3, \"k\": %d, \"with_none\": %d, \"in_channels\": 3, \"classes\": 10}\n", k,
             with_none);
    cr_assert_eq(path_format(path, sizeof path, "%s/oracle.json", dir), TD_OK);
    cr_assert_eq(file_write_text_atomic(path, meta), TD_OK);
    char peer[1024], log[600], *out = NULL;
    cr_assert_eq(path_format(peer, sizeof peer, "%s/bench/peer_drnas.py", src), TD_OK);
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

Test(oracle_drnas, stage_one_agrees_with_pytorch, .timeout = 600) { compare_with_peer(4, 0, 0); }
Test(oracle_drnas, pruned_stage_two_with_none_agrees_with_pytorch, .timeout = 600) { compare_with_peer(2, 1, 1); }
