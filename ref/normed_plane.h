/* A plane of a normed input (backend.h normed_input) as the CPU's f32
 * kernels read it: y = (x f [+ o]) r with its channel's scalars, rounded
 * step by step as the centred_scale kernel rounds it (fused_f32.c), or
 * as affine_axis rounds x f + o (r = 1 then, which changes no bit). Kept
 * apart from normed.h so that the channel sums (channel_sums.h) can read
 * a normed second operand without the backend interface. */
#ifndef TSEDARTS_REF_NORMED_PLANE_H
#define TSEDARTS_REF_NORMED_PLANE_H

#include <stddef.h>

#include "simd.h"

/* One plane (one image's channel) of a normed input: y = ((x f [+ o]) r)
 * [g], g the image's drop-path factor. Without one the product is not
 * taken at all (a multiply by 1 would change no bit, but it cost the
 * search step's readers 0.7%). */
typedef struct normed_plane {
    const float *x;
    float f, o, r, g;
    int has_bias, has_g;
} normed_plane;

static inline float normed_value(const normed_plane *p, size_t i)
{
    float v = p->has_bias ? p->x[i] * p->f + p->o : p->x[i] * p->f;
    return p->has_g ? v * p->r * p->g : v * p->r;
}

static inline vf8 normed_vf8(const normed_plane *p, size_t i)
{
    vf8 v = vf8_mul(vf8_load(p->x + i), vf8_set1(p->f));
    if (p->has_bias) v = vf8_add(v, vf8_set1(p->o));
    v = vf8_mul(v, vf8_set1(p->r));
    return p->has_g ? vf8_mul(v, vf8_set1(p->g)) : v;
}

#ifdef SIMD_HAVE_VF16
static inline vf16 normed_vf16(const normed_plane *p, size_t i)
{
    vf16 v = vf16_mul(vf16_load(p->x + i), vf16_set1(p->f));
    if (p->has_bias) v = vf16_add(v, vf16_set1(p->o));
    v = vf16_mul(v, vf16_set1(p->r));
    return p->has_g ? vf16_mul(v, vf16_set1(p->g)) : v;
}
#endif

#endif
