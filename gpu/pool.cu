/* Pooling on the GPU: window argmax, the gather at it and the scatter to it, window mean, global mean, adjoints. */
#include "gpu_internal.h"

/* The geometry of one pooling: x is (N, C, H, W), the pooled y (N, C, Ho, Wo); window k, stride s, padding p. */
typedef struct pool_geom {
    int N, C, H, W, Ho, Wo, k, s, p;
} pool_geom;

static pool_geom pool_geom_make(shape4 x, shape4 y, const node_params *p)
{
    pool_geom g = {x.n, x.c, x.h, x.w, y.h, y.w, p->k, p->stride, p->pad};
    return g;
}

/* The ref indexes planes with int: so do we, and refuse what would not fit. */
static td_status pool_check(const kernel_args *a, const pool_geom *g)
{
    if ((size_t)g->H * g->W > 0x7fffffff || (size_t)g->Ho * g->Wo > 0x7fffffff || g->k < 1 || g->s < 1 || g->p < 0) {
        char xs[64];
        return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda %s: planes (%d, %d) pooled to (%d, %d), k %d stride %d pad %d, x %s",
                       op_name(a->nd->op), g->H, g->W, g->Ho, g->Wo, g->k, g->s, g->p,
                       shape_format(shape_make(g->N, g->C, g->H, g->W), xs, sizeof xs));
    }
    return TD_OK;
}

/* The in-image part [h0, h1) x [w0, w1) of output (oh, ow)'s window: padding is never visited. */
__device__ static inline void pool_window(const pool_geom &g, int oh, int ow, int *h0, int *h1, int *w0, int *w1)
{
    int hs = oh * g.s - g.p, ws = ow * g.s - g.p;
    *h0 = hs < 0 ? 0 : hs;
    *w0 = ws < 0 ? 0 : ws;
    *h1 = hs + g.k > g.H ? g.H : hs + g.k;
    *w1 = ws + g.k > g.W ? g.W : ws + g.k;
}

/* The divisor of an average: the full window with count_pad, else the pixels visited. */
__device__ static inline int pool_count(const pool_geom &g, int count_pad, int oh, int ow)
{
    int h0, h1, w0, w1;
    pool_window(g, oh, ow, &h0, &h1, &w0, &w1);
    return count_pad ? g.k * g.k : (h1 - h0) * (w1 - w0);
}

/* Index within the plane of the window's first maximum in row-major order: the first in-image pixel is the
 * start, a later one replaces it only when strictly greater. So a NaN wins only as the first pixel (then it
 * stays), exactly the ref's rule. */
template <typename T> __device__ static inline int pool_argmax(const T *xp, const pool_geom &g, int oh, int ow)
{
    int h0, h1, w0, w1;
    pool_window(g, oh, ow, &h0, &h1, &w0, &w1);
    int best = h0 * g.W + w0;
    T bv = xp[best];
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++)
            if (xp[h * g.W + w] > bv) {
                bv = xp[h * g.W + w];
                best = h * g.W + w;
            }
    return best;
}

/* Whether index i (within the plane) lies in output (oh, ow)'s window, as gather_at and scatter_at require. */
__device__ static inline bool pool_index_in_window(const pool_geom &g, int oh, int ow, int i)
{
    int h0, h1, w0, w1;
    pool_window(g, oh, ow, &h0, &h1, &w0, &w1);
    if (i < 0) return false;
    int h = i / g.W, w = i % g.W;
    return h >= h0 && h < h1 && w >= w0 && w < w1;
}

/* The outputs whose windows hold input row (or column) i: [*lo, *hi], empty when *lo > *hi. Window o spans
 * [o s - p, o s - p + k) before clipping, and clipping only drops out-of-image pixels. */
__device__ static inline void pool_windows_holding(int i, int k, int s, int p, int n_out, int *lo, int *hi)
{
    int first = i + p - k + 1; /* o s >= first */
    *lo = first <= 0 ? 0 : (first + s - 1) / s;
    int last = (i + p) / s; /* o s <= i + p, and i + p >= 0 */
    *hi = last < n_out - 1 ? last : n_out - 1;
}

/* idx (N, C, Ho, Wo) = each window's argmax, an index within its plane; y, when not NULL, the maximum it points
 * at (gather_at fused in: FUSED_ARGMAX_GATHER). One thread per output. */
template <typename T> __global__ void maxpool_argmax_kernel(const T *x, int32_t *idx, T *y, pool_geom g)
{
    size_t out_plane = (size_t)g.Ho * g.Wo, n = (size_t)g.N * g.C * out_plane;
    GPU_FOR(o, n)
    {
        size_t pl = o / out_plane;
        int r = (int)(o % out_plane);
        const T *xp = x + pl * g.H * g.W;
        int i = pool_argmax(xp, g, r / g.Wo, r % g.Wo);
        idx[o] = i;
        if (y) y[o] = xp[i];
    }
}

/* y (N, C, Ho, Wo) = x (N, C, H, W) at each output's index; NaN for an index outside its window (a wrong graph),
 * as on the CPU, never a read out of place. One thread per output. */
template <typename T> __global__ void gather_at_kernel(const T *x, const int32_t *idx, T *y, pool_geom g)
{
    size_t out_plane = (size_t)g.Ho * g.Wo, n = (size_t)g.N * g.C * out_plane;
    GPU_FOR(o, n)
    {
        size_t pl = o / out_plane;
        int r = (int)(o % out_plane), i = idx[o];
        y[o] = pool_index_in_window(g, r / g.Wo, r % g.Wo, i) ? x[pl * g.H * g.W + i] : (T)NAN;
    }
}

/* dx (N, C, H, W): the sum of the gradients gr (N, C, Ho, Wo) of the windows whose index is this pixel.
 * One thread per input pixel visits the windows holding it in row-major (oh, ow) order, the order in which
 * the ref's scatter adds them, from zero: the same sums without atomics. (An index outside its window is
 * never added, as on the CPU.) */
template <typename T> __global__ void scatter_at_kernel(const T *gr, const int32_t *idx, T *dx, pool_geom g)
{
    size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.Ho * g.Wo, n = (size_t)g.N * g.C * in_plane;
    GPU_FOR(e, n)
    {
        size_t pl = e / in_plane;
        int here = (int)(e % in_plane), h = here / g.W, w = here % g.W;
        const T *gp = gr + pl * out_plane;
        const int32_t *ip = idx + pl * out_plane;
        int oh0, oh1, ow0, ow1;
        pool_windows_holding(h, g.k, g.s, g.p, g.Ho, &oh0, &oh1);
        pool_windows_holding(w, g.k, g.s, g.p, g.Wo, &ow0, &ow1);
        T acc = 0;
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++)
                if (ip[oh * g.Wo + ow] == here) acc += gp[oh * g.Wo + ow];
        dx[e] = acc;
    }
}

/* y (N, C, Ho, Wo) = the window sums of x in row-major order, divided by the count. One thread per output. */
template <typename T> __global__ void avgpool_kernel(const T *x, T *y, pool_geom g, int count_pad)
{
    size_t out_plane = (size_t)g.Ho * g.Wo, n = (size_t)g.N * g.C * out_plane;
    GPU_FOR(o, n)
    {
        size_t pl = o / out_plane;
        int r = (int)(o % out_plane), oh = r / g.Wo, ow = r % g.Wo;
        const T *xp = x + pl * g.H * g.W;
        int h0, h1, w0, w1;
        pool_window(g, oh, ow, &h0, &h1, &w0, &w1);
        T acc = 0;
        for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++) acc += xp[h * g.W + w];
        y[o] = acc / (T)pool_count(g, count_pad, oh, ow);
    }
}

/* dx (N, C, H, W): avgpool's adjoint, the sum of gr / count over the windows holding the pixel, visited in
 * row-major (oh, ow) order from zero as the ref's scatter adds them. One thread per input pixel. */
template <typename T> __global__ void avgpool_bwd_kernel(const T *gr, T *dx, pool_geom g, int count_pad)
{
    size_t in_plane = (size_t)g.H * g.W, out_plane = (size_t)g.Ho * g.Wo, n = (size_t)g.N * g.C * in_plane;
    GPU_FOR(e, n)
    {
        size_t pl = e / in_plane;
        int here = (int)(e % in_plane), h = here / g.W, w = here % g.W;
        const T *gp = gr + pl * out_plane;
        int oh0, oh1, ow0, ow1;
        pool_windows_holding(h, g.k, g.s, g.p, g.Ho, &oh0, &oh1);
        pool_windows_holding(w, g.k, g.s, g.p, g.Wo, &ow0, &ow1);
        T acc = 0;
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++) acc += gp[oh * g.Wo + ow] / (T)pool_count(g, count_pad, oh, ow);
        dx[e] = acc;
    }
}

/* y (N, C, 1, 1) = the plane's mean: one thread per plane adds its hw values in order, as the ref does. */
template <typename T> __global__ void gap_kernel(const T *x, T *y, size_t planes, int hw)
{
    GPU_FOR(pl, planes)
    {
        const T *xp = x + pl * hw;
        T acc = 0;
        for (int i = 0; i < hw; i++) acc += xp[i];
        y[pl] = acc / (T)hw;
    }
}

/* dx (N, C, H, W) = gr (N, C, 1, 1) / hw on every pixel of the plane. */
template <typename T> __global__ void gap_bwd_kernel(const T *gr, T *dx, size_t n, int hw)
{
    GPU_FOR(e, n) dx[e] = gr[e / hw] / (T)hw;
}

/* maxpool_argmax's kernel, writing the maxima into y too when y is not NULL. */
template <typename T> static td_status maxpool_argmax_run(const kernel_args *a, T *y)
{
    pool_geom g = pool_geom_make(a->in_shape[0], a->out_shape, &a->nd->p);
    TD_CHECK(pool_check(a, &g));
    maxpool_argmax_kernel<T><<<gpu_blocks(shape_numel(a->out_shape)), GPU_THREADS, 0, gpu.stream>>>(
        gpu_in<T>(a, 0), (int32_t *)a->out, y, g);
    LAUNCH_CHECK("maxpool_argmax_kernel");
    return TD_OK;
}

template <typename T> static td_status maxpool_argmax_node(const kernel_args *a)
{
    return maxpool_argmax_run<T>(a, NULL);
}

td_status gpu_maxpool_argmax_gather(const kernel_args *argmax, const kernel_args *gather)
{
    if (argmax->dt == DT_F32) return maxpool_argmax_run<float>(argmax, gpu_out<float>(gather));
    if (argmax->dt == DT_F64) return maxpool_argmax_run<double>(argmax, gpu_out<double>(gather));
    return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda fused argmax_gather: element type %s", dtype_name(argmax->dt));
}

template <typename T> static td_status gather_at_run(const kernel_args *a)
{
    pool_geom g = pool_geom_make(a->in_shape[0], a->out_shape, &a->nd->p);
    TD_CHECK(pool_check(a, &g));
    gather_at_kernel<T><<<gpu_blocks(shape_numel(a->out_shape)), GPU_THREADS, 0, gpu.stream>>>(
        gpu_in<T>(a, 0), (const int32_t *)a->in[1], gpu_out<T>(a), g);
    LAUNCH_CHECK("gather_at_kernel");
    return TD_OK;
}

template <typename T> static td_status scatter_at_run(const kernel_args *a)
{
    pool_geom g = pool_geom_make(a->out_shape, a->in_shape[0], &a->nd->p);
    TD_CHECK(pool_check(a, &g));
    scatter_at_kernel<T><<<gpu_blocks(shape_numel(a->out_shape)), GPU_THREADS, 0, gpu.stream>>>(
        gpu_in<T>(a, 0), (const int32_t *)a->in[1], gpu_out<T>(a), g);
    LAUNCH_CHECK("scatter_at_kernel");
    return TD_OK;
}

template <typename T> static td_status avgpool_run(const kernel_args *a)
{
    pool_geom g = pool_geom_make(a->in_shape[0], a->out_shape, &a->nd->p);
    TD_CHECK(pool_check(a, &g));
    avgpool_kernel<T><<<gpu_blocks(shape_numel(a->out_shape)), GPU_THREADS, 0, gpu.stream>>>(
        gpu_in<T>(a, 0), gpu_out<T>(a), g, a->nd->p.count_pad);
    LAUNCH_CHECK("avgpool_kernel");
    return TD_OK;
}

template <typename T> static td_status avgpool_bwd_run(const kernel_args *a)
{
    pool_geom g = pool_geom_make(a->out_shape, a->in_shape[0], &a->nd->p);
    TD_CHECK(pool_check(a, &g));
    avgpool_bwd_kernel<T><<<gpu_blocks(shape_numel(a->out_shape)), GPU_THREADS, 0, gpu.stream>>>(
        gpu_in<T>(a, 0), gpu_out<T>(a), g, a->nd->p.count_pad);
    LAUNCH_CHECK("avgpool_bwd_kernel");
    return TD_OK;
}

/* The planes' size as the ref's int, refused when it would not fit. */
static td_status gap_plane(const kernel_args *a, shape4 x, int *hw)
{
    if ((size_t)x.h * x.w > 0x7fffffff) {
        char xs[64];
        return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda %s: planes of x %s too large", op_name(a->nd->op),
                       shape_format(x, xs, sizeof xs));
    }
    *hw = x.h * x.w;
    return TD_OK;
}

template <typename T> static td_status global_avgpool_run(const kernel_args *a)
{
    shape4 x = a->in_shape[0];
    int hw = 0;
    TD_CHECK(gap_plane(a, x, &hw));
    size_t planes = (size_t)x.n * x.c;
    gap_kernel<T><<<gpu_blocks(planes), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), planes, hw);
    LAUNCH_CHECK("gap_kernel");
    return TD_OK;
}

template <typename T> static td_status global_avgpool_bwd_run(const kernel_args *a)
{
    shape4 x = a->out_shape;
    int hw = 0;
    TD_CHECK(gap_plane(a, x, &hw));
    size_t n = shape_numel(x);
    gap_bwd_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), n, hw);
    LAUNCH_CHECK("gap_bwd_kernel");
    return TD_OK;
}

GPU_INSTANTIATE(maxpool_argmax, maxpool_argmax_node)
GPU_INSTANTIATE(gather_at, gather_at_run)
GPU_INSTANTIATE(scatter_at, scatter_at_run)
GPU_INSTANTIATE(avgpool, avgpool_run)
GPU_INSTANTIATE(avgpool_bwd, avgpool_bwd_run)
GPU_INSTANTIATE(global_avgpool, global_avgpool_run)
GPU_INSTANTIATE(global_avgpool_bwd, global_avgpool_bwd_run)
