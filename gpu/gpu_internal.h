/* Shared by the CUDA backend's files: the device context, status checks
 * that turn every CUDA, cuDNN and cuBLAS error into a td_status naming the
 * call, the per-op kernel declarations, and launch helpers (the element-wise
 * launcher gpu_map is in elementwise.cuh, the block sums in block_sum.cuh).
 *
 * Determinism (README.md, "Building and running on a GPU" and "Same bits
 * where"): one stream; cuDNN with pinned algorithms and CUDNN_FMA_MATH (no
 * TF32); cuBLAS with TF32 off and a fixed workspace; every other reduction
 * in a fixed order that depends on the shape alone (a thread per output, or
 * a fixed-shape tree: shared memory, then warp shuffles), no floating-point
 * atomics; so a run repeats bit for bit on one GPU model, captured as a
 * CUDA graph or not. */
#ifndef TSEDARTS_GPU_INTERNAL_H
#define TSEDARTS_GPU_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "tsedarts/backend.h"
#include "tsedarts/backend_cuda.h"
}

/* The one device this process uses (backend_cuda opens it once). */
typedef struct gpu_context {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    void *workspace; /* cuDNN's: the largest a plan asked for (gpu_conv_workspace) */
    size_t workspace_bytes;
    void *blas_workspace; /* cuBLAS's: fixed size, allocated at open */
    int conv_own; /* TSEDARTS_GPU_CONV: 1 own pointwise and depthwise kernels, 0 cuDNN for all */
    void *scratch; /* kernels' temporaries (partial sums), grown by gpu_scratch */
    size_t scratch_bytes;
    int capturing; /* inside stream capture: nothing may be allocated */
    /* A horizontal batch under way (batched.cu): its size (0 outside
     * one), the member whose op is running, and a count of batches, by
     * which a launch site knows its held launches are this batch's; and
     * the closures held and not yet launched, which must be none when the
     * batch ends (a member that skipped a site the others reached would
     * leave the others' closures unlaunched). */
    int batch_n, batch_k;
    long batch_gen, batch_pending;
    long launches; /* kernels launched and library calls made (profile.cu) */
    cudaDeviceProp prop;
} gpu_context;

extern gpu_context gpu;

/* Error text for a failed call, as td_status. */
td_status gpu_fail_cuda(cudaError_t e, const char *call, const char *file, int line);
td_status gpu_fail_cudnn(cudnnStatus_t e, const char *call, const char *file, int line);
td_status gpu_fail_cublas(cublasStatus_t e, const char *call, const char *file, int line);

#define CUDA_CHECK(call)                                                          \
    do {                                                                          \
        cudaError_t e_ = (call);                                                  \
        if (e_ != cudaSuccess) return gpu_fail_cuda(e_, #call, __FILE__, __LINE__); \
    } while (0)
#define CUDNN_CHECK(call)                                                                     \
    do {                                                                                      \
        cudnnStatus_t e_ = (call);                                                            \
        if (e_ != CUDNN_STATUS_SUCCESS) return gpu_fail_cudnn(e_, #call, __FILE__, __LINE__); \
    } while (0)
#define CUBLAS_CHECK(call)                                                                      \
    do {                                                                                        \
        cublasStatus_t e_ = (call);                                                             \
        if (e_ != CUBLAS_STATUS_SUCCESS) return gpu_fail_cublas(e_, #call, __FILE__, __LINE__); \
    } while (0)
/* After a kernel launch: a bad configuration is reported naming the
 * kernel; a good one is counted (every launch is followed by this). */
#define LAUNCH_CHECK(kernel_name)                                                        \
    do {                                                                                 \
        cudaError_t e_ = cudaGetLastError();                                             \
        if (e_ != cudaSuccess) return gpu_fail_cuda(e_, "launch " kernel_name, __FILE__, __LINE__); \
        gpu.launches++;                                                                  \
    } while (0)

/* Scratch memory of at least bytes, for use by the kernels of one node
 * (every run is on one stream, so nodes take turns); in a batch, each
 * member's own part. It grows only outside
 * stream capture (the executor runs a graph directly before recording it,
 * so the recording needs no more), and a buffer it outgrew stays allocated
 * until exit, since recordings made earlier still point into it. */
td_status gpu_scratch(size_t bytes, void **p);
/* cuDNN's workspace of at least bytes, grown the same way. */
td_status gpu_conv_workspace(size_t bytes, void **p);

/* Threads per block for element-wise kernels, and a grid covering n (at
 * most 2^31 - 1 blocks; a grid-stride loop covers the rest). */
#define GPU_THREADS 256
static inline unsigned gpu_blocks(size_t n)
{
    size_t b = (n + GPU_THREADS - 1) / GPU_THREADS;
    return (unsigned)(b ? (b < 0x7fffffffu ? b : 0x7fffffffu) : 1);
}
/* Grid-stride loop over [0, n) in size_t, for kernels written out by hand
 * (pool.cu); the element-wise ops go through gpu_map (elementwise.cuh). */
#define GPU_FOR(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

/* Typed views of the kernel arguments. */
template <typename T> static inline const T *gpu_in(const kernel_args *a, int k) { return (const T *)a->in[k]; }
template <typename T> static inline T *gpu_out(const kernel_args *a) { return (T *)a->out; }

/* The kernels: gpu_<op>_f32 and gpu_<op>_f64 for every op of the list
 * (an op without its kernels fails to link), then the fused groups and the
 * flat operations. Each family file defines a template per op and
 * instantiates it with GPU_INSTANTIATE. */
#define GPU_DECLARE_OP(id, name)                    \
    td_status gpu_##name##_f32(const kernel_args *a); \
    td_status gpu_##name##_f64(const kernel_args *a);
TD_OP_LIST(GPU_DECLARE_OP)
#undef GPU_DECLARE_OP

#define GPU_INSTANTIATE(name, tmpl)                                                \
    td_status gpu_##name##_f32(const kernel_args *a) { return tmpl<float>(a); }   \
    td_status gpu_##name##_f64(const kernel_args *a) { return tmpl<double>(a); }

/* The backend's own node runner (backend_cuda.cu), and horizontal batches
 * (batched.cu; at most GPU_BATCH_MAX members, the scheduler's
 * SCHEDULE_MAX_BATCH). */
#define GPU_BATCH_MAX 32
td_status gpu_run_node(const kernel_args *a);
int gpu_batches(op_kind op, dtype dt);
td_status gpu_run_batched(int n, const kernel_args *const *members);
int gpu_fused_batches(fused_kind kind, dtype dt);
td_status gpu_run_fused_batched(fused_kind kind, int per, int n, const kernel_args *const *members);

/* fused.cu */
int gpu_fuses(fused_kind kind, dtype dt);
td_status gpu_run_fused(fused_kind kind, int n, const kernel_args *const *members);
/* fused_chain.cu */
td_status gpu_run_chain(int n, const kernel_args *const *members);
/* pool.cu: maxpool_argmax with the gather_at of its maxima, as one kernel (FUSED_ARGMAX_GATHER). */
td_status gpu_maxpool_argmax_gather(const kernel_args *argmax, const kernel_args *gather);

/* flat.cu */
td_status gpu_flat_axpy(void *y, const void *x, size_t n, dtype dt, double a);
td_status gpu_flat_scale(void *x, size_t n, dtype dt, double s);
td_status gpu_flat_sum_squares(const void *x, size_t n, dtype dt, double *out);
/* The same sum left in device memory (*dev_out), for the step scalars. */
td_status gpu_sum_squares_to(const void *x, size_t n, dtype dt, double *dev_out);
td_status gpu_sgd_step(void *w, const void *g, void *buf, size_t n, dtype dt, double lr, double momentum, double wd,
                       int nesterov);
td_status gpu_adam_step(void *p, const void *g, void *m, void *v, size_t n, dtype dt, double lr, double beta1,
                        double beta2, double eps, double wd, long step);

/* step_scalars.cu: the device-resident step scalars (backend.h flat_clip,
 * ...); host_staging.cu: pinned host memory, asynchronous uploads and
 * their fences. backend_cuda.cu offers them where TSEDARTS_DEVICE_STEP=1. */
td_status gpu_flat_clip(void *x, size_t n, dtype dt, double max_norm, double *dev);
td_status gpu_flat_inverse_norm(const void *x, size_t n, dtype dt, double num, double *dev);
td_status gpu_flat_axpy_dev(void *y, const void *x, size_t n, dtype dt, const double *dev, double num, double den);
td_status gpu_tally_pass(backend_tally *dev, const tally_pass_args *a);
void *gpu_host_alloc(size_t bytes);
void gpu_host_release(void *p);
td_status gpu_upload_async(void *dst, const void *src, size_t bytes);
td_status gpu_fence_record(int k);
td_status gpu_fence_wait(int k);
void gpu_fences_release(void);

/* profile.cu: the device clock, the launch count and NVTX ranges
 * (backend.h timer_mark, launches, range_push), and their release. */
void gpu_profile_register(backend *be);
void gpu_profile_release(void);

/* conv.cu: the pinned cuDNN algorithms, for env.json. */
const char *gpu_conv_algorithms_json(void);
/* conv.cu: descriptors and plans cached per shape; freed at exit. */
void gpu_conv_release(void);

#endif
