/* Convolution family: conv2d, conv2d_bwd_data, conv2d_bwd_filter. */
#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#include "conv_impl.h"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "conv_impl.h"
#undef REAL
#undef FN
