/* Pointwise (1x1) convolutions: forward, data gradient, filter gradient.
 *
 * At DARTS' widths (16 to 64 channels) each of these is a batch of small
 * matrix products, which cuDNN's deterministic algorithms run with too
 * little parallelism. Here the forward and the data gradient give each
 * thread one pixel and 16 output channels, the weights staged in shared
 * memory, every output one chain of fused multiply-adds over the input
 * channels in order (the CPU's f32 order: conv_geometry.h). The filter
 * gradient sums fixed slices of the (image, pixel) terms per block, then
 * adds the slices' partial sums in slice order: no atomics, and the split
 * depends on the shape alone. */
#include "conv_own.h"

#define PW_ROWS 16    /* output channels per thread */
#define PW_KCHUNK 64  /* input channels of the weights staged at a time */
#define PW_THREADS 256

/* What one launch of the product kernel computes:
 *   Y[n, r, q] = sum over k < K in order of A[r a_r + k a_k] X[n, k, src(q)]
 * for r < R, q < Q; src(q) < 0 writes zero. Forward: A = W (Co x Ci),
 * X = x, src = the pixel the output reads. Data gradient: A = W^T, X = dy,
 * src = the output pixel that read input pixel q, if any. */
typedef struct pw_product {
    int R, K, Q, N;
    int a_r, a_k;
    int x_plane;   /* pixels per channel of X */
    int backward;  /* src by conv_pw_target instead of conv_pw_source */
    conv_geom g;
} pw_product;

template <typename T> static __device__ void pw_product_block(const T *A, const T *X, T *Y, const pw_product &p)
{
    __shared__ T ws[PW_ROWS][PW_KCHUNK];
    const int r0 = blockIdx.y * PW_ROWS;
    const int nr = p.R - r0 < PW_ROWS ? p.R - r0 : PW_ROWS;
    const int idx = blockIdx.x * PW_THREADS + threadIdx.x; /* (n, q): below 2^31 (conv_own_pointwise) */
    const int active = idx < p.N * p.Q;
    const int n = active ? idx / p.Q : 0, q = active ? idx - n * p.Q : 0;
    const int src = !active ? -1 : p.backward ? conv_pw_target(&p.g, q) : conv_pw_source(&p.g, q);
    const T *xp = X + (size_t)n * p.K * p.x_plane + (src < 0 ? 0 : src);
    T acc[PW_ROWS];
#pragma unroll
    for (int r = 0; r < PW_ROWS; r++) acc[r] = 0;
    for (int k0 = 0; k0 < p.K; k0 += PW_KCHUNK) {
        const int kc = p.K - k0 < PW_KCHUNK ? p.K - k0 : PW_KCHUNK;
        __syncthreads(); /* the previous chunk is read by every thread */
        for (int e = threadIdx.x; e < PW_ROWS * PW_KCHUNK; e += PW_THREADS) {
            int r = e / PW_KCHUNK, k = e - r * PW_KCHUNK;
            ws[r][k] = r < nr && k < kc ? A[(size_t)(r0 + r) * p.a_r + (size_t)(k0 + k) * p.a_k] : T(0);
        }
        __syncthreads();
        if (src >= 0)
            for (int k = 0; k < kc; k++) {
                const T xv = xp[(size_t)(k0 + k) * p.x_plane];
#pragma unroll
                for (int r = 0; r < PW_ROWS; r++) acc[r] = dev_fma(ws[r][k], xv, acc[r]);
            }
    }
    if (!active) return;
    T *yp = Y + (size_t)n * p.R * p.Q + q;
#pragma unroll
    for (int r = 0; r < PW_ROWS; r++)
        if (r < nr) yp[(size_t)(r0 + r) * p.Q] = src < 0 ? T(0) : acc[r];
}

template <typename T> static td_status pw_product_run(const T *A, const T *X, T *Y, const pw_product &p)
{
    dim3 grid((unsigned)((p.N * p.Q + PW_THREADS - 1) / PW_THREADS), (unsigned)((p.R + PW_ROWS - 1) / PW_ROWS));
    return gpu_launch<PW_THREADS>("conv pointwise product", grid, 0,
                                  [=] __device__() { pw_product_block<T>(A, X, Y, p); });
}

/* dW[co][ci] over one slice of the (image, pixel) terms j = n Q + q:
 * a block per (16 x 16 tile of dW, slice), a thread per entry; the terms
 * pass through shared memory in chunks of 32, each entry summing its
 * slice's terms in order. Written to part[slice][co][ci]. */
template <typename T>
static __device__ void pwf_slice_block(const T *x, const T *dy, T *part, const conv_geom &g, const conv_slices &sl,
                                       int co_tiles)
{
    __shared__ T sdy[CONV_PWF_TILE][CONV_PWF_CHUNK + 1];
    __shared__ T sx[CONV_PWF_TILE][CONV_PWF_CHUNK + 1]; /* +1: the 16 rows fall in distinct banks */
    const int tile = blockIdx.x, slice = blockIdx.y;
    const int co0 = (tile % co_tiles) * CONV_PWF_TILE, ci0 = (tile / co_tiles) * CONV_PWF_TILE;
    const int tid = threadIdx.x, ty = tid / CONV_PWF_TILE, tx = tid - ty * CONV_PWF_TILE;
    const int Q = g.Ho * g.Wo, HW = g.H * g.W, total = g.N * Q;
    const int j0 = slice * sl.len, j1 = j0 + sl.len < total ? j0 + sl.len : total;
    T acc = 0;
    for (int c0 = j0; c0 < j1; c0 += CONV_PWF_CHUNK) {
        __syncthreads();
        for (int e = tid; e < CONV_PWF_TILE * CONV_PWF_CHUNK; e += CONV_PWF_TILE * CONV_PWF_TILE) {
            int row = e / CONV_PWF_CHUNK, col = e - row * CONV_PWF_CHUNK, j = c0 + col;
            int n = j / Q, q = j - n * Q, in = j < j1;
            sdy[row][col] = in && co0 + row < g.Co ? dy[((size_t)n * g.Co + co0 + row) * Q + q] : T(0);
            sx[row][col] = in && ci0 + row < g.C ? x[((size_t)n * g.C + ci0 + row) * HW + conv_pw_source(&g, q)] : T(0);
        }
        __syncthreads();
        const int nc = j1 - c0 < CONV_PWF_CHUNK ? j1 - c0 : CONV_PWF_CHUNK;
        for (int c = 0; c < nc; c++) acc = dev_fma(sdy[ty][c], sx[tx][c], acc);
    }
    if (co0 + ty < g.Co && ci0 + tx < g.C) part[((size_t)slice * g.Co + co0 + ty) * g.C + ci0 + tx] = acc;
}

template <typename T> static td_status pw_filter_gradient(const T *x, const T *dy, T *dw, const conv_geom &g)
{
    conv_slices sl = conv_pwf_slices(&g);
    int co_tiles = (g.Co + CONV_PWF_TILE - 1) / CONV_PWF_TILE, ci_tiles = (g.C + CONV_PWF_TILE - 1) / CONV_PWF_TILE;
    size_t M = (size_t)g.Co * g.C;
    T *part = dw;
    if (sl.count > 1) {
        void *scratch;
        TD_CHECK(gpu_scratch((size_t)sl.count * M * sizeof(T), &scratch));
        part = (T *)scratch;
    }
    dim3 grid((unsigned)(co_tiles * ci_tiles), (unsigned)sl.count);
    TD_CHECK(gpu_launch<CONV_PWF_TILE * CONV_PWF_TILE>(
        "conv pointwise filter gradient", grid, 0, [=] __device__() { pwf_slice_block<T>(x, dy, part, g, sl, co_tiles); }));
    if (sl.count > 1) TD_CHECK(conv_sum_slices<T>(part, sl.count, (int)M, dw));
    return TD_OK;
}

template <typename T> td_status conv_pw_run(const kernel_args *a, const conv_geom &g)
{
    pw_product p;
    p.g = g;
    p.N = g.N;
    switch (a->nd->op) {
    case OP_CONV2D: /* y[n, co, q] = sum_ci W[co][ci] x[n, ci, src(q)] */
        p.R = g.Co, p.K = g.C, p.Q = g.Ho * g.Wo, p.a_r = g.C, p.a_k = 1, p.x_plane = g.H * g.W, p.backward = 0;
        return pw_product_run<T>(gpu_in<T>(a, 1), gpu_in<T>(a, 0), gpu_out<T>(a), p);
    case OP_CONV2D_BWD_DATA: /* dx[n, ci, q] = sum_co W[co][ci] dy[n, co, target(q)] */
        p.R = g.C, p.K = g.Co, p.Q = g.H * g.W, p.a_r = 1, p.a_k = g.C, p.x_plane = g.Ho * g.Wo, p.backward = 1;
        return pw_product_run<T>(gpu_in<T>(a, 1), gpu_in<T>(a, 0), gpu_out<T>(a), p);
    default:
        return pw_filter_gradient<T>(gpu_in<T>(a, 0), gpu_in<T>(a, 1), gpu_out<T>(a), g);
    }
}

template td_status conv_pw_run<float>(const kernel_args *, const conv_geom &);
template td_status conv_pw_run<double>(const kernel_args *, const conv_geom &);
