#include "oracle_grads.h"

#include <stdlib.h>

#include "tsedarts/safetensors.h"

td_status oracle_write_grads(const graph *g, const role_buffers *rb, exec_ctx *ctx, int loss, const char *path)
{
    st_tensor *gt = calloc((size_t)g->n_params + 1, sizeof *gt);
    if (!gt) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    int n = 0;
    for (int p = 0; p < g->n_params; p++) {
        const param *pr = &g->params[p];
        if (pr->role == ROLE_BNSTAT) continue; /* statistics have no gradient */
        st_tensor *t = &gt[n++];
        t->name = pr->name;
        t->dtype = "F32";
        t->ndim = pr->torch_ndim;
        for (int d = 0; d < pr->torch_ndim; d++) t->dims[d] = pr->torch_dims[d];
        t->data = (float *)rb->ptr[pr->role == ROLE_WEIGHT ? ROLE_GRAD_WEIGHT : ROLE_GRAD_ALPHA] + pr->offset;
        t->bytes = shape_numel(pr->shape) * sizeof(float);
    }
    float lv = *(float *)exec_value_ptr(ctx, loss);
    gt[n++] = (st_tensor){"loss", "F32", 0, {0}, &lv, sizeof lv};
    td_status s = safetensors_write(path, gt, n, NULL);
    free(gt);
    return s;
}
