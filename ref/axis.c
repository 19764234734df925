/* Axis family: sum/dot/bcast/scale/affine along N or C, and the batch-norm
 * running-statistics update. */
#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#include "axis_impl.h"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "axis_impl.h"
#undef REAL
#undef FN
