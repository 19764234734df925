#ifndef TSEDARTS_REF_AXIS_FAST_H
#define TSEDARTS_REF_AXIS_FAST_H

#include "tsedarts/backend.h"

/* f32 sum_axis / dot_axis over channels on a fast path (returns 1 and
 * sets *result), else returns 0. */
int axis_f32_fast(const kernel_args *a, td_status *result);

#endif
