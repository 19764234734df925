/* Pooling family. Windows only visit in-image pixels: for max pooling the
 * padding never wins, and the average divides by the pixels visited unless
 * count_pad asks for the full window. The argmax is the first maximum in
 * row-major window order, the same rule in max, gather and scatter. */

#ifndef POOL_HELPERS_DEFINED
#define POOL_HELPERS_DEFINED
typedef struct pool_geom {
    int N, C, H, W, Ho, Wo, k, s, p;
} pool_geom;

static inline pool_geom pool_geom_make(shape4 x, shape4 y, const node_params *p)
{
    pool_geom g = {x.n, x.c, x.h, x.w, y.h, y.w, p->k, p->stride, p->pad};
    return g;
}

static inline void pool_window(const pool_geom *g, int oh, int ow, int *h0, int *h1, int *w0, int *w1)
{
    int hs = oh * g->s - g->p, ws = ow * g->s - g->p;
    *h0 = hs < 0 ? 0 : hs;
    *w0 = ws < 0 ? 0 : ws;
    *h1 = hs + g->k > g->H ? g->H : hs + g->k;
    *w1 = ws + g->k > g->W ? g->W : ws + g->k;
}
#endif

/* Index (within the plane) of the window's first maximum. */
static inline int FN(pool_argmax)(const REAL *xp, const pool_geom *g, int oh, int ow)
{
    int h0, h1, w0, w1;
    pool_window(g, oh, ow, &h0, &h1, &w0, &w1);
    int best = h0 * g->W + w0;
    REAL bv = xp[best];
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++)
            if (xp[h * g->W + w] > bv) {
                bv = xp[h * g->W + w];
                best = h * g->W + w;
            }
    return best;
}

td_status FN(ref_maxpool)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (pool_f32_fast(a, &fast)) return fast;
#endif
    pool_geom g = pool_geom_make(a->in_shape[0], a->out_shape, P);
    const REAL *x = IN(0);
    REAL *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < g.N * g.C; pl++) {
        const REAL *xp = x + (size_t)pl * g.H * g.W;
        REAL *yp = y + (size_t)pl * g.Ho * g.Wo;
        for (int oh = 0; oh < g.Ho; oh++)
            for (int ow = 0; ow < g.Wo; ow++) yp[oh * g.Wo + ow] = xp[FN(pool_argmax)(xp, &g, oh, ow)];
    }
    return TD_OK;
}

td_status FN(ref_maxpool_gather)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (pool_f32_fast(a, &fast)) return fast;
#endif
    pool_geom g = pool_geom_make(a->in_shape[0], a->out_shape, P);
    const REAL *x = IN(0), *t = IN(1);
    REAL *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < g.N * g.C; pl++) {
        const REAL *xp = x + (size_t)pl * g.H * g.W, *tp = t + (size_t)pl * g.H * g.W;
        REAL *yp = y + (size_t)pl * g.Ho * g.Wo;
        for (int oh = 0; oh < g.Ho; oh++)
            for (int ow = 0; ow < g.Wo; ow++) yp[oh * g.Wo + ow] = tp[FN(pool_argmax)(xp, &g, oh, ow)];
    }
    return TD_OK;
}

td_status FN(ref_maxpool_scatter)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (pool_f32_fast(a, &fast)) return fast;
#endif
    pool_geom g = pool_geom_make(a->in_shape[0], a->in_shape[1], P);
    const REAL *x = IN(0), *gr = IN(1);
    REAL *dx = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < g.N * g.C; pl++) {
        const REAL *xp = x + (size_t)pl * g.H * g.W, *gp = gr + (size_t)pl * g.Ho * g.Wo;
        REAL *dp = dx + (size_t)pl * g.H * g.W;
        for (int i = 0; i < g.H * g.W; i++) dp[i] = 0;
        for (int oh = 0; oh < g.Ho; oh++)
            for (int ow = 0; ow < g.Wo; ow++) dp[FN(pool_argmax)(xp, &g, oh, ow)] += gp[oh * g.Wo + ow];
    }
    return TD_OK;
}

td_status FN(ref_avgpool)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (pool_f32_fast(a, &fast)) return fast;
#endif
    pool_geom g = pool_geom_make(a->in_shape[0], a->out_shape, P);
    int count_pad = P->count_pad;
    const REAL *x = IN(0);
    REAL *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < g.N * g.C; pl++) {
        const REAL *xp = x + (size_t)pl * g.H * g.W;
        REAL *yp = y + (size_t)pl * g.Ho * g.Wo;
        for (int oh = 0; oh < g.Ho; oh++)
            for (int ow = 0; ow < g.Wo; ow++) {
                int h0, h1, w0, w1;
                pool_window(&g, oh, ow, &h0, &h1, &w0, &w1);
                REAL acc = 0;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) acc += xp[h * g.W + w];
                int cnt = count_pad ? g.k * g.k : (h1 - h0) * (w1 - w0);
                yp[oh * g.Wo + ow] = acc / (REAL)cnt;
            }
    }
    return TD_OK;
}

td_status FN(ref_avgpool_bwd)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (pool_f32_fast(a, &fast)) return fast;
#endif
    pool_geom g = pool_geom_make(a->out_shape, a->in_shape[0], P);
    int count_pad = P->count_pad;
    const REAL *gr = IN(0);
    REAL *dx = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < g.N * g.C; pl++) {
        const REAL *gp = gr + (size_t)pl * g.Ho * g.Wo;
        REAL *dp = dx + (size_t)pl * g.H * g.W;
        for (int i = 0; i < g.H * g.W; i++) dp[i] = 0;
        for (int oh = 0; oh < g.Ho; oh++)
            for (int ow = 0; ow < g.Wo; ow++) {
                int h0, h1, w0, w1;
                pool_window(&g, oh, ow, &h0, &h1, &w0, &w1);
                int cnt = count_pad ? g.k * g.k : (h1 - h0) * (w1 - w0);
                REAL v = gp[oh * g.Wo + ow] / (REAL)cnt;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) dp[h * g.W + w] += v;
            }
    }
    return TD_OK;
}

td_status FN(ref_global_avgpool)(const kernel_args *a)
{
    shape4 xs = a->in_shape[0];
    int hw = xs.h * xs.w;
    const REAL *x = IN(0);
    REAL *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < xs.n * xs.c; pl++) {
        const REAL *xp = x + (size_t)pl * hw;
        REAL acc = 0;
        for (int i = 0; i < hw; i++) acc += xp[i];
        y[pl] = acc / (REAL)hw;
    }
    return TD_OK;
}

td_status FN(ref_global_avgpool_bwd)(const kernel_args *a)
{
    shape4 xs = a->out_shape;
    int hw = xs.h * xs.w;
    const REAL *gr = IN(0);
    REAL *dx = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < xs.n * xs.c; pl++) {
        REAL v = gr[pl] / (REAL)hw;
        REAL *dp = dx + (size_t)pl * hw;
        for (int i = 0; i < hw; i++) dp[i] = v;
    }
    return TD_OK;
}
