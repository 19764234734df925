/* Fast f32 per-channel reductions (sum and dot over N, H, W), the batch
 * statistics of every BN: four accumulators of eight lanes, n-major, then
 * the plane; combined in a fixed order, so results do not depend on
 * threads. */
#include "ref_axis_fast.h"
#include <math.h>
#include <omp.h>

#include "ref_template.h"
#include "simd.h"
#include "channel_sums.h"

#define REAL float

/* Channels [c0, c1): images in order, and inside an image the channels'
 * planes in memory order, so one thread reads one contiguous stretch per
 * image (which the prefetcher follows) instead of one plane per channel
 * and image; every channel still adds its planes n after n. */
#define CHANNELS_AT_ONCE 64
static void reduce_channels(const float *x, const float *z, shape4 s, int c0, int c1, float *y)
{
    size_t hw = (size_t)s.h * s.w;
    channel_sums cs[CHANNELS_AT_ONCE];
    for (int g0 = c0; g0 < c1; g0 += CHANNELS_AT_ONCE) {
        int g1 = g0 + CHANNELS_AT_ONCE < c1 ? g0 + CHANNELS_AT_ONCE : c1;
        memset(cs, 0, sizeof cs);
        for (int n = 0; n < s.n; n++)
            for (int c = g0; c < g1; c++) {
                size_t base = ((size_t)n * s.c + c) * hw;
                plane_add(&cs[c - g0], x + base, z ? z + base : NULL, hw);
            }
        for (int c = g0; c < g1; c++) y[c] = sums_total(&cs[c - g0]);
    }
}

int axis_f32_fast(const kernel_args *a, td_status *result)
{
    op_kind op = a->nd->op;
    if ((op != OP_SUM_AXIS && op != OP_DOT_AXIS) || P->axis != AXIS_C) return 0;
    shape4 s = a->in_shape[0];
    const float *x = IN(0), *z = op == OP_DOT_AXIS ? IN(1) : NULL;
    float *y = OUT;
    int par = ref_work(a) >= REF_PARALLEL_MIN;
    /* one contiguous block of channels per thread (the split changes who
     * computes a channel, never how) */
    int blocks = par ? omp_get_max_threads() : 1;
    if (blocks > s.c) blocks = s.c;
#pragma omp parallel for schedule(static) if (par)
    for (int b = 0; b < blocks; b++) reduce_channels(x, z, s, (int)((long)s.c * b / blocks), (int)((long)s.c * (b + 1) / blocks), y);
    *result = TD_OK;
    return 1;
}
