/* 8-wide f32 vector helpers: AVX2 + FMA intrinsics when the compiler
 * targets them, otherwise plain loops over fmaf. A fused multiply-add is
 * correctly rounded in both, so both give the same bits. */
#ifndef TSEDARTS_REF_SIMD_H
#define TSEDARTS_REF_SIMD_H

#include <math.h>
#include <stddef.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 vf8;
static inline vf8 vf8_zero(void) { return _mm256_setzero_ps(); }
static inline vf8 vf8_set1(float x) { return _mm256_set1_ps(x); }
static inline vf8 vf8_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf8_store(float *p, vf8 v) { _mm256_storeu_ps(p, v); }
static inline vf8 vf8_fma(vf8 a, vf8 b, vf8 c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf8 vf8_add(vf8 a, vf8 b) { return _mm256_add_ps(a, b); }
static inline vf8 vf8_mul(vf8 a, vf8 b) { return _mm256_mul_ps(a, b); }
/* Lane masks and int lanes, for argmax. */
typedef __m256i vi8;
static inline vf8 vf8_gt(vf8 a, vf8 b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline vf8 vf8_select(vf8 mask, vf8 a, vf8 b) { return _mm256_blendv_ps(b, a, mask); }
static inline vi8 vi8_ramp(int start) { return _mm256_add_epi32(_mm256_set1_epi32(start), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
static inline vi8 vi8_ramp2(int start) { return _mm256_add_epi32(_mm256_set1_epi32(start), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)); }
static inline vi8 vi8_add(vi8 a, int k) { return _mm256_add_epi32(a, _mm256_set1_epi32(k)); }
static inline vi8 vi8_select(vf8 mask, vi8 a, vi8 b)
{
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(b), _mm256_castsi256_ps(a), mask));
}
static inline void vi8_store(int *p, vi8 v) { _mm256_storeu_si256((__m256i *)p, v); }
static inline vi8 vi8_load(const int *p) { return _mm256_loadu_si256((const __m256i *)p); }
/* all-ones lanes where a == b, as a mask for vf8_select */
static inline vf8 vi8_eq(vi8 a, vi8 b) { return _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b)); }
/* max(a, b) keeps a unless b > a (like the scalar "if (v > best)") */
static inline vf8 vf8_max(vf8 a, vf8 b) { return _mm256_blendv_ps(a, b, _mm256_cmp_ps(b, a, _CMP_GT_OQ)); }
/* Sixteen consecutive values (a then b) split into their even and odd
 * positions, and back: moves only. */
static inline void vf8_unzip(vf8 a, vf8 b, vf8 *even, vf8 *odd)
{
    vf8 e = _mm256_shuffle_ps(a, b, 0x88), o = _mm256_shuffle_ps(a, b, 0xDD);
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
}
static inline void vf8_zip(vf8 even, vf8 odd, vf8 *a, vf8 *b)
{
    vf8 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
    *a = _mm256_permute2f128_ps(lo, hi, 0x20);
    *b = _mm256_permute2f128_ps(lo, hi, 0x31);
}
#else
typedef struct {
    float v[8];
} vf8;
static inline vf8 vf8_zero(void) { vf8 r = {{0}}; return r; }
static inline vf8 vf8_set1(float x)
{
    vf8 r;
    for (int i = 0; i < 8; i++) r.v[i] = x;
    return r;
}
static inline vf8 vf8_load(const float *p)
{
    vf8 r;
    for (int i = 0; i < 8; i++) r.v[i] = p[i];
    return r;
}
static inline void vf8_store(float *p, vf8 v)
{
    for (int i = 0; i < 8; i++) p[i] = v.v[i];
}
static inline vf8 vf8_fma(vf8 a, vf8 b, vf8 c)
{
    vf8 r;
    for (int i = 0; i < 8; i++) r.v[i] = fmaf(a.v[i], b.v[i], c.v[i]);
    return r;
}
static inline vf8 vf8_add(vf8 a, vf8 b)
{
    vf8 r;
    for (int i = 0; i < 8; i++) r.v[i] = a.v[i] + b.v[i];
    return r;
}
static inline vf8 vf8_mul(vf8 a, vf8 b)
{
    vf8 r;
    for (int i = 0; i < 8; i++) r.v[i] = a.v[i] * b.v[i];
    return r;
}
typedef struct {
    int v[8];
} vi8;
static inline vf8 vf8_gt(vf8 a, vf8 b)
{
    vf8 r;
    for (int i = 0; i < 8; i++) r.v[i] = a.v[i] > b.v[i] ? 1.0f : 0.0f;
    return r;
}
static inline vf8 vf8_select(vf8 mask, vf8 a, vf8 b)
{
    vf8 r;
    for (int i = 0; i < 8; i++) r.v[i] = mask.v[i] != 0.0f ? a.v[i] : b.v[i];
    return r;
}
static inline vi8 vi8_ramp(int start)
{
    vi8 r;
    for (int i = 0; i < 8; i++) r.v[i] = start + i;
    return r;
}
static inline vi8 vi8_ramp2(int start)
{
    vi8 r;
    for (int i = 0; i < 8; i++) r.v[i] = start + 2 * i;
    return r;
}
static inline vi8 vi8_add(vi8 a, int k)
{
    for (int i = 0; i < 8; i++) a.v[i] += k;
    return a;
}
static inline vi8 vi8_select(vf8 mask, vi8 a, vi8 b)
{
    vi8 r;
    for (int i = 0; i < 8; i++) r.v[i] = mask.v[i] != 0.0f ? a.v[i] : b.v[i];
    return r;
}
static inline void vi8_store(int *p, vi8 v)
{
    for (int i = 0; i < 8; i++) p[i] = v.v[i];
}
static inline vi8 vi8_load(const int *p)
{
    vi8 r;
    for (int i = 0; i < 8; i++) r.v[i] = p[i];
    return r;
}
static inline vf8 vi8_eq(vi8 a, vi8 b)
{
    vf8 r;
    for (int i = 0; i < 8; i++) r.v[i] = a.v[i] == b.v[i] ? 1.0f : 0.0f;
    return r;
}
static inline vf8 vf8_max(vf8 a, vf8 b)
{
    vf8 r;
    for (int i = 0; i < 8; i++) r.v[i] = b.v[i] > a.v[i] ? b.v[i] : a.v[i];
    return r;
}
static inline void vf8_unzip(vf8 a, vf8 b, vf8 *even, vf8 *odd)
{
    for (int i = 0; i < 4; i++) {
        even->v[i] = a.v[2 * i];
        odd->v[i] = a.v[2 * i + 1];
        even->v[4 + i] = b.v[2 * i];
        odd->v[4 + i] = b.v[2 * i + 1];
    }
}
static inline void vf8_zip(vf8 even, vf8 odd, vf8 *a, vf8 *b)
{
    for (int i = 0; i < 4; i++) {
        a->v[2 * i] = even.v[i];
        a->v[2 * i + 1] = odd.v[i];
        b->v[2 * i] = even.v[4 + i];
        b->v[2 * i + 1] = odd.v[4 + i];
    }
}
#endif

/* 16-wide f32 vectors, where the compiler targets AVX-512F. Only kernels
 * whose every output sums its own terms, in an order fixed by the output
 * alone, use them: the lane width then changes no operation of any output,
 * so they give the bits of the 8-wide code. Reductions that keep 8 partial
 * sums per lane (the weight gradients) stay 8 wide. */
#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX2__) && defined(__FMA__)
#define SIMD_HAVE_VF16 1
typedef __m512 vf16;
static inline vf16 vf16_zero(void) { return _mm512_setzero_ps(); }
static inline vf16 vf16_set1(float x) { return _mm512_set1_ps(x); }
static inline vf16 vf16_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf16_store(float *p, vf16 v) { _mm512_storeu_ps(p, v); }
static inline vf16 vf16_fma(vf16 a, vf16 b, vf16 c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf16 vf16_add(vf16 a, vf16 b) { return _mm512_add_ps(a, b); }
static inline vf16 vf16_mul(vf16 a, vf16 b) { return _mm512_mul_ps(a, b); }
/* Two 8-lane vectors side by side (lo in lanes 0-7, hi in 8-15), and one
 * 8-lane run in both halves: for reductions that keep 8 partial sums per
 * output, two outputs' lanes share a 16-wide vector and each half sums
 * exactly what an 8-wide vector would. */
static inline vf16 vf16_halves(const float *lo, const float *hi)
{
    __m512d v = _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(lo)));
    return _mm512_castpd_ps(_mm512_insertf64x4(v, _mm256_castps_pd(_mm256_loadu_ps(hi)), 1));
}
static inline vf16 vf16_twice(const float *p) { return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(p)))); }
static inline vf8 vf16_low(vf16 v) { return _mm512_castps512_ps256(v); }
static inline vf8 vf16_high(vf16 v) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)); }
/* x > 0 ? x : 0 per lane (NaN and -0 give +0), as relu rounds */
static inline vf16 vf16_relu(vf16 v) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v); }
/* Sixteen consecutive values starting o places into mid (-16 < o < 16),
 * from the 48 of lo, mid, hi laid end to end: moves only. idx is
 * vf16_shift_index(o). */
typedef __m512i vi16;
static inline vi16 vf16_shift_index(int o)
{
    return _mm512_add_epi32(_mm512_set1_epi32(o < 0 ? 16 + o : o),
                            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}
static inline vf16 vf16_shifted(vf16 lo, vf16 mid, vf16 hi, int o, vi16 idx)
{
    if (o == 0) return mid;
    return o > 0 ? _mm512_permutex2var_ps(mid, idx, hi) : _mm512_permutex2var_ps(lo, idx, mid);
}
/* The same shift on 8-wide vectors (-8 < o < 8), for kernels that must
 * keep 8 lanes; idx is vf8_shift_index(o). */
static inline __m256i vf8_shift_index(int o)
{
    return _mm256_add_epi32(_mm256_set1_epi32(o < 0 ? 8 + o : o), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf8 vf8_shifted(vf8 lo, vf8 mid, vf8 hi, int o, __m256i idx)
{
    if (o == 0) return mid;
    return o > 0 ? _mm256_permutex2var_ps(mid, idx, hi) : _mm256_permutex2var_ps(lo, idx, mid);
}
/* The even (odd = 0) or odd (odd = 1) positions of a then b. */
static inline vf16 vf16_take_parity(vf16 a, vf16 b, int odd)
{
    __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(odd),
                                   _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30));
    return _mm512_permutex2var_ps(a, idx, b);
}
static inline vf8 vf8_take_parity(vf8 a, vf8 b, int odd)
{
    __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(odd), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
    return _mm256_permutex2var_ps(a, idx, b);
}
/* Masked FMA: lanes outside k keep c. */
static inline vf16 vf16_fma_where(vf16 a, vf16 b, vf16 c, __mmask16 k) { return _mm512_mask3_fmadd_ps(a, b, c, k); }
static inline vf8 vf8_fma_where(vf8 a, vf8 b, vf8 c, __mmask8 k) { return _mm256_mask3_fmadd_ps(a, b, c, k); }
/* e0 o0 e1 o1 ...: the first (high = 0) or second half of e and o
 * interleaved */
static inline vf16 vf16_interleave(vf16 e, vf16 o, int high)
{
    __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(high ? 8 : 0),
                                   _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
    return _mm512_permutex2var_ps(e, idx, o);
}
static inline vf8 vf8_interleave(vf8 e, vf8 o, int high)
{
    __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(high ? 4 : 0), _mm256_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11));
    return _mm256_permutex2var_ps(e, idx, o);
}
/* For argmax: lanes where a > b (ordered: NaN never wins), a mask-driven
 * select, and int lanes start, start + step, ... */
typedef __mmask16 vm16;
static inline vm16 vf16_gt(vf16 a, vf16 b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline vf16 vf16_select(vm16 m, vf16 a, vf16 b) { return _mm512_mask_mov_ps(b, m, a); }
static inline vi16 vi16_select(vm16 m, vi16 a, vi16 b) { return _mm512_mask_mov_epi32(b, m, a); }
static inline vi16 vi16_ramp_step(int start, int step)
{
    return _mm512_add_epi32(_mm512_set1_epi32(start),
                            _mm512_mullo_epi32(_mm512_set1_epi32(step),
                                               _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)));
}
static inline vi16 vi16_add(vi16 a, int k) { return _mm512_add_epi32(a, _mm512_set1_epi32(k)); }
static inline void vi16_store(int *p, vi16 v) { _mm512_storeu_si512((void *)p, v); }
static inline vi16 vi16_load(const int *p) { return _mm512_loadu_si512((const void *)p); }
/* a where the int lanes of i and j are equal, +0 elsewhere */
static inline vf16 vf16_where_eq(vi16 i, vi16 j, vf16 a) { return _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(i, j), a); }
#endif

/* x > 0 ? x : 0 per lane (NaN and -0 give +0), as relu rounds. */
static inline vf8 vf8_relu(vf8 v) { return vf8_select(vf8_gt(v, vf8_zero()), v, vf8_zero()); }

/* Copies a short row (8 to 32 values in the kernels) inline: a library
 * call per row would cost more than the copy. */
static inline void vf8_copy(float *dst, const float *src, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) vf8_store(dst + i, vf8_load(src + i));
    for (; i < n; i++) dst[i] = src[i];
}

/* Lanes summed pairwise in a fixed order. */
static inline float vf8_sum(vf8 v)
{
    float l[8];
    vf8_store(l, v);
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* Asks for the 64-byte lines of [p, p + bytes) to be brought into L1; a
 * hint, which changes no result. */
static inline void prefetch_lines(const void *p, size_t bytes)
{
    const char *c = (const char *)p;
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 0, 3);
}

#endif
