/* Convolution family: conv2d, conv2d_bwd_data, conv2d_bwd_filter. */
#include "ref_conv_fast.h"
#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#define REAL_IS_F32 1
#include "conv_impl.h"
#undef REAL
#undef FN
#undef REAL_IS_F32

#define REAL double
#define FN(name) name##_f64
#define REAL_IS_F32 0
#include "conv_impl.h"
#undef REAL
#undef FN
#undef REAL_IS_F32
