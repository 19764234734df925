/* The CUDA backend: the device, its stream and library handles, memory,
 * and the table of kernels. One device per process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

gpu_context gpu;

/* cuBLAS gets a workspace of fixed size, so the kernels it chooses never
 * depend on how much memory happens to be free; cuDNN's grows to the
 * largest size a pinned algorithm asked for (conv.cu). */
#define GPU_BLAS_WORKSPACE_BYTES ((size_t)32 << 20)

td_status gpu_fail_cuda(cudaError_t e, const char *call, const char *file, int line)
{
    return td_error_at(TD_ERR_BACKEND, file, line, "cuda: %s: %s (%s)", call, cudaGetErrorName(e),
                       cudaGetErrorString(e));
}

td_status gpu_fail_cudnn(cudnnStatus_t e, const char *call, const char *file, int line)
{
    return td_error_at(TD_ERR_BACKEND, file, line, "cudnn: %s: %s", call, cudnnGetErrorString(e));
}

td_status gpu_fail_cublas(cublasStatus_t e, const char *call, const char *file, int line)
{
    return td_error_at(TD_ERR_BACKEND, file, line, "cublas: %s: %s", call, cublasGetStatusString(e));
}

#define MAX_RETIRED 64
static void *retired[MAX_RETIRED];
static int n_retired;

/* Grows a device buffer to at least bytes (what: its name, for errors).
 * Only outside stream capture: the executor runs a graph directly before
 * recording it, so the recording needs no more. A buffer it outgrew stays
 * allocated until exit, since recordings made earlier still point into it
 * (all runs share one stream, so sharing it is safe). */
static td_status grow_buffer(void **buf, size_t *have, size_t bytes, const char *what)
{
    if (bytes <= *have) return TD_OK;
    if (gpu.capturing)
        return TD_FAIL(TD_ERR_STATE, "cuda: %zu bytes of %s needed inside a captured run (have %zu)", bytes, what,
                       *have);
    if (*buf) {
        if (n_retired == MAX_RETIRED) return TD_FAIL(TD_ERR_MEMORY, "cuda: %s grew too often", what);
        retired[n_retired++] = *buf;
    }
    *buf = NULL;
    *have = 0;
    size_t want = bytes < ((size_t)1 << 20) ? ((size_t)1 << 20) : bytes + bytes / 4;
    CUDA_CHECK(cudaMalloc(buf, want));
    *have = want;
    return TD_OK;
}

td_status gpu_scratch(size_t bytes, void **p)
{
    /* a batch's members run at once: each gets a part of its own */
    size_t part = (bytes + 255) / 256 * 256, parts = gpu.batch_n > 1 ? (size_t)gpu.batch_n : 1;
    TD_CHECK(grow_buffer(&gpu.scratch, &gpu.scratch_bytes, part * parts, "scratch"));
    *p = (char *)gpu.scratch + (parts > 1 ? (size_t)gpu.batch_k * part : 0);
    return TD_OK;
}

td_status gpu_conv_workspace(size_t bytes, void **p)
{
    TD_CHECK(grow_buffer(&gpu.workspace, &gpu.workspace_bytes, bytes, "cuDNN workspace"));
    *p = gpu.workspace;
    return TD_OK;
}

typedef td_status (*gpu_kernel)(const kernel_args *a);

static const gpu_kernel kernels[OP_COUNT][2] = {
#define GPU_ENTRY(id, name) {gpu_##name##_f32, gpu_##name##_f64},
    TD_OP_LIST(GPU_ENTRY)
#undef GPU_ENTRY
};

/* The live allocations and their sizes, for the peak the benchmarks
 * report (a few dozen at a time: the arena, parameters, optimiser state). */
typedef struct allocation {
    void *p;
    size_t bytes;
} allocation;
static allocation *live;
static int n_live, cap_live;
static size_t bytes_live, bytes_peak;

static void *cuda_alloc(size_t bytes)
{
    void *p = NULL;
    if (n_live == cap_live) {
        int cap = cap_live ? 2 * cap_live : 64;
        allocation *grown = (allocation *)realloc(live, (size_t)cap * sizeof *live);
        if (!grown) return NULL;
        live = grown;
        cap_live = cap;
    }
    if (cudaMalloc(&p, bytes ? bytes : 256) != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is reported by the caller */
        return NULL;
    }
    live[n_live++] = (allocation){p, bytes};
    bytes_live += bytes;
    if (bytes_live > bytes_peak) bytes_peak = bytes_live;
    return p;
}

static void cuda_release(void *p)
{
    if (!p) return;
    for (int i = 0; i < n_live; i++)
        if (live[i].p == p) {
            bytes_live -= live[i].bytes;
            live[i] = live[--n_live];
            break;
        }
    cudaFree(p);
}

/* Everything this backend holds: allocations, the workspaces and the
 * kernels' scratch. */
static size_t cuda_memory_peak(void)
{
    return bytes_peak + GPU_BLAS_WORKSPACE_BYTES + gpu.workspace_bytes + gpu.scratch_bytes;
}

static size_t cuda_memory_free(void)
{
    size_t free_bytes = 0, total = 0;
    if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) {
        cudaGetLastError(); /* unknown counts as nothing free: the caller then saves memory */
        return 0;
    }
    return free_bytes;
}

static td_status cuda_upload(void *dst, const void *src, size_t bytes)
{
    /* from pageable memory the copy has left src when this returns; from
     * pinned memory (host_alloc) it may not have, so whoever uploads from
     * there changes src only after a fence or a download has passed */
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, gpu.stream));
    return TD_OK;
}

static td_status cuda_download(void *dst, const void *src, size_t bytes)
{
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, gpu.stream));
    CUDA_CHECK(cudaStreamSynchronize(gpu.stream));
    return TD_OK;
}

static td_status cuda_zero(void *dst, size_t bytes)
{
    CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, gpu.stream));
    return TD_OK;
}

static td_status cuda_flat_copy(void *dst, const void *src, size_t bytes)
{
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, gpu.stream));
    return TD_OK;
}

td_status gpu_run_node(const kernel_args *a)
{
    if (a->dt != DT_F32 && a->dt != DT_F64)
        return TD_FAIL(TD_ERR_ARG, "cuda backend: unsupported element type %s", dtype_name(a->dt));
    return kernels[a->nd->op][a->dt == DT_F64](a);
}

static td_status cuda_sync(void)
{
    CUDA_CHECK(cudaStreamSynchronize(gpu.stream));
    return TD_OK;
}

/* Stream capture of one executor run (backend.h capture_*). */
static td_status cuda_capture_begin(void)
{
    CUDA_CHECK(cudaStreamBeginCapture(gpu.stream, cudaStreamCaptureModeThreadLocal));
    gpu.capturing = 1;
    return TD_OK;
}

static td_status cuda_capture_end(void **handle)
{
    cudaGraph_t g = NULL;
    gpu.capturing = 0;
    *handle = NULL;
    CUDA_CHECK(cudaStreamEndCapture(gpu.stream, &g));
    cudaGraphExec_t exec = NULL;
    cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) return gpu_fail_cuda(e, "cudaGraphInstantiate", __FILE__, __LINE__);
    *handle = exec;
    return TD_OK;
}

static td_status cuda_capture_abort(void)
{
    gpu.capturing = 0;
    cudaGraph_t g = NULL;
    cudaStreamEndCapture(gpu.stream, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    return TD_OK;
}

static td_status cuda_replay(void *handle)
{
    CUDA_CHECK(cudaGraphLaunch((cudaGraphExec_t)handle, gpu.stream));
    return TD_OK;
}

static void cuda_replay_free(void *handle)
{
    if (handle) cudaGraphExecDestroy((cudaGraphExec_t)handle);
}

static char device_name[32];

/* The device for env.json, or NULL with the error set when a version
 * cannot be read: a run must not record a version it does not know. */
static char *cuda_describe(void)
{
    int driver = 0, runtime = 0, blas = 0;
    cudaError_t e = cudaDriverGetVersion(&driver);
    if (e == cudaSuccess) e = cudaRuntimeGetVersion(&runtime);
    if (e != cudaSuccess) {
        gpu_fail_cuda(e, "cudaDriverGetVersion / cudaRuntimeGetVersion", __FILE__, __LINE__);
        return NULL;
    }
    cublasStatus_t be = cublasGetVersion(gpu.blas, &blas);
    if (be != CUBLAS_STATUS_SUCCESS) {
        gpu_fail_cublas(be, "cublasGetVersion", __FILE__, __LINE__);
        return NULL;
    }
    size_t dnn = cudnnGetVersion();
    if (!driver || !runtime || !blas || !dnn) {
        TD_FAIL(TD_ERR_BACKEND, "cuda: a version reads 0 (driver %d, runtime %d, cuBLAS %d, cuDNN %zu)", driver,
                runtime, blas, dnn);
        return NULL;
    }
    const char *fmt =
        "{\"name\": \"%s\", \"model\": \"%s\", \"compute_capability\": \"%d.%d\", \"sm_count\": %d, "
        "\"memory_mib\": %zu, \"driver\": %d, \"cuda_runtime\": %d, \"cudnn\": %zu, \"cublas\": %d, "
        "\"algorithms\": %s}";
    const char *algos = gpu_conv_algorithms_json();
    int n = snprintf(NULL, 0, fmt, device_name, gpu.prop.name, gpu.prop.major, gpu.prop.minor,
                     gpu.prop.multiProcessorCount, gpu.prop.totalGlobalMem >> 20, driver, runtime, dnn, blas, algos);
    char *s = (char *)malloc((size_t)n + 1);
    if (!s) {
        TD_FAIL(TD_ERR_MEMORY, "cuda: out of memory describing the device");
        return NULL;
    }
    snprintf(s, (size_t)n + 1, fmt, device_name, gpu.prop.name, gpu.prop.major, gpu.prop.minor,
             gpu.prop.multiProcessorCount, gpu.prop.totalGlobalMem >> 20, driver, runtime, dnn, blas, algos);
    return s;
}

static backend cuda_backend;
static int opened = -1;
static char open_error[512];

static void cuda_close(void)
{
    gpu_profile_release();
    gpu_conv_release();
    gpu_fences_release();
    if (gpu.scratch) cudaFree(gpu.scratch);
    for (int i = 0; i < n_retired; i++) cudaFree(retired[i]);
    n_retired = 0;
    if (gpu.workspace) cudaFree(gpu.workspace);
    if (gpu.blas_workspace) cudaFree(gpu.blas_workspace);
    if (gpu.dnn) cudnnDestroy(gpu.dnn);
    if (gpu.blas) cublasDestroy(gpu.blas);
    if (gpu.stream) cudaStreamDestroy(gpu.stream);
    memset(&gpu, 0, sizeof gpu);
}

/* TSEDARTS_GPU_CONV: which kernels run the pointwise and depthwise
 * convolutions. A speed switch that changes bits, so env.json records it
 * (gpu_conv_algorithms_json) and a replay under the other one is refused. */
static td_status gpu_conv_switch(int *own)
{
    const char *v = getenv("TSEDARTS_GPU_CONV");
    if (!v || !*v || !strcmp(v, "own")) {
        *own = 1;
        return TD_OK;
    }
    if (!strcmp(v, "cudnn")) {
        *own = 0;
        return TD_OK;
    }
    return TD_FAIL(TD_ERR_ARG, "TSEDARTS_GPU_CONV is '%s': use own (the default) or cudnn", v);
}

/* Opens device idx: stream, handles, cuBLAS's workspace. */
static td_status cuda_open(int idx)
{
    int count = 0;
    CUDA_CHECK(cudaGetDeviceCount(&count));
    if (idx >= count) return TD_FAIL(TD_ERR_ARG, "there is no CUDA device %d (this machine has %d)", idx, count);
    memset(&gpu, 0, sizeof gpu);
    gpu.device = idx;
    CUDA_CHECK(cudaSetDevice(idx));
    CUDA_CHECK(cudaGetDeviceProperties(&gpu.prop, idx));
    CUDA_CHECK(cudaStreamCreateWithFlags(&gpu.stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&gpu.blas));
    CUBLAS_CHECK(cublasSetStream(gpu.blas, gpu.stream));
    /* no TF32, no reduced-precision reductions: every product in full precision */
    CUBLAS_CHECK(cublasSetMathMode(gpu.blas, CUBLAS_PEDANTIC_MATH));
    CUBLAS_CHECK(cublasSetPointerMode(gpu.blas, CUBLAS_POINTER_MODE_HOST));
    CUDNN_CHECK(cudnnCreate(&gpu.dnn));
    CUDNN_CHECK(cudnnSetStream(gpu.dnn, gpu.stream));
    /* no atomics in cuBLAS either: its results must not depend on timing */
    CUBLAS_CHECK(cublasSetAtomicsMode(gpu.blas, CUBLAS_ATOMICS_NOT_ALLOWED));
    CUDA_CHECK(cudaMalloc(&gpu.blas_workspace, GPU_BLAS_WORKSPACE_BYTES));
    CUBLAS_CHECK(cublasSetWorkspace(gpu.blas, gpu.blas_workspace, GPU_BLAS_WORKSPACE_BYTES));
    TD_CHECK(gpu_conv_switch(&gpu.conv_own));
    return TD_OK;
}

extern "C" int backend_cuda_count(const char **why)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(open_error, sizeof open_error, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
        if (why) *why = open_error;
        return 0;
    }
    if (!count && why) *why = "the CUDA driver sees no device";
    return count;
}

extern "C" const backend *backend_cuda(int idx, const char **why)
{
    if (opened >= 0) {
        if (opened == idx) return &cuda_backend;
        snprintf(open_error, sizeof open_error, "this process already uses cuda:%d (one device per process)", opened);
        if (why) *why = open_error;
        return NULL;
    }
    td_status s = cuda_open(idx);
    if (s != TD_OK) {
        snprintf(open_error, sizeof open_error, "%s", td_error_message());
        cuda_close();
        if (why) *why = open_error;
        return NULL;
    }
    opened = idx;
    snprintf(device_name, sizeof device_name, "cuda:%d", idx);
    cuda_backend.name = device_name;
    cuda_backend.device_memory = 1;
    cuda_backend.describe = cuda_describe;
    cuda_backend.alloc = cuda_alloc;
    cuda_backend.release = cuda_release;
    cuda_backend.upload = cuda_upload;
    cuda_backend.download = cuda_download;
    cuda_backend.zero = cuda_zero;
    cuda_backend.run_node = gpu_run_node;
    cuda_backend.fuses = gpu_fuses;
    /* horizontal batches are written but have not yet run on a GPU: they
     * are used where TSEDARTS_BATCH=1 asks, so one check can time and
     * compare both; every other run launches node by node */
    const char *batch = getenv("TSEDARTS_BATCH");
    if (batch && !strcmp(batch, "1")) {
        cuda_backend.batches = gpu_batches;
        cuda_backend.run_batched = gpu_run_batched;
        cuda_backend.fused_batches = gpu_fused_batches;
        cuda_backend.run_fused_batched = gpu_run_fused_batched;
    }
    cuda_backend.run_fused = gpu_run_fused;
    cuda_backend.sync = cuda_sync;
    cuda_backend.flat_copy = cuda_flat_copy;
    cuda_backend.flat_axpy = gpu_flat_axpy;
    cuda_backend.flat_scale = gpu_flat_scale;
    cuda_backend.flat_sum_squares = gpu_flat_sum_squares;
    cuda_backend.sgd_step = gpu_sgd_step;
    cuda_backend.adam_step = gpu_adam_step;
    cuda_backend.memory_peak = cuda_memory_peak;
    cuda_backend.memory_free = cuda_memory_free;
    cuda_backend.capture_begin = cuda_capture_begin;
    cuda_backend.capture_end = cuda_capture_end;
    cuda_backend.capture_abort = cuda_capture_abort;
    cuda_backend.replay = cuda_replay;
    cuda_backend.replay_free = cuda_replay_free;
    /* the step scalars on the device and the pinned, double-buffered
     * uploads are written but have not yet run on a GPU: they are offered
     * where TSEDARTS_DEVICE_STEP=1 asks, so one check can time and compare
     * both; every other run reads the step's scalars back as before */
    const char *device_step = getenv("TSEDARTS_DEVICE_STEP");
    if (device_step && !strcmp(device_step, "1")) {
        cuda_backend.flat_clip = gpu_flat_clip;
        cuda_backend.flat_inverse_norm = gpu_flat_inverse_norm;
        cuda_backend.flat_axpy_dev = gpu_flat_axpy_dev;
        cuda_backend.tally_pass = gpu_tally_pass;
        cuda_backend.host_alloc = gpu_host_alloc;
        cuda_backend.host_release = gpu_host_release;
        cuda_backend.upload_async = gpu_upload_async;
        cuda_backend.fence_record = gpu_fence_record;
        cuda_backend.fence_wait = gpu_fence_wait;
    }
    gpu_profile_register(&cuda_backend);
    atexit(cuda_close);
    return &cuda_backend;
}
