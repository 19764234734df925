/* Sum family: weighted_sum, dots, sum_all. */
#include <stdlib.h>

#include "normed.h"
#include "ref_template.h"
#include "simd.h"

#define REAL float
#define FN(name) name##_f32
#define REAL_IS_F32 1
#include "sums_impl.h"
#undef REAL
#undef FN
#undef REAL_IS_F32

#define REAL double
#define FN(name) name##_f64
#define REAL_IS_F32 0
#include "sums_impl.h"
#undef REAL
#undef FN
#undef REAL_IS_F32
