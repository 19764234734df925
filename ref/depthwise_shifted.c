/* Depthwise convolutions of the DARTS shapes (16- and 32-wide maps, 3x3
 * and 5x5 kernels, dilation 1 or 2) without padded copies, for builds that
 * target AVX-512: rows are read straight from the unpadded planes and each
 * tap's column shift (stride 1) or even/odd split (stride 2) is formed in
 * registers by two-source permutes, zeros coming in as the padding. Every
 * output keeps the FMAs, order and roundings of the padded-plane kernels in
 * conv_f32_fast.c, so the bits are theirs (test_conv_geometry compares
 * each against its definition). Without AVX-512 nothing fits and those
 * kernels run. */
#include "ref_depthwise_shifted.h"

#include "simd.h"

/* The depthwise kernels of the DARTS ops, (K, d): sep_conv 3x3 and 5x5,
 * dil_conv 3x3 and 5x5. Each kernel below is compiled once per pair, K and
 * d constants, so that its loops unroll whole. */
#define DARTS_KERNELS(X) X(3, 1) X(5, 1) X(3, 2) X(5, 2)

/* A DARTS kernel with the padding that keeps the size at stride 1. */
static inline int darts_kernel(int K, int d, int p)
{
    return (K == 3 || K == 5) && (d == 1 || d == 2) && p == d * (K - 1) / 2;
}

#ifdef SIMD_HAVE_VF16
/* R output rows of a stride-1 plane V 16-wide vectors wide (R V = 8),
 * read from the unpadded plane: each input row the block needs is loaded
 * once, with a zero vector on either side (the padding), its K column
 * shifts are formed in registers and every output row of the block that
 * reads that row takes its taps from them. Input rows come in order and
 * each row's taps in kw order, so every output sums its taps in (kh, kw)
 * order with one FMA each, padding taps included: the bits of
 * dw_plane_s1. Of relu(x) when relu is set. K, d, R and V are constants
 * at every call, and the loops unroll whole: which output row takes which
 * tap row is then settled by the compiler, not by branches. */
static inline __attribute__((always_inline)) void dw_block_shifted(const float *x, int H, const float *w, const int K,
                                                                   const int d, int relu, const vi16 *idx, float *y,
                                                                   int oh0, const int R, const int V)
{
    const int W = 16 * V, p = d * (K - 1) / 2;
    vf16 acc[8];
    for (int i = 0; i < R * V; i++) acc[i] = vf16_zero();
#pragma GCC unroll 16
    for (int j = 0; j < R + (K - 1) * d; j++) {
        int r = oh0 - p + j;
        vf16 row[4];
        row[0] = row[V + 1] = vf16_zero();
        for (int v = 0; v < V; v++) {
            vf16 u = r >= 0 && r < H ? vf16_load(x + (size_t)r * W + 16 * v) : vf16_zero();
            row[v + 1] = relu ? vf16_relu(u) : u;
        }
#pragma GCC unroll 8
        for (int kw = 0; kw < K; kw++) {
            vf16 sh[2];
            for (int v = 0; v < V; v++) sh[v] = vf16_shifted(row[v], row[v + 1], row[v + 2], kw * d - p, idx[kw]);
#pragma GCC unroll 8
            for (int i = 0; i < R; i++) {
                int t = j - i; /* output row oh0 + i reads this row as tap row t / d */
                if (t < 0 || t % d != 0 || t / d >= K) continue;
                vf16 wv = vf16_set1(w[(t / d) * K + kw]);
                for (int v = 0; v < V; v++) acc[i * V + v] = vf16_fma(wv, sh[v], acc[i * V + v]);
            }
        }
    }
    float *o = y + (size_t)oh0 * W;
    for (int i = 0; i < R; i++)
        for (int v = 0; v < V; v++) vf16_store(o + (size_t)i * W + 16 * v, acc[i * V + v]);
}

/* A whole plane, block after block. */
static inline __attribute__((always_inline)) void dw_plane_shifted_kd(const float *x, int H, int W, const float *w,
                                                                      const int K, const int d, int relu, float *y)
{
    vi16 idx[8];
    for (int kw = 0; kw < K; kw++) idx[kw] = vf16_shift_index(kw * d - d * (K - 1) / 2);
    if (W == 32)
        for (int oh = 0; oh < H; oh += 4) dw_block_shifted(x, H, w, K, d, relu, idx, y, oh, 4, 2);
    else
        for (int oh = 0; oh < H; oh += 8) dw_block_shifted(x, H, w, K, d, relu, idx, y, oh, 8, 1);
}
#endif

#ifdef SIMD_HAVE_VF16
/* Stride 2, R output rows of one vector each (Wo = 16 from W = 32, or 8
 * from 16), from the unpadded plane: each input row the block reads is
 * loaded once and split into its even and odd columns in registers; tap
 * column offset o = kw d - p reads the even half (o even) or the odd half
 * shifted by o / 2 (rounded down), zeros coming in from the sides as the
 * padding. Rows in order, each row's taps in kw order: every output sums
 * its taps in (kh, kw) order with one FMA each, padding included, as
 * dw_plane_s2 does. Of relu(x) when relu is set. */
#define DW_BLOCK_S2(NAME, VEC, LANES, ZERO, LOAD, STORE, SET1, FMA, RELU, PARITY, SHIFTED, SHIFT_INDEX, INDEX_T)       \
    static inline __attribute__((always_inline)) void NAME(const float *x, int H, const float *w, const int K,         \
                                                           const int d, int relu, float *y, int oh0, const int R)       \
    {                                                                                                                  \
        const int W = 2 * LANES, p = d * (K - 1) / 2;                                                                  \
        INDEX_T idx[5];                                                                                                \
        for (int kw = 0; kw < K; kw++) {                                                                               \
            int o = kw * d - p;                                                                                        \
            idx[kw] = SHIFT_INDEX(o >= 0 ? o / 2 : -((1 - o) / 2));                                                    \
        }                                                                                                              \
        VEC acc[8];                                                                                                    \
        for (int i = 0; i < R; i++) acc[i] = ZERO();                                                                   \
        _Pragma("GCC unroll 32") for (int j = 0; j < 2 * (R - 1) + (K - 1) * d + 1; j++)                               \
        {                                                                                                              \
            int r = 2 * oh0 - p + j;                                                                                   \
            VEC a = ZERO(), b = ZERO();                                                                                \
            if (r >= 0 && r < H) {                                                                                     \
                a = LOAD(x + (size_t)r * W);                                                                           \
                b = LOAD(x + (size_t)r * W + LANES);                                                                   \
                if (relu) a = RELU(a), b = RELU(b);                                                                    \
            }                                                                                                          \
            VEC half[2] = {PARITY(a, b, 0), PARITY(a, b, 1)};                                                          \
            _Pragma("GCC unroll 8") for (int kw = 0; kw < K; kw++)                                                     \
            {                                                                                                          \
                int o = kw * d - p, odd = o & 1, sh = o >= 0 ? o / 2 : -((1 - o) / 2);                                 \
                VEC v = SHIFTED(ZERO(), half[odd], ZERO(), sh, idx[kw]);                                               \
                _Pragma("GCC unroll 8") for (int i = 0; i < R; i++)                                                    \
                {                                                                                                      \
                    int t = j - 2 * i; /* output row oh0 + i reads this row as tap row t / d */                        \
                    if (t < 0 || t % d != 0 || t / d >= K) continue;                                                   \
                    acc[i] = FMA(SET1(w[(t / d) * K + kw]), v, acc[i]);                                                \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        for (int i = 0; i < R; i++) STORE(y + (size_t)(oh0 + i) * LANES, acc[i]);                                      \
    }

DW_BLOCK_S2(dw_block_s2_16, vf16, 16, vf16_zero, vf16_load, vf16_store, vf16_set1, vf16_fma, vf16_relu, vf16_take_parity,
            vf16_shifted, vf16_shift_index, vi16)
DW_BLOCK_S2(dw_block_s2_8, vf8, 8, vf8_zero, vf8_load, vf8_store, vf8_set1, vf8_fma, vf8_relu, vf8_take_parity,
            vf8_shifted, vf8_shift_index, __m256i)
#undef DW_BLOCK_S2

static inline __attribute__((always_inline)) void dw_plane_s2_kd(const float *x, int H, int W, const float *w,
                                                                 const int K, const int d, int relu, float *y)
{
    if (W == 32)
        for (int oh = 0; oh < H / 2; oh += 8) dw_block_s2_16(x, H, w, K, d, relu, y, oh, 8);
    else
        for (int oh = 0; oh < H / 2; oh += 8) dw_block_s2_8(x, H, w, K, d, relu, y, oh, 8);
}
#endif

/* Whether dw_plane_s2_shifted takes a stride-2 plane: 32 or 16 wide and
 * square (16 or 8 outputs a row, 16 or 8 rows), the DARTS kernels, and
 * only where the build has AVX-512. */
int dw_s2_shifted_fits(int H, int W, int K, int d, int p)
{
#ifdef SIMD_HAVE_VF16
    return (W == 16 || W == 32) && H == W && darts_kernel(K, d, p);
#else
    (void)H, (void)W, (void)K, (void)d, (void)p;
    return 0;
#endif
}

void dw_plane_s2_shifted(const float *x, int H, int W, const float *w, int K, int d, int relu, float *y)
{
#ifdef SIMD_HAVE_VF16
#define S2_CASE(KC, DC) \
    if (K == KC && d == DC) dw_plane_s2_kd(x, H, W, w, KC, DC, relu, y);
    DARTS_KERNELS(S2_CASE)
#undef S2_CASE
#else
    (void)x, (void)H, (void)W, (void)w, (void)K, (void)d, (void)relu, (void)y;
#endif
}

/* Whether dw_plane_shifted takes a stride-1 plane: widths 16 and 32 (the
 * DARTS maps at 16x16 and 32x32) with the size kept, the DARTS kernels
 * (3x3 and 5x5, dilation 1 or 2), and only where the build has AVX-512. */
int dw_shifted_fits(int H, int W, int K, int d, int p)
{
#ifdef SIMD_HAVE_VF16
    int R = W == 32 ? 4 : 8;
    return (W == 16 || W == 32) && H % R == 0 && darts_kernel(K, d, p);
#else
    (void)H, (void)W, (void)K, (void)d, (void)p;
    return 0;
#endif
}

/* The stride-1 forward of one plane (x unpadded, H x W, dw_shifted_fits),
 * of relu(x) when relu is set. */
void dw_plane_shifted(const float *x, int H, int W, const float *w, int K, int d, int relu, float *y)
{
#ifdef SIMD_HAVE_VF16
#define S1_CASE(KC, DC) \
    if (K == KC && d == DC) dw_plane_shifted_kd(x, H, W, w, KC, DC, relu, y);
    DARTS_KERNELS(S1_CASE)
#undef S1_CASE
#else
    (void)x, (void)H, (void)W, (void)w, (void)K, (void)d, (void)relu, (void)y;
#endif
}

#ifdef SIMD_HAVE_VF16
/* The stride-2 data gradient of one plane as a gather, for dy rows of one
 * vector (LANES = 16 or 8; dx rows twice as wide): dx row ih keeps its
 * even and odd columns in two accumulators. Tap (kh, kw) reaches the row
 * when ih + p - kh d is even, from dy row oh = (ih + p - kh d) / 2, and
 * reaches the columns of one parity, from dy shifted by a whole number of
 * places; lanes with no dy value there are masked off, not added a zero.
 * Taps in (kh, kw) order, one FMA each: for every element the sums of the
 * scatter in dw_backward_data_s2 (memset zero, then each tap in turn). */
#define DW_GATHER_S2(NAME, VEC, LANES, MASK_T, ZERO, LOAD, STORE, SET1, FMA_WHERE, SHIFTED, SHIFT_INDEX, INTERLEAVE) \
    static inline __attribute__((always_inline)) void NAME(const float *dy, const float *w, const int K, const int d,  \
                                                           float *dx)                                                 \
    {                                                                                                                 \
        const int Ho = LANES, H = 2 * LANES, p = d * (K - 1) / 2, all = (1 << LANES) - 1;                             \
        for (int ih = 0; ih < H; ih++) {                                                                              \
            VEC half[2] = {ZERO(), ZERO()}; /* even, odd columns of dx row ih */                                      \
            _Pragma("GCC unroll 8") for (int kh = 0; kh < K; kh++)                                                    \
            {                                                                                                         \
                int q = ih + p - kh * d, oh = q >> 1;                                                                 \
                if ((q & 1) || oh < 0 || oh >= Ho) continue;                                                          \
                VEC row = LOAD(dy + (size_t)oh * LANES);                                                              \
                _Pragma("GCC unroll 8") for (int kw = 0; kw < K; kw++)                                                \
                {                                                                                                     \
                    /* column iw = 2 j + par reads dy column j + sh */                                                \
                    int par = (p - kw * d) & 1, sh = (par + p - kw * d) / 2;                                          \
                    MASK_T valid = (MASK_T)(sh >= 0 ? all >> sh : (all << -sh) & all);                                \
                    VEC v = SHIFTED(ZERO(), row, ZERO(), sh, SHIFT_INDEX(sh));                                        \
                    half[par] = FMA_WHERE(SET1(w[kh * K + kw]), v, half[par], valid);                                 \
                }                                                                                                     \
            }                                                                                                         \
            STORE(dx + (size_t)ih * H, INTERLEAVE(half[0], half[1], 0));                                              \
            STORE(dx + (size_t)ih * H + LANES, INTERLEAVE(half[0], half[1], 1));                                      \
        }                                                                                                             \
    }
DW_GATHER_S2(dw_gather_s2_16, vf16, 16, __mmask16, vf16_zero, vf16_load, vf16_store, vf16_set1, vf16_fma_where,
             vf16_shifted, vf16_shift_index, vf16_interleave)
DW_GATHER_S2(dw_gather_s2_8, vf8, 8, __mmask8, vf8_zero, vf8_load, vf8_store, vf8_set1, vf8_fma_where, vf8_shifted,
             vf8_shift_index, vf8_interleave)
#undef DW_GATHER_S2
#endif

/* One plane's stride-2 data gradient by dw_gather_s2_* (dx W x W with W
 * 32 or 16, dw_s2_shifted_fits). */
void dw_plane_s2_gather(const float *dy, int W, const float *w, int K, int d, float *dx)
{
#ifdef SIMD_HAVE_VF16
#define GATHER_CASE(KC, DC)                                                                                            \
    if (K == KC && d == DC) {                                                                                          \
        if (W == 32)                                                                                                   \
            dw_gather_s2_16(dy, w, KC, DC, dx);                                                                        \
        else                                                                                                           \
            dw_gather_s2_8(dy, w, KC, DC, dx);                                                                         \
    }
    DARTS_KERNELS(GATHER_CASE)
#undef GATHER_CASE
#else
    (void)dy, (void)W, (void)w, (void)K, (void)d, (void)dx;
#endif
}

#ifdef SIMD_HAVE_VF16
/* One image's share of the weight gradient for the KR tap rows from kh0
 * (stride 1, W = Wo = 8 V, x unpadded): acc + 8 t holds tap t's 8 lanes.
 * Input rows are visited in order, padding rows as zeros; each row's K
 * column shifts are formed in registers once per vector and serve every
 * tap row that reads it. Tap (kh, kw) thus takes its terms in (oh, ow)
 * order, one FMA each, padding included: the lanes of dwf_chunk, without
 * a padded copy or an unaligned load per tap. Of relu(x) when relu is set. */
static inline __attribute__((always_inline)) void dwf_rows_shifted(const float *x, const float *dy, int H, const int V,
                                                                   const int K, const int d, int relu, const int kh0,
                                                                   const int KR, const __m256i *idx, float *acc)
{
    const int W = 8 * V, p = d * (K - 1) / 2;
    vf8 a[15];
    for (int j = 0; j < KR * K; j++) a[j] = vf8_load(acc + 8 * ((kh0 + j / K) * K + j % K));
    vf8 z = vf8_zero();
    for (int r = -p; r < H + p; r++) {
        int any = 0;
        for (int k = 0; k < KR; k++) any |= (unsigned)(r + p - (kh0 + k) * d) < (unsigned)H;
        if (!any) continue;
        const float *xr = x + (size_t)r * W;
        int inside = r >= 0 && r < H;
        vf8 mid = inside ? vf8_load(xr) : z, lo = z;
        if (relu) mid = vf8_relu(mid);
        for (int v = 0; v < V; v++) {
            vf8 hi = inside && v + 1 < V ? vf8_load(xr + 8 * (v + 1)) : z;
            if (relu) hi = vf8_relu(hi);
            vf8 sh[5];
            for (int kw = 0; kw < K; kw++) sh[kw] = vf8_shifted(lo, mid, hi, kw * d - p, idx[kw]);
            for (int k = 0; k < KR; k++) {
                int oh = r + p - (kh0 + k) * d;
                if ((unsigned)oh >= (unsigned)H) continue;
                vf8 g = vf8_load(dy + (size_t)oh * W + 8 * v);
                for (int kw = 0; kw < K; kw++) a[k * K + kw] = vf8_fma(g, sh[kw], a[k * K + kw]);
            }
            lo = mid;
            mid = hi;
        }
    }
    for (int j = 0; j < KR * K; j++) vf8_store(acc + 8 * ((kh0 + j / K) * K + j % K), a[j]);
}

/* All K tap rows for one image, in as many passes as the registers allow
 * (3x3: one; 5x5: rows 0-2 with 15 accumulators, then rows 3-4: the 32
 * vector registers of AVX-512 hold them with the shifts and the index
 * vectors). */
static inline __attribute__((always_inline)) void dwf_image_shifted(const float *x, const float *dy, int H, const int V,
                                                                    const int K, const int d, int relu,
                                                                    const __m256i *idx, float *acc)
{
    if (K == 3) {
        dwf_rows_shifted(x, dy, H, V, 3, d, relu, 0, 3, idx, acc);
        return;
    }
    dwf_rows_shifted(x, dy, H, V, 5, d, relu, 0, 3, idx, acc);
    dwf_rows_shifted(x, dy, H, V, 5, d, relu, 3, 2, idx, acc);
}
#endif

/* Whether dwf_plane_shifted takes a stride-1 weight gradient: the shapes
 * of dw_shifted_fits with the output as large as the input. */
int dwf_shifted_fits(int H, int W, int Ho, int Wo, int K, int d, int p)
{
    return Ho == H && Wo == W && dw_shifted_fits(H, W, K, d, p);
}

/* One image's terms of one channel's weight gradient, taps' lanes at acc. */
void dwf_plane_shifted(const float *x, const float *dy, int H, int W, int K, int d, int relu, float *acc)
{
#ifdef SIMD_HAVE_VF16
    __m256i idx[5];
    for (int kw = 0; kw < K; kw++) idx[kw] = vf8_shift_index(kw * d - d * (K - 1) / 2);
#define FILTER_CASE(KC, DC)                                                                                            \
    if (K == KC && d == DC) {                                                                                          \
        if (W == 32)                                                                                                   \
            dwf_image_shifted(x, dy, H, 4, KC, DC, relu, idx, acc);                                                    \
        else                                                                                                           \
            dwf_image_shifted(x, dy, H, 2, KC, DC, relu, idx, acc);                                                    \
    }
    DARTS_KERNELS(FILTER_CASE)
#undef FILTER_CASE
#else
    (void)x, (void)dy, (void)H, (void)W, (void)K, (void)d, (void)relu, (void)acc;
#endif
}
