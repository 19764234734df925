/* Dirichlet family: dirichlet_rows, dirichlet_grad. */
#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#include "dirichlet_impl.h"
#undef REAL
#undef FN

#define REAL double
#define FN(name) name##_f64
#include "dirichlet_impl.h"
#undef REAL
#undef FN
