/* Elementwise family: relu, relu_bwd, softplus, sigmoid, exp, powadd, axpby,
 * mul, fill, const. */
#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#define RX(fn) fn##f
#include "pointwise_impl.h"
#undef REAL
#undef FN
#undef RX

#define REAL double
#define FN(name) name##_f64
#define RX(fn) fn
#include "pointwise_impl.h"
#undef REAL
#undef FN
#undef RX
