/* Running per-channel sums of f32 planes (batch-norm statistics), shared
 * by the channel reductions and the fused kernels that must give their
 * exact bits. */
#ifndef TSEDARTS_REF_CHANNEL_SUMS_H
#define TSEDARTS_REF_CHANNEL_SUMS_H

#include <math.h>
#include <stddef.h>

#include "normed_plane.h"
#include "simd.h"
#include "tsedarts/tensor.h"

/* The running sums of one channel: vector k of a plane (8 values) goes to
 * accumulator k mod 4, so that consecutive adds do not wait on each other;
 * the last hw mod 8 values of a plane go to tail lanes. */
typedef struct channel_sums {
    vf8 acc[4];
    float tail[8];
} channel_sums;

/* z (a second operand) at i: stored at zp, or normed (zn) and made in registers. */
static inline vf8 z_at8(const float *zp, const normed_plane *zn, size_t i)
{
    return zn ? normed_vf8(zn, i) : vf8_load(zp + i);
}

static inline float z_at1(const float *zp, const normed_plane *zn, size_t i)
{
    return zn ? normed_value(zn, i) : zp[i];
}

/* Adds one plane (hw values of x, or of x z; z stored at zp or normed,
 * zn) to a channel's sums. */
static inline void plane_add(channel_sums *cs, const float *xp, const float *zp, const normed_plane *zn, size_t hw)
{
    size_t full = hw / 8 * 8, quad = hw / 32 * 32;
    vf8 a0 = cs->acc[0], a1 = cs->acc[1], a2 = cs->acc[2], a3 = cs->acc[3];
    if (zp || zn) {
        for (size_t i = 0; i < quad; i += 32) {
            a0 = vf8_fma(vf8_load(xp + i), z_at8(zp, zn, i), a0);
            a1 = vf8_fma(vf8_load(xp + i + 8), z_at8(zp, zn, i + 8), a1);
            a2 = vf8_fma(vf8_load(xp + i + 16), z_at8(zp, zn, i + 16), a2);
            a3 = vf8_fma(vf8_load(xp + i + 24), z_at8(zp, zn, i + 24), a3);
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
        cs->acc[(i - quad) / 8] = zp || zn ? vf8_fma(v, z_at8(zp, zn, i), cs->acc[(i - quad) / 8]) : vf8_add(cs->acc[(i - quad) / 8], v);
    }
    for (size_t i = full; i < hw; i++)
        cs->tail[i - full] = zp || zn ? fmaf(xp[i], z_at1(zp, zn, i), cs->tail[i - full]) : cs->tail[i - full] + xp[i];
}

/* What a fused pass sums (plane_add_fused). */
typedef enum plane_pass {
    PASS_SUM_DOT,        /* a += x, b += x z */
    PASS_SCALED_SUM_DOT, /* v = w x (rounded): a += v, b += v z */
    PASS_AFFINE_SQUARE   /* v = x w + o, or x w without o (each step rounded), stored to out when out is set: b += v v */
} plane_pass;

/* Term j of a fused pass (the value v of plane_pass). */
static inline vf8 pass_value8(plane_pass pass, vf8 x, vf8 w, vf8 o, int has_o)
{
    if (pass == PASS_SCALED_SUM_DOT) return vf8_mul(w, x);
    if (pass == PASS_AFFINE_SQUARE) return has_o ? vf8_add(vf8_mul(x, w), o) : vf8_mul(x, w);
    return x;
}

static inline float pass_value1(plane_pass pass, float x, float w, float o, int has_o)
{
    if (pass == PASS_SCALED_SUM_DOT) return w * x;
    if (pass == PASS_AFFINE_SQUARE) return has_o ? x * w + o : x * w;
    return x;
}

/* One pass over a plane for both sums of a batch norm's statistics: every
 * lane of a and b takes the same terms in the same order, with the same
 * roundings, as plane_add called for a and then for b on a stored v, so
 * the bits are those; the two chains of dependent adds run side by side,
 * and v never leaves registers unless out asks for it. */
static inline __attribute__((always_inline)) void plane_add_fused(plane_pass pass, channel_sums *a, channel_sums *b,
                                                                  const float *xp, const float *zp,
                                                                  const normed_plane *zn, float w, const float *o,
                                                                  float *out, size_t hw)
{
    size_t full = hw / 8 * 8, quad = hw / 32 * 32;
    int has_o = o != NULL, sums_a = pass != PASS_AFFINE_SQUARE;
    vf8 vw = vf8_set1(w), vo = vf8_set1(has_o ? *o : 0.0f);
    vf8 a0 = a->acc[0], a1 = a->acc[1], a2 = a->acc[2], a3 = a->acc[3];
    vf8 b0 = b->acc[0], b1 = b->acc[1], b2 = b->acc[2], b3 = b->acc[3];
    for (size_t i = 0; i < quad; i += 32) {
        vf8 v0 = pass_value8(pass, vf8_load(xp + i), vw, vo, has_o);
        vf8 v1 = pass_value8(pass, vf8_load(xp + i + 8), vw, vo, has_o);
        vf8 v2 = pass_value8(pass, vf8_load(xp + i + 16), vw, vo, has_o);
        vf8 v3 = pass_value8(pass, vf8_load(xp + i + 24), vw, vo, has_o);
        if (out) {
            vf8_store(out + i, v0);
            vf8_store(out + i + 8, v1);
            vf8_store(out + i + 16, v2);
            vf8_store(out + i + 24, v3);
        }
        if (sums_a) {
            a0 = vf8_add(a0, v0);
            a1 = vf8_add(a1, v1);
            a2 = vf8_add(a2, v2);
            a3 = vf8_add(a3, v3);
            b0 = vf8_fma(v0, z_at8(zp, zn, i), b0);
            b1 = vf8_fma(v1, z_at8(zp, zn, i + 8), b1);
            b2 = vf8_fma(v2, z_at8(zp, zn, i + 16), b2);
            b3 = vf8_fma(v3, z_at8(zp, zn, i + 24), b3);
        } else {
            b0 = vf8_fma(v0, v0, b0);
            b1 = vf8_fma(v1, v1, b1);
            b2 = vf8_fma(v2, v2, b2);
            b3 = vf8_fma(v3, v3, b3);
        }
    }
    a->acc[0] = a0, a->acc[1] = a1, a->acc[2] = a2, a->acc[3] = a3;
    b->acc[0] = b0, b->acc[1] = b1, b->acc[2] = b2, b->acc[3] = b3;
    for (size_t i = quad; i < full; i += 8) {
        size_t k = (i - quad) / 8;
        vf8 v = pass_value8(pass, vf8_load(xp + i), vw, vo, has_o);
        if (out) vf8_store(out + i, v);
        if (sums_a) {
            a->acc[k] = vf8_add(a->acc[k], v);
            b->acc[k] = vf8_fma(v, z_at8(zp, zn, i), b->acc[k]);
        } else {
            b->acc[k] = vf8_fma(v, v, b->acc[k]);
        }
    }
    for (size_t i = full; i < hw; i++) {
        float v = pass_value1(pass, xp[i], w, has_o ? *o : 0.0f, has_o);
        if (out) out[i] = v;
        if (sums_a) {
            a->tail[i - full] = a->tail[i - full] + v;
            b->tail[i - full] = fmaf(v, z_at1(zp, zn, i), b->tail[i - full]);
        } else {
            b->tail[i - full] = fmaf(v, v, b->tail[i - full]);
        }
    }
}

/* Adds a block's running sums into another's, lane by lane. */
static inline void sums_merge(channel_sums *into, const channel_sums *from)
{
    for (int k = 0; k < 4; k++) into->acc[k] = vf8_add(into->acc[k], from->acc[k]);
    for (int i = 0; i < 8; i++) into->tail[i] += from->tail[i];
}

static inline float sums_total(const channel_sums *cs)
{
    const float *t = cs->tail;
    float tail = ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    return vf8_sum(vf8_add(vf8_add(cs->acc[0], cs->acc[1]), vf8_add(cs->acc[2], cs->acc[3]))) + tail;
}

/* Adds the planes of image n, channels [c0, c1), to a[c] (and b[c] when a
 * second sum is kept); a and b are indexed by channel. */
typedef void (*image_sums_fn)(const void *ctx, int n, int c0, int c1, channel_sums *a, channel_sums *b);

/* Runs add over every image and channel of shape s, in parallel when par
 * is set, by blocks of images (channel_sums.c): each channel's planes are
 * summed image after image from zero in each block, the blocks merged
 * lane by lane in block order, then the lanes added (sums_total). Writes
 * each channel's totals to first[c] (and second[c] when second is not
 * NULL) after every plane has been read. Returns 0 only when out of
 * memory. */
int channel_sums_run(shape4 s, int par, image_sums_fn add, const void *ctx, float *first, float *second);

#endif
