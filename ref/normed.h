/* Normed inputs (backend.h normed_input) in the CPU's f32 kernels: a batch
 * norm's output y that is not stored, read as y = (x sc [+ bias]) r of its
 * channel, rounded step by step as the centred_scale kernel that would
 * have stored it rounds (fused_f32.c), so a kernel reading y so gives the
 * bits it gives on y stored. */
#ifndef TSEDARTS_REF_NORMED_H
#define TSEDARTS_REF_NORMED_H

#include <stddef.h>

#include "normed_plane.h"
#include "tsedarts/backend.h"

/* Input k's normed_input, or NULL where that input is stored. */
static inline const normed_input *normed_in(const kernel_args *a, int k)
{
    return a->normed && a->normed[k].x ? &a->normed[k] : NULL;
}

/* Plane pl (image pl / C, channel pl % C) of a normed input shaped s. */
static inline normed_plane normed_plane_at(const normed_input *ni, shape4 s, size_t pl)
{
    size_t c = pl % (size_t)s.c, n = pl / (size_t)s.c, hw = (size_t)s.h * s.w;
    /* no r (an affine batch norm's y = xc a + beta): 1, which changes no
     * bit */
    normed_plane p = {(const float *)ni->x + pl * hw,
                      ((const float *)ni->sc)[c],
                      ni->bias ? ((const float *)ni->bias)[c] : 0.0f,
                      ni->r ? ((const float *)ni->r)[c] : 1.0f,
                      ni->img ? ((const float *)ni->img)[n] : 1.0f,
                      ni->bias != NULL,
                      ni->img != NULL};
    return p;
}

/* Plane pl of ni in *slot, or NULL where the input is stored (ni NULL). */
static inline const normed_plane *normed_plane_or_null(const normed_input *ni, shape4 s, size_t pl, normed_plane *slot)
{
    if (!ni) return NULL;
    *slot = normed_plane_at(ni, s, pl);
    return slot;
}

/* buf[0 .. n) = elements [lo, lo + n) of a normed input shaped s (any
 * span of planes). */
void normed_fill(const normed_input *ni, shape4 s, size_t lo, size_t n, float *buf);

/* Which inputs the CPU's kernels read as normed inputs (backend.h
 * reads_normed): the terms of a weighted sum (a mixed op's, or a cell
 * node's two) and of dots (the alphas' gradient), the second input of
 * dot_axis and of lincomb_axis over channels (a batch norm's backward
 * statistic and input gradient, fused or not), the input of relu and
 * relu_bwd (alone, or the unstored ReLU that a depthwise convolution, its
 * filter gradient or its mask applies) and the input of scale_axis over
 * images (a drop path); f32 only. */
int ref_reads_normed(const node *nd, int k, dtype dt);

/* Fails unless every normed input of a (a node run alone, or member q of
 * a fused group of that kind) is one its kernel reads so: a plan that
 * asked reads_normed never gets here. */
td_status ref_check_normed(fused_kind kind, int q, const kernel_args *a);

/* dst[0 .. hw) = relu of plane pl of a normed input shaped s, compared as
 * the relu kernel compares (x > 0 ? x : 0). */
void normed_relu_plane(const normed_input *ni, shape4 s, size_t pl, float *dst);

/* The f32 kernels with normed inputs (normed_f32.c). */
td_status ref_weighted_sum_normed_f32(const kernel_args *a);
td_status ref_lincomb_axis_normed_f32(const kernel_args *a);
td_status ref_relu_normed_f32(const kernel_args *a);
td_status ref_relu_bwd_normed_f32(const kernel_args *a);
td_status ref_scale_axis_normed_f32(const kernel_args *a);

#endif
