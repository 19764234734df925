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

/* Below this many elements a parallel region costs more than it saves
 * (and under CPU contention far more), so small tensors run serially.
 * Results are the same either way: only disjoint outputs are split. */
#define REF_PARALLEL_MIN ref_parallel_min
extern size_t ref_parallel_min;

static inline size_t ref_work(const kernel_args *a)
{
    size_t w = shape_numel(a->out_shape);
    for (int k = 0; k < a->nin; k++) {
        size_t n = shape_numel(a->in_shape[k]);
        if (n > w) w = n;
    }
    return w;
}
#endif
