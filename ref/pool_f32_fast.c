/* Fast f32 paths for the DARTS pooling ops (3x3 windows, padding 1, stride
 * 1 or 2). Planes are copied into a padded buffer so windows need no
 * bounds checks: zeros for averages (a zero tap adds nothing, so sums stay
 * bit-identical to the plain kernels) and -inf for maxima (padding never
 * wins). The argmax is the first maximum in row-major window order, from
 * the window's first in-image pixel, as in the plain kernels; indices are
 * within the unpadded plane. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_pool_fast.h"
#include "ref_template.h"
#include "simd.h"
#include "row_halves.h"

#define REAL float

typedef struct geom {
    int H, W, Ho, Wo, s, Wp, Hp;
} geom;

static int fits(const kernel_args *a, shape4 x, shape4 y, geom *g)
{
    const node_params *p = P;
    op_kind op = a->nd->op;
    if (p->k != 3 || p->pad != 1 || (p->stride != 1 && p->stride != 2) ||
        ((op == OP_AVGPOOL || op == OP_AVGPOOL_BWD) && p->count_pad) || (op == OP_SCATTER_AT && p->stride != 1))
        return 0;
    g->H = x.h;
    g->W = x.w;
    g->Ho = y.h;
    g->Wo = y.w;
    g->s = p->stride;
    g->Wp = x.w + 2;
    g->Hp = x.h + 2;
    return 1;
}

static void fill_floats(float *dst, size_t n, float v)
{
    for (size_t i = 0; i < n; i++) dst[i] = v;
}

/* A plane into the interior of a padded buffer (Hp x Wp) whose border was
 * filled once: every plane of a call leaves the border as it was. */
static void pad_interior(const float *src, const geom *g, float *dst)
{
    for (int h = 0; h < g->H; h++) vf8_copy(dst + (size_t)(h + 1) * g->Wp + 1, src + (size_t)h * g->W, g->W);
}

/* The even and odd columns of a padded plane (Hp x Wh each, Wh = (Wp + 1)
 * / 2; an odd Wp's last odd column is never read): stride-2 windows then
 * read contiguous memory, column 2 ow + kw at (kw odd ? od : ev)[ow + kw / 2]. */
static void split_plane(const float *xp, const geom *g, float *ev, float *od)
{
    int Wh = (g->Wp + 1) / 2;
    for (int h = 0; h < g->Hp; h++) {
        od[(size_t)h * Wh + Wh - 1] = 0.0f;
        unzip_row(xp + (size_t)h * g->Wp, g->Wp, ev + (size_t)h * Wh, od + (size_t)h * Wh);
    }
}

static inline const float *half_tap(const float *ev, const float *od, int Wh, int row, int kw)
{
    return ((kw & 1) ? od : ev) + (size_t)row * Wh + kw / 2;
}

/* Number of in-image pixels of output (oh, ow)'s window. */
static inline float window_count(const geom *g, int oh, int ow)
{
    int h0 = oh * g->s - 1, w0 = ow * g->s - 1;
    int hs = (h0 < 0 ? 0 : h0), he = (h0 + 3 > g->H ? g->H : h0 + 3);
    int ws = (w0 < 0 ? 0 : w0), we = (w0 + 3 > g->W ? g->W : w0 + 3);
    return (float)((he - hs) * (we - ws));
}

/* Window sizes of every output (Ho x Wo), for the averages. */
static void window_counts(const geom *g, float *cnt)
{
    for (int oh = 0; oh < g->Ho; oh++)
        for (int ow = 0; ow < g->Wo; ow++) cnt[oh * g->Wo + ow] = window_count(g, oh, ow);
}

/* The mean of each window: its sum in row-major tap order, divided by
 * cnt. */
static void window_mean(const float *xp, const geom *g, const float *cnt, float *y, float *ev, float *od)
{
    int Wh = (g->Wp + 1) / 2;
    if (g->s == 2 && g->Wo >= 8) split_plane(xp, g, ev, od);
    for (int oh = 0; oh < g->Ho; oh++) {
        const float *r0 = xp + (size_t)(oh * g->s) * g->Wp;
        float *yr = y + (size_t)oh * g->Wo;
        int ow = 0;
#ifdef SIMD_HAVE_VF16
        /* sixteen windows at once, each summed in the same tap order */
        for (; ow + 16 <= g->Wo; ow += 16) {
            vf16 acc = vf16_zero();
            for (int t = 0; t < 9; t++)
                acc = vf16_add(acc, vf16_load(g->s == 2 ? half_tap(ev, od, Wh, 2 * oh + t / 3, t % 3) + ow
                                                        : r0 + (size_t)(t / 3) * g->Wp + ow + t % 3));
            vf16_store(yr + ow, acc);
        }
#endif
        if (g->s == 2 && g->Wo >= 8) {
            for (; ow + 8 <= g->Wo; ow += 8) {
                vf8 acc = vf8_zero();
                for (int t = 0; t < 9; t++)
                    acc = vf8_add(acc, vf8_load(half_tap(ev, od, Wh, 2 * oh + t / 3, t % 3) + ow));
                vf8_store(yr + ow, acc);
            }
        }
        if (g->s == 1) {
            for (; ow + 8 <= g->Wo; ow += 8) {
                vf8 acc = vf8_zero();
                for (int kh = 0; kh < 3; kh++)
                    for (int kw = 0; kw < 3; kw++) acc = vf8_add(acc, vf8_load(r0 + (size_t)kh * g->Wp + ow + kw));
                vf8_store(yr + ow, acc);
            }
        }
        for (; ow < g->Wo; ow++) {
            const float *w0 = r0 + (size_t)ow * g->s;
            float acc = 0.0f;
            for (int t = 0; t < 9; t++) acc += w0[(size_t)(t / 3) * g->Wp + t % 3];
            yr[ow] = acc;
        }
        const float *cr = cnt + (size_t)oh * g->Wo;
        for (int o = 0; o < g->Wo; o++) yr[o] = yr[o] / cr[o];
    }
}

/* The first maximum of output (oh, ow)'s window from tap t0 on, as an
 * index within the unpadded plane (xp is padded), and its value. */
static inline int first_max_from(const float *xp, const geom *g, int oh, int ow, int t0, float *value)
{
    size_t corner = (size_t)(oh * g->s) * g->Wp + (size_t)ow * g->s;
    int corner_u = (oh * g->s - 1) * g->W + ow * g->s - 1, best = t0;
    float bv = xp[corner + (size_t)(t0 / 3) * g->Wp + t0 % 3];
    for (int t = t0 + 1; t < 9; t++) { /* selects, not branches: which tap wins is data */
        float v = xp[corner + (size_t)(t / 3) * g->Wp + t % 3];
        int gt = v > bv;
        bv = gt ? v : bv;
        best = gt ? t : best;
    }
    *value = bv;
    return corner_u + (best / 3) * g->W + best % 3;
}

/* Index (within the unpadded plane) of each output's first maximum: a
 * later tap replaces the best only when strictly greater; with ymax, the
 * maximum too (the best tap's bits, so x at the index). The vectors track
 * the best tap's offset from the window's corner, the corner added once at
 * the end. Every window starts at its top-left tap, which is padding in the
 * first row and column of outputs: from there the scan is the plain
 * kernels' (which start at the first in-image pixel) unless that pixel is
 * NaN or -inf, and those windows are done again from it. */
static void argmax_plane(const float *xp, const geom *g, int32_t *idx, float *ymax, float *ev, float *od)
{
    int Wh = (g->Wp + 1) / 2;
    vi8 tap[9]; /* lane j's offset of tap t from output ow's corner: ow + j is j (stride 1) or 2 j (stride 2) apart */
    for (int t = 0; t < 9; t++) tap[t] = g->s == 1 ? vi8_ramp((t / 3) * g->W + t % 3) : vi8_ramp2((t / 3) * g->W + t % 3);
#ifdef SIMD_HAVE_VF16
    vi16 tap16[9]; /* the same, sixteen lanes */
    for (int t = 0; t < 9; t++) tap16[t] = vi16_ramp_step((t / 3) * g->W + t % 3, g->s);
#endif
    if (g->s == 2 && g->Wo >= 8) split_plane(xp, g, ev, od);
    for (int oh = 0; oh < g->Ho; oh++) {
        int ow = 0;
#ifdef SIMD_HAVE_VF16
        /* sixteen outputs at once: each lane compares and selects as a lane
         * of the 8-wide code does */
        for (; ow + 16 <= g->Wo; ow += 16) {
            const float *corner = g->s == 2 ? NULL : xp + (size_t)oh * g->Wp + ow;
            vf16 bv = vf16_load(g->s == 2 ? half_tap(ev, od, Wh, 2 * oh, 0) + ow : corner);
            vi16 bi = tap16[0];
            for (int t = 1; t < 9; t++) {
                vf16 v = vf16_load(g->s == 2 ? half_tap(ev, od, Wh, 2 * oh + t / 3, t % 3) + ow
                                             : corner + (size_t)(t / 3) * g->Wp + t % 3);
                vm16 gt = vf16_gt(v, bv);
                bv = vf16_select(gt, v, bv);
                bi = vi16_select(gt, tap16[t], bi);
            }
            vi16_store(idx + oh * g->Wo + ow, vi16_add(bi, (g->s * oh - 1) * g->W + g->s * ow - 1));
            if (ymax) vf16_store(ymax + oh * g->Wo + ow, bv);
        }
#endif
        if (g->s == 2 && g->Wo >= 8) {
            for (; ow + 8 <= g->Wo; ow += 8) {
                vf8 bv = vf8_load(half_tap(ev, od, Wh, 2 * oh, 0) + ow);
                vi8 bi = tap[0];
                for (int t = 1; t < 9; t++) {
                    vf8 v = vf8_load(half_tap(ev, od, Wh, 2 * oh + t / 3, t % 3) + ow);
                    vf8 gt = vf8_gt(v, bv);
                    bv = vf8_select(gt, v, bv);
                    bi = vi8_select(gt, tap[t], bi);
                }
                vi8_store(idx + oh * g->Wo + ow, vi8_add(bi, (2 * oh - 1) * g->W + 2 * ow - 1));
                if (ymax) vf8_store(ymax + oh * g->Wo + ow, bv);
            }
        }
        if (g->s == 1) {
            for (; ow + 8 <= g->Wo; ow += 8) {
                const float *corner = xp + (size_t)oh * g->Wp + ow;
                vf8 bv = vf8_load(corner);
                vi8 bi = tap[0];
                for (int t = 1; t < 9; t++) {
                    vf8 v = vf8_load(corner + (size_t)(t / 3) * g->Wp + t % 3);
                    vf8 gt = vf8_gt(v, bv);
                    bv = vf8_select(gt, v, bv);
                    bi = vi8_select(gt, tap[t], bi);
                }
                vi8_store(idx + oh * g->Wo + ow, vi8_add(bi, (oh - 1) * g->W + ow - 1));
                if (ymax) vf8_store(ymax + oh * g->Wo + ow, bv);
            }
        }
        for (; ow < g->Wo; ow++) {
            float m;
            idx[oh * g->Wo + ow] = first_max_from(xp, g, oh, ow, 0, &m);
            if (ymax) ymax[oh * g->Wo + ow] = m;
        }
    }
    /* the first in-image tap: row 1 in the first output row, column 1 in
     * the first output column */
    for (int o = 0; o < g->Wo + g->Ho - 1; o++) {
        int oh = o < g->Wo ? 0 : o - g->Wo + 1, ow = o < g->Wo ? o : 0, t0 = (oh == 0 ? 3 : 0) + (ow == 0);
        size_t first = (size_t)(oh * g->s + t0 / 3) * g->Wp + (size_t)ow * g->s + t0 % 3;
        if (xp[first] > -INFINITY) continue; /* not NaN, not -inf: the scan from the corner was right */
        float m;
        idx[oh * g->Wo + ow] = first_max_from(xp, g, oh, ow, t0, &m);
        if (ymax) ymax[oh * g->Wo + ow] = m;
    }
}

/* Stride-1 scatter_at as a gather: dx at index p sums, in the row-major
 * order of the outputs (the order of the plain scatter, so the same bits:
 * the added zeros change nothing), the gradients of the nine outputs
 * around it whose index is p. idx and gr are padded by one output on each
 * side (index -1 there, gradient 0). */
static void scatter_as_gather(const int32_t *idxp, const float *grp, const geom *g, float *dx)
{
    int Wq = g->Wo + 2;
    for (int ih = 0; ih < g->H; ih++) {
        float *xr = dx + (size_t)ih * g->W;
        int iw = 0;
#ifdef SIMD_HAVE_VF16
        for (; iw + 16 <= g->W; iw += 16) {
            vi16 here = vi16_ramp_step(ih * g->W + iw, 1);
            vf16 acc = vf16_zero();
            for (int t = 0; t < 9; t++) {
                size_t o = (size_t)(ih + t / 3) * Wq + iw + t % 3;
                acc = vf16_add(acc, vf16_where_eq(vi16_load(idxp + o), here, vf16_load(grp + o)));
            }
            vf16_store(xr + iw, acc);
        }
#endif
        for (; iw + 8 <= g->W; iw += 8) {
            vi8 here = vi8_ramp(ih * g->W + iw);
            vf8 acc = vf8_zero();
            for (int t = 0; t < 9; t++) {
                size_t o = (size_t)(ih + t / 3) * Wq + iw + t % 3; /* output (ih - 1 + t/3, iw - 1 + t%3) */
                acc = vf8_add(acc, vf8_select(vi8_eq(vi8_load(idxp + o), here), vf8_load(grp + o), vf8_zero()));
            }
            vf8_store(xr + iw, acc);
        }
        for (; iw < g->W; iw++) {
            int here = ih * g->W + iw;
            float acc = 0;
            for (int t = 0; t < 9; t++) {
                size_t o = (size_t)(ih + t / 3) * Wq + iw + t % 3;
                acc += idxp[o] == here ? grp[o] : 0.0f;
            }
            xr[iw] = acc;
        }
    }
}

/* max_out: with maxpool_argmax, where the maxima go too (gather_at fused
 * in), or NULL. */
static td_status run_planes(const kernel_args *a, const geom *g, int nplanes, int kind, float *max_out)
{
    int failed = 0;
    size_t padded_out = (size_t)(g->Ho + 2) * (g->Wo + 2);
    float *cnt = malloc((size_t)g->Ho * g->Wo * sizeof *cnt);
    if (!cnt) return TD_FAIL(TD_ERR_MEMORY, "%s: out of memory", op_name(a->nd->op));
    window_counts(g, cnt);
#pragma omp parallel if (ref_work(a) >= REF_PARALLEL_MIN)
    {
        float *buf = malloc((size_t)g->Hp * g->Wp * sizeof *buf);
        int Wh = (g->Wp + 1) / 2;
        float *ev = malloc((size_t)g->Hp * Wh * sizeof *ev), *od = malloc((size_t)g->Hp * Wh * sizeof *od);
        float *pad2 = malloc((size_t)(g->Hp * g->Wp > (int)padded_out ? g->Hp * g->Wp : (int)padded_out) * sizeof *pad2);
        int32_t *idxp = malloc(padded_out * sizeof *idxp);
        if (!buf || !pad2 || !idxp || !ev || !od) failed = 1;
        /* borders, once per call: -inf for maxima, 0 for sums, index -1 */
        size_t padded_in = (size_t)g->Hp * g->Wp;
        if (buf) fill_floats(buf, padded_in, kind == OP_MAXPOOL_ARGMAX ? -INFINITY : 0.0f);
        if (pad2) fill_floats(pad2, padded_in > padded_out ? padded_in : padded_out, 0.0f);
        if (idxp)
            for (size_t o = 0; o < padded_out; o++) idxp[o] = -1;
#pragma omp for schedule(static)
        for (int pl = 0; pl < nplanes; pl++) {
            if (!buf || !pad2 || !idxp || !ev || !od) continue;
            size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
            /* the forward's next plane asked for while this one is copied
             * and scanned (maximum 0.110 -> 0.104 s, mean 0.072 -> 0.068 s
             * per step at batch 64; the backward gained nothing) */
            if (pl + 1 < nplanes && (kind == OP_AVGPOOL || kind == OP_MAXPOOL_ARGMAX))
                prefetch_lines(IN(0) + (pl + 1) * in_plane, in_plane * sizeof(float));
            switch (kind) {
            case OP_AVGPOOL:
                pad_interior(IN(0) + pl * in_plane, g, buf);
                window_mean(buf, g, cnt, OUT + pl * out_plane, ev, od);
                break;
            case OP_MAXPOOL_ARGMAX: {
                const float *xp = IN(0) + pl * in_plane;
                int32_t *idx = (int32_t *)a->out + pl * out_plane;
                pad_interior(xp, g, buf);
                argmax_plane(buf, g, idx, max_out ? max_out + pl * out_plane : NULL, ev, od);
                break;
            }
            case OP_SCATTER_AT: { /* stride 1 only (fits) */
                const float *gr = IN(0) + pl * out_plane;
                const int32_t *idx = (const int32_t *)a->in[1] + pl * out_plane;
                int Wq = g->Wo + 2;
                for (int oh = 0; oh < g->Ho; oh++) {
                    memcpy(idxp + (size_t)(oh + 1) * Wq + 1, idx + (size_t)oh * g->Wo, (size_t)g->Wo * sizeof *idxp);
                    vf8_copy(pad2 + (size_t)(oh + 1) * Wq + 1, gr + (size_t)oh * g->Wo, g->Wo);
                }
                scatter_as_gather(idxp, pad2, g, OUT + pl * in_plane);
                break;
            }
            case OP_AVGPOOL_BWD: {
                /* q = g / count, then each dx sums the q of the windows that
                 * hold it, in the (oh, ow) order of the plain scatter. */
                const float *gr = IN(0) + pl * out_plane;
                float *dx = OUT + pl * in_plane;
                if (g->s == 1) {
                    /* the interior is overwritten whole; the border stays 0 */
                    for (int oh = 0; oh < g->Ho; oh++)
                        for (int ow = 0; ow < g->Wo; ow++)
                            buf[(size_t)(oh + 1) * g->Wp + ow + 1] = gr[oh * g->Wo + ow] / cnt[oh * g->Wo + ow];
                    for (int ih = 0; ih < g->H; ih++) {
                        float *xr = dx + (size_t)ih * g->W;
                        int iw = 0;
#ifdef SIMD_HAVE_VF16
                        for (; iw + 16 <= g->W; iw += 16) {
                            vf16 acc = vf16_zero();
                            for (int t = 0; t < 9; t++)
                                acc = vf16_add(acc, vf16_load(buf + (size_t)(ih + t / 3) * g->Wp + iw + t % 3));
                            vf16_store(xr + iw, acc);
                        }
#endif
                        for (; iw + 8 <= g->W; iw += 8) {
                            vf8 acc = vf8_zero();
                            for (int t = 0; t < 9; t++)
                                acc = vf8_add(acc, vf8_load(buf + (size_t)(ih + t / 3) * g->Wp + iw + t % 3));
                            vf8_store(xr + iw, acc);
                        }
                        for (; iw < g->W; iw++) {
                            float acc = 0;
                            for (int t = 0; t < 9; t++) acc += buf[(size_t)(ih + t / 3) * g->Wp + iw + t % 3];
                            xr[iw] = acc;
                        }
                    }
                } else {
                    memset(pad2, 0, (size_t)g->Hp * g->Wp * sizeof *pad2);
                    for (int oh = 0; oh < g->Ho; oh++)
                        for (int ow = 0; ow < g->Wo; ow++) {
                            float v = gr[oh * g->Wo + ow] / cnt[oh * g->Wo + ow];
                            float *w0 = pad2 + (size_t)(oh * 2) * g->Wp + ow * 2;
                            for (int t = 0; t < 9; t++) w0[(size_t)(t / 3) * g->Wp + t % 3] += v;
                        }
                    for (int h = 0; h < g->H; h++)
                        memcpy(dx + (size_t)h * g->W, pad2 + (size_t)(h + 1) * g->Wp + 1, (size_t)g->W * sizeof *dx);
                }
                break;
            }
            default:
                break;
            }
        }
        free(buf);
        free(pad2);
        free(idxp);
        free(ev);
        free(od);
    }
    free(cnt);
    return failed ? TD_FAIL(TD_ERR_MEMORY, "%s: out of memory", op_name(a->nd->op)) : TD_OK;
}

/* x and the pooled y of a node of the family. */
static void node_shapes(const kernel_args *a, shape4 *x, shape4 *y)
{
    int backward = a->nd->op == OP_AVGPOOL_BWD || a->nd->op == OP_SCATTER_AT;
    *x = backward ? a->out_shape : a->in_shape[0];
    *y = backward ? a->in_shape[0] : a->out_shape;
}

int pool_f32_fast(const kernel_args *a, td_status *result)
{
    shape4 x, y;
    node_shapes(a, &x, &y);
    geom g;
    if (!fits(a, x, y, &g)) return 0;
    *result = run_planes(a, &g, x.n * x.c, a->nd->op, NULL);
    return 1;
}

int pool_f32_fast_argmax(const kernel_args *a, float *y, td_status *result)
{
    geom g;
    if (!fits(a, a->in_shape[0], a->out_shape, &g)) return 0;
    *result = run_planes(a, &g, a->in_shape[0].n * a->in_shape[0].c, OP_MAXPOOL_ARGMAX, y);
    return 1;
}
