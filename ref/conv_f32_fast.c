/* Fast f32 paths for the two convolution shapes that carry almost all of
 * the DARTS work: pointwise (1x1, no padding, one group) and depthwise
 * (groups = channels, square kernel). Each output element is summed in a
 * fixed order that does not depend on the thread count; reductions over
 * many terms (weight gradients) keep 8 partial sums per vector lane,
 * combined in a fixed order. f64 runs use the plain kernels. */
#include <stdlib.h>
#include <string.h>

#include "normed.h"
#include "ref_conv_fast.h"
#include "ref_depthwise_shifted.h"
#include "ref_template.h"
#include "simd.h"
#include "row_halves.h"

#define REAL float
#define RB 4        /* output channels per pointwise register block */
#define MAX_TAPS 49 /* depthwise kernels up to 7x7 take the fast path */

static inline int is_pointwise(shape4 w, const node_params *p)
{
    return w.h == 1 && w.w == 1 && p->pad == 0 && p->groups == 1;
}

static inline int is_depthwise(shape4 x, shape4 w, const node_params *p)
{
    return p->groups == x.c && w.n == x.c && w.c == 1 && w.h == w.w && w.h * w.w <= MAX_TAPS;
}

/* ------------------------------------------------------------- GEMM */

/* RB = 4 rows by 2 W columns of Y from column p, in vectors of W (VEC is
 * vf8 or vf16): each output the sum over ci in order, one FMA per term,
 * whatever W. */
#define GEMM_BLOCK(VEC, W)                                                                                             \
    {                                                                                                                  \
        VEC a00 = VEC##_zero(), a01 = VEC##_zero(), a10 = VEC##_zero(), a11 = VEC##_zero();                            \
        VEC a20 = VEC##_zero(), a21 = VEC##_zero(), a30 = VEC##_zero(), a31 = VEC##_zero();                            \
        for (int ci = 0; ci < Ci; ci++) {                                                                              \
            const float *xr = X + (size_t)ci * ldx + p;                                                                \
            VEC x0 = VEC##_load(xr), x1 = VEC##_load(xr + W), w;                                                       \
            w = VEC##_set1(w0[ci]);                                                                                    \
            a00 = VEC##_fma(w, x0, a00);                                                                               \
            a01 = VEC##_fma(w, x1, a01);                                                                               \
            w = VEC##_set1(w1[ci]);                                                                                    \
            a10 = VEC##_fma(w, x0, a10);                                                                               \
            a11 = VEC##_fma(w, x1, a11);                                                                               \
            w = VEC##_set1(w2[ci]);                                                                                    \
            a20 = VEC##_fma(w, x0, a20);                                                                               \
            a21 = VEC##_fma(w, x1, a21);                                                                               \
            w = VEC##_set1(w3[ci]);                                                                                    \
            a30 = VEC##_fma(w, x0, a30);                                                                               \
            a31 = VEC##_fma(w, x1, a31);                                                                               \
        }                                                                                                              \
        float *y = Y + (size_t)co * ldy + p;                                                                           \
        VEC##_store(y, a00);                                                                                           \
        VEC##_store(y + W, a01);                                                                                       \
        VEC##_store(y + ldy, a10);                                                                                     \
        VEC##_store(y + ldy + W, a11);                                                                                 \
        VEC##_store(y + 2 * (size_t)ldy, a20);                                                                         \
        VEC##_store(y + 2 * (size_t)ldy + W, a21);                                                                     \
        VEC##_store(y + 3 * (size_t)ldy, a30);                                                                         \
        VEC##_store(y + 3 * (size_t)ldy + W, a31);                                                                     \
    }

/* Y (Co x np) = W (Co x Ci) X (Ci x np); X and Y rows at ldx, ldy. Every
 * output is the sum over ci in order. */
static void gemm(const float *W, int Co, int Ci, const float *X, int ldx, int np, float *Y, int ldy)
{
    int co = 0;
    for (; co + RB <= Co; co += RB) {
        const float *w0 = W + (size_t)co * Ci, *w1 = w0 + Ci, *w2 = w1 + Ci, *w3 = w2 + Ci;
        int p = 0;
#ifdef SIMD_HAVE_VF16
        for (; p + 32 <= np; p += 32) GEMM_BLOCK(vf16, 16) /* the same block 32 columns wide */
#endif
        for (; p + 16 <= np; p += 16) GEMM_BLOCK(vf8, 8)
        for (; p < np; p++)
            for (int r = 0; r < RB; r++) {
                float acc = 0;
                for (int ci = 0; ci < Ci; ci++) acc = fmaf(W[(size_t)(co + r) * Ci + ci], X[(size_t)ci * ldx + p], acc);
                Y[(size_t)(co + r) * ldy + p] = acc;
            }
    }
    for (; co < Co; co++)
        for (int p = 0; p < np; p++) {
            float acc = 0;
            for (int ci = 0; ci < Ci; ci++) acc = fmaf(W[(size_t)co * Ci + ci], X[(size_t)ci * ldx + p], acc);
            Y[(size_t)co * ldy + p] = acc;
        }
}

/* Geometry of a convolution with one group, for im2col. */
typedef struct dense_geom {
    int Ci, H, W, Co, Ho, Wo, K, s, p, d;
} dense_geom;

/* Column matrix of one image: row (ci, kh, kw), column (oh, ow), the input
 * pixel the tap reads or zero in the padding. */
static void im2col(const float *x, const dense_geom *g, float *col)
{
    int np = g->Ho * g->Wo;
    for (int ci = 0; ci < g->Ci; ci++)
        for (int kh = 0; kh < g->K; kh++)
            for (int kw = 0; kw < g->K; kw++) {
                float *row = col + ((size_t)(ci * g->K + kh) * g->K + kw) * np;
                for (int oh = 0; oh < g->Ho; oh++) {
                    int ih = oh * g->s - g->p + kh * g->d;
                    for (int ow = 0; ow < g->Wo; ow++) {
                        int iw = ow * g->s - g->p + kw * g->d;
                        row[oh * g->Wo + ow] =
                            ih >= 0 && ih < g->H && iw >= 0 && iw < g->W ? x[((size_t)ci * g->H + ih) * g->W + iw] : 0.0f;
                    }
                }
            }
}

/* The adjoint of im2col: dx (zeroed here) collects every column entry,
 * taps in (ci, kh, kw) order, then positions. */
static void col2im(const float *col, const dense_geom *g, float *dx)
{
    int np = g->Ho * g->Wo;
    memset(dx, 0, (size_t)g->Ci * g->H * g->W * sizeof *dx);
    for (int ci = 0; ci < g->Ci; ci++)
        for (int kh = 0; kh < g->K; kh++)
            for (int kw = 0; kw < g->K; kw++) {
                const float *row = col + ((size_t)(ci * g->K + kh) * g->K + kw) * np;
                for (int oh = 0; oh < g->Ho; oh++) {
                    int ih = oh * g->s - g->p + kh * g->d;
                    if (ih < 0 || ih >= g->H) continue;
                    for (int ow = 0; ow < g->Wo; ow++) {
                        int iw = ow * g->s - g->p + kw * g->d;
                        if (iw >= 0 && iw < g->W) dx[((size_t)ci * g->H + ih) * g->W + iw] += row[oh * g->Wo + ow];
                    }
                }
            }
}

static dense_geom dense_of(shape4 x, shape4 w, shape4 y, const node_params *p)
{
    dense_geom g = {x.c, x.h, x.w, w.n, y.h, y.w, w.h, p->stride, p->pad, p->dil};
    return g;
}

/* Below this many output pixels per image, the images of the batch are
 * laid side by side as the GEMM's columns (the auxiliary head's 2x2 and
 * 1x1 maps would otherwise give GEMMs one column wide). */
#define SMALL_MAP 32

/* The GEMM split by blocks of output rows across threads. */
static void gemm_parallel(const float *W, int Co, int Ci, const float *X, int ldx, int np, float *Y, int ldy, int par)
{
    int blocks = (Co + RB - 1) / RB;
#pragma omp parallel for schedule(static) if (par)
    for (int b = 0; b < blocks; b++) {
        int co = b * RB, nr = Co - co < RB ? Co - co : RB;
        gemm(W + (size_t)co * Ci, nr, Ci, X, ldx, np, Y + (size_t)co * ldy, ldy);
    }
}

/* Whole-batch forward for small maps: columns (n, p) of all images. */
static td_status dense_forward_batched(const kernel_args *a, const dense_geom *g)
{
    const float *x = IN(0), *w = IN(1);
    float *y = OUT;
    int N = a->in_shape[0].n, rows = g->Ci * g->K * g->K, np = g->Ho * g->Wo, cols = N * np;
    float *col = malloc((size_t)rows * cols * sizeof *col), *one = malloc((size_t)rows * np * sizeof *one);
    float *out = malloc((size_t)g->Co * cols * sizeof *out);
    if (!col || !one || !out) {
        free(col);
        free(one);
        free(out);
        return TD_FAIL(TD_ERR_MEMORY, "conv2d: out of memory");
    }
    for (int n = 0; n < N; n++) {
        im2col(x + (size_t)n * g->Ci * g->H * g->W, g, one);
        for (int r = 0; r < rows; r++) memcpy(col + (size_t)r * cols + (size_t)n * np, one + (size_t)r * np, (size_t)np * sizeof *col);
    }
    gemm_parallel(w, g->Co, rows, col, cols, cols, out, cols, ref_work(a) >= REF_PARALLEL_MIN);
    for (int n = 0; n < N; n++)
        for (int co = 0; co < g->Co; co++)
            memcpy(y + ((size_t)n * g->Co + co) * np, out + (size_t)co * cols + (size_t)n * np, (size_t)np * sizeof *y);
    free(col);
    free(one);
    free(out);
    return TD_OK;
}

static td_status dense_backward_data_batched(const kernel_args *a, const dense_geom *g, const float *wt)
{
    const float *dy = IN(0);
    float *dx = OUT;
    int N = a->out_shape.n, rows = g->Ci * g->K * g->K, np = g->Ho * g->Wo, cols = N * np;
    float *dyc = malloc((size_t)g->Co * cols * sizeof *dyc), *col = malloc((size_t)rows * cols * sizeof *col);
    float *one = malloc((size_t)rows * np * sizeof *one);
    if (!dyc || !col || !one) {
        free(dyc);
        free(col);
        free(one);
        return TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_data: out of memory");
    }
    for (int n = 0; n < N; n++)
        for (int co = 0; co < g->Co; co++)
            memcpy(dyc + (size_t)co * cols + (size_t)n * np, dy + ((size_t)n * g->Co + co) * np, (size_t)np * sizeof *dyc);
    gemm_parallel(wt, rows, g->Co, dyc, cols, cols, col, cols, ref_work(a) >= REF_PARALLEL_MIN);
    for (int n = 0; n < N; n++) {
        for (int r = 0; r < rows; r++) memcpy(one + (size_t)r * np, col + (size_t)r * cols + (size_t)n * np, (size_t)np * sizeof *one);
        col2im(one, g, dx + (size_t)n * g->Ci * g->H * g->W);
    }
    free(dyc);
    free(col);
    free(one);
    return TD_OK;
}

/* Convolutions with one group and a kernel larger than 1x1 (the stem, the
 * auxiliary head): im2col, then the same GEMM. */
static td_status dense_forward(const kernel_args *a)
{
    const float *x = IN(0), *w = IN(1);
    float *y = OUT;
    dense_geom g = dense_of(a->in_shape[0], a->in_shape[1], a->out_shape, P);
    int rows = g.Ci * g.K * g.K, np = g.Ho * g.Wo, failed = 0;
    if (np < SMALL_MAP) return dense_forward_batched(a, &g);
#pragma omp parallel if (ref_work(a) >= REF_PARALLEL_MIN)
    {
        float *col = malloc((size_t)rows * np * sizeof *col);
        if (!col) failed = 1;
#pragma omp for schedule(static)
        for (int n = 0; n < a->in_shape[0].n; n++) {
            if (!col) continue;
            im2col(x + (size_t)n * g.Ci * g.H * g.W, &g, col);
            gemm(w, g.Co, rows, col, np, np, y + (size_t)n * g.Co * np, np);
        }
        free(col);
    }
    return failed ? TD_FAIL(TD_ERR_MEMORY, "conv2d: out of memory") : TD_OK;
}

static td_status dense_backward_data(const kernel_args *a)
{
    const float *dy = IN(0), *w = IN(1);
    float *dx = OUT;
    dense_geom g = dense_of(a->out_shape, a->in_shape[1], a->in_shape[0], P);
    int rows = g.Ci * g.K * g.K, np = g.Ho * g.Wo, failed = 0;
    float *wt = malloc((size_t)rows * g.Co * sizeof *wt);
    if (!wt) return TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_data: out of memory");
    for (int co = 0; co < g.Co; co++)
        for (int r = 0; r < rows; r++) wt[(size_t)r * g.Co + co] = w[(size_t)co * rows + r];
    if (np < SMALL_MAP) {
        td_status r = dense_backward_data_batched(a, &g, wt);
        free(wt);
        return r;
    }
#pragma omp parallel if (ref_work(a) >= REF_PARALLEL_MIN)
    {
        float *col = malloc((size_t)rows * np * sizeof *col);
        if (!col) failed = 1;
#pragma omp for schedule(static)
        for (int n = 0; n < a->out_shape.n; n++) {
            if (!col) continue;
            gemm(wt, rows, g.Co, dy + (size_t)n * g.Co * np, np, np, col, np);
            col2im(col, &g, dx + (size_t)n * g.Ci * g.H * g.W);
        }
        free(col);
    }
    free(wt);
    return failed ? TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_data: out of memory") : TD_OK;
}

/* A strided 1x1 conv reads x[s oh][s ow]: gathered into dense rows. */
static void gather_strided(const float *x, int C, int H, int W, int s, int Ho, int Wo, float *out)
{
    for (int c = 0; c < C; c++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) out[((size_t)c * Ho + oh) * Wo + ow] = x[((size_t)c * H + oh * s) * W + ow * s];
}

static td_status pw_forward(const kernel_args *a)
{
    const float *x = IN(0), *w = IN(1);
    float *y = OUT;
    shape4 xs = a->in_shape[0], ys = a->out_shape;
    int s = P->stride, Ci = xs.c, Co = ys.c, np = ys.h * ys.w;
    int failed = 0;
#pragma omp parallel if (ref_work(a) >= REF_PARALLEL_MIN)
    {
        float *buf = s == 1 ? NULL : malloc((size_t)Ci * np * sizeof *buf);
        if (s != 1 && !buf) failed = 1;
#pragma omp for schedule(static)
        for (int n = 0; n < xs.n; n++) {
            if (s != 1 && !buf) continue;
            const float *xn = x + (size_t)n * Ci * xs.h * xs.w;
            if (buf) {
                gather_strided(xn, Ci, xs.h, xs.w, s, ys.h, ys.w, buf);
                xn = buf;
            }
            gemm(w, Co, Ci, xn, np, np, y + (size_t)n * Co * np, np);
        }
        free(buf);
    }
    return failed ? TD_FAIL(TD_ERR_MEMORY, "conv2d: out of memory") : TD_OK;
}

static td_status pw_backward_data(const kernel_args *a)
{
    const float *dy = IN(0), *w = IN(1);
    float *dx = OUT;
    shape4 ys = a->in_shape[0], xs = a->out_shape;
    int s = P->stride, Ci = xs.c, Co = ys.c, np = ys.h * ys.w;
    /* dX = W^T dY: the small weight is transposed once. */
    float *wt = malloc((size_t)Ci * Co * sizeof *wt);
    if (!wt) return TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_data: out of memory");
    for (int co = 0; co < Co; co++)
        for (int ci = 0; ci < Ci; ci++) wt[(size_t)ci * Co + co] = w[(size_t)co * Ci + ci];
    int failed = 0;
#pragma omp parallel if (ref_work(a) >= REF_PARALLEL_MIN)
    {
        float *buf = s == 1 ? NULL : malloc((size_t)Ci * np * sizeof *buf);
        if (s != 1 && !buf) failed = 1;
#pragma omp for schedule(static)
        for (int n = 0; n < xs.n; n++) {
            float *dxn = dx + (size_t)n * Ci * xs.h * xs.w;
            const float *dyn = dy + (size_t)n * Co * np;
            if (s == 1) {
                gemm(wt, Ci, Co, dyn, np, np, dxn, np);
                continue;
            }
            if (!buf) continue;
            gemm(wt, Ci, Co, dyn, np, np, buf, np);
            memset(dxn, 0, (size_t)Ci * xs.h * xs.w * sizeof *dxn);
            for (int c = 0; c < Ci; c++)
                for (int oh = 0; oh < ys.h; oh++)
                    for (int ow = 0; ow < ys.w; ow++)
                        dxn[((size_t)c * xs.h + oh * s) * xs.w + ow * s] = buf[((size_t)c * ys.h + oh) * ys.w + ow];
        }
        free(buf);
    }
    free(wt);
    return failed ? TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_data: out of memory") : TD_OK;
}

/* Register block of the weight gradient: up to FR output by FC input
 * channels (8 accumulators, 4 dY rows held, X streamed: no spills with 16
 * vector registers). With AVX-512, 6 (or 4) by 8: two entries' 8 lanes
 * share each of 24 (16) 16-wide accumulators, so one FMA does the work of
 * two 8-wide ones and each dY load serves four of them; blocks of 6 rows
 * take 14 loads for 24 FMAs where blocks of 4 take 12 for 16 (in the
 * retraining's 36-, 72- and 144-channel convolutions 13-16% faster
 * alone). Channel counts that 6 does not divide (a search's 16, 32, 64)
 * keep blocks of 4. The block changes which sums share a pass, never any
 * sum's order. */
#ifdef SIMD_HAVE_VF16
#define FR 6
#define FC 8
#else
#define FR 4
#define FC 2
#endif
#define BLOCK_FLOATS (2 * FR * FC * 8) /* lanes, then tail lanes */

/* Output channels per block for Co of them. */
static int filter_rows(int Co)
{
    return FR == 6 && Co % 6 == 0 ? 6 : 4;
}

/* Images summed into a block between two visits of its partial sums:
 * enough for about GROUP_POSITIONS positions (1 image of 32x32, 2 of
 * 16x16, 8 of 8x8), and no more than fill GROUP_BYTES of a core's L2
 * with their dY and X rows, which every block of the group reads from
 * there. A block's sums stay in registers across its group: at 8x8 a
 * pass over one image is 8 vector steps, and loading and storing 16
 * accumulators around each cost as much as the steps. */
#define GROUP_POSITIONS 512
#define GROUP_BYTES (1 << 20)

/* What every block's pass reads: dY (images of Co rows) and X (images of
 * Ci rows), np positions a row, and how far ahead the next rows are asked
 * for: a group, the images the same block takes next. */
typedef struct {
    const float *dy, *x;
    size_t dy_image, x_image; /* floats from an image's rows to the next's */
    int np, n_images, ahead;
} filter_pass;

/* One block of the weight gradient: rows co0.. (nr of them) by columns
 * ci0.. (nc). Block b runs over output channels within input channels
 * when X is the larger operand, so that each thread of a static split
 * reads part of X and all of dY rather than all of X (0.255 to 0.20 s
 * per retraining step for the 144-to-36 convolutions), and the other way
 * round otherwise. */
typedef struct {
    int co0, ci0, nr, nc;
} filter_block;

static filter_block filter_block_at(int b, int Co, int Ci, int rows)
{
    int cob = (Co + rows - 1) / rows, cib = (Ci + FC - 1) / FC;
    filter_block k;
    k.co0 = (Ci > Co ? b % cob : b / cib) * rows;
    k.ci0 = (Ci > Co ? b / cob : b % cib) * FC;
    k.nr = Co - k.co0 < rows ? Co - k.co0 : rows;
    k.nc = Ci - k.ci0 < FC ? Ci - k.ci0 : FC;
    return k;
}

/* The full vectors of images [n0, n1) summed into block k, R rows and 2
 * kp columns, its sums held in registers across the images; lanes 0-7 of
 * s[r][j] are entry (r, 2j)'s 8 lanes, lanes 8-15 entry (r, 2j + 1)'s.
 * Each lane takes the terms of the 8-wide code in its order: image after
 * image, chunk after chunk. While it sums an image it asks for the same
 * rows f->ahead images on (into L2), a line of each per line read: an
 * image's rows are planes a page or more apart, where the hardware
 * prefetcher starts cold on every one (0.231 -> 0.199 s per search step
 * at batch 64). */
static inline __attribute__((always_inline)) void block_run(const filter_pass *f, filter_block k, int n0, int n1, float *acc,
                                                             const int kp, const int R)
{
    int np = f->np, full = np / 8 * 8;
    size_t ahead_dy = (size_t)f->ahead * f->dy_image, ahead_x = (size_t)f->ahead * f->x_image;
#ifdef SIMD_HAVE_VF16
    vf16 s[FR][FC / 2];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < kp; j++) s[r][j] = vf16_halves(acc + (r * FC + 2 * j) * 8, acc + (r * FC + 2 * j + 1) * 8);
#else
    vf8 s[FR][FC];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 2 * kp; c++) s[r][c] = vf8_load(acc + (r * FC + c) * 8);
#endif
    for (int n = n0; n < n1; n++) {
        const float *dyn = f->dy + n * f->dy_image + (size_t)k.co0 * np, *xn = f->x + n * f->x_image + (size_t)k.ci0 * np;
        int more = n + f->ahead < f->n_images;
        for (int p = 0; p < full; p += 8) {
            if (more && p % 16 == 0) { /* 16 floats: a 64-byte line */
                for (int r = 0; r < R; r++) __builtin_prefetch(dyn + ahead_dy + (size_t)r * np + p, 0, 2);
                for (int c = 0; c < 2 * kp; c++) __builtin_prefetch(xn + ahead_x + (size_t)c * np + p, 0, 2);
            }
#ifdef SIMD_HAVE_VF16
            vf16 u[FC / 2];
            for (int j = 0; j < kp; j++) u[j] = vf16_halves(xn + (size_t)(2 * j) * np + p, xn + (size_t)(2 * j + 1) * np + p);
            for (int r = 0; r < R; r++) {
                vf16 g = vf16_twice(dyn + (size_t)r * np + p);
                for (int j = 0; j < kp; j++) s[r][j] = vf16_fma(g, u[j], s[r][j]);
            }
#else
            vf8 u[FC];
            for (int c = 0; c < 2 * kp; c++) u[c] = vf8_load(xn + (size_t)c * np + p);
            for (int r = 0; r < R; r++) {
                vf8 g = vf8_load(dyn + (size_t)r * np + p);
                for (int c = 0; c < 2 * kp; c++) s[r][c] = vf8_fma(g, u[c], s[r][c]);
            }
#endif
        }
    }
#ifdef SIMD_HAVE_VF16
    for (int r = 0; r < R; r++)
        for (int j = 0; j < kp; j++) {
            vf8_store(acc + (r * FC + 2 * j) * 8, vf16_low(s[r][j]));
            vf8_store(acc + (r * FC + 2 * j + 1) * 8, vf16_high(s[r][j]));
        }
#else
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 2 * kp; c++) vf8_store(acc + (r * FC + c) * 8, s[r][c]);
#endif
}

/* Block k's register path, where it has one (6 or 4 rows and an even
 * number of columns; the last block of 36 input channels has 4: 0.60 to
 * 0.49 s per retraining step in those convolutions), each shape its own
 * instance with constant bounds; 0 where it has none. */
static int block_registers(const filter_pass *f, filter_block k, int n0, int n1, float *acc)
{
#ifdef SIMD_HAVE_VF16
#define BLOCK_RUN_ROWS(R)                                                                                              \
    switch (k.nc) {                                                                                                    \
    case 8: block_run(f, k, n0, n1, acc, 4, R); return 1;                                                             \
    case 6: block_run(f, k, n0, n1, acc, 3, R); return 1;                                                             \
    case 4: block_run(f, k, n0, n1, acc, 2, R); return 1;                                                             \
    case 2: block_run(f, k, n0, n1, acc, 1, R); return 1;                                                             \
    default: return 0;                                                                                                 \
    }
    if (k.nr == 6) BLOCK_RUN_ROWS(6)
    if (k.nr == 4) BLOCK_RUN_ROWS(4)
#undef BLOCK_RUN_ROWS
#else
    if (k.nr == 4 && k.nc == FC) {
        block_run(f, k, n0, n1, acc, FC / 2, 4);
        return 1;
    }
#endif
    return 0;
}

/* Images [n0, n1) summed into block k: acc holds its FR x FC vectors of 8
 * partial sums, then its tail lanes (positions past the last full 8).
 * Blocks without a register path sum entry by entry. */
static void filter_block_images(const filter_pass *f, filter_block k, int n0, int n1, float *acc)
{
    int np = f->np, full = np / 8 * 8;
    float *tail = acc + FR * FC * 8;
    if (!block_registers(f, k, n0, n1, acc))
        for (int n = n0; n < n1; n++) {
            const float *dyn = f->dy + n * f->dy_image + (size_t)k.co0 * np, *xn = f->x + n * f->x_image + (size_t)k.ci0 * np;
            for (int r = 0; r < k.nr; r++)
                for (int c = 0; c < k.nc; c++) {
                    float *l = acc + (r * FC + c) * 8;
                    vf8 s = vf8_load(l);
                    for (int p = 0; p < full; p += 8) s = vf8_fma(vf8_load(dyn + (size_t)r * np + p), vf8_load(xn + (size_t)c * np + p), s);
                    vf8_store(l, s);
                }
        }
    for (int n = n0; n < n1 && full < np; n++) {
        const float *dyn = f->dy + n * f->dy_image + (size_t)k.co0 * np, *xn = f->x + n * f->x_image + (size_t)k.ci0 * np;
        for (int p = full; p < np; p++)
            for (int r = 0; r < k.nr; r++)
                for (int c = 0; c < k.nc; c++) {
                    float *l = &tail[(r * FC + c) * 8 + p - full];
                    *l = fmaf(dyn[(size_t)r * np + p], xn[(size_t)c * np + p], *l);
                }
    }
}

/* dW (Co x Ci) = sum_n dY[n] (Co x np) X[n]^T: each entry a dot product
 * in 8 lanes (n-major, then p in chunks of 8, the rest in tail lanes),
 * lanes combined in a fixed order. Groups of images are the outer loop so
 * that one group's dY and X stay in cache while every block reads them;
 * each block's partial sums wait in memory between groups. */
static td_status filter_blocks(const float *dy, const float *xd, int N, int Co, int Ci, int np, float *dw, int par)
{
    int rows = filter_rows(Co), nb = (Co + rows - 1) / rows * ((Ci + FC - 1) / FC);
    float *acc = calloc((size_t)nb * BLOCK_FLOATS, sizeof *acc);
    if (!acc) return TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_filter: out of memory");
    size_t image_bytes = (size_t)(Co + Ci) * np * sizeof(float);
    int group = (GROUP_POSITIONS + np - 1) / np;
    if ((size_t)group * image_bytes > GROUP_BYTES) group = image_bytes >= GROUP_BYTES ? 1 : (int)(GROUP_BYTES / image_bytes);
    filter_pass f = {dy, xd, (size_t)Co * np, (size_t)Ci * np, np, N, group};
    /* No barrier between groups: a static schedule over the same nb blocks
     * hands every block to the same thread for every group (OpenMP
     * guarantees it), so each block's sums still run image after image on
     * one thread. */
#pragma omp parallel if (par)
    for (int n0 = 0; n0 < N; n0 += group) {
        int n1 = N - n0 > group ? n0 + group : N;
#pragma omp for schedule(static) nowait
        for (int b = 0; b < nb; b++) filter_block_images(&f, filter_block_at(b, Co, Ci, rows), n0, n1, acc + (size_t)b * BLOCK_FLOATS);
    }
    for (int b = 0; b < nb; b++) {
        filter_block k = filter_block_at(b, Co, Ci, rows);
        const float *blk = acc + (size_t)b * BLOCK_FLOATS, *tail = blk + FR * FC * 8;
        for (int r = 0; r < k.nr; r++)
            for (int c = 0; c < k.nc; c++) {
                const float *t = tail + (r * FC + c) * 8;
                float ts = 0;
                for (int j = 0; j < 8; j++) ts += t[j];
                dw[(size_t)(k.co0 + r) * Ci + k.ci0 + c] = vf8_sum(vf8_load(blk + (r * FC + c) * 8)) + ts;
            }
    }
    free(acc);
    return TD_OK;
}

/* dW[co][ci] = sum_n sum_p dY[n][co][p] X[n][ci][p]: FR x FC blocks of
 * dot products, each in 8 lanes (n-major, then p in chunks of 8). */
static td_status pw_backward_filter(const kernel_args *a)
{
    const float *x = IN(0), *dy = IN(1);
    float *dw = OUT;
    shape4 xs = a->in_shape[0], ys = a->in_shape[1], ws = a->out_shape;
    int s = P->stride, Co = ys.c, np = ys.h * ys.w, N = xs.n;
    /* dense kernels: the "input channels" are the im2col rows (ci, kh, kw) */
    int dense = ws.h != 1 || ws.w != 1 || P->pad != 0;
    int Ci = dense ? xs.c * ws.h * ws.w : xs.c;
    if (np < SMALL_MAP) {
        /* small maps: all images side by side, one reduction over (n, p) */
        dense_geom g = dense_of(xs, ws, ys, P);
        int cols = N * np;
        float *col = malloc((size_t)Ci * cols * sizeof *col), *one = malloc((size_t)Ci * np * sizeof *one);
        float *dyc = malloc((size_t)Co * cols * sizeof *dyc);
        if (!col || !one || !dyc) {
            free(col);
            free(one);
            free(dyc);
            return TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_filter: out of memory");
        }
        for (int n = 0; n < N; n++) {
            im2col(x + (size_t)n * xs.c * xs.h * xs.w, &g, one);
            for (int r = 0; r < Ci; r++) memcpy(col + (size_t)r * cols + (size_t)n * np, one + (size_t)r * np, (size_t)np * sizeof *col);
            for (int co = 0; co < Co; co++)
                memcpy(dyc + (size_t)co * cols + (size_t)n * np, dy + ((size_t)n * Co + co) * np, (size_t)np * sizeof *dyc);
        }
        td_status st = filter_blocks(dyc, col, 1, Co, Ci, cols, dw, ref_work(a) >= REF_PARALLEL_MIN);
        free(col);
        free(one);
        free(dyc);
        return st;
    }
    const float *xd = x;
    float *gathered = NULL;
    if (s != 1 || dense) {
        gathered = malloc((size_t)N * Ci * np * sizeof *gathered);
        if (!gathered) return TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_filter: out of memory");
        dense_geom g = dense_of(xs, ws, ys, P);
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
        for (int n = 0; n < N; n++) {
            if (dense)
                im2col(x + (size_t)n * xs.c * xs.h * xs.w, &g, gathered + (size_t)n * Ci * np);
            else
                gather_strided(x + (size_t)n * Ci * xs.h * xs.w, Ci, xs.h, xs.w, s, ys.h, ys.w,
                               gathered + (size_t)n * Ci * np);
        }
        xd = gathered;
    }
    td_status st = filter_blocks(dy, xd, N, Co, Ci, np, dw, ref_work(a) >= REF_PARALLEL_MIN);
    free(gathered);
    return st;
}

/* ---------------------------------------------------------- depthwise */

/* Copies a plane into the middle of a buffer with a border of width pad
 * ((H + 2 pad) x (W + 2 pad), rows at Wp), so that every tap reads memory.
 * The border is zeroed once, when the buffer is allocated (calloc); each
 * plane overwrites only the interior. */
static void pad_plane(const float *src, int H, int W, int pad, float *dst, int Wp)
{
    for (int h = 0; h < H; h++) vf8_copy(dst + (size_t)(h + pad) * Wp + pad, src + (size_t)h * W, W);
}

/* dst = relu(src), rounded as the relu kernel rounds (x > 0 ? x : 0, so
 * NaN and -0 give +0): the input of a convolution whose ReLU is not
 * stored (FUSED_RELU_CONV, FUSED_RELU_FILTER). */
static void relu_copy(float *dst, const float *src, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) vf8_store(dst + i, vf8_relu(vf8_load(src + i)));
    for (; i < n; i++) dst[i] = src[i] > 0 ? src[i] : 0;
}

/* pad_plane, of relu(src) when relu is set. */
static void pad_plane_of(const float *src, int H, int W, int pad, float *dst, int Wp, int relu)
{
    if (!relu) {
        pad_plane(src, H, W, pad, dst, Wp);
        return;
    }
    for (int h = 0; h < H; h++) relu_copy(dst + (size_t)(h + pad) * Wp + pad, src + (size_t)h * W, W);
}

/* Eight output vectors at once: vector j of tap t reads tap[t] + off[j].
 * One FMA chain per output would wait on the FMA latency at every tap;
 * eight independent chains keep both FMA units busy. Every output still
 * sums its taps in order, so the bits are those of one chain. */
static inline void dw_vec8(const float *const *tap, int KK, const float *w, const size_t *off, float *const *dst)
{
    vf8 acc[8];
    for (int j = 0; j < 8; j++) acc[j] = vf8_zero();
    for (int t = 0; t < KK; t++) {
        vf8 wv = vf8_set1(w[t]);
        const float *b = tap[t];
        for (int j = 0; j < 8; j++) acc[j] = vf8_fma(wv, vf8_load(b + off[j]), acc[j]);
    }
    for (int j = 0; j < 8; j++) vf8_store(dst[j], acc[j]);
}

/* The same for the last nv < 8 vectors of a plane. */
static void dw_vec_few(const float *const *tap, int KK, const float *w, const size_t *off, float *const *dst, int nv)
{
    for (int j = 0; j < nv; j++) {
        vf8 acc = vf8_zero();
        for (int t = 0; t < KK; t++) acc = vf8_fma(vf8_set1(w[t]), vf8_load(tap[t] + off[j]), acc);
        vf8_store(dst[j], acc);
    }
}

/* The full 8-wide vectors of a plane, (oh, vector) in order, eight at a
 * time; tap[t] is where output (0, 0) reads tap t, and output (oh, 8 v)
 * reads it row_step oh + 8 v further on. */
static void dw_plane_vectors_any(const float *const *tap, int KK, const float *w, size_t row_step, float *y, int Ho, int Wo)
{
    int V = Wo / 8, nq = Ho * V, oh = 0, v = 0;
    size_t off[8];
    float *dst[8];
    for (int q0 = 0; q0 < nq; q0 += 8) {
        int nv = nq - q0 < 8 ? nq - q0 : 8;
        for (int j = 0; j < nv; j++) {
            off[j] = (size_t)oh * row_step + (size_t)v * 8;
            dst[j] = y + (size_t)oh * Wo + (size_t)v * 8;
            if (++v == V) v = 0, oh++;
        }
        if (nv == 8)
            dw_vec8(tap, KK, w, off, dst);
        else
            dw_vec_few(tap, KK, w, off, dst, nv);
    }
}

/* R output rows of V vectors of W floats each (R V = 8 accumulators; VEC
 * vf8 or vf16), rows oh0 .. oh0 + R - 1. With R and V constants every load
 * is a base register plus a fixed displacement, so a tap costs eight loads
 * and eight FMAs and no address arithmetic; each output still sums its
 * taps in order, whatever W. */
#define DW_ROWS(NAME, VEC, W)                                                                                          \
    static inline __attribute__((always_inline)) void NAME(const float *const *tap, int KK, const float *w,            \
                                                           size_t row_step, float *y, int Wo, int oh0, const int R,    \
                                                           const int V)                                                \
    {                                                                                                                  \
        VEC acc[8];                                                                                                    \
        for (int j = 0; j < R * V; j++) acc[j] = VEC##_zero();                                                         \
        size_t in0 = (size_t)oh0 * row_step;                                                                           \
        for (int t = 0; t < KK; t++) {                                                                                 \
            VEC wv = VEC##_set1(w[t]);                                                                                 \
            const float *b = tap[t] + in0;                                                                             \
            for (int r = 0; r < R; r++)                                                                                \
                for (int v = 0; v < V; v++)                                                                            \
                    acc[r * V + v] = VEC##_fma(wv, VEC##_load(b + r * row_step + W * v), acc[r * V + v]);              \
        }                                                                                                              \
        float *o = y + (size_t)oh0 * Wo;                                                                               \
        for (int r = 0; r < R; r++)                                                                                    \
            for (int v = 0; v < V; v++) VEC##_store(o + (size_t)r * Wo + W * v, acc[r * V + v]);                       \
    }
DW_ROWS(dw_rows, vf8, 8)
#ifdef SIMD_HAVE_VF16
DW_ROWS(dw_rows16, vf16, 16)
#endif
#undef DW_ROWS

/* Output rows from 0 that rows of 16-wide vectors computed: widths 16 and
 * 32 (the DARTS maps at 16x16 and 32x32) in blocks of 8 or 4 rows; the
 * rest, and every row without AVX-512, is left to the 8-wide code. */
static int dw_plane_vectors16(const float *const *tap, int KK, const float *w, size_t row_step, float *y, int Ho, int Wo)
{
    int oh = 0;
#ifdef SIMD_HAVE_VF16
    if (Wo == 32)
        for (; oh + 4 <= Ho; oh += 4) dw_rows16(tap, KK, w, row_step, y, Wo, oh, 4, 2);
    else if (Wo == 16)
        for (; oh + 8 <= Ho; oh += 8) dw_rows16(tap, KK, w, row_step, y, Wo, oh, 8, 1);
#else
    (void)tap, (void)KK, (void)w, (void)row_step, (void)y, (void)Ho, (void)Wo;
#endif
    return oh;
}

/* The full 8-wide vectors of a plane. Rows of V = 1, 2 or 4 vectors
 * (widths 8-23 and 32-39) go by blocks of 8 / V rows; other widths (24-31
 * among them) and the rows left over take the general path. Every output
 * sums its taps in order whichever path computes it, so the paths give
 * the same bits. */
static void dw_plane_vectors(const float *const *tap, int KK, const float *w, size_t row_step, float *y, int Ho, int Wo)
{
    int V = Wo / 8, R = V == 4 ? 2 : V == 2 ? 4 : V == 1 ? 8 : 0, oh = dw_plane_vectors16(tap, KK, w, row_step, y, Ho, Wo);
    if (R)
        for (; oh + R <= Ho; oh += R) {
            if (V == 4)
                dw_rows(tap, KK, w, row_step, y, Wo, oh, 2, 4);
            else if (V == 2)
                dw_rows(tap, KK, w, row_step, y, Wo, oh, 4, 2);
            else
                dw_rows(tap, KK, w, row_step, y, Wo, oh, 8, 1);
        }
    if (oh == Ho) return;
    const float *rest[MAX_TAPS];
    for (int t = 0; t < KK; t++) rest[t] = tap[t] + (size_t)oh * row_step;
    dw_plane_vectors_any(rest, KK, w, row_step, y + (size_t)oh * Wo, Ho - oh, Wo);
}

/* y[oh][ow] = sum over taps (kh, kw) in order of w x_padded[oh + kh d][ow + kw d]
 * (stride 1); vectors of 8 outputs, the rest one by one. */
static void dw_plane_s1(const float *xp, int Wp, const float *w, int K, int d, float *y, int Ho, int Wo)
{
    const float *tap[MAX_TAPS];
    for (int kh = 0; kh < K; kh++)
        for (int kw = 0; kw < K; kw++) tap[kh * K + kw] = xp + (size_t)kh * d * Wp + kw * d;
    dw_plane_vectors(tap, K * K, w, (size_t)Wp, y, Ho, Wo);
    for (int oh = 0; oh < Ho; oh++)
        for (int ow = Wo / 8 * 8; ow < Wo; ow++) {
            float acc = 0;
            for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++) acc = fmaf(w[kh * K + kw], xp[(size_t)(oh + kh * d) * Wp + ow + kw * d], acc);
            y[(size_t)oh * Wo + ow] = acc;
        }
}

/* Where the even (E) and odd (O) source columns of a row sit in the two
 * halves of its padded row: padded column c = source column + pad lives in
 * half (c odd) at c / 2. */
static void half_slots(float *ev_row, float *od_row, int pad, float **E, float **O)
{
    *E = pad & 1 ? od_row + (pad - 1) / 2 : ev_row + pad / 2;
    *O = pad & 1 ? ev_row + (pad + 1) / 2 : od_row + pad / 2;
}

/* The even and odd columns of the plane padded by pad (Hp x Wp, never
 * built), each Hp x Wh with Wh = (Wp + 1) / 2, so that stride-2 taps read
 * contiguously; of relu(src), through the W floats at relu_row, when that
 * is not NULL. Only the interior is written, the same cells for every
 * plane of one shape: the border is zeroed once, when the halves are
 * allocated (calloc), as for pad_plane. */
static void pad_split(const float *src, int H, int W, int pad, float *ev, float *od, float *relu_row)
{
    int Wh = (W + 2 * pad + 1) / 2;
    for (int h = 0; h < H; h++) {
        float *E, *O;
        const float *row = src + (size_t)h * W;
        half_slots(ev + (size_t)(h + pad) * Wh, od + (size_t)(h + pad) * Wh, pad, &E, &O);
        if (relu_row) {
            relu_copy(relu_row, row, W);
            row = relu_row;
        }
        unzip_row(row, W, E, O);
    }
}

/* Column 2 ow + c of a padded row lives in half (c odd) at ow + c / 2. */
static inline const float *half_at(const float *ev, const float *od, int Wh, int row, int c)
{
    return ((c & 1) ? od : ev) + (size_t)row * Wh + c / 2;
}

/* Stride 2: y[oh][ow] = sum over taps of w x[2 oh + kh d][2 ow + kw d];
 * output (oh, ow) reads its tap 2 oh rows of a half further on. */
static void dw_plane_s2(const float *ev, const float *od, int Wh, const float *w, int K, int d, float *y, int Ho, int Wo)
{
    const float *tap[MAX_TAPS];
    for (int kh = 0; kh < K; kh++)
        for (int kw = 0; kw < K; kw++) tap[kh * K + kw] = half_at(ev, od, Wh, kh * d, kw * d);
    dw_plane_vectors(tap, K * K, w, 2 * (size_t)Wh, y, Ho, Wo);
    for (int oh = 0; oh < Ho; oh++)
        for (int ow = Wo / 8 * 8; ow < Wo; ow++) {
            float acc = 0;
            for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++)
                    acc = fmaf(w[kh * K + kw], half_at(ev, od, Wh, 2 * oh + kh * d, kw * d)[ow], acc);
            y[(size_t)oh * Wo + ow] = acc;
        }
}

/* The same with any other stride (scalar; not used by DARTS). */
static void dw_plane_strided(const float *xp, int Wp, const float *w, int K, int d, int s, float *y, int Ho, int Wo)
{
    for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++) {
            float acc = 0;
            for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++)
                    acc = fmaf(w[kh * K + kw], xp[(size_t)(oh * s + kh * d) * Wp + ow * s + kw * d], acc);
            y[(size_t)oh * Wo + ow] = acc;
        }
}

/* The forward of x, or of relu(x) when relu is set (x is then the ReLU's
 * input, not the node's); x normed when xn is set (normed.h), each plane
 * then made, with its ReLU, in scratch that stays in cache. */
static td_status dw_forward_of(const kernel_args *a, const float *x, int relu_in, const normed_input *xn)
{
    const float *w = IN(1);
    float *y = OUT;
    shape4 xs = a->in_shape[0], ws = a->in_shape[1], ys = a->out_shape;
    int C = xs.c, H = xs.h, W = xs.w, K = ws.h, s = P->stride, p = P->pad, d = P->dil;
    int Wp = W + 2 * p, Hp = H + 2 * p, Wh = (Wp + 1) / 2, failed = 0;
#pragma omp parallel if (ref_work(a) >= REF_PARALLEL_MIN)
    {
        float *buf = calloc((size_t)Hp * Wp, sizeof *buf); /* zero border: see pad_plane */
        float *ev = calloc((size_t)Hp * Wh, sizeof *ev), *od = calloc((size_t)Hp * Wh, sizeof *od); /* see pad_split */
        float *row = relu_in ? malloc((size_t)W * sizeof *row) : NULL;
        float *made = xn ? malloc((size_t)H * W * sizeof *made) : NULL;
        int ok = buf && ev && od && (row || !relu_in) && (made || !xn);
        if (!ok) failed = 1;
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < xs.n; n++)
            for (int c = 0; c < C; c++) {
                if (!ok) continue;
                const float *xpl = x + ((size_t)n * C + c) * H * W;
                float *yp = y + ((size_t)n * C + c) * ys.h * ys.w;
                int relu = relu_in;
                if (xn) {
                    normed_relu_plane(xn, xs, (size_t)n * C + c, made);
                    xpl = made;
                    relu = 0;
                }
                if (s == 2 && dw_s2_shifted_fits(H, W, K, d, p)) {
                    dw_plane_s2_shifted(xpl, H, W, w + (size_t)c * K * K, K, d, relu, yp);
                } else if (s == 2) {
                    pad_split(xpl, H, W, p, ev, od, relu ? row : NULL);
                    dw_plane_s2(ev, od, Wh, w + (size_t)c * K * K, K, d, yp, ys.h, ys.w);
                } else if (s == 1 && dw_shifted_fits(H, W, K, d, p)) {
                    dw_plane_shifted(xpl, H, W, w + (size_t)c * K * K, K, d, relu, yp);
                } else if (s == 1) {
                    pad_plane_of(xpl, H, W, p, buf, Wp, relu);
                    dw_plane_s1(buf, Wp, w + (size_t)c * K * K, K, d, yp, ys.h, ys.w);
                } else {
                    pad_plane_of(xpl, H, W, p, buf, Wp, relu);
                    dw_plane_strided(buf, Wp, w + (size_t)c * K * K, K, d, s, yp, ys.h, ys.w);
                }
            }
        free(buf);
        free(ev);
        free(od);
        free(row);
        free(made);
    }
    return failed ? TD_FAIL(TD_ERR_MEMORY, "conv2d: out of memory") : TD_OK;
}

static td_status dw_forward(const kernel_args *a) { return dw_forward_of(a, IN(0), 0, NULL); }

/* Stride 1 keeps the size (pad = d (K - 1) / 2), and the adjoint is the
 * same convolution of dy with the kernel turned by 180 degrees. */
static td_status dw_backward_data_s1(const kernel_args *a)
{
    const float *dy = IN(0), *w = IN(1);
    float *dx = OUT;
    shape4 ys = a->in_shape[0], ws = a->in_shape[1], xs = a->out_shape;
    int C = xs.c, K = ws.h, p = P->pad, d = P->dil;
    int Wp = ys.w + 2 * p, Hp = ys.h + 2 * p, failed = 0;
    float *wf = malloc((size_t)C * K * K * sizeof *wf);
    if (!wf) return TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_data: out of memory");
    for (int c = 0; c < C; c++)
        for (int t = 0; t < K * K; t++) wf[(size_t)c * K * K + t] = w[(size_t)c * K * K + K * K - 1 - t];
#pragma omp parallel if (ref_work(a) >= REF_PARALLEL_MIN)
    {
        float *buf = calloc((size_t)Hp * Wp, sizeof *buf); /* zero border: see pad_plane */
        if (!buf) failed = 1;
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < xs.n; n++)
            for (int c = 0; c < C; c++) {
                if (!buf) continue;
                const float *dyp = dy + ((size_t)n * C + c) * ys.h * ys.w;
                float *dxp = dx + ((size_t)n * C + c) * xs.h * xs.w;
                if (dw_shifted_fits(ys.h, ys.w, K, d, p)) {
                    dw_plane_shifted(dyp, ys.h, ys.w, wf + (size_t)c * K * K, K, d, 0, dxp);
                    continue;
                }
                pad_plane(dyp, ys.h, ys.w, p, buf, Wp);
                dw_plane_s1(buf, Wp, wf + (size_t)c * K * K, K, d, dxp, xs.h, xs.w);
            }
        free(buf);
    }
    free(wf);
    return failed ? TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_data: out of memory") : TD_OK;
}

/* Stride 2: dx_padded[2 oh + kh d][2 ow + kw d] += w dy[oh][ow], taps in
 * order, accumulated in the even/odd column halves, then interleaved. */
static td_status dw_backward_data_s2(const kernel_args *a)
{
    const float *dy = IN(0), *w = IN(1);
    float *dx = OUT;
    shape4 ys = a->in_shape[0], ws = a->in_shape[1], xs = a->out_shape;
    int C = xs.c, H = xs.h, W = xs.w, Ho = ys.h, Wo = ys.w, K = ws.h, p = P->pad, d = P->dil;
    int Wp = W + 2 * p, Hp = H + 2 * p, Wh = (Wp + 1) / 2, failed = 0;
#pragma omp parallel if (ref_work(a) >= REF_PARALLEL_MIN)
    {
        float *ev = malloc((size_t)Hp * Wh * sizeof *ev), *od = malloc((size_t)Hp * Wh * sizeof *od);
        if (!ev || !od) failed = 1;
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < xs.n; n++)
            for (int c = 0; c < C; c++) {
                if (!ev || !od) continue;
                const float *yp = dy + ((size_t)n * C + c) * Ho * Wo, *wp = w + (size_t)c * K * K;
                if (dw_s2_shifted_fits(H, W, K, d, p)) {
                    dw_plane_s2_gather(yp, W, wp, K, d, dx + ((size_t)n * C + c) * H * W);
                    continue;
                }
                memset(ev, 0, (size_t)Hp * Wh * sizeof *ev);
                memset(od, 0, (size_t)Hp * Wh * sizeof *od);
                for (int kh = 0; kh < K; kh++)
                    for (int kw = 0; kw < K; kw++) {
                        vf8 wv = vf8_set1(wp[kh * K + kw]);
                        for (int oh = 0; oh < Ho; oh++) {
                            float *dst = (float *)half_at(ev, od, Wh, 2 * oh + kh * d, kw * d);
                            const float *yr = yp + (size_t)oh * Wo;
                            int ow = 0;
                            for (; ow + 8 <= Wo; ow += 8) vf8_store(dst + ow, vf8_fma(wv, vf8_load(yr + ow), vf8_load(dst + ow)));
                            for (; ow < Wo; ow++) dst[ow] = fmaf(wp[kh * K + kw], yr[ow], dst[ow]);
                        }
                    }
                float *dxp = dx + ((size_t)n * C + c) * H * W;
                for (int h = 0; h < H; h++) {
                    float *E, *O;
                    half_slots(ev + (size_t)(h + p) * Wh, od + (size_t)(h + p) * Wh, p, &E, &O);
                    zip_row(E, O, W, dxp + (size_t)h * W);
                }
            }
        free(ev);
        free(od);
    }
    return failed ? TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_data: out of memory") : TD_OK;
}

/* Taps of the weight gradient summed together: nine accumulators, the
 * gradient vector and one input vector fit in the 16 vector registers, and
 * a 3x3 kernel is one chunk (5x5: three, the last padded with taps whose
 * sums are dropped). */
#define DWF_CHUNK 9

/* One plane's full vectors for one chunk: acc[j] (8 lanes each) +=
 * dy[oh][ow..ow+7] * (tap[j] + oh row_step + ow)[0..7], rows then vectors
 * in order. */
static void dwf_chunk(const float *const *tap, size_t row_step, const float *dy, int Ho, int Wo, float *acc)
{
    int full = Wo / 8 * 8;
    vf8 a[DWF_CHUNK];
    for (int j = 0; j < DWF_CHUNK; j++) a[j] = vf8_load(acc + 8 * j);
    for (int oh = 0; oh < Ho; oh++) {
        const float *yr = dy + (size_t)oh * Wo;
        size_t base = (size_t)oh * row_step;
        for (int ow = 0; ow < full; ow += 8) {
            vf8 g = vf8_load(yr + ow);
            for (int j = 0; j < DWF_CHUNK; j++) a[j] = vf8_fma(g, vf8_load(tap[j] + base + ow), a[j]);
        }
    }
    for (int j = 0; j < DWF_CHUNK; j++) vf8_store(acc + 8 * j, a[j]);
}

/* Asks for image n's planes of channel c (x and dy) to be brought into L1
 * while the image before is summed: a thread walks one channel through
 * the images, one page-sized plane of each tensor per image, a stride the
 * hardware prefetcher does not follow, so each plane would otherwise start
 * with misses to memory. An image's two planes are 8 KiB at 32 x 32. */
static void dwf_prefetch_image(const float *x, const float *dy, int n, int c, int C, int hw, int hwo)
{
    prefetch_lines(x + ((size_t)n * C + c) * hw, (size_t)hw * sizeof *x);
    prefetch_lines(dy + ((size_t)n * C + c) * hwo, (size_t)hwo * sizeof *dy);
}

/* dw[c][tap] = sum_n sum_oh sum_ow dy x_padded: per channel, 8 partial
 * sums per tap (n-major, then rows, then vectors; columns past the last
 * full vector in tail lanes), lanes combined in a fixed order. Of relu(x)
 * when relu is set, x being the ReLU's input. */
static td_status dw_backward_filter_of(const kernel_args *a, const float *x, int relu_in, const normed_input *xn)
{
    const float *dy = IN(1);
    float *dw = OUT;
    shape4 xs = a->in_shape[0], ys = a->in_shape[1];
    int C = xs.c, H = xs.h, W = xs.w, Ho = ys.h, Wo = ys.w, K = a->out_shape.h, s = P->stride, p = P->pad, d = P->dil;
    int Wp = W + 2 * p, Hp = H + 2 * p, Wh = (Wp + 1) / 2, KK = K * K, full = s <= 2 ? Wo / 8 * 8 : 0, failed = 0;
    int chunks = (KK + DWF_CHUNK - 1) / DWF_CHUNK;
#pragma omp parallel if (ref_work(a) >= REF_PARALLEL_MIN)
    {
        float *buf = calloc((size_t)Hp * Wp, sizeof *buf); /* zero border: see pad_plane */
        float *ev = calloc((size_t)Hp * Wh, sizeof *ev), *od = calloc((size_t)Hp * Wh, sizeof *od); /* see pad_split */
        float acc[MAX_TAPS / DWF_CHUNK + 1][DWF_CHUNK * 8];
        float tap_acc[MAX_TAPS * 8]; /* dwf_plane_shifted's lanes, tap after tap */
        float tail[MAX_TAPS * 8];
        int shifted = s == 1 && dwf_shifted_fits(H, W, Ho, Wo, K, d, p);
        const float *tap[MAX_TAPS / DWF_CHUNK + 1][DWF_CHUNK];
        float *row = relu_in ? malloc((size_t)W * sizeof *row) : NULL;
        float *made = xn ? malloc((size_t)H * W * sizeof *made) : NULL;
        int ok = buf && ev && od && (row || !relu_in) && (made || !xn);
        int relu = xn ? 0 : relu_in; /* a normed plane is made with its ReLU */
        if (!ok) failed = 1;
#pragma omp for schedule(static)
        for (int c = 0; c < C; c++) {
            if (!ok) continue;
            memset(acc, 0, sizeof acc);
            memset(tail, 0, (size_t)KK * 8 * sizeof *tail);
            if (shifted) {
                memset(tap_acc, 0, sizeof tap_acc);
                for (int n = 0; n < xs.n; n++) {
                    if (n + 1 < xs.n) dwf_prefetch_image(x, dy, n + 1, c, C, H * W, Ho * Wo);
                    const float *xpl = x + ((size_t)n * C + c) * H * W;
                    if (xn) normed_relu_plane(xn, xs, (size_t)n * C + c, made);
                    dwf_plane_shifted(xn ? made : xpl, dy + ((size_t)n * C + c) * Ho * Wo, H, W, K, d, relu, tap_acc);
                }
                for (int t = 0; t < KK; t++) memcpy(&acc[t / DWF_CHUNK][(t % DWF_CHUNK) * 8], tap_acc + 8 * t, 8 * sizeof *tap_acc);
            }
            /* where output (0, 0) reads each tap; padding taps read tap 0 */
            for (int t = 0; t < chunks * DWF_CHUNK; t++) {
                int u = t < KK ? t : 0, kh = u / K, kw = u % K;
                tap[t / DWF_CHUNK][t % DWF_CHUNK] =
                    s == 2 ? half_at(ev, od, Wh, kh * d, kw * d) : buf + (size_t)kh * d * Wp + kw * d;
            }
            for (int n = 0; n < xs.n && !shifted; n++) {
                if (n + 1 < xs.n) dwf_prefetch_image(x, dy, n + 1, c, C, H * W, Ho * Wo);
                const float *xpl = x + ((size_t)n * C + c) * H * W;
                if (xn) {
                    normed_relu_plane(xn, xs, (size_t)n * C + c, made);
                    xpl = made;
                }
                /* the tail lanes read the padded plane */
                if (s != 2 || full < Wo) pad_plane_of(xpl, H, W, p, buf, Wp, relu);
                if (s == 2) pad_split(xpl, H, W, p, ev, od, relu ? row : NULL);
                const float *yp = dy + ((size_t)n * C + c) * Ho * Wo;
                if (full > 0)
                    for (int k = 0; k < chunks; k++)
                        dwf_chunk(tap[k], s == 2 ? 2 * (size_t)Wh : (size_t)Wp, yp, Ho, Wo, acc[k]);
                for (int oh = 0; oh < Ho; oh++) {
                    const float *yr = yp + (size_t)oh * Wo;
                    for (int ow = full; ow < Wo; ow++)
                        for (int t = 0; t < KK; t++) {
                            float *l = &tail[t * 8 + (ow - full) % 8];
                            *l = fmaf(yr[ow], buf[(size_t)(oh * s + (t / K) * d) * Wp + ow * s + (t % K) * d], *l);
                        }
                }
            }
            for (int t = 0; t < KK; t++) {
                float r = 0;
                for (int j = 0; j < 8; j++) r += tail[t * 8 + j];
                dw[(size_t)c * KK + t] = vf8_sum(vf8_load(&acc[t / DWF_CHUNK][(t % DWF_CHUNK) * 8])) + r;
            }
        }
        free(buf);
        free(ev);
        free(od);
        free(row);
        free(made);
    }
    return failed ? TD_FAIL(TD_ERR_MEMORY, "conv2d_bwd_filter: out of memory") : TD_OK;
}

static td_status dw_backward_filter(const kernel_args *a) { return dw_backward_filter_of(a, IN(0), 0, NULL); }

/* ----------------------------------------------------------- dispatch */

int conv_f32_fast(const kernel_args *a, td_status *result)
{
    op_kind op = a->nd->op;
    shape4 x = op == OP_CONV2D_BWD_DATA ? a->out_shape : a->in_shape[0];
    shape4 w = op == OP_CONV2D_BWD_FILTER ? a->out_shape : a->in_shape[1];
    shape4 y = op == OP_CONV2D ? a->out_shape : op == OP_CONV2D_BWD_DATA ? a->in_shape[0] : a->in_shape[1];
    if (is_pointwise(w, P) && y.h * y.w >= SMALL_MAP) {
        *result = op == OP_CONV2D ? pw_forward(a) : op == OP_CONV2D_BWD_DATA ? pw_backward_data(a) : pw_backward_filter(a);
        return 1;
    }
    if (P->groups == 1 && w.h == w.w) {
        *result = op == OP_CONV2D ? dense_forward(a) : op == OP_CONV2D_BWD_DATA ? dense_backward_data(a)
                                                                              : pw_backward_filter(a);
        return 1;
    }
    if (!is_depthwise(x, w, P)) return 0;
    if (op == OP_CONV2D) {
        *result = dw_forward(a);
        return 1;
    }
    if (op == OP_CONV2D_BWD_FILTER) {
        *result = dw_backward_filter(a);
        return 1;
    }
    /* the flipped-kernel form needs a same-size stride-1 convolution */
    if (P->stride == 1 && 2 * P->pad == P->dil * (w.h - 1)) {
        *result = dw_backward_data_s1(a);
        return 1;
    }
    if (P->stride == 2) {
        *result = dw_backward_data_s2(a);
        return 1;
    }
    return 0;
}

int conv_f32_relu_input(const kernel_args *a, const void *x, const normed_input *xn, td_status *result)
{
    op_kind op = a->nd->op;
    if ((op != OP_CONV2D && op != OP_CONV2D_BWD_FILTER) || a->dt != DT_F32) return 0;
    shape4 w = op == OP_CONV2D_BWD_FILTER ? a->out_shape : a->in_shape[1];
    if (!is_depthwise(a->in_shape[0], w, P)) return 0;
    const float *xs = xn ? xn->x : x; /* a normed x's planes are made from xn->x (prefetched as x) */
    *result = op == OP_CONV2D ? dw_forward_of(a, xs, 1, xn) : dw_backward_filter_of(a, xs, 1, xn);
    return 1;
}
