/* Dirichlet family (dirichlet_rows, dirichlet_grad) on (rows, ops, 1, 1)
 * tensors: one thread per row, every sum left to right as on the CPU. */
#include <float.h>

#include "gpu_internal.h"

extern "C" {
#include "tsedarts/dirichlet_grad.h"
}

/* (beta, G) -> G / row sum of G, clamped to [FLT_MIN, 1 - FLT_EPSILON] */
template <typename T> static __global__ void dirichlet_rows_kernel(const T *gm, T *y, int R, int L)
{
    GPU_FOR(r, (size_t)R)
    {
        const T *gr = gm + r * L;
        T *yr = y + r * L;
        T sum = 0;
        for (int j = 0; j < L; j++) sum += gr[j];
        for (int j = 0; j < L; j++) {
            T v = gr[j] / sum;
            yr[j] = v < (T)FLT_MIN ? (T)FLT_MIN : v > (T)(1 - FLT_EPSILON) ? (T)(1 - FLT_EPSILON) : v;
        }
    }
}

template <typename T> static td_status dirichlet_rows_op(const kernel_args *a)
{
    shape4 s = a->out_shape;
    dirichlet_rows_kernel<T><<<gpu_blocks((size_t)s.n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 1), gpu_out<T>(a),
                                                                                      s.n, s.c);
    LAUNCH_CHECK("dirichlet_rows");
    return TD_OK;
}

/* (x, beta) -> D, in double for both element types, as the CPU */
template <typename T> static __global__ void dirichlet_grad_kernel(const T *x, const T *beta, T *y, int R, int L)
{
    GPU_FOR(r, (size_t)R)
    {
        const T *xr = x + r * L, *br = beta + r * L;
        double total = 0;
        for (int j = 0; j < L; j++) total += (double)br[j];
        for (int j = 0; j < L; j++) y[r * L + j] = (T)dirichlet_grad_one((double)xr[j], (double)br[j], total);
    }
}

template <typename T> static td_status dirichlet_grad_op(const kernel_args *a)
{
    shape4 s = a->out_shape;
    dirichlet_grad_kernel<T><<<gpu_blocks((size_t)s.n), GPU_THREADS, 0, gpu.stream>>>(
        gpu_in<T>(a, 0), gpu_in<T>(a, 1), gpu_out<T>(a), s.n, s.c);
    LAUNCH_CHECK("dirichlet_grad");
    return TD_OK;
}

GPU_INSTANTIATE(dirichlet_rows, dirichlet_rows_op)
GPU_INSTANTIATE(dirichlet_grad, dirichlet_grad_op)
