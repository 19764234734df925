/* Flat-buffer operations of the CUDA backend: axpy, scale, sum of squares, and the SGD and Adam steps. */
#include "gpu_internal.h"

/* Each operation follows ref/flat_impl.h operation for operation: scalars
 * rounded to T on the host, state updated in T (f32 in float). */

static td_status flat_bad_type(const char *what, dtype dt)
{
    return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda %s: element type %s is not a float type", what, dtype_name(dt));
}

/* --- axpy, scale --------------------------------------------------------- */

/* y <- y + a x */
template <typename T> static __global__ void axpy_kernel(T *y, const T *x, size_t n, T a)
{
    GPU_FOR(i, n) y[i] = y[i] + a * x[i];
}

template <typename T> static td_status flat_axpy(void *y, const void *x, size_t n, double a)
{
    axpy_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>((T *)y, (const T *)x, n, (T)a);
    LAUNCH_CHECK("flat_axpy");
    return TD_OK;
}

td_status gpu_flat_axpy(void *y, const void *x, size_t n, dtype dt, double a)
{
    if (dt == DT_F64) return flat_axpy<double>(y, x, n, a);
    if (dt == DT_F32) return flat_axpy<float>(y, x, n, a);
    return flat_bad_type("flat_axpy", dt);
}

template <typename T> static __global__ void scale_kernel(T *x, size_t n, T s)
{
    GPU_FOR(i, n) x[i] = x[i] * s;
}

template <typename T> static td_status flat_scale(void *x, size_t n, double s)
{
    scale_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>((T *)x, n, (T)s);
    LAUNCH_CHECK("flat_scale");
    return TD_OK;
}

td_status gpu_flat_scale(void *x, size_t n, dtype dt, double s)
{
    if (dt == DT_F64) return flat_scale<double>(x, n, s);
    if (dt == DT_F32) return flat_scale<float>(x, n, s);
    return flat_bad_type("flat_scale", dt);
}

/* --- sum of squares ------------------------------------------------------ */

/* In the reference's order, in double: chunk b of BACKEND_REDUCE_CHUNK values
 * summed one after the other from 0, then the chunk sums in order from 0.
 * A block per chunk: its threads read the chunk (coalesced) and square the
 * values into shared memory, then one thread adds them in order. */
#define SQ_THREADS 256

template <typename T> static __global__ void sum_squares_chunk_kernel(const T *x, size_t n, double *partial)
{
    __shared__ double sq[BACKEND_REDUCE_CHUNK];
    size_t lo = (size_t)blockIdx.x * BACKEND_REDUCE_CHUNK;
    int len = n - lo < BACKEND_REDUCE_CHUNK ? (int)(n - lo) : BACKEND_REDUCE_CHUNK;
    for (int i = threadIdx.x; i < len; i += SQ_THREADS) sq[i] = (double)x[lo + i] * (double)x[lo + i];
    __syncthreads();
    if (threadIdx.x == 0) {
        double acc = 0;
        for (int i = 0; i < len; i++) acc += sq[i];
        partial[blockIdx.x] = acc;
    }
}

/* One thread: the chunk sums in order, into partial[nb]. */
static __global__ void sum_squares_total_kernel(double *partial, size_t nb)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double total = 0;
    for (size_t b = 0; b < nb; b++) total += partial[b];
    partial[nb] = total;
}

template <typename T> static td_status flat_sum_squares(const void *x, size_t n, double *out)
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
    sum_squares_total_kernel<<<1, 1, 0, gpu.stream>>>(partial, nb);
    LAUNCH_CHECK("flat_sum_squares total");
    /* never part of a captured run, so it may wait for its result */
    CUDA_CHECK(cudaMemcpyAsync(out, partial + nb, sizeof *out, cudaMemcpyDeviceToHost, gpu.stream));
    CUDA_CHECK(cudaStreamSynchronize(gpu.stream));
    return TD_OK;
}

td_status gpu_flat_sum_squares(const void *x, size_t n, dtype dt, double *out)
{
    if (dt == DT_F64) return flat_sum_squares<double>(x, n, out);
    if (dt == DT_F32) return flat_sum_squares<float>(x, n, out);
    return flat_bad_type("flat_sum_squares", dt);
}

/* --- SGD ----------------------------------------------------------------- */

/* PyTorch SGD as the reference writes it: d = g + wd w; buf = mom buf + d;
 * w -= lr (nesterov ? d + mom buf : buf). */
template <typename T>
static __global__ void sgd_kernel(T *w, const T *g, T *buf, size_t n, T lr, T mom, T wd, int nesterov)
{
    GPU_FOR(i, n)
    {
        T d = g[i] + wd * w[i];
        T b = mom * buf[i] + d;
        buf[i] = b;
        w[i] = w[i] - lr * (nesterov ? d + mom * b : b);
    }
}

template <typename T>
static td_status sgd_step(void *w, const void *g, void *buf, size_t n, double lr, double momentum, double wd,
                          int nesterov)
{
    sgd_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>((T *)w, (const T *)g, (T *)buf, n, (T)lr,
                                                                  (T)momentum, (T)wd, nesterov);
    LAUNCH_CHECK("sgd_step");
    return TD_OK;
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
static __global__ void adam_kernel(T *p, const T *g, T *m, T *v, size_t n, T step_size, T bc2_sqrt, T b1, T b2, T e,
                                   T wd)
{
    GPU_FOR(i, n)
    {
        T gi = g[i] + wd * p[i];
        T mi = b1 * m[i] + (T(1) - b1) * gi;
        T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        T denom = dev_sqrt(vi) / bc2_sqrt + e;
        p[i] = p[i] - step_size * (mi / denom);
    }
}

template <typename T>
static td_status adam_step(void *p, const void *g, void *m, void *v, size_t n, const adam_scalars *s)
{
    adam_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>((T *)p, (const T *)g, (T *)m, (T *)v, n,
                                                                   (T)s->step_size, (T)s->bc2_sqrt, (T)s->b1,
                                                                   (T)s->b2, (T)s->eps, (T)s->wd);
    LAUNCH_CHECK("adam_step");
    return TD_OK;
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
