/* Running per-channel sums of f32 planes (batch-norm statistics), shared
 * by the channel reductions and the fused kernels that must give their
 * exact bits. */
#ifndef TSEDARTS_REF_CHANNEL_SUMS_H
#define TSEDARTS_REF_CHANNEL_SUMS_H

#include <math.h>
#include <stddef.h>

#include "simd.h"

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

#endif
