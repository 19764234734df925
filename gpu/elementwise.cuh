/* The CUDA backend's launchers: an op states its per-element work as a __device__ lambda (nvcc
 * --extended-lambda) and gpu_map runs it once for every index of [0, n) on gpu.stream; a kernel with its own
 * grid and shared memory is a lambda too, run by gpu_launch once per thread of the grid.
 *
 * Horizontal batches (backend.h run_batched, batched.cu): while the backend runs a batch's members one after
 * another (gpu.batch_n > 1), each launch is held instead of made. Its closure waits in its launch site's slot
 * for member gpu.batch_k, and the last member's launch makes one launch for all of them, the member being
 * blockIdx.z. Every member's threads then do exactly what its own launch would have done, so the bits are the
 * same; the launches of one op keep their order, since each site fires at the last member's call. A site must
 * run once per member (the ops the backend batches do): a second call is refused. */
#ifndef TSEDARTS_GPU_ELEMENTWISE_CUH
#define TSEDARTS_GPU_ELEMENTWISE_CUH

#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
/* After a launch: a bad one is reported naming the op and the launcher; a good one is counted, as
 * LAUNCH_CHECK counts the others. */
static inline td_status launched(const char *name, const char *launcher)
{
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        char call[128];
        snprintf(call, sizeof call, "launch %s (%s)", name, launcher);
        return gpu_fail_cuda(e, call, __FILE__, __LINE__);
    }
    gpu.launches++;
    return TD_OK;
}

template <typename F> static td_status gpu_map_held(const char *name, size_t n, F f);
template <typename F> static td_status gpu_map(const char *name, size_t n, F f)
{
    if (gpu.batch_n > 1) return gpu_map_held(name, n, f);
    if (n < ((size_t)1 << 31))
        gpu_map_kernel<uint32_t><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>((uint32_t)n, f);
    else
        gpu_map_kernel<uint64_t><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>((uint64_t)n, f);
    return launched(name, "gpu_map");
}

/* --- launches with their own grid ------------------------------------------------------------------------- */

/* f() once per thread of the grid; B is the block size the kernel is written for. */
template <int B, typename F> static __global__ void __launch_bounds__(B) gpu_launch_kernel(F f) { f(); }

template <int B, typename F> static td_status gpu_launch_held(const char *name, dim3 grid, size_t smem, F f);
template <int B, typename F> static td_status gpu_launch(const char *name, dim3 grid, size_t smem, F f)
{
    if (gpu.batch_n > 1) return gpu_launch_held<B>(name, grid, smem, f);
    gpu_launch_kernel<B, F><<<grid, B, smem, gpu.stream>>>(f);
    return launched(name, "gpu_launch");
}

/* --- held launches (a batch) ----------------------------------------------------------------------------- */

/* The closures of a batch's members, by value in the batched launch's parameters (large kernel parameters:
 * sm_70 and later with CUDA 12.1 or later take up to 32,764 bytes). */
template <typename F> struct held_closures {
    alignas(F) unsigned char raw[GPU_BATCH_MAX * sizeof(F)];
    __device__ const F &at(unsigned k) const { return *reinterpret_cast<const F *>(raw + k * sizeof(F)); }
};

/* One launch site's held closures: host state of the site's own (each lambda has its own type). */
template <typename F> struct held_site {
    long gen;       /* the batch they belong to */
    int count;      /* closures held, for members 0 .. count - 1 */
    size_t n;       /* gpu_map: the element count (the members' is one) */
    dim3 grid;      /* gpu_launch: the grid (likewise) */
    size_t smem;
    held_closures<F> pack;
};

/* Holds member gpu.batch_k's closure at site; 1 when it is the batch's last (the site then fires). */
template <typename F> static td_status hold(held_site<F> *site, const char *name, F f, int *fire)
{
    static_assert(sizeof(held_closures<F>) <= 32000, "a held closure is too large for one launch's parameters");
    static_assert(sizeof(F) <= 32000 / GPU_BATCH_MAX, "a held closure is too large for one launch's parameters");
    if (site->gen != gpu.batch_gen) {
        site->gen = gpu.batch_gen;
        site->count = 0;
    }
    if (site->count != gpu.batch_k || gpu.batch_n > GPU_BATCH_MAX)
        return TD_FAIL(TD_ERR_STATE, "cuda: launch %s for member %d of a batch of %d found %d held (an op that "
                       "launches a site twice cannot be batched)", name, gpu.batch_k, gpu.batch_n, site->count);
    memcpy(site->pack.raw + (size_t)site->count * sizeof(F), (const void *)&f, sizeof(F));
    site->count++;
    gpu.batch_pending++;
    *fire = site->count == gpu.batch_n;
    if (*fire) gpu.batch_pending -= site->count;
    return TD_OK;
}

template <typename I, typename F> static __global__ void gpu_map_held_kernel(I n, const held_closures<F> pack)
{
    const F &f = pack.at(blockIdx.z);
    for (I i = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; i < n; i += (I)blockDim.x * (I)gridDim.x) f(i);
}

template <typename F> static td_status gpu_map_held(const char *name, size_t n, F f)
{
    static held_site<F> site = {-1, 0, 0, dim3(), 0, {}};
    int fire = 0;
    if (gpu.batch_k > 0 && site.gen == gpu.batch_gen && site.n != n)
        return TD_FAIL(TD_ERR_STATE, "cuda: batched %s members differ in size (%zu, %zu)", name, site.n, n);
    TD_CHECK(hold(&site, name, f, &fire));
    site.n = n;
    if (!fire) return TD_OK;
    dim3 grid(gpu_blocks(n), 1, (unsigned)site.count);
    if (n < ((size_t)1 << 31))
        gpu_map_held_kernel<uint32_t, F><<<grid, GPU_THREADS, 0, gpu.stream>>>((uint32_t)n, site.pack);
    else
        gpu_map_held_kernel<uint64_t, F><<<grid, GPU_THREADS, 0, gpu.stream>>>((uint64_t)n, site.pack);
    site.count = 0;
    return launched(name, "gpu_map (batched)");
}

template <int B, typename F> static __global__ void __launch_bounds__(B) gpu_launch_held_kernel(const held_closures<F> pack)
{
    pack.at(blockIdx.z)();
}

template <int B, typename F> static td_status gpu_launch_held(const char *name, dim3 grid, size_t smem, F f)
{
    static held_site<F> site = {-1, 0, 0, dim3(), 0, {}};
    int fire = 0;
    if (grid.z != 1) return TD_FAIL(TD_ERR_STATE, "cuda: %s uses blockIdx.z and cannot be batched", name);
    if (gpu.batch_k > 0 && site.gen == gpu.batch_gen &&
        (site.grid.x != grid.x || site.grid.y != grid.y || site.smem != smem))
        return TD_FAIL(TD_ERR_STATE, "cuda: batched %s members differ in grid", name);
    TD_CHECK(hold(&site, name, f, &fire));
    site.grid = grid;
    site.smem = smem;
    if (!fire) return TD_OK;
    gpu_launch_held_kernel<B, F><<<dim3(grid.x, grid.y, (unsigned)site.count), B, smem, gpu.stream>>>(site.pack);
    site.count = 0;
    return launched(name, "gpu_launch (batched)");
}

#endif
