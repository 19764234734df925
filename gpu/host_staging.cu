/* Batches uploaded without the host waiting (backend.h host_alloc,
 * upload_async, fence_record, fence_wait): pinned host memory, which a
 * copy on the stream reads directly (pageable memory is first staged by
 * the driver, which may wait for the stream), and an event per host buffer
 * of a pair, so the host refills a buffer only once its copy has run. */
#include "gpu_internal.h"

static cudaEvent_t fences[BACKEND_FENCES];

void *gpu_host_alloc(size_t bytes)
{
    void *p = NULL;
    if (cudaHostAlloc(&p, bytes ? bytes : 64, cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is reported by the caller */
        return NULL;
    }
    return p;
}

void gpu_host_release(void *p)
{
    if (p) cudaFreeHost(p);
}

td_status gpu_upload_async(void *dst, const void *src, size_t bytes)
{
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, gpu.stream));
    return TD_OK;
}

td_status gpu_fence_record(int k)
{
    if (k < 0 || k >= BACKEND_FENCES) return TD_FAIL(TD_ERR_ARG, "cuda fence %d outside 0..%d", k, BACKEND_FENCES - 1);
    /* made on first use: timing off, the cheapest kind to record and wait on */
    if (!fences[k]) CUDA_CHECK(cudaEventCreateWithFlags(&fences[k], cudaEventDisableTiming));
    CUDA_CHECK(cudaEventRecord(fences[k], gpu.stream));
    return TD_OK;
}

td_status gpu_fence_wait(int k)
{
    if (k < 0 || k >= BACKEND_FENCES) return TD_FAIL(TD_ERR_ARG, "cuda fence %d outside 0..%d", k, BACKEND_FENCES - 1);
    if (fences[k]) CUDA_CHECK(cudaEventSynchronize(fences[k]));
    return TD_OK;
}

void gpu_fences_release(void)
{
    for (int k = 0; k < BACKEND_FENCES; k++)
        if (fences[k]) {
            cudaEventDestroy(fences[k]);
            fences[k] = NULL;
        }
}
