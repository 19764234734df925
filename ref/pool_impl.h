/* Pooling family. Windows only visit in-image pixels: for max pooling the
 * padding never wins, and the average divides by the pixels visited unless
 * count_pad asks for the full window. The argmax is the first maximum in
 * row-major window order; gather_at and scatter_at only read it. */

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

/* Whether index i lies in the window [h0, h1) x [w0, w1) of a plane W
 * wide: one unsigned comparison per window row, no branch, no division.
 * gather_at and scatter_at require it (maxpool_argmax's indices do);
 * where it fails, a wrong graph, the gather reads NaN and the scatter adds
 * nothing, as on the GPU. */
static inline int pool_index_in(int i, int W, int h0, int h1, int w0, int w1)
{
    int in = 0;
    for (int h = h0; h < h1; h++) in |= (unsigned)(i - h * W - w0) < (unsigned)(w1 - w0);
    return in;
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

/* maxpool_argmax's kernel: each window's index (int32, within its plane)
 * and, when y is not NULL, the maximum it points at (gather_at fused in:
 * FUSED_ARGMAX_GATHER). */
static td_status FN(argmax_run)(const kernel_args *a, REAL *y)
{
#if REAL_IS_F32
    td_status fast;
    if (pool_f32_fast_argmax(a, y, &fast)) return fast;
#endif
    pool_geom g = pool_geom_make(a->in_shape[0], a->out_shape, P);
    const REAL *x = IN(0);
    int32_t *idx = a->out;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < g.N * g.C; pl++) {
        const REAL *xp = x + (size_t)pl * g.H * g.W;
        size_t base = (size_t)pl * g.Ho * g.Wo;
        for (int oh = 0; oh < g.Ho; oh++)
            for (int ow = 0; ow < g.Wo; ow++) {
                int i = FN(pool_argmax)(xp, &g, oh, ow);
                idx[base + oh * g.Wo + ow] = i;
                if (y) y[base + oh * g.Wo + ow] = xp[i];
            }
    }
    return TD_OK;
}

td_status FN(ref_maxpool_argmax)(const kernel_args *a) { return FN(argmax_run)(a, NULL); }

td_status FN(ref_maxpool_argmax_gather)(const kernel_args *argmax, const kernel_args *gather)
{
    return FN(argmax_run)(argmax, (REAL *)gather->out);
}

td_status FN(ref_gather_at)(const kernel_args *a)
{
    pool_geom g = pool_geom_make(a->in_shape[0], a->out_shape, P);
    const int32_t *idx = a->in[1];
    const REAL *x = IN(0);
    REAL *y = OUT;
    size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.Ho * g.Wo;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < g.N * g.C; pl++) {
        const REAL *xp = x + pl * in_plane;
        const int32_t *ip = idx + pl * out_plane;
        REAL *yp = y + pl * out_plane;
        for (int oh = 0; oh < g.Ho; oh++)
            for (int ow = 0; ow < g.Wo; ow++) {
                int h0, h1, w0, w1, i = ip[oh * g.Wo + ow];
                pool_window(&g, oh, ow, &h0, &h1, &w0, &w1);
                yp[oh * g.Wo + ow] = pool_index_in(i, g.W, h0, h1, w0, w1) ? xp[i] : (REAL)NAN;
            }
    }
    return TD_OK;
}

/* Each plane from zero, adding g at the indices in row-major output
 * order: the order every backend keeps. */
td_status FN(ref_scatter_at)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (pool_f32_fast(a, &fast)) return fast;
#endif
    pool_geom g = pool_geom_make(a->out_shape, a->in_shape[0], P);
    const int32_t *idx = a->in[1];
    const REAL *gr = IN(0);
    REAL *dx = OUT;
    size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.Ho * g.Wo;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < g.N * g.C; pl++) {
        const REAL *gp = gr + pl * out_plane;
        const int32_t *ip = idx + pl * out_plane;
        REAL *dp = dx + pl * in_plane;
        for (size_t i = 0; i < in_plane; i++) dp[i] = 0;
        for (int oh = 0; oh < g.Ho; oh++)
            for (int ow = 0; ow < g.Wo; ow++) {
                int h0, h1, w0, w1, i = ip[oh * g.Wo + ow];
                pool_window(&g, oh, ow, &h0, &h1, &w0, &w1);
                if (pool_index_in(i, g.W, h0, h1, w0, w1)) dp[i] += gp[oh * g.Wo + ow];
            }
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
