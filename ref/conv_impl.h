/* Direct convolution and its two adjoints (no im2col: no scratch memory).
 * Loops run over the valid output range of each kernel tap so the inner
 * loop has no branches. */

/* Output rows oh in [lo, hi) whose input row oh*s - p + k*d lies in
 * [0, size). */
#ifndef CONV_RANGE_DEFINED
#define CONV_RANGE_DEFINED
static inline void conv_range(int size, int out, int s, int p, int kd, int *lo, int *hi)
{
    int first = p - kd; /* need oh*s >= first */
    *lo = first <= 0 ? 0 : (first + s - 1) / s;
    int last = size - 1 + p - kd; /* need oh*s <= last */
    *hi = last < 0 ? 0 : last / s + 1;
    if (*hi > out) *hi = out;
    if (*lo > *hi) *lo = *hi;
}
#endif

td_status FN(ref_conv2d)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (conv_f32_fast(a, &fast)) return fast;
#endif
    const REAL *x = IN(0), *w = IN(1);
    REAL *y = OUT;
    shape4 xs = a->in_shape[0], ws = a->in_shape[1], ys = a->out_shape;
    int N = xs.n, Ci = xs.c, H = xs.h, W = xs.w, Co = ys.c, Ho = ys.h, Wo = ys.w;
    int KH = ws.h, KW = ws.w, s = P->stride, p = P->pad, d = P->dil, G = P->groups;
    int Cig = Ci / G, Cog = Co / G;
#pragma omp parallel for collapse(2) schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int n = 0; n < N; n++)
        for (int co = 0; co < Co; co++) {
            int grp = co / Cog;
            REAL *yp = y + ((size_t)n * Co + co) * Ho * Wo;
            for (int i = 0; i < Ho * Wo; i++) yp[i] = 0;
            for (int cig = 0; cig < Cig; cig++) {
                const REAL *xp = x + ((size_t)n * Ci + grp * Cig + cig) * H * W;
                const REAL *wp = w + ((size_t)co * Cig + cig) * KH * KW;
                for (int kh = 0; kh < KH; kh++) {
                    int oh0, oh1;
                    conv_range(H, Ho, s, p, kh * d, &oh0, &oh1);
                    for (int kw = 0; kw < KW; kw++) {
                        int ow0, ow1;
                        conv_range(W, Wo, s, p, kw * d, &ow0, &ow1);
                        REAL wv = wp[kh * KW + kw];
                        for (int oh = oh0; oh < oh1; oh++) {
                            const REAL *xr = xp + (size_t)(oh * s - p + kh * d) * W;
                            REAL *yr = yp + (size_t)oh * Wo;
                            int off = kw * d - p;
                            if (s == 1)
                                for (int ow = ow0; ow < ow1; ow++) yr[ow] += wv * xr[ow + off];
                            else
                                for (int ow = ow0; ow < ow1; ow++) yr[ow] += wv * xr[ow * s + off];
                        }
                    }
                }
            }
        }
    return TD_OK;
}

td_status FN(ref_conv2d_bwd_data)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (conv_f32_fast(a, &fast)) return fast;
#endif
    const REAL *dy = IN(0), *w = IN(1);
    REAL *dx = OUT;
    shape4 ys = a->in_shape[0], ws = a->in_shape[1], xs = a->out_shape;
    int N = xs.n, Ci = xs.c, H = xs.h, W = xs.w, Co = ys.c, Ho = ys.h, Wo = ys.w;
    int KH = ws.h, KW = ws.w, s = P->stride, p = P->pad, d = P->dil, G = P->groups;
    int Cig = Ci / G, Cog = Co / G;
#pragma omp parallel for collapse(2) schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int n = 0; n < N; n++)
        for (int ci = 0; ci < Ci; ci++) {
            int grp = ci / Cig, cig = ci % Cig;
            REAL *dxp = dx + ((size_t)n * Ci + ci) * H * W;
            for (int i = 0; i < H * W; i++) dxp[i] = 0;
            for (int cog = 0; cog < Cog; cog++) {
                int co = grp * Cog + cog;
                const REAL *dyp = dy + ((size_t)n * Co + co) * Ho * Wo;
                const REAL *wp = w + ((size_t)co * Cig + cig) * KH * KW;
                for (int kh = 0; kh < KH; kh++) {
                    int oh0, oh1;
                    conv_range(H, Ho, s, p, kh * d, &oh0, &oh1);
                    for (int kw = 0; kw < KW; kw++) {
                        int ow0, ow1;
                        conv_range(W, Wo, s, p, kw * d, &ow0, &ow1);
                        REAL wv = wp[kh * KW + kw];
                        for (int oh = oh0; oh < oh1; oh++) {
                            REAL *xr = dxp + (size_t)(oh * s - p + kh * d) * W;
                            const REAL *yr = dyp + (size_t)oh * Wo;
                            int off = kw * d - p;
                            if (s == 1)
                                for (int ow = ow0; ow < ow1; ow++) xr[ow + off] += wv * yr[ow];
                            else
                                for (int ow = ow0; ow < ow1; ow++) xr[ow * s + off] += wv * yr[ow];
                        }
                    }
                }
            }
        }
    return TD_OK;
}

td_status FN(ref_conv2d_bwd_filter)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (conv_f32_fast(a, &fast)) return fast;
#endif
    const REAL *x = IN(0), *dy = IN(1);
    REAL *dw = OUT;
    shape4 xs = a->in_shape[0], ys = a->in_shape[1], ws = a->out_shape;
    int N = xs.n, Ci = xs.c, H = xs.h, W = xs.w, Co = ys.c, Ho = ys.h, Wo = ys.w;
    int KH = ws.h, KW = ws.w, s = P->stride, p = P->pad, d = P->dil, G = P->groups;
    int Cig = Ci / G, Cog = Co / G;
#pragma omp parallel for collapse(2) schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int co = 0; co < Co; co++)
        for (int cig = 0; cig < Cig; cig++) {
            int ci = (co / Cog) * Cig + cig;
            for (int kh = 0; kh < KH; kh++) {
                int oh0, oh1;
                conv_range(H, Ho, s, p, kh * d, &oh0, &oh1);
                for (int kw = 0; kw < KW; kw++) {
                    int ow0, ow1;
                    conv_range(W, Wo, s, p, kw * d, &ow0, &ow1);
                    REAL acc = 0;
                    for (int n = 0; n < N; n++) {
                        const REAL *xp = x + ((size_t)n * Ci + ci) * H * W;
                        const REAL *dyp = dy + ((size_t)n * Co + co) * Ho * Wo;
                        for (int oh = oh0; oh < oh1; oh++) {
                            const REAL *xr = xp + (size_t)(oh * s - p + kh * d) * W;
                            const REAL *yr = dyp + (size_t)oh * Wo;
                            int off = kw * d - p;
                            REAL row = 0;
                            for (int ow = ow0; ow < ow1; ow++) row += yr[ow] * xr[ow * s + off];
                            acc += row;
                        }
                    }
                    dw[(((size_t)co * Cig + cig) * KH + kh) * KW + kw] = acc;
                }
            }
        }
    return TD_OK;
}
