/* The CPU's kernels of the fused groups (fusion.h). Max pooling's argmax
 * and gather are the pooling family's (ref/pool_impl.h); the ReLU before a
 * depthwise convolution, never stored, is applied by the depthwise kernels
 * (ref/conv_f32_fast.c, relu_input below); the rest are the batch norms':
 *  - sum_axis(G) then dot_axis(G, Z) (the backward's two statistics): G is
 *    read once for both, both sums in one pass;
 *  - affine_axis(x) = xc then dot_axis(xc, xc) (the forward's centring and
 *    variance): xc is summed as it is made, and when the executor does not
 *    store xc (FUSED_CENTRED_VARIANCE) it never leaves registers;
 *  - scale_axis(xc, r) with xc recomputed from x (FUSED_CENTRED_SCALE);
 *  - a mixed op's share of its node's cotangent, S = w G, never stored:
 *    the backward's statistics and its lincomb_axis recompute it
 *    (FUSED_SCALED_PAIR, FUSED_SCALED_LINCOMB), with the one rounding of
 *    the one-term weighted_sum.
 * The statistics' z and the lincomb's V may be normed inputs (normed.h),
 * made in registers where they are read.
 * Each channel's sums see the same planes in the same order as in the
 * separate kernels (channel_sums.h), and xc is computed as x * f + o with
 * two roundings as there, so the bits are those of the nodes run one after
 * the other, for any thread count. Per-channel results are written after
 * every thread has finished reading: the planner may place them where an
 * input that dies at the first node was. */
#include <stdlib.h>
#include <string.h>

#include "ref_kernels.h"
#include "ref_template.h"
#include "ref_conv_fast.h"
#include "channel_sums.h"
#include "normed.h"

#define REAL float

typedef struct pair_job {
    const float *g, *z;                    /* sum and dot */
    const normed_input *zn;                /* z normed instead (normed.h) */
    float w; int scaled;                   /* ... of w g instead of g */
    const float *x, *sc, *bias; float *xc; /* affine and dot; xc NULL: not stored */
    shape4 s;
} pair_job;

/* Image n, channels [c0, c1), each plane in one pass (plane_add_fused):
 * w g and an unstored xc never leave registers. */
static void pair_image(const void *ctx, int n, int c0, int c1, channel_sums *a, channel_sums *b)
{
    const pair_job *j = ctx;
    size_t hw = (size_t)j->s.h * j->s.w;
    for (int c = c0; c < c1; c++) {
        size_t pl = (size_t)n * j->s.c + c, base = pl * hw;
        normed_plane slot;
        const normed_plane *zn = normed_plane_or_null(j->zn, j->s, pl, &slot);
        /* a call per case: each inlined copy of the pass keeps only its own loads */
        if (j->g && zn && j->scaled)
            plane_add_fused(PASS_SCALED_SUM_DOT, &a[c], &b[c], j->g + base, NULL, zn, j->w, NULL, NULL, hw);
        else if (j->g && zn)
            plane_add_fused(PASS_SUM_DOT, &a[c], &b[c], j->g + base, NULL, zn, 0.0f, NULL, NULL, hw);
        else if (j->g && j->scaled)
            plane_add_fused(PASS_SCALED_SUM_DOT, &a[c], &b[c], j->g + base, j->z + base, NULL, j->w, NULL, NULL, hw);
        else if (j->g)
            plane_add_fused(PASS_SUM_DOT, &a[c], &b[c], j->g + base, j->z + base, NULL, 0.0f, NULL, NULL, hw);
        else
            plane_add_fused(PASS_AFFINE_SQUARE, &a[c], &b[c], j->x + base, NULL, NULL, j->sc[c],
                            j->bias ? j->bias + c : NULL, j->xc ? j->xc + base : NULL, hw);
    }
}

static td_status run_pair_job(pair_job *j, const kernel_args *a, const kernel_args *b)
{
    int C = j->s.c;
    float *res = malloc(2 * (size_t)C * sizeof *res);
    if (!res) return TD_FAIL(TD_ERR_MEMORY, "%s + %s: out of memory", op_name(a->nd->op), op_name(b->nd->op));
    /* the blocks of sum_axis and dot_axis (axis_f32_fast.c) */
    int ok = channel_sums_run(j->s, ref_work(b) >= REF_PARALLEL_MIN, pair_image, j, res, res + C);
    if (ok) {
        if (j->g) memcpy(a->out, res, (size_t)C * sizeof *res);
        memcpy(b->out, res + C, (size_t)C * sizeof *res);
    }
    free(res);
    return ok ? TD_OK : TD_FAIL(TD_ERR_MEMORY, "%s + %s: out of memory", op_name(a->nd->op), op_name(b->nd->op));
}

/* y = (x sc + bias) r per channel: affine_axis then scale_axis, rounded
 * as they round. */
static td_status centred_scale(const kernel_args *a, const kernel_args *b)
{
    shape4 s = b->out_shape;
    const float *x = a->in[0], *sc = a->in[1], *bias = a->nin > 2 ? a->in[2] : NULL, *r = b->in[1];
    float *y = b->out;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
#pragma omp parallel for schedule(static) if (ref_work(b) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        size_t c = pl % (size_t)s.c, i = 0;
        const float *xp = x + pl * hw;
        float *yp = y + pl * hw;
        float f = sc[c], o = bias ? bias[c] : 0.0f, rc = r[c];
        vf8 vf = vf8_set1(f), vo = vf8_set1(o), vr = vf8_set1(rc);
        for (; i + 8 <= hw; i += 8) {
            vf8 v = vf8_mul(vf8_load(xp + i), vf);
            if (bias) v = vf8_add(v, vo);
            vf8_store(yp + i, vf8_mul(v, vr));
        }
        for (; i < hw; i++) {
            float v = bias ? xp[i] * f + o : xp[i] * f;
            yp[i] = v * rc;
        }
    }
    return TD_OK;
}

/* lincomb_axis(S, V, ca, cb, ce) with S = w G recomputed: (fa (w G) +
 * fb V) + fe, rounded as the two kernels round. */
static td_status scaled_lincomb(const kernel_args *share, const kernel_args *lc)
{
    shape4 s = lc->out_shape;
    float w = ((const float *)share->in[0])[graph_node_index(share->g, share->nd)[0]];
    const float *G = share->in[1], *v = lc->in[1], *ca = lc->in[2], *cb = lc->in[3], *ce = lc->in[4];
    const normed_input *vn = normed_in(lc, 1); /* V normed: made in registers */
    float *y = lc->out;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
#pragma omp parallel for schedule(static) if (ref_work(lc) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        size_t c = pl % (size_t)s.c, i = 0, off = pl * hw;
        float fa = ca[c], fb = cb[c], fe = ce[c];
        vf8 vw = vf8_set1(w), va = vf8_set1(fa), vb = vf8_set1(fb), ve = vf8_set1(fe);
        normed_plane slot;
        const normed_plane *p = normed_plane_or_null(vn, lc->in_shape[1], pl, &slot);
        const float *vp = p ? NULL : v + off; /* V stored, or normed (p) */
        for (; i + 8 <= hw; i += 8) {
            vf8 u = vf8_mul(vw, vf8_load(G + off + i));
            vf8 t = vf8_add(vf8_mul(va, u), vf8_mul(vb, z_at8(vp, p, i)));
            vf8_store(y + off + i, vf8_add(t, ve));
        }
        for (; i < hw; i++) {
            float u = w * G[off + i];
            y[off + i] = (fa * u + fb * z_at1(vp, p, i)) + fe;
        }
    }
    return TD_OK;
}

/* FUSED_RELU_CONV and FUSED_RELU_FILTER: b (a depthwise conv2d or its
 * filter gradient) reads relu(x), which is not stored. The depthwise
 * kernels apply the ReLU as they copy each plane; another shape gets
 * relu(x) in a scratch tensor and the plain kernel, the same bits either
 * way. */
static td_status relu_input(const kernel_args *relu, const kernel_args *b)
{
    td_status r;
    if (conv_f32_relu_input(b, relu->in[0], normed_in(relu, 0), &r)) return r;
    float *tmp = malloc(shape_numel(relu->out_shape) * sizeof *tmp + 1);
    if (!tmp) return TD_FAIL(TD_ERR_MEMORY, "relu + %s: out of memory", op_name(b->nd->op));
    kernel_args ra = *relu, ba = *b;
    ra.out = tmp;
    void *in[FUSED_MAX_MEMBER_INPUTS];
    for (int k = 0; k < b->nin; k++) in[k] = b->in[k];
    in[0] = tmp;
    ba.in = in;
    r = ref_relu_f32(&ra);
    if (r == TD_OK) r = b->nd->op == OP_CONV2D ? ref_conv2d_f32(&ba) : ref_conv2d_bwd_filter_f32(&ba);
    free(tmp);
    return r;
}

/* FUSED_RELU_MASK: relu_bwd(relu(x), G) as relu_bwd(x, G); the mask
 * [relu(x) > 0] is [x > 0] for every x, NaN and -0 included. */
static td_status relu_mask(const kernel_args *relu, const kernel_args *b)
{
    void *in[2] = {relu->in[0], b->in[1]};
    normed_input normed[2] = {relu->normed ? relu->normed[0] : (normed_input){0}, {0}};
    kernel_args ba = *b;
    ba.in = in;
    ba.normed = relu->normed ? normed : NULL;
    return ref_relu_bwd_f32(&ba);
}

int ref_fuses(fused_kind kind, dtype dt) { return dt == DT_F32 && kind > FUSED_NONE && kind < FUSED_KIND_END; }

/* The members are as fusion.h declares them; the executor has matched
 * them. */
td_status ref_run_fused(fused_kind kind, const kernel_args *const *m)
{
    const kernel_args *a = m[0], *b = m[1];
    pair_job j;
    memset(&j, 0, sizeof j);
    switch (kind) {
    case FUSED_SUM_DOT: /* sum_axis(G), dot_axis(G, Z) */
        j.s = b->in_shape[0];
        j.g = a->in[0];
        j.z = b->in[1];
        j.zn = normed_in(b, 1);
        return run_pair_job(&j, a, b);
    case FUSED_CENTRED_DOT:      /* affine_axis(x, sc[, bias]) -> xc, dot_axis(xc, xc) */
    case FUSED_CENTRED_VARIANCE: /* the same, xc not stored */
        j.s = b->in_shape[0];
        j.x = a->in[0];
        j.sc = a->in[1];
        j.bias = a->nin > 2 ? a->in[2] : NULL;
        j.xc = kind == FUSED_CENTRED_DOT ? a->out : NULL;
        return run_pair_job(&j, a, b);
    case FUSED_CENTRED_SCALE:
        return centred_scale(a, b);
    case FUSED_SCALED_PAIR: { /* S = w G, sum_axis(S), dot_axis(S, Z) */
        const kernel_args *c = m[2];
        j.s = c->in_shape[0];
        j.g = a->in[1];
        j.w = ((const float *)a->in[0])[graph_node_index(a->g, a->nd)[0]];
        j.scaled = 1;
        j.z = c->in[1];
        j.zn = normed_in(c, 1);
        return run_pair_job(&j, b, c);
    }
    case FUSED_SCALED_LINCOMB:
        return scaled_lincomb(a, b);
    case FUSED_ARGMAX_GATHER: /* maxpool_argmax(x) -> idx, gather_at(x, idx) */
        return ref_maxpool_argmax_gather_f32(a, b);
    case FUSED_RELU_CONV:
    case FUSED_RELU_FILTER:
        return relu_input(a, b);
    case FUSED_RELU_MASK:
        return relu_mask(a, b);
    default:
        return TD_FAIL(TD_ERR_UNSUPPORTED, "cpu backend: no fused kernel %s", fused_kind_name(kind));
    }
}
