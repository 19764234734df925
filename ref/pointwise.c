/* Elementwise family: relu, relu_bwd, softplus, sigmoid, exp, powadd, axpby,
 * mul, fill, const. */
#include "normed.h"
#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#define RX(fn) fn##f
#define REAL_IS_F32 1
#include "pointwise_impl.h"
#undef REAL
#undef FN
#undef RX
#undef REAL_IS_F32

#define REAL double
#define FN(name) name##_f64
#define RX(fn) fn
#define REAL_IS_F32 0
#include "pointwise_impl.h"
#undef REAL
#undef FN
#undef RX
#undef REAL_IS_F32
