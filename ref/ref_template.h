/* Included by each kernel family file once per element type, after
 * REAL (float or double) and FN(name) (appends _f32 or _f64) are defined.
 * RX(f) picks the float or double libm function. */
#ifndef TSEDARTS_REF_TEMPLATE_H
#define TSEDARTS_REF_TEMPLATE_H
#include <math.h>
#include <string.h>
#include "ref_kernels.h"
#define IN(k) ((const REAL *)a->in[k])
#define OUT ((REAL *)a->out)
#define P (&a->nd->p)
#endif
