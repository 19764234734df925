/* Flat-buffer operations of the CUDA backend: axpy, scale, sum of squares, and the SGD and Adam steps. */
#include "block_sum.cuh"
#include "elementwise.cuh"

/* Each element-wise operation follows ref/flat_impl.h operation for
 * operation: scalars rounded to T on the host, state updated in T (f32 in
 * float). The sum of squares keeps the reference's chunks but not its
 * order inside them (below). */

static td_status flat_bad_type(const char *what, dtype dt)
{
    return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda %s: element type %s is not a float type", what, dtype_name(dt));
}

/* --- axpy, scale --------------------------------------------------------- */

/* y <- y + a x */
template <typename T> static td_status flat_axpy(void *yv, const void *xv, size_t n, double a)
{
    T *y = (T *)yv, ar = (T)a;
    const T *x = (const T *)xv;
    return gpu_map("flat_axpy", n, [=] __device__(auto i) { y[i] = y[i] + ar * x[i]; });
}

td_status gpu_flat_axpy(void *y, const void *x, size_t n, dtype dt, double a)
{
    if (dt == DT_F64) return flat_axpy<double>(y, x, n, a);
    if (dt == DT_F32) return flat_axpy<float>(y, x, n, a);
    return flat_bad_type("flat_axpy", dt);
}

template <typename T> static td_status flat_scale(void *xv, size_t n, double s)
{
    T *x = (T *)xv, sr = (T)s;
    return gpu_map("flat_scale", n, [=] __device__(auto i) { x[i] = x[i] * sr; });
}

td_status gpu_flat_scale(void *x, size_t n, dtype dt, double s)
{
    if (dt == DT_F64) return flat_scale<double>(x, n, s);
    if (dt == DT_F32) return flat_scale<float>(x, n, s);
    return flat_bad_type("flat_scale", dt);
}

/* --- sum of squares ------------------------------------------------------ */

/* In double, in the reference's chunks (chunk b holds the values from
 * b C to (b + 1) C, C = BACKEND_REDUCE_CHUNK), each summed by a tree: a
 * block per chunk, thread t squaring and adding the chunk's values t,
 * t + SQ_THREADS, ... in that order from 0, then the threads' sums by
 * block_tree_sum; then one block adds the chunk sums the same way
 * (gpu_total_kernel). The order depends on n alone, so a run repeats bit
 * for bit; it is not the reference's one-after-the-other order, so the
 * total agrees with the CPU's to rounding, not bit for bit. */
#define SQ_THREADS 256

template <typename T>
static __global__ void __launch_bounds__(SQ_THREADS) sum_squares_chunk_kernel(const T *x, size_t n, double *partial)
{
    __shared__ double sh[SQ_THREADS];
    size_t lo = (size_t)blockIdx.x * BACKEND_REDUCE_CHUNK;
    unsigned len = n - lo < BACKEND_REDUCE_CHUNK ? (unsigned)(n - lo) : BACKEND_REDUCE_CHUNK;
    const T *xc = x + lo;
    double acc = 0;
    for (unsigned i = threadIdx.x; i < len; i += SQ_THREADS) acc += (double)xc[i] * (double)xc[i];
    acc = block_tree_sum<SQ_THREADS>(acc, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <typename T> static td_status sum_squares_to(const void *x, size_t n, double *dev_out)
{
    size_t nb = (n + BACKEND_REDUCE_CHUNK - 1) / BACKEND_REDUCE_CHUNK;
    if (nb > 0x7fffffffu) return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda flat_sum_squares: %zu values are too many", n);
    void *scratch;
    td_status st = gpu_scratch((nb + 1) * sizeof(double), &scratch);
    if (st != TD_OK) return st;
    double *partial = (double *)scratch;
    if (nb > 0) {
        sum_squares_chunk_kernel<T><<<(unsigned)nb, SQ_THREADS, 0, gpu.stream>>>((const T *)x, n, partial);
        LAUNCH_CHECK("flat_sum_squares chunks");
    }
    gpu_total_kernel<double><<<1, GPU_THREADS, 0, gpu.stream>>>(partial, nb, dev_out);
    LAUNCH_CHECK("flat_sum_squares total");
    return TD_OK;
}

td_status gpu_sum_squares_to(const void *x, size_t n, dtype dt, double *dev_out)
{
    if (dt == DT_F64) return sum_squares_to<double>(x, n, dev_out);
    if (dt == DT_F32) return sum_squares_to<float>(x, n, dev_out);
    return flat_bad_type("flat_sum_squares", dt);
}

td_status gpu_flat_sum_squares(const void *x, size_t n, dtype dt, double *out)
{
    /* the total goes to the scratch behind the chunks' sums, then to the
     * host: never part of a captured run, so it may wait for its result */
    size_t nb = (n + BACKEND_REDUCE_CHUNK - 1) / BACKEND_REDUCE_CHUNK;
    void *scratch;
    td_status st = gpu_scratch((nb + 1) * sizeof(double), &scratch);
    if (st != TD_OK) return st;
    double *total = (double *)scratch + nb;
    st = gpu_sum_squares_to(x, n, dt, total);
    if (st != TD_OK) return st;
    CUDA_CHECK(cudaMemcpyAsync(out, total, sizeof *out, cudaMemcpyDeviceToHost, gpu.stream));
    CUDA_CHECK(cudaStreamSynchronize(gpu.stream));
    return TD_OK;
}

/* --- SGD ----------------------------------------------------------------- */

/* PyTorch SGD as the reference writes it: d = g + wd w; buf = mom buf + d;
 * w -= lr (nesterov ? d + mom buf : buf). */
template <typename T>
static td_status sgd_step(void *wv, const void *gv, void *bufv, size_t n, double lr, double momentum, double wd,
                          int nesterov)
{
    T *w = (T *)wv, *buf = (T *)bufv;
    const T *g = (const T *)gv;
    T lr_r = (T)lr, mom = (T)momentum, wd_r = (T)wd;
    return gpu_map("sgd_step", n, [=] __device__(auto i) {
        T d = g[i] + wd_r * w[i];
        T b = mom * buf[i] + d;
        buf[i] = b;
        w[i] = w[i] - lr_r * (nesterov ? d + mom * b : b);
    });
}

td_status gpu_sgd_step(void *w, const void *g, void *buf, size_t n, dtype dt, double lr, double momentum, double wd,
                       int nesterov)
{
    if (dt == DT_F64) return sgd_step<double>(w, g, buf, n, lr, momentum, wd, nesterov);
    if (dt == DT_F32) return sgd_step<float>(w, g, buf, n, lr, momentum, wd, nesterov);
    return flat_bad_type("sgd_step", dt);
}

/* --- Adam ---------------------------------------------------------------- */

/* The bias corrections are computed on the host in double, as the
 * reference does, and passed rounded to T: step_size = lr / (1 - b1^t),
 * bc2_sqrt = sqrt(1 - b2^t). */
typedef struct adam_scalars {
    double step_size, bc2_sqrt, b1, b2, eps, wd;
} adam_scalars;

static __device__ inline float dev_sqrt(float x) { return sqrtf(x); }
static __device__ inline double dev_sqrt(double x) { return sqrt(x); }

/* g' = g + wd p; m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g' g';
 * p -= step_size (m / (sqrt(v) / bc2_sqrt + eps)) */
template <typename T>
static td_status adam_step(void *pv, const void *gv, void *mv, void *vv, size_t n, const adam_scalars *s)
{
    T *p = (T *)pv, *m = (T *)mv, *v = (T *)vv;
    const T *g = (const T *)gv;
    T step_size = (T)s->step_size, bc2_sqrt = (T)s->bc2_sqrt, b1 = (T)s->b1, b2 = (T)s->b2, e = (T)s->eps,
      wd = (T)s->wd;
    return gpu_map("adam_step", n, [=] __device__(auto i) {
        T gi = g[i] + wd * p[i];
        T mi = b1 * m[i] + (T(1) - b1) * gi;
        T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        T denom = dev_sqrt(vi) / bc2_sqrt + e;
        p[i] = p[i] - step_size * (mi / denom);
    });
}

td_status gpu_adam_step(void *p, const void *g, void *m, void *v, size_t n, dtype dt, double lr, double beta1,
                        double beta2, double eps, double wd, long step)
{
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    adam_scalars s = {lr / bc1, sqrt(bc2), beta1, beta2, eps, wd};
    if (dt == DT_F64) return adam_step<double>(p, g, m, v, n, &s);
    if (dt == DT_F32) return adam_step<float>(p, g, m, v, n, &s);
    return flat_bad_type("adam_step", dt);
}
