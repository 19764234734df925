/* The index and partition arithmetic of the CUDA backend's own pointwise
 * and depthwise convolutions, and the order in which each output adds its
 * terms. C and CUDA alike: the kernels call these functions, and
 * tests/test_conv_geometry.c calls the same ones on the host, where they
 * are checked against the CPU's kernels without a GPU.
 *
 * The orders of addition are those of the CPU's f32 kernels
 * (ref/conv_f32_fast.c), each term added with an explicit fused
 * multiply-add, so that the forward and data-gradient outputs are the CPU's
 * f32 bits; the filter gradients are summed over fixed partitions and are
 * not. */
#ifndef TSEDARTS_GPU_CONV_GEOMETRY_H
#define TSEDARTS_GPU_CONV_GEOMETRY_H

#include <math.h>

#ifdef __CUDACC__
#define CONV_HD __host__ __device__
#else
#define CONV_HD
#endif

/* One convolution by its forward meaning: x (N, C, H, W) convolved with a
 * K x K kernel (stride s, padding p, dilation d) gives y (N, Co, Ho, Wo). */
typedef struct conv_geom {
    int N, C, H, W, Co, Ho, Wo, K, s, p, d;
} conv_geom;

/* Largest depthwise kernel the own kernels take (the CPU's fast path too). */
#define CONV_DW_MAX_K 7

/* ---------------------------------------------------------- pointwise */

/* The pixel of x (within its plane) that output pixel q of y reads: a 1x1
 * kernel, no padding, stride s. */
CONV_HD static inline int conv_pw_source(const conv_geom *g, int q)
{
    int oh = q / g->Wo, ow = q - oh * g->Wo;
    return oh * g->s * g->W + ow * g->s;
}

/* The adjoint: the pixel of dy whose gradient lands on pixel q of dx, or
 * -1 when no output read it (stride above 1). */
CONV_HD static inline int conv_pw_target(const conv_geom *g, int q)
{
    int ih = q / g->W, iw = q - ih * g->W;
    if (ih % g->s || iw % g->s) return -1;
    int oh = ih / g->s, ow = iw / g->s;
    return oh < g->Ho && ow < g->Wo ? oh * g->Wo + ow : -1;
}

/* ---------------------------------------------------------- depthwise */

/* A plane staged with a zero border of width pad on every side: rows
 * (h + 2 pad), pitch (w + 2 pad). */
CONV_HD static inline int conv_padded_pitch(int w, int pad) { return w + 2 * pad; }
CONV_HD static inline int conv_padded_rows(int h, int pad) { return h + 2 * pad; }

/* The data gradient of a stride-1 depthwise convolution that keeps the
 * size is the same convolution of dy with the kernel turned by 180
 * degrees; the CPU computes it so, and so do we. */
CONV_HD static inline int conv_dw_bwd_is_flipped(const conv_geom *g)
{
    return g->s == 1 && 2 * g->p == g->d * (g->K - 1);
}

/* -------------------------------------------------------- partitions */

/* The filter gradients reduce over fixed partitions of their sum, chosen
 * from the shape alone (never from the device), so a run's bits do not
 * depend on the GPU's size. A partition is `count` slices of `len`
 * consecutive terms (the last one shorter), each summed by one block; the
 * slices' partial sums are then added in slice order. */
typedef struct conv_slices {
    int count, len;
} conv_slices;

/* total terms split for `tiles` independent outputs groups: enough slices
 * that tiles x count is about `target` blocks, no slice shorter than
 * `min_len`, and len a multiple of `align`. */
CONV_HD static inline conv_slices conv_slices_make(long long total, int tiles, int target, int min_len, int align)
{
    conv_slices sl;
    long long want = (target + tiles - 1) / tiles;
    long long most = (total + min_len - 1) / min_len;
    if (want > most) want = most;
    if (want < 1) want = 1;
    long long len = (total + want - 1) / want;
    len = (len + align - 1) / align * align;
    if (len < 1) len = 1;
    sl.len = (int)len;
    sl.count = (int)((total + len - 1) / len);
    if (sl.count < 1) sl.count = 1;
    return sl;
}

/* Output tiles of the pointwise filter gradient (16 x 16 entries of dW each) and the
 * slices of its (image, pixel) terms; depthwise: one channel per tile, the
 * slices over whole images. */
#define CONV_PWF_TILE 16
#define CONV_PWF_CHUNK 32
#define CONV_SLICE_TARGET 512

CONV_HD static inline conv_slices conv_pwf_slices(const conv_geom *g)
{
    int tiles = ((g->Co + CONV_PWF_TILE - 1) / CONV_PWF_TILE) * ((g->C + CONV_PWF_TILE - 1) / CONV_PWF_TILE);
    return conv_slices_make((long long)g->N * g->Ho * g->Wo, tiles, CONV_SLICE_TARGET, 256, CONV_PWF_CHUNK);
}

CONV_HD static inline conv_slices conv_dwf_slices(const conv_geom *g)
{
    /* at least 256 products per slice: one per thread of the block */
    int per_image = g->Ho * g->Wo, min_images = (256 + per_image - 1) / per_image;
    return conv_slices_make(g->N, g->C, CONV_SLICE_TARGET, min_images, 1);
}

#endif

/* The per-output sums, once per element type: CONV_REAL, CONV_FMA and
 * CONV_SUFFIX name the type, its fused multiply-add and the functions'
 * suffix; the file is included again for each. */
#if defined(CONV_REAL) && defined(CONV_FMA) && defined(CONV_SUFFIX)
#define CONV_CAT2(a, b) a##_##b
#define CONV_CAT(a, b) CONV_CAT2(a, b)
#define CONV_FN(name) CONV_CAT(name, CONV_SUFFIX)

/* Pointwise: one output, sum over k in order of a[k a_step] x[k x_step],
 * the CPU's GEMM chain (ref/conv_f32_fast.c gemm). A chain that starts
 * at +0 never ends at -0, so where the CPU adds the result into a zeroed
 * buffer (its small-map path) the bits are the same. */
CONV_HD static inline CONV_REAL CONV_FN(conv_pw_chain)(const CONV_REAL *a, int a_step, const CONV_REAL *x,
                                                     long long x_step, int K)
{
    CONV_REAL acc = 0;
    for (int k = 0; k < K; k++) acc = CONV_FMA(a[(long long)k * a_step], x[k * x_step], acc);
    return acc;
}

/* Depthwise gather: output (oh, ow) of a plane staged with its zero border
 * (pitch), taps (kh, kw) in row-major order, the border's zeros added like
 * any term (the CPU's padded planes do the same); tap t takes weight
 * w[flip ? K K - 1 - t : t]. Forward: the x plane, flip 0. Data gradient
 * of a same-size stride-1 convolution: the dy plane, flip 1, stride 1. */
CONV_HD static inline CONV_REAL CONV_FN(conv_dw_gather)(const CONV_REAL *plane, int pitch, const CONV_REAL *w, int K,
                                                      int s, int d, int flip, int oh, int ow)
{
    CONV_REAL acc = 0;
    const CONV_REAL *base = plane + (oh * s) * pitch + ow * s;
    for (int kh = 0; kh < K; kh++)
        for (int kw = 0; kw < K; kw++) {
            int t = kh * K + kw;
            acc = CONV_FMA(w[flip ? K * K - 1 - t : t], base[kh * d * pitch + kw * d], acc);
        }
    return acc;
}

/* Depthwise data gradient in gather form for any other stride or padding:
 * pixel (ih, iw) of dx collects, taps in row-major order, every output
 * that read it; an unpadded dy plane (Ho x Wo, pitch Wo). This is the
 * order in which the CPU's stride-2 kernel accumulates each pixel. */
CONV_HD static inline CONV_REAL CONV_FN(conv_dw_scatter_gather)(const CONV_REAL *dy, const CONV_REAL *w,
                                                              const conv_geom *g, int ih, int iw)
{
    CONV_REAL acc = 0;
    for (int kh = 0; kh < g->K; kh++) {
        int rh = ih + g->p - kh * g->d;
        if (rh < 0 || rh % g->s) continue;
        int oh = rh / g->s;
        if (oh >= g->Ho) continue;
        for (int kw = 0; kw < g->K; kw++) {
            int rw = iw + g->p - kw * g->d;
            if (rw < 0 || rw % g->s) continue;
            int ow = rw / g->s;
            if (ow >= g->Wo) continue;
            acc = CONV_FMA(w[kh * g->K + kw], dy[oh * g->Wo + ow], acc);
        }
    }
    return acc;
}

#undef CONV_FN
#undef CONV_CAT
#undef CONV_CAT2
#endif
