/* Row family: matmul, softmax_rows, log_softmax_rows, pick/place labels. */
#include <stdint.h>

#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#define RX(fn) fn##f
#include "rows_impl.h"
#undef REAL
#undef FN
#undef RX

#define REAL double
#define FN(name) name##_f64
#define RX(fn) fn
#include "rows_impl.h"
#undef REAL
#undef FN
#undef RX
