/* Horizontal batches on the GPU (backend.h run_batched, engine/schedule.h):
 * the members' ops run one after another as they would alone, with every
 * launch held (elementwise.cuh), so that each launch site makes one launch
 * for the whole batch; each member gets its own part of the scratch
 * memory (gpu_scratch). A member computes what it computes alone, so the
 * bits do not change. Only ops whose every launch goes through gpu_map or
 * gpu_launch, each site once per node, are batched; the rest (and a
 * convolution cuDNN serves, whose call is made at once) run as before. */
#include "gpu_internal.h"

int gpu_batches(op_kind op, dtype dt)
{
    if (dt != DT_F32 && dt != DT_F64) return 0;
    switch (op) {
    case OP_RELU:
    case OP_RELU_BWD:
    case OP_SOFTPLUS:
    case OP_SIGMOID:
    case OP_EXP:
    case OP_POWADD:
    case OP_AXPBY:
    case OP_MUL:
    case OP_FILL:
    case OP_CONST:
    case OP_ELU:
    case OP_DROPOUT:
    case OP_SUM_AXIS:
    case OP_DOT_AXIS:
    case OP_BCAST_AXIS:
    case OP_SCALE_AXIS:
    case OP_AFFINE_AXIS:
    case OP_LINCOMB_AXIS:
    case OP_BN_RUNNING_UPDATE:
    case OP_SLICE_C:
    case OP_CROP:
    case OP_UNCROP:
    case OP_CONV2D:
    case OP_CONV2D_BWD_DATA:
    case OP_CONV2D_BWD_FILTER: return 1;
    default: return 0;
    }
}

/* every group but max pooling's, whose kernel is launched directly */
int gpu_fused_batches(fused_kind kind, dtype dt) { return kind != FUSED_ARGMAX_GATHER && gpu_fuses(kind, dt); }

/* Runs member k of n with its launches held; the last member's fire. */
static td_status run_held(int n, const kernel_args *const *m, int per, fused_kind kind)
{
    if (n > GPU_BATCH_MAX) return TD_FAIL(TD_ERR_ARG, "cuda: a batch of %d (at most %d)", n, GPU_BATCH_MAX);
    gpu.batch_n = n;
    gpu.batch_gen++;
    gpu.batch_pending = 0;
    td_status s = TD_OK;
    for (int k = 0; k < n && s == TD_OK; k++) {
        gpu.batch_k = k;
        s = kind == FUSED_NONE ? gpu_run_node(m[k]) : gpu_run_fused(kind, per, m + (size_t)k * per);
    }
    long left = gpu.batch_pending;
    gpu.batch_n = gpu.batch_k = 0;
    gpu.batch_pending = 0;
    if (s == TD_OK && left)
        return TD_FAIL(TD_ERR_STATE, "cuda: a batch of %d left %ld held launches unlaunched (a member skipped a "
                       "launch site the members before it reached)", n, left);
    return s;
}

td_status gpu_run_batched(int n, const kernel_args *const *m) { return run_held(n, m, 1, FUSED_NONE); }

td_status gpu_run_fused_batched(fused_kind kind, int per, int n, const kernel_args *const *m)
{
    return run_held(n, m, per, kind);
}
