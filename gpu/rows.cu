/* Row ops on (rows, cols, 1, 1) tensors: matmul (cuBLAS), row softmax and log-softmax, label gather and scatter. */
#include <math.h>

#include "elementwise.cuh"

/* --- matmul: (A, B) -> op(A) op(B) ------------------------------------- */

/* The element type as cuBLAS names it, and its compute type: full precision, no TF32 (PEDANTIC, as the handle's
 * math mode also says), so a product is the same sum of products on every run. */
template <typename T> struct blas_type;
template <> struct blas_type<float> {
    static constexpr cudaDataType_t data = CUDA_R_32F;
    static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_32F_PEDANTIC;
};
template <> struct blas_type<double> {
    static constexpr cudaDataType_t data = CUDA_R_64F;
    static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_64F_PEDANTIC;
};

/* C (M, N) = op(A) op(B), all row-major as in ref/rows_impl.h: A is (as.n, as.c) with leading dimension as.c, B is
 * (bs.n, bs.c) with bs.c, C has N. cuBLAS is column-major, where a row-major matrix reads as its transpose, so it
 * computes C^T (N, M) = op(B)^T op(A)^T: the operands swap, and each keeps its own transpose flag. The order of
 * the sums is cuBLAS's, fixed for a given shape, library and GPU (one stream, fixed workspace). */
template <typename T> static td_status matmul(const kernel_args *a)
{
    shape4 as = a->in_shape[0], bs = a->in_shape[1];
    int ta = a->nd->p.ta, tb = a->nd->p.tb;
    int M = a->out_shape.n, N = a->out_shape.c, K = ta ? as.n : as.c;
    if (M == 0 || N == 0) return TD_OK;
    if (K == 0) { /* an empty sum: zeros, as on the CPU */
        CUDA_CHECK(cudaMemsetAsync(a->out, 0, (size_t)M * N * sizeof(T), gpu.stream));
        return TD_OK;
    }
    const T one = 1, zero = 0;
    CUBLAS_CHECK(cublasGemmEx(gpu.blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &one,
                              a->in[1], blas_type<T>::data, bs.c, a->in[0], blas_type<T>::data, as.c, &zero, a->out,
                              blas_type<T>::data, N, blas_type<T>::compute, CUBLAS_GEMM_DEFAULT));
    gpu.launches++; /* one cuBLAS call, counted as one launch */
    return TD_OK;
}

/* --- softmax_rows and log_softmax_rows --------------------------------- */

__device__ static inline float dev_exp(float v) { return expf(v); }
__device__ static inline double dev_exp(double v) { return exp(v); }
__device__ static inline float dev_log(float v) { return logf(v); }
__device__ static inline double dev_log(double v) { return log(v); }

/* The row maximum, scanned left to right with the CPU's comparison (a NaN after the first element is passed over, as
 * there). */
template <typename T> __device__ static inline T row_max(const T *x, size_t L)
{
    T mx = x[0];
    for (size_t i = 1; i < L; i++) mx = x[i] > mx ? x[i] : mx;
    return mx;
}

/* Rows are along n, each of c h w elements (ref/rows_impl.h). One thread per row (R rows of L), in the CPU's
 * order: the maximum, then e^(x - max) stored and summed left to right in T (float for f32, as the CPU does),
 * then each divided by the sum. x may equal y: each element is read before it is written. */
template <typename T> static td_status softmax_rows(const kernel_args *a)
{
    shape4 s = a->out_shape;
    size_t R = (size_t)s.n, L = (size_t)s.c * s.h * s.w;
    if (R == 0 || L == 0) return TD_OK;
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    return gpu_map("softmax_rows", R, [=] __device__(auto r) {
        const T *xr = x + (size_t)r * L;
        T *yr = y + (size_t)r * L;
        T mx = row_max(xr, L);
        T sum = 0;
        for (size_t i = 0; i < L; i++) {
            yr[i] = dev_exp(xr[i] - mx);
            sum += yr[i];
        }
        for (size_t i = 0; i < L; i++) yr[i] /= sum;
    });
}

/* One thread per row, in the CPU's order: the maximum, the sum of e^(x - max) left to right in T, then
 * x - (max + log sum). */
template <typename T> static td_status log_softmax_rows(const kernel_args *a)
{
    shape4 s = a->out_shape;
    size_t R = (size_t)s.n, L = (size_t)s.c * s.h * s.w;
    if (R == 0 || L == 0) return TD_OK;
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    return gpu_map("log_softmax_rows", R, [=] __device__(auto r) {
        const T *xr = x + (size_t)r * L;
        T *yr = y + (size_t)r * L;
        T mx = row_max(xr, L);
        T sum = 0;
        for (size_t i = 0; i < L; i++) sum += dev_exp(xr[i] - mx);
        T lse = mx + dev_log(sum);
        for (size_t i = 0; i < L; i++) yr[i] = xr[i] - lse;
    });
}

/* --- pick_labels and place_labels -------------------------------------- */

/* The CPU fails with TD_ERR_ARG on a label outside [0, classes); here the labels are on the device and the host may
 * not read them (a run is captured into a CUDA graph), so a sample with such a label gets NaN instead: the loss it
 * feeds turns NaN, which search and training stop on (core/search/search.c, core/train/train.c), rather than
 * a wrong but finite value. */

/* y[n] = z[n, labels[n]]; z is (N, C, 1, 1), labels int32 (N, 1, 1, 1). No sums. */
template <typename T> static td_status pick_labels(const kernel_args *a)
{
    shape4 zs = a->in_shape[0];
    size_t N = (size_t)zs.n;
    if (N == 0) return TD_OK;
    const T *z = gpu_in<T>(a, 0);
    const int32_t *labels = (const int32_t *)a->in[1];
    T *y = gpu_out<T>(a);
    int C = zs.c;
    return gpu_map("pick_labels", N, [=] __device__(auto n) {
        int32_t l = labels[n];
        y[n] = l >= 0 && l < C ? z[(size_t)n * C + l] : (T)NAN;
    });
}

/* y (N, C, 1, 1) = v[n] at (n, labels[n]), zero elsewhere: one thread per element of y. No sums. */
template <typename T> static td_status place_labels(const kernel_args *a)
{
    shape4 o = a->out_shape;
    size_t N = (size_t)o.n;
    if (N == 0 || o.c == 0) return TD_OK;
    const T *v = gpu_in<T>(a, 0);
    const int32_t *labels = (const int32_t *)a->in[1];
    T *y = gpu_out<T>(a);
    int C = o.c;
    return gpu_map("place_labels", N * C, [=] __device__(auto i) {
        using I = decltype(i);
        I n = i / (I)C;
        int c = (int)(i % (I)C);
        int32_t l = labels[n];
        y[i] = l >= 0 && l < C ? (c == l ? v[n] : (T)0) : (T)NAN;
    });
}

GPU_INSTANTIATE(matmul, matmul)
GPU_INSTANTIATE(softmax_rows, softmax_rows)
GPU_INSTANTIATE(log_softmax_rows, log_softmax_rows)
GPU_INSTANTIATE(pick_labels, pick_labels)
GPU_INSTANTIATE(place_labels, place_labels)

/* --- mask_renorm_rows: (x, m) -> x*m / row sum of x*m -------------------- */

/* One thread per row, the sum left to right in T, as the CPU. */
template <typename T> static td_status mask_renorm_rows(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const T *x = gpu_in<T>(a, 0), *m = gpu_in<T>(a, 1);
    T *y = gpu_out<T>(a);
    int L = s.c;
    return gpu_map("mask_renorm_rows", (size_t)s.n, [=] __device__(auto r) {
        const T *xr = x + (size_t)r * L, *mr = m + (size_t)r * L;
        T *yr = y + (size_t)r * L;
        T sum = 0;
        for (int j = 0; j < L; j++) sum += xr[j] * mr[j];
        for (int j = 0; j < L; j++) yr[j] = xr[j] * mr[j] / sum;
    });
}

GPU_INSTANTIATE(mask_renorm_rows, mask_renorm_rows)
