/* Axis family: sum/dot/bcast/scale/affine along N or C, and the batch-norm
 * running-statistics update. */
#include "normed.h"
#include "ref_axis_fast.h"
#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#define REAL_IS_F32 1
#include "axis_impl.h"
#undef REAL
#undef FN
#undef REAL_IS_F32

#define REAL double
#define FN(name) name##_f64
#define REAL_IS_F32 0
#include "axis_impl.h"
#undef REAL
#undef FN
#undef REAL_IS_F32
