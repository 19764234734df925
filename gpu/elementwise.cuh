/* The one element-wise launcher of the CUDA backend: an op states its per-element work as a __device__ lambda
 * (nvcc --extended-lambda) and gpu_map runs it once for every index of [0, n) on gpu.stream. */
#ifndef TSEDARTS_GPU_ELEMENTWISE_CUH
#define TSEDARTS_GPU_ELEMENTWISE_CUH

#include <stdint.h>
#include <stdio.h>

#include "gpu_internal.h"

/* Grid-stride loop over [0, n) in the index type I, calling f(i) once per index. */
template <typename I, typename F> static __global__ void gpu_map_kernel(I n, F f)
{
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < n; i += (I)blockDim.x * (I)gridDim.x) f(i);
}

/* f(i) for i in [0, n): f is a __device__ lambda or functor taking its index by value, as `auto i` where it does
 * index arithmetic in the index type (decltype(i)). The index is 32-bit (unsigned) when n < 2^31, where the grid
 * covers n in one pass and i + stride stays below 2^32, and 64-bit otherwise; so an op whose index arithmetic
 * mixes in values of its own shape (all at most n) keeps them in the index type, and converts to size_t where an
 * address can pass n (another tensor's offset). The order of the per-element work does not matter: each index
 * writes only its own outputs. name says which op failed to launch. */
template <typename F> static td_status gpu_map(const char *name, size_t n, F f)
{
    if (n < ((size_t)1 << 31))
        gpu_map_kernel<uint32_t><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>((uint32_t)n, f);
    else
        gpu_map_kernel<uint64_t><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>((uint64_t)n, f);
    /* a bad launch is reported naming the op; then LAUNCH_CHECK, which every launch passes through */
    cudaError_t e = cudaPeekAtLastError();
    if (e != cudaSuccess) {
        char call[96];
        cudaGetLastError();
        snprintf(call, sizeof call, "launch %s", name);
        return gpu_fail_cuda(e, call, __FILE__, __LINE__);
    }
    LAUNCH_CHECK("gpu_map");
    return TD_OK;
}

#endif
