/* A block's sum of one value per thread in a fixed tree, and the one-block total of a row of partial sums. */
#ifndef TSEDARTS_GPU_BLOCK_SUM_CUH
#define TSEDARTS_GPU_BLOCK_SUM_CUH

#include "gpu_internal.h"

/* The sum of v over the block's THREADS threads (blockDim.x == THREADS, a power of two of at least 64), by
 * halving: thread t adds thread t + h's value for h = THREADS / 2, ..., 2, 1. The halves down to 32 go through
 * sh (THREADS entries of shared memory), the last five as warp shuffles in warp 0, which add the same pairs in
 * the same order. Thread 0 returns the sum (the others a part of it). Every thread of the block must call. After
 * the last barrier only warp 0 reads sh, each lane its own entry, so a second call on the same sh needs no
 * barrier before it; other writes to sh do. */
template <unsigned THREADS, typename T> static __device__ inline T block_tree_sum(T v, T *sh)
{
    static_assert(THREADS >= 64 && (THREADS & (THREADS - 1)) == 0, "a power of two, more than a warp");
    unsigned t = threadIdx.x;
    sh[t] = v;
    for (unsigned h = THREADS / 2; h >= 32; h >>= 1) {
        __syncthreads();
        if (t < h) sh[t] += sh[t + h];
    }
    __syncthreads();
    if (t < 32) {
        v = sh[t];
        for (unsigned h = 16; h >= 1; h >>= 1) v += __shfl_down_sync(0xffffffffu, v, h);
    }
    return v;
}

/* One block of GPU_THREADS: out[0] = the sum of partial[0, nb), thread t adding partials t, t + GPU_THREADS, ...
 * in that order from 0, then the threads' sums by block_tree_sum. The order depends on nb alone. */
template <typename T> static __global__ void __launch_bounds__(GPU_THREADS) gpu_total_kernel(const T *partial,
                                                                                            size_t nb, T *out)
{
    __shared__ T sh[GPU_THREADS];
    T v = 0;
    for (size_t b = threadIdx.x; b < nb; b += GPU_THREADS) v += partial[b];
    v = block_tree_sum<GPU_THREADS>(v, sh);
    if (threadIdx.x == 0) out[0] = v;
}

#endif
