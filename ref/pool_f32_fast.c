/* Fast f32 paths for the DARTS pooling ops (3x3 windows, padding 1, stride
 * 1 or 2). Planes are copied into a padded buffer so windows need no
 * bounds checks: zeros for averages (a zero tap adds nothing, so sums stay
 * bit-identical to the plain kernels) and -inf for maxima (padding never
 * wins). The argmax is the first maximum in row-major window order, as in
 * the plain kernels. */
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
    if (p->k != 3 || p->pad != 1 || (p->stride != 1 && p->stride != 2) || (a->nd->op == OP_AVGPOOL && p->count_pad) ||
        (a->nd->op == OP_AVGPOOL_BWD && p->count_pad))
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

/* Sum (avg, then divided by cnt) or max over each window, in row-major tap
 * order. */
static void window_reduce(const float *xp, const geom *g, int is_max, const float *cnt, float *y, float *ev, float *od)
{
    int Wh = (g->Wp + 1) / 2;
    if (g->s == 2 && g->Wo >= 8) split_plane(xp, g, ev, od);
    for (int oh = 0; oh < g->Ho; oh++) {
        const float *r0 = xp + (size_t)(oh * g->s) * g->Wp;
        float *yr = y + (size_t)oh * g->Wo;
        int ow = 0;
        if (g->s == 2 && g->Wo >= 8) {
            for (; ow + 8 <= g->Wo; ow += 8) {
                vf8 acc = is_max ? vf8_load(half_tap(ev, od, Wh, 2 * oh, 0) + ow) : vf8_zero();
                for (int t = is_max ? 1 : 0; t < 9; t++) {
                    vf8 v = vf8_load(half_tap(ev, od, Wh, 2 * oh + t / 3, t % 3) + ow);
                    acc = is_max ? vf8_max(acc, v) : vf8_add(acc, v);
                }
                vf8_store(yr + ow, acc);
            }
        }
        if (g->s == 1 && !is_max) {
            for (; ow + 8 <= g->Wo; ow += 8) {
                vf8 acc = vf8_zero();
                for (int kh = 0; kh < 3; kh++)
                    for (int kw = 0; kw < 3; kw++) acc = vf8_add(acc, vf8_load(r0 + (size_t)kh * g->Wp + ow + kw));
                vf8_store(yr + ow, acc);
            }
        } else if (g->s == 1) {
            for (; ow + 8 <= g->Wo; ow += 8) {
                vf8 m = vf8_load(r0 + ow);
                for (int t = 1; t < 9; t++) m = vf8_max(m, vf8_load(r0 + (size_t)(t / 3) * g->Wp + ow + t % 3));
                vf8_store(yr + ow, m);
            }
        }
        for (; ow < g->Wo; ow++) {
            const float *w0 = r0 + (size_t)ow * g->s;
            float acc = is_max ? w0[0] : 0.0f;
            for (int t = is_max ? 1 : 0; t < 9; t++) {
                float v = w0[(size_t)(t / 3) * g->Wp + t % 3];
                acc = is_max ? (v > acc ? v : acc) : acc + v;
            }
            yr[ow] = acc;
        }
        if (!is_max) {
            const float *cr = cnt + (size_t)oh * g->Wo;
            for (int o = 0; o < g->Wo; o++) yr[o] = yr[o] / cr[o];
        }
    }
}

/* Offset (in the padded plane) of each output's first maximum: a later tap
 * replaces the best only when strictly greater. */
static void argmax_plane(const float *xp, const geom *g, int *idx, float *ev, float *od)
{
    int Wh = (g->Wp + 1) / 2;
    if (g->s == 2 && g->Wo >= 8) split_plane(xp, g, ev, od);
    for (int oh = 0; oh < g->Ho; oh++) {
        int ow = 0;
        if (g->s == 2 && g->Wo >= 8) {
            for (; ow + 8 <= g->Wo; ow += 8) {
                /* output ow + j's tap t sits at padded offset base_t + 2 j */
                size_t base = (size_t)(2 * oh) * g->Wp + 2 * (size_t)ow;
                vf8 bv = vf8_load(half_tap(ev, od, Wh, 2 * oh, 0) + ow);
                vi8 bi = vi8_ramp2((int)base);
                for (int t = 1; t < 9; t++) {
                    vf8 v = vf8_load(half_tap(ev, od, Wh, 2 * oh + t / 3, t % 3) + ow);
                    vf8 gt = vf8_gt(v, bv);
                    bv = vf8_select(gt, v, bv);
                    bi = vi8_select(gt, vi8_ramp2((int)(base + (size_t)(t / 3) * g->Wp + t % 3)), bi);
                }
                vi8_store(idx + oh * g->Wo + ow, bi);
            }
        }
        if (g->s == 1) {
            for (; ow + 8 <= g->Wo; ow += 8) {
                size_t base = (size_t)oh * g->Wp + ow;
                vf8 bv = vf8_load(xp + base);
                vi8 bi = vi8_ramp((int)base);
                for (int t = 1; t < 9; t++) {
                    size_t o = base + (size_t)(t / 3) * g->Wp + t % 3;
                    vf8 v = vf8_load(xp + o);
                    vf8 gt = vf8_gt(v, bv);
                    bv = vf8_select(gt, v, bv);
                    bi = vi8_select(gt, vi8_ramp((int)o), bi);
                }
                vi8_store(idx + oh * g->Wo + ow, bi);
            }
        }
        for (; ow < g->Wo; ow++) {
            size_t base = (size_t)(oh * g->s) * g->Wp + (size_t)ow * g->s, best = base;
            float bv = xp[base];
            for (int t = 1; t < 9; t++) {
                size_t o = base + (size_t)(t / 3) * g->Wp + t % 3;
                if (xp[o] > bv) {
                    bv = xp[o];
                    best = o;
                }
            }
            idx[oh * g->Wo + ow] = (int)best;
        }
    }
}

/* Stride-1 max pooling's backward as a gather: dx at padded offset p sums,
 * in the row-major order of the outputs (the order of the scatter, so the
 * same bits: the added zeros change nothing), the gradients of the nine
 * outputs around it whose argmax is p. idx and gr are padded by one
 * output on each side (argmax -1 there, gradient 0). */
static void scatter_as_gather(const int *idxp, const float *grp, const geom *g, float *dx)
{
    int Wq = g->Wo + 2;
    for (int ih = 0; ih < g->H; ih++) {
        float *xr = dx + (size_t)ih * g->W;
        int iw = 0;
        for (; iw + 8 <= g->W; iw += 8) {
            vi8 here = vi8_ramp((ih + 1) * g->Wp + iw + 1);
            vf8 acc = vf8_zero();
            for (int t = 0; t < 9; t++) {
                size_t o = (size_t)(ih + t / 3) * Wq + iw + t % 3; /* output (ih - 1 + t/3, iw - 1 + t%3) */
                acc = vf8_add(acc, vf8_select(vi8_eq(vi8_load(idxp + o), here), vf8_load(grp + o), vf8_zero()));
            }
            vf8_store(xr + iw, acc);
        }
        for (; iw < g->W; iw++) {
            int here = (ih + 1) * g->Wp + iw + 1;
            float acc = 0;
            for (int t = 0; t < 9; t++) {
                size_t o = (size_t)(ih + t / 3) * Wq + iw + t % 3;
                acc += idxp[o] == here ? grp[o] : 0.0f;
            }
            xr[iw] = acc;
        }
    }
}

static td_status run_planes(const kernel_args *a, const geom *g, int nplanes, int kind)
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
        int *idx = malloc((size_t)g->Ho * g->Wo * sizeof *idx), *idxp = malloc(padded_out * sizeof *idxp);
        if (!buf || !pad2 || !idx || !idxp || !ev || !od) failed = 1;
        /* borders, once per call: -inf for maxima, 0 for sums, argmax -1 */
        size_t padded_in = (size_t)g->Hp * g->Wp;
        if (buf) fill_floats(buf, padded_in, kind == OP_AVGPOOL || kind == OP_AVGPOOL_BWD ? 0.0f : -INFINITY);
        if (pad2) fill_floats(pad2, padded_in > padded_out ? padded_in : padded_out, 0.0f);
        if (idxp)
            for (size_t o = 0; o < padded_out; o++) idxp[o] = -1;
#pragma omp for schedule(static)
        for (int pl = 0; pl < nplanes; pl++) {
            if (!buf || !pad2 || !idx || !idxp || !ev || !od) continue;
            size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
            switch (kind) {
            case OP_MAXPOOL:
            case OP_AVGPOOL:
                pad_interior(IN(0) + pl * in_plane, g, buf);
                window_reduce(buf, g, kind == OP_MAXPOOL, cnt, OUT + pl * out_plane, ev, od);
                break;
            case OP_MAXPOOL_GATHER: {
                pad_interior(IN(0) + pl * in_plane, g, buf);
                argmax_plane(buf, g, idx, ev, od);
                pad_interior(IN(1) + pl * in_plane, g, pad2);
                float *y = OUT + pl * out_plane;
                for (size_t o = 0; o < out_plane; o++) y[o] = pad2[idx[o]];
                break;
            }
            case OP_MAXPOOL_SCATTER: {
                pad_interior(IN(0) + pl * in_plane, g, buf);
                const float *gr = IN(1) + pl * out_plane;
                if (g->s == 1) {
                    int Wq = g->Wo + 2;
                    argmax_plane(buf, g, idx, ev, od);
                    for (int oh = 0; oh < g->Ho; oh++) {
                        memcpy(idxp + (size_t)(oh + 1) * Wq + 1, idx + (size_t)oh * g->Wo, (size_t)g->Wo * sizeof *idxp);
                        vf8_copy(pad2 + (size_t)(oh + 1) * Wq + 1, gr + (size_t)oh * g->Wo, g->Wo);
                    }
                    scatter_as_gather(idxp, pad2, g, OUT + pl * in_plane);
                    break;
                }
                argmax_plane(buf, g, idx, ev, od);
                memset(pad2, 0, (size_t)g->Hp * g->Wp * sizeof *pad2);
                for (size_t o = 0; o < out_plane; o++) pad2[idx[o]] += gr[o];
                float *dx = OUT + pl * in_plane;
                for (int h = 0; h < g->H; h++)
                    memcpy(dx + (size_t)h * g->W, pad2 + (size_t)(h + 1) * g->Wp + 1, (size_t)g->W * sizeof *dx);
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
        free(idx);
        free(idxp);
        free(ev);
        free(od);
    }
    free(cnt);
    return failed ? TD_FAIL(TD_ERR_MEMORY, "%s: out of memory", op_name(a->nd->op)) : TD_OK;
}

int pool_f32_fast(const kernel_args *a, td_status *result)
{
    op_kind op = a->nd->op;
    shape4 x = op == OP_AVGPOOL_BWD || op == OP_MAXPOOL_SCATTER ? a->out_shape : a->in_shape[0];
    shape4 y = op == OP_AVGPOOL_BWD ? a->in_shape[0] : op == OP_MAXPOOL_SCATTER ? a->in_shape[1] : a->out_shape;
    geom g;
    if (!fits(a, x, y, &g)) return 0;
    *result = run_planes(a, &g, x.n * x.c, op);
    return 1;
}
