/* Sum family: weighted_sum, dots, sum_all. */
#include <stdlib.h>

#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#include "sums_impl.h"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "sums_impl.h"
#undef REAL
#undef FN
