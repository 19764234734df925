/* Fast f32 per-channel reductions (sum and dot over N, H, W), the batch
 * statistics of every BN: four accumulators of eight lanes, n-major, then
 * the plane; combined in a fixed order, so results do not depend on
 * threads. */
#include "ref_axis_fast.h"
#include <math.h>
#include <omp.h>

#include "ref_template.h"
#include "simd.h"

#define REAL float

/* The running sums of one channel: vector k of a plane (8 values) goes to
 * accumulator k mod 4, so that consecutive adds do not wait on each other;
 * the last hw mod 8 values of a plane go to tail lanes. */
typedef struct channel_sums {
    vf8 acc[4];
    float tail[8];
} channel_sums;

/* Adds one plane (hw values of x, or of x z) to a channel's sums. */
static inline void plane_add(channel_sums *cs, const float *xp, const float *zp, size_t hw)
{
    size_t full = hw / 8 * 8, quad = hw / 32 * 32;
    vf8 a0 = cs->acc[0], a1 = cs->acc[1], a2 = cs->acc[2], a3 = cs->acc[3];
    if (zp) {
        for (size_t i = 0; i < quad; i += 32) {
            a0 = vf8_fma(vf8_load(xp + i), vf8_load(zp + i), a0);
            a1 = vf8_fma(vf8_load(xp + i + 8), vf8_load(zp + i + 8), a1);
            a2 = vf8_fma(vf8_load(xp + i + 16), vf8_load(zp + i + 16), a2);
            a3 = vf8_fma(vf8_load(xp + i + 24), vf8_load(zp + i + 24), a3);
        }
    } else {
        for (size_t i = 0; i < quad; i += 32) {
            a0 = vf8_add(a0, vf8_load(xp + i));
            a1 = vf8_add(a1, vf8_load(xp + i + 8));
            a2 = vf8_add(a2, vf8_load(xp + i + 16));
            a3 = vf8_add(a3, vf8_load(xp + i + 24));
        }
    }
    cs->acc[0] = a0, cs->acc[1] = a1, cs->acc[2] = a2, cs->acc[3] = a3;
    for (size_t i = quad; i < full; i += 8) {
        vf8 v = vf8_load(xp + i);
        cs->acc[(i - quad) / 8] = zp ? vf8_fma(v, vf8_load(zp + i), cs->acc[(i - quad) / 8]) : vf8_add(cs->acc[(i - quad) / 8], v);
    }
    for (size_t i = full; i < hw; i++) cs->tail[i - full] = zp ? fmaf(xp[i], zp[i], cs->tail[i - full]) : cs->tail[i - full] + xp[i];
}

static inline float sums_total(const channel_sums *cs)
{
    const float *t = cs->tail;
    float tail = ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    return vf8_sum(vf8_add(vf8_add(cs->acc[0], cs->acc[1]), vf8_add(cs->acc[2], cs->acc[3]))) + tail;
}

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
