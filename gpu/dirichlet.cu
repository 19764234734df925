/* Dirichlet family (dirichlet_rows, dirichlet_grad) on (rows, ops, 1, 1)
 * tensors: one thread per row, every sum left to right as on the CPU. */
#include <float.h>

#include "elementwise.cuh"

extern "C" {
#include "tsedarts/dirichlet_grad.h"
}

/* (beta, G) -> G / row sum of G, clamped to [FLT_MIN, 1 - FLT_EPSILON] */
template <typename T> static td_status dirichlet_rows_op(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const T *gm = gpu_in<T>(a, 1);
    T *y = gpu_out<T>(a);
    int L = s.c;
    return gpu_map("dirichlet_rows", (size_t)s.n, [=] __device__(auto r) {
        const T *gr = gm + (size_t)r * L;
        T *yr = y + (size_t)r * L;
        T sum = 0;
        for (int j = 0; j < L; j++) sum += gr[j];
        for (int j = 0; j < L; j++) {
            T v = gr[j] / sum;
            yr[j] = v < (T)FLT_MIN ? (T)FLT_MIN : v > (T)(1 - FLT_EPSILON) ? (T)(1 - FLT_EPSILON) : v;
        }
    });
}

/* (x, beta) -> D, in double for both element types, as the CPU */
template <typename T> static td_status dirichlet_grad_op(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const T *x = gpu_in<T>(a, 0), *beta = gpu_in<T>(a, 1);
    T *y = gpu_out<T>(a);
    int L = s.c;
    return gpu_map("dirichlet_grad", (size_t)s.n, [=] __device__(auto r) {
        const T *xr = x + (size_t)r * L, *br = beta + (size_t)r * L;
        double total = 0;
        for (int j = 0; j < L; j++) total += (double)br[j];
        for (int j = 0; j < L; j++) y[(size_t)r * L + j] = (T)dirichlet_grad_one((double)xr[j], (double)br[j], total);
    });
}

GPU_INSTANTIATE(dirichlet_rows, dirichlet_rows_op)
GPU_INSTANTIATE(dirichlet_grad, dirichlet_grad_op)
