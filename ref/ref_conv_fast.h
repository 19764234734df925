#ifndef TSEDARTS_REF_CONV_FAST_H
#define TSEDARTS_REF_CONV_FAST_H

#include "tsedarts/backend.h"

/* Runs an f32 convolution node on a fast path if one fits its shape
 * (returns 1 and sets *result), else returns 0. */
int conv_f32_fast(const kernel_args *a, td_status *result);

/* The same for a depthwise conv2d or conv2d_bwd_filter node whose input
 * is relu(x) and not stored: reads x (the ReLU's input) and applies the
 * ReLU as the kernel copies each plane; x itself normed when xn is set
 * (normed.h), each plane then made in scratch. Returns 0 for other
 * shapes. */
int conv_f32_relu_input(const kernel_args *a, const void *x, const normed_input *xn, td_status *result);

#endif
