/* The PyTorch peer (bench/peer_pytorch.py, an independent implementation
 * of SPEC.md) as an oracle: it loads this project's export of a supernet
 * and one batch, recomputes loss and gradients in f64, and compares them
 * with ours (f32): loss within 1e-5, gradients within 1e-4 (relative).
 * Not run where Python with torch is missing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

Test(oracle, pytorch_peer_agrees_on_loss_and_gradients, .timeout = 600)
{
    const char *py = sandbox_oracle_python();
    const char *src = getenv("TSEDARTS_SOURCE_DIR");
    cr_assert_not_null(src, "TSEDARTS_SOURCE_DIR not set");
    char *dir = sandbox_dir("oracle");
    supernet_config cfg = {4, 5, 3, 16, 10, 0};
    int batch = 8;
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    net_io io;
    cr_assert_eq(supernet_build(&b, &cfg, batch, &io), TD_OK);
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
    exec_ctx *ctx;
    cr_assert_eq(exec_create(g, backend_cpu(), DT_F32, &ctx), TD_OK);
    role_buffers_bind(&rb, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK);
    /* weights: the export of a model with these parameters */
    model m;
    cr_assert_eq(model_create(&m, backend_cpu(), DT_F32, supernet_build_fn, &cfg), TD_OK);
    memcpy(m.role[ROLE_WEIGHT], rb.ptr[ROLE_WEIGHT], model_role_bytes(&m, ROLE_WEIGHT));
    memcpy(m.role[ROLE_ALPHA], rb.ptr[ROLE_ALPHA], model_role_bytes(&m, ROLE_ALPHA));
    memcpy(m.role[ROLE_BNSTAT], rb.ptr[ROLE_BNSTAT], model_role_bytes(&m, ROLE_BNSTAT));
    char path[512];
    cr_assert_eq(path_format(path, sizeof path, "%s/weights.safetensors", dir), TD_OK);
    cr_assert_eq(model_export_safetensors(&m, path, 0), TD_OK);
    /* the batch */
    st_tensor bt[2] = {{"images", "F32", 4, {batch, 3, 16, 16}, img, nimg * sizeof(float)},
                       {"labels", "I64", 1, {batch}, lab64, sizeof lab64}};
    cr_assert_eq(path_format(path, sizeof path, "%s/batch.safetensors", dir), TD_OK);
    cr_assert_eq(safetensors_write(path, bt, 2, NULL), TD_OK);
    /* our loss and gradients, under the parameters' names */
    st_tensor *gt = calloc((size_t)g->n_params + 1, sizeof *gt);
    int n = 0;
    for (int p = 0; p < g->n_params; p++) {
        const param *pr = &g->params[p];
        if (pr->role == ROLE_BNSTAT) continue;
        st_tensor *t = &gt[n++];
        t->name = pr->name;
        t->dtype = "F32";
        t->ndim = pr->torch_ndim;
        for (int d = 0; d < pr->torch_ndim; d++) t->dims[d] = pr->torch_dims[d];
        t->data = (float *)rb.ptr[pr->role == ROLE_WEIGHT ? ROLE_GRAD_WEIGHT : ROLE_GRAD_ALPHA] + pr->offset;
        t->bytes = shape_numel(pr->shape) * sizeof(float);
    }
    float lv = *(float *)exec_value_ptr(ctx, loss);
    gt[n++] = (st_tensor){"loss", "F32", 0, {0}, &lv, sizeof lv};
    cr_assert_eq(path_format(path, sizeof path, "%s/grads.safetensors", dir), TD_OK);
    cr_assert_eq(safetensors_write(path, gt, n, NULL), TD_OK);
    cr_assert_eq(path_format(path, sizeof path, "%s/oracle.json", dir), TD_OK);
    cr_assert_eq(file_write_text_atomic(path, "{\"channels\": 4, \"layers\": 5, \"in_channels\": 3, \"classes\": 10}\n"),
                 TD_OK);
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
    free(gt);
    exec_destroy(ctx);
    role_buffers_free(&rb);
    model_destroy(&m);
    layer_free(&b);
    graph_destroy(g);
}
