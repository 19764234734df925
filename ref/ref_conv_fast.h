#ifndef TSEDARTS_REF_CONV_FAST_H
#define TSEDARTS_REF_CONV_FAST_H

#include "tsedarts/backend.h"

/* Runs an f32 convolution node on a fast path if one fits its shape
 * (returns 1 and sets *result), else returns 0. */
int conv_f32_fast(const kernel_args *a, td_status *result);

#endif
