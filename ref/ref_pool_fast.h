#ifndef TSEDARTS_REF_POOL_FAST_H
#define TSEDARTS_REF_POOL_FAST_H

#include "tsedarts/backend.h"

/* Runs an f32 pooling node (3x3, pad 1, stride 1 or 2; scatter_at stride 1)
 * on a fast path if it fits (returns 1 and sets *result), else returns 0. */
int pool_f32_fast(const kernel_args *a, td_status *result);
/* The same for maxpool_argmax, writing the maxima into y too when y is not
 * NULL (gather_at fused in). */
int pool_f32_fast_argmax(const kernel_args *a, float *y, td_status *result);

#endif
