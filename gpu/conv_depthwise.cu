/* Depthwise convolutions (one K x K filter per channel, K up to 7, any
 * stride and dilation): forward, data gradient, filter gradient.
 *
 * The forward and the data gradient stage whole planes (with their zero
 * border where the sum reads one) in shared memory and give each thread
 * outputs of its block's planes; every output sums its taps with fused
 * multiply-adds in the CPU's f32 order (conv_geometry.h). The filter
 * gradient gives each block one channel and a fixed slice of the images;
 * each thread sums its pixels' products per tap, the block adds its
 * threads' sums in a fixed tree, and a second pass adds the slices in
 * order: no atomics, and the split depends on the shape alone. */
#include "conv_own.h"

#define DW_THREADS 256
#define DW_MAX_PLANES 8                 /* planes per block when planes are small */
#define DW_SHARED_BYTES ((size_t)48 << 10) /* the default shared memory of a block */

#define CONV_REAL float
#define CONV_FMA fmaf
#define CONV_SUFFIX f32
#include "conv_geometry.h"
#undef CONV_REAL
#undef CONV_FMA
#undef CONV_SUFFIX
#define CONV_REAL double
#define CONV_FMA fma
#define CONV_SUFFIX f64
#include "conv_geometry.h"
#undef CONV_REAL
#undef CONV_FMA
#undef CONV_SUFFIX

/* The per-output sums by element type. */
static __device__ inline float dw_gather(const float *pl, int pitch, const float *w, int K, int s, int d, int flip,
                                         int oh, int ow)
{
    return conv_dw_gather_f32(pl, pitch, w, K, s, d, flip, oh, ow);
}
static __device__ inline double dw_gather(const double *pl, int pitch, const double *w, int K, int s, int d, int flip,
                                          int oh, int ow)
{
    return conv_dw_gather_f64(pl, pitch, w, K, s, d, flip, oh, ow);
}
static __device__ inline float dw_scatter_gather(const float *dy, const float *w, const conv_geom *g, int ih, int iw)
{
    return conv_dw_scatter_gather_f32(dy, w, g, ih, iw);
}
static __device__ inline double dw_scatter_gather(const double *dy, const double *w, const conv_geom *g, int ih,
                                                  int iw)
{
    return conv_dw_scatter_gather_f64(dy, w, g, ih, iw);
}

/* How one launch stages and sums. in: the plane read (x forward, dy
 * backward), in_h x in_w, staged with a border of `border`; out: out_h x
 * out_w per plane; mode 0 gathers (forward, or the flipped data gradient
 * when flip), mode 1 collects the outputs that read each pixel. */
typedef struct dw_pass {
    conv_geom g;
    int planes; /* N C */
    int in_h, in_w, border, out_h, out_w;
    int mode, flip, s;
    int per_block; /* planes per block */
} dw_pass;

static size_t dw_plane_elems(const dw_pass &p)
{
    return (size_t)conv_padded_rows(p.in_h, p.border) * conv_padded_pitch(p.in_w, p.border);
}

template <typename T> static __device__ void dw_pass_block(const T *in, const T *w, T *out, const dw_pass &p)
{
    extern __shared__ unsigned char dw_smem[];
    T *stage = (T *)dw_smem;
    const int pitch = conv_padded_pitch(p.in_w, p.border), rows = conv_padded_rows(p.in_h, p.border);
    const int plane_elems = rows * pitch, KK = p.g.K * p.g.K;
    const int first = blockIdx.x * p.per_block;
    const int nplanes = p.planes - first < p.per_block ? p.planes - first : p.per_block;
    T *wstage = stage + (size_t)p.per_block * plane_elems;
    for (int e = threadIdx.x; e < nplanes * plane_elems; e += DW_THREADS) {
        int k = e / plane_elems, r = e - k * plane_elems, h = r / pitch - p.border, c = r % pitch - p.border;
        stage[e] = h >= 0 && h < p.in_h && c >= 0 && c < p.in_w
                       ? in[((size_t)(first + k) * p.in_h + h) * p.in_w + c]
                       : T(0);
    }
    for (int e = threadIdx.x; e < nplanes * KK; e += DW_THREADS) {
        int k = e / KK, channel = (first + k) % p.g.C;
        wstage[e] = w[(size_t)channel * KK + e - k * KK];
    }
    __syncthreads();
    const int out_plane = p.out_h * p.out_w;
    for (int e = threadIdx.x; e < nplanes * out_plane; e += DW_THREADS) {
        int k = e / out_plane, r = e - k * out_plane, oh = r / p.out_w, ow = r - oh * p.out_w;
        const T *pl = stage + (size_t)k * plane_elems, *wk = wstage + (size_t)k * KK;
        out[(size_t)(first + k) * out_plane + r] =
            p.mode == 0 ? dw_gather(pl, pitch, wk, p.g.K, p.s, p.g.d, p.flip, oh, ow) : dw_scatter_gather(pl, wk, &p.g, oh, ow);
    }
}

/* The pass of a node: forward, the flipped data gradient, or the general
 * data gradient. */
static dw_pass dw_pass_of(op_kind op, const conv_geom &g)
{
    dw_pass p;
    p.g = g;
    p.planes = g.N * g.C;
    p.flip = 0;
    p.s = g.s;
    if (op == OP_CONV2D) {
        p.mode = 0, p.in_h = g.H, p.in_w = g.W, p.border = g.p, p.out_h = g.Ho, p.out_w = g.Wo;
    } else if (conv_dw_bwd_is_flipped(&g)) {
        p.mode = 0, p.flip = 1, p.s = 1, p.in_h = g.Ho, p.in_w = g.Wo, p.border = g.p, p.out_h = g.H, p.out_w = g.W;
    } else {
        p.mode = 1, p.in_h = g.Ho, p.in_w = g.Wo, p.border = 0, p.out_h = g.H, p.out_w = g.W;
    }
    /* enough planes per block to give each thread an output or more */
    int per = DW_THREADS / (p.out_h * p.out_w);
    p.per_block = per < 1 ? 1 : per > DW_MAX_PLANES ? DW_MAX_PLANES : per;
    return p;
}

static size_t dw_pass_smem(const dw_pass &p, size_t elem)
{
    return (size_t)p.per_block * (dw_plane_elems(p) + (size_t)p.g.K * p.g.K) * elem;
}

int conv_own_depthwise_fits(const kernel_args *a, const conv_geom &g, size_t elem)
{
    if (a->nd->op == OP_CONV2D_BWD_FILTER) return 1; /* reads global memory */
    dw_pass p = dw_pass_of(a->nd->op, g);
    p.per_block = 1;
    return dw_pass_smem(p, elem) <= DW_SHARED_BYTES;
}

template <typename T> static td_status dw_pass_run(const T *in, const T *w, T *out, dw_pass p)
{
    /* fewer planes per block where they would not fit in shared memory */
    while (p.per_block > 1 && dw_pass_smem(p, sizeof(T)) > DW_SHARED_BYTES) p.per_block--;
    unsigned blocks = (unsigned)((p.planes + p.per_block - 1) / p.per_block);
    return gpu_launch<DW_THREADS>("conv depthwise", dim3(blocks), dw_pass_smem(p, sizeof(T)),
                                  [=] __device__() { dw_pass_block<T>(in, w, out, p); });
}

/* dw[c][t] over the images of one slice: block (c, slice); each thread
 * sums the products of its pixels (j = its index, then every DW_THREADS
 * on, over (image, oh, ow)) for each tap; the block then adds its
 * threads' sums, warps by a fixed shuffle tree and the warps in order.
 * Written to part[slice][c][t]. */
template <typename T, int K>
static __device__ void dwf_slice_block(const T *x, const T *dy, T *part, const conv_geom &g, const conv_slices &sl)
{
    __shared__ T warp_sums[DW_THREADS / 32][K * K];
    const int c = blockIdx.x, slice = blockIdx.y;
    const int n0 = slice * sl.len, n1 = n0 + sl.len < g.N ? n0 + sl.len : g.N;
    const int Q = g.Ho * g.Wo, total = (n1 - n0) * Q;
    T acc[K * K];
#pragma unroll
    for (int t = 0; t < K * K; t++) acc[t] = 0;
    for (int j = threadIdx.x; j < total; j += DW_THREADS) {
        int nl = j / Q, q = j - nl * Q, oh = q / g.Wo, ow = q - oh * g.Wo;
        size_t plane = (size_t)(n0 + nl) * g.C + c;
        const T gv = dy[plane * Q + q];
        const T *xp = x + plane * g.H * g.W;
#pragma unroll
        for (int kh = 0; kh < K; kh++) {
            int ih = oh * g.s - g.p + kh * g.d;
            if (ih < 0 || ih >= g.H) continue;
#pragma unroll
            for (int kw = 0; kw < K; kw++) {
                int iw = ow * g.s - g.p + kw * g.d;
                if (iw >= 0 && iw < g.W) acc[kh * K + kw] = dev_fma(gv, xp[ih * g.W + iw], acc[kh * K + kw]);
            }
        }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int t = 0; t < K * K; t++) {
        T v = acc[t];
        for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
        if (lane == 0) warp_sums[warp][t] = v;
    }
    __syncthreads();
    for (int t = threadIdx.x; t < K * K; t += DW_THREADS) {
        T s = 0;
        for (int k = 0; k < DW_THREADS / 32; k++) s += warp_sums[k][t];
        part[((size_t)slice * g.C + c) * K * K + t] = s;
    }
}

template <typename T, int K> static td_status dwf_launch(const T *x, const T *dy, T *part, const conv_geom &g, conv_slices sl)
{
    return gpu_launch<DW_THREADS>("conv depthwise filter gradient", dim3((unsigned)g.C, (unsigned)sl.count), 0,
                                  [=] __device__() { dwf_slice_block<T, K>(x, dy, part, g, sl); });
}

template <typename T> static td_status dw_filter_gradient(const T *x, const T *dy, T *dw, const conv_geom &g)
{
    conv_slices sl = conv_dwf_slices(&g);
    size_t M = (size_t)g.C * g.K * g.K;
    T *part = dw;
    if (sl.count > 1) {
        void *scratch;
        TD_CHECK(gpu_scratch((size_t)sl.count * M * sizeof(T), &scratch));
        part = (T *)scratch;
    }
    switch (g.K) {
    case 1: TD_CHECK((dwf_launch<T, 1>(x, dy, part, g, sl))); break;
    case 2: TD_CHECK((dwf_launch<T, 2>(x, dy, part, g, sl))); break;
    case 3: TD_CHECK((dwf_launch<T, 3>(x, dy, part, g, sl))); break;
    case 4: TD_CHECK((dwf_launch<T, 4>(x, dy, part, g, sl))); break;
    case 5: TD_CHECK((dwf_launch<T, 5>(x, dy, part, g, sl))); break;
    case 6: TD_CHECK((dwf_launch<T, 6>(x, dy, part, g, sl))); break;
    default: TD_CHECK((dwf_launch<T, 7>(x, dy, part, g, sl))); break;
    }
    if (sl.count > 1) TD_CHECK(conv_sum_slices<T>(part, sl.count, (int)M, dw));
    return TD_OK;
}

template <typename T> td_status conv_dw_run(const kernel_args *a, const conv_geom &g)
{
    switch (a->nd->op) {
    case OP_CONV2D: return dw_pass_run<T>(gpu_in<T>(a, 0), gpu_in<T>(a, 1), gpu_out<T>(a), dw_pass_of(OP_CONV2D, g));
    case OP_CONV2D_BWD_DATA:
        return dw_pass_run<T>(gpu_in<T>(a, 0), gpu_in<T>(a, 1), gpu_out<T>(a), dw_pass_of(OP_CONV2D_BWD_DATA, g));
    default: return dw_filter_gradient<T>(gpu_in<T>(a, 0), gpu_in<T>(a, 1), gpu_out<T>(a), g);
    }
}

template td_status conv_dw_run<float>(const kernel_args *, const conv_geom &);
template td_status conv_dw_run<double>(const kernel_args *, const conv_geom &);
