/* The CPU backend: host memory and the table of reference kernels. */
#include <stdlib.h>
#include <string.h>

#include "ref_kernels.h"
#include "tsedarts/backend_cpu.h"

typedef td_status (*ref_kernel)(const kernel_args *a);

size_t ref_parallel_min = 16384;

void backend_cpu_set_parallel_min(size_t elements) { ref_parallel_min = elements; }

#define K(name) {name##_f32, name##_f64}
static const ref_kernel kernels[OP_COUNT][2] = {
    [OP_CONV2D] = K(ref_conv2d),
    [OP_CONV2D_BWD_DATA] = K(ref_conv2d_bwd_data),
    [OP_CONV2D_BWD_FILTER] = K(ref_conv2d_bwd_filter),
    [OP_MATMUL] = K(ref_matmul),
    [OP_RELU] = K(ref_relu),
    [OP_RELU_BWD] = K(ref_relu_bwd),
    [OP_SOFTPLUS] = K(ref_softplus),
    [OP_SIGMOID] = K(ref_sigmoid),
    [OP_MAXPOOL] = K(ref_maxpool),
    [OP_MAXPOOL_GATHER] = K(ref_maxpool_gather),
    [OP_MAXPOOL_SCATTER] = K(ref_maxpool_scatter),
    [OP_AVGPOOL] = K(ref_avgpool),
    [OP_AVGPOOL_BWD] = K(ref_avgpool_bwd),
    [OP_GAP] = K(ref_gap),
    [OP_GAP_BWD] = K(ref_gap_bwd),
    [OP_SUM_AXIS] = K(ref_sum_axis),
    [OP_BCAST_AXIS] = K(ref_bcast_axis),
    [OP_SCALE_AXIS] = K(ref_scale_axis),
    [OP_DOT_AXIS] = K(ref_dot_axis),
    [OP_AFFINE_AXIS] = K(ref_affine_axis),
    [OP_LINCOMB_AXIS] = K(ref_lincomb_axis),
    [OP_BN_RUNNING_UPDATE] = K(ref_bn_running_update),
    [OP_AXPBY] = K(ref_axpby),
    [OP_MUL] = K(ref_mul),
    [OP_EXP] = K(ref_exp),
    [OP_POWADD] = K(ref_powadd),
    [OP_WEIGHTED_SUM] = K(ref_weighted_sum),
    [OP_DOTS] = K(ref_dots),
    [OP_SOFTMAX_ROWS] = K(ref_softmax_rows),
    [OP_LOG_SOFTMAX_ROWS] = K(ref_log_softmax_rows),
    [OP_PICK_LABELS] = K(ref_pick_labels),
    [OP_PLACE_LABELS] = K(ref_place_labels),
    [OP_SUM_ALL] = K(ref_sum_all),
    [OP_FILL] = K(ref_fill),
    [OP_CONST] = K(ref_const),
    [OP_CONCAT_C] = K(ref_concat_c),
    [OP_SLICE_C] = K(ref_slice_c),
    [OP_CROP] = K(ref_crop),
    [OP_UNCROP] = K(ref_uncrop),
};
#undef K

static void *cpu_alloc(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    return p;
}

static void cpu_release(void *p) { free(p); }

static td_status cpu_copy(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
    return TD_OK;
}

static td_status cpu_zero(void *dst, size_t bytes)
{
    memset(dst, 0, bytes);
    return TD_OK;
}

static td_status cpu_run_node(const kernel_args *a)
{
    if (a->dt != DT_F32 && a->dt != DT_F64)
        return TD_FAIL(TD_ERR_ARG, "cpu backend: unsupported element type %s", dtype_name(a->dt));
    ref_kernel k = kernels[a->nd->op][a->dt == DT_F64];
    if (!k) return TD_FAIL(TD_ERR_UNSUPPORTED, "cpu backend: no kernel for %s", op_name(a->nd->op));
    return k(a);
}

static td_status cpu_sync(void) { return TD_OK; }

static const backend cpu_backend = {
    .name = "cpu",
    .device_memory = 0,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_copy,
    .download = cpu_copy,
    .zero = cpu_zero,
    .run_node = cpu_run_node,
    .run_fused = ref_run_fused,
    .fuses = ref_fuses,
    .sync = cpu_sync,
    .flat_copy = ref_flat_copy,
    .flat_axpy = ref_flat_axpy,
    .flat_scale = ref_flat_scale,
    .flat_sum_squares = ref_flat_sum_squares,
    .sgd_step = ref_sgd_step,
    .adam_step = ref_adam_step,
};

const backend *backend_cpu(void) { return &cpu_backend; }

int backend_cpu_has_kernel(op_kind op)
{
    return op >= 0 && op < OP_COUNT && kernels[op][0] && kernels[op][1];
}
