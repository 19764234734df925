/* Pooling family: max (the argmax, the gather at it, the scatter to it),
 * average, global. */
#include "ref_pool_fast.h"
#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#define REAL_IS_F32 1
#include "pool_impl.h"
#undef REAL
#undef FN
#undef REAL_IS_F32

#define REAL double
#define FN(name) name##_f64
#define REAL_IS_F32 0
#include "pool_impl.h"
#undef REAL
#undef FN
#undef REAL_IS_F32
