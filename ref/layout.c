/* Layout family: concat_channels, slice_channels, crop, uncrop. */
#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#include "layout_impl.h"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "layout_impl.h"
#undef REAL
#undef FN
