/* Fast f32 per-channel reductions (sum and dot over N, H, W), the batch
 * statistics of every BN: four accumulators of eight lanes, n-major, then
 * the plane; combined in a fixed order, so results do not depend on
 * threads. */
#include "ref_axis_fast.h"
#include <math.h>

#include "ref_template.h"
#include "simd.h"

#define REAL float

/* Four vector accumulators, so that consecutive adds do not wait on each
 * other: vector k of a plane (8 values) goes to accumulator k mod 4. */
static float channel_reduce(const float *x, const float *z, shape4 s, int c)
{
    size_t hw = (size_t)s.h * s.w, full = hw / 8 * 8, quad = hw / 32 * 32;
    vf8 acc[4] = {vf8_zero(), vf8_zero(), vf8_zero(), vf8_zero()};
    float tail[8] = {0};
    for (int n = 0; n < s.n; n++) {
        size_t base = ((size_t)n * s.c + c) * hw;
        const float *xp = x + base, *zp = z ? z + base : NULL;
        if (zp) {
            for (size_t i = 0; i < quad; i += 32)
                for (int k = 0; k < 4; k++) acc[k] = vf8_fma(vf8_load(xp + i + 8 * k), vf8_load(zp + i + 8 * k), acc[k]);
            for (size_t i = quad; i < full; i += 8) acc[(i - quad) / 8] = vf8_fma(vf8_load(xp + i), vf8_load(zp + i), acc[(i - quad) / 8]);
            for (size_t i = full; i < hw; i++) tail[i - full] = fmaf(xp[i], zp[i], tail[i - full]);
        } else {
            for (size_t i = 0; i < quad; i += 32)
                for (int k = 0; k < 4; k++) acc[k] = vf8_add(acc[k], vf8_load(xp + i + 8 * k));
            for (size_t i = quad; i < full; i += 8) acc[(i - quad) / 8] = vf8_add(acc[(i - quad) / 8], vf8_load(xp + i));
            for (size_t i = full; i < hw; i++) tail[i - full] += xp[i];
        }
    }
    float t = ((tail[0] + tail[4]) + (tail[2] + tail[6])) + ((tail[1] + tail[5]) + (tail[3] + tail[7]));
    return vf8_sum(vf8_add(vf8_add(acc[0], acc[1]), vf8_add(acc[2], acc[3]))) + t;
}

int axis_f32_fast(const kernel_args *a, td_status *result)
{
    op_kind op = a->nd->op;
    if ((op != OP_SUM_AXIS && op != OP_DOT_AXIS) || P->axis != AXIS_C) return 0;
    shape4 s = a->in_shape[0];
    const float *x = IN(0), *z = op == OP_DOT_AXIS ? IN(1) : NULL;
    float *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int c = 0; c < s.c; c++) y[c] = channel_reduce(x, z, s, c);
    *result = TD_OK;
    return 1;
}
