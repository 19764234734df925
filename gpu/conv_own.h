/* The CUDA backend's own convolution kernels: pointwise (1x1, one group,
 * no padding) and depthwise (one filter per channel, square kernels up to
 * 7x7), the two shapes that carry the DARTS cells. Every other convolution
 * goes to cuDNN (conv.cu). Which path runs is a switch, recorded in each
 * run's env.json: TSEDARTS_GPU_CONV=own (default) or cudnn. */
#ifndef TSEDARTS_GPU_CONV_OWN_H
#define TSEDARTS_GPU_CONV_OWN_H

#include "conv_geometry.h"
#include "elementwise.cuh"

/* The convolution of a node by its forward meaning (x, w, y: see conv.cu). */
conv_geom conv_geom_of(const kernel_args *a);

/* 1 when the own kernels serve this node in element type T (by shape,
 * and by the shared memory a depthwise plane needs). */
int conv_own_pointwise(const kernel_args *a);
int conv_own_depthwise(const kernel_args *a, size_t elem_bytes);
/* conv_depthwise.cu: 1 when one plane of the node's pass fits in a block's
 * shared memory (always for the filter gradient, which stages none). */
int conv_own_depthwise_fits(const kernel_args *a, const conv_geom &g, size_t elem_bytes);

/* Fused multiply-add by element type: each term of the own kernels' sums
 * is added so (the build forbids the compiler's own contraction). */
static __device__ inline float dev_fma(float a, float b, float c) { return fmaf(a, b, c); }
static __device__ inline double dev_fma(double a, double b, double c) { return fma(a, b, c); }

/* The kernels, by op (conv2d, conv2d_bwd_data, conv2d_bwd_filter). */
template <typename T> td_status conv_pw_run(const kernel_args *a, const conv_geom &g);
template <typename T> td_status conv_dw_run(const kernel_args *a, const conv_geom &g);

/* out[m] = sum over s < count of part[s M + m], slices in order: the
 * second pass of both filter gradients. */
template <typename T> td_status conv_sum_slices(const T *part, int count, int M, T *out);

#endif
