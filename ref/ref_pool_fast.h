#ifndef TSEDARTS_REF_POOL_FAST_H
#define TSEDARTS_REF_POOL_FAST_H

#include "tsedarts/backend.h"

/* Runs an f32 pooling node (3x3, pad 1, stride 1 or 2) on a fast path if it
 * fits (returns 1 and sets *result), else returns 0. */
int pool_f32_fast(const kernel_args *a, td_status *result);

#endif
