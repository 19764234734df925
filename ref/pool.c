/* Pooling family: max (with gather/scatter adjoints), average, global. */
#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#include "pool_impl.h"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "pool_impl.h"
#undef REAL
#undef FN
