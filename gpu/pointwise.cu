/* Element-wise kernels (pointwise family): relu, relu_bwd, softplus, sigmoid, exp, powadd, axpby, mul, fill, const. */
#include "gpu_internal.h"

/* The math library by element type, as the reference's RX(): float calls
 * the f-suffixed function, so f32 is computed in float as on the CPU. */
static __device__ inline float dev_exp(float x) { return expf(x); }
static __device__ inline double dev_exp(double x) { return exp(x); }
static __device__ inline float dev_log1p(float x) { return log1pf(x); }
static __device__ inline double dev_log1p(double x) { return log1p(x); }
static __device__ inline float dev_fabs(float x) { return fabsf(x); }
static __device__ inline double dev_fabs(double x) { return fabs(x); }
static __device__ inline float dev_pow(float x, float y) { return powf(x, y); }
static __device__ inline double dev_pow(double x, double y) { return pow(x, y); }

/* --- relu, relu_bwd ------------------------------------------------------ */

template <typename T> static __global__ void relu_kernel(const T *x, T *y, size_t n)
{
    GPU_FOR(i, n) y[i] = x[i] > 0 ? x[i] : T(0); /* NaN gives 0, as on the CPU */
}

template <typename T> static td_status relu_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    relu_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), n);
    LAUNCH_CHECK("relu");
    return TD_OK;
}

/* (x, g) -> g where x > 0, else 0 */
template <typename T> static __global__ void relu_bwd_kernel(const T *x, const T *g, T *y, size_t n)
{
    GPU_FOR(i, n) y[i] = x[i] > 0 ? g[i] : T(0);
}

template <typename T> static td_status relu_bwd_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    relu_bwd_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_in<T>(a, 1),
                                                                       gpu_out<T>(a), n);
    LAUNCH_CHECK("relu_bwd");
    return TD_OK;
}

/* --- softplus, sigmoid, exp, powadd -------------------------------------- */

/* log(1 + e^x) = max(x, 0) + log1p(e^-|x|): the reference's form, which
 * cannot overflow for large |x|. */
template <typename T> static __global__ void softplus_kernel(const T *x, T *y, size_t n)
{
    GPU_FOR(i, n)
    {
        T v = x[i];
        y[i] = (v > 0 ? v : T(0)) + dev_log1p(dev_exp(-dev_fabs(v)));
    }
}

template <typename T> static td_status softplus_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    softplus_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), n);
    LAUNCH_CHECK("softplus");
    return TD_OK;
}

/* 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: e^ never overflows. */
template <typename T> static __global__ void sigmoid_kernel(const T *x, T *y, size_t n)
{
    GPU_FOR(i, n)
    {
        T v = x[i];
        if (v >= 0) {
            y[i] = T(1) / (T(1) + dev_exp(-v));
        } else {
            T e = dev_exp(v);
            y[i] = e / (T(1) + e);
        }
    }
}

template <typename T> static td_status sigmoid_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    sigmoid_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), n);
    LAUNCH_CHECK("sigmoid");
    return TD_OK;
}

template <typename T> static __global__ void exp_kernel(const T *x, T *y, size_t n)
{
    GPU_FOR(i, n) y[i] = dev_exp(x[i]);
}

template <typename T> static td_status exp_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    exp_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), n);
    LAUNCH_CHECK("exp");
    return TD_OK;
}

/* (x + eps)^pw, with eps = p.a and pw = p.b rounded to T first as on the CPU */
template <typename T> static __global__ void powadd_kernel(const T *x, T *y, size_t n, T eps, T pw)
{
    GPU_FOR(i, n) y[i] = dev_pow(x[i] + eps, pw);
}

template <typename T> static td_status powadd_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    T eps = (T)a->nd->p.a, pw = (T)a->nd->p.b;
    powadd_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), n, eps, pw);
    LAUNCH_CHECK("powadd");
    return TD_OK;
}

/* --- axpby, mul ---------------------------------------------------------- */

/* One input: y = s x (a copy when s == 1, as the reference's memcpy). */
template <typename T> static __global__ void scale_kernel(const T *x, T *y, size_t n, T s)
{
    GPU_FOR(i, n) y[i] = s * x[i];
}

template <typename T> static __global__ void copy_kernel(const T *x, T *y, size_t n)
{
    GPU_FOR(i, n) y[i] = x[i];
}

template <typename T> static __global__ void add_kernel(const T *x, const T *z, T *y, size_t n)
{
    GPU_FOR(i, n) y[i] = x[i] + z[i];
}

/* s x + t z: two products rounded, then their sum (no FMA, as on the CPU) */
template <typename T> static __global__ void axpby_kernel(const T *x, const T *z, T *y, size_t n, T s, T t)
{
    GPU_FOR(i, n) y[i] = s * x[i] + t * z[i];
}

/* (x[, z]) -> s x + t z with s = p.a, t = p.b rounded to T; the reference's
 * special cases are kept so that every case gives its bits. */
template <typename T> static td_status axpby_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    T s = (T)a->nd->p.a, t = (T)a->nd->p.b;
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    unsigned blocks = gpu_blocks(n);
    if (a->nin == 1) {
        if (s == 1)
            copy_kernel<T><<<blocks, GPU_THREADS, 0, gpu.stream>>>(x, y, n);
        else
            scale_kernel<T><<<blocks, GPU_THREADS, 0, gpu.stream>>>(x, y, n, s);
    } else {
        const T *z = gpu_in<T>(a, 1);
        if (s == 1 && t == 1)
            add_kernel<T><<<blocks, GPU_THREADS, 0, gpu.stream>>>(x, z, y, n);
        else
            axpby_kernel<T><<<blocks, GPU_THREADS, 0, gpu.stream>>>(x, z, y, n, s, t);
    }
    LAUNCH_CHECK("axpby");
    return TD_OK;
}

template <typename T> static __global__ void mul_kernel(const T *x, const T *z, T *y, size_t n)
{
    GPU_FOR(i, n) y[i] = x[i] * z[i];
}

template <typename T> static td_status mul_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    mul_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_in<T>(a, 1), gpu_out<T>(a),
                                                                  n);
    LAUNCH_CHECK("mul");
    return TD_OK;
}

/* --- fill, const --------------------------------------------------------- */

/* The 1-element source is device memory: every thread reads it, so the
 * host never waits for it. */
template <typename T> static __global__ void fill_kernel(const T *src, T *y, size_t n)
{
    GPU_FOR(i, n) y[i] = src[0];
}

template <typename T> static td_status fill_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    fill_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), n);
    LAUNCH_CHECK("fill");
    return TD_OK;
}

template <typename T> static __global__ void const_kernel(T *y, size_t n, T v)
{
    GPU_FOR(i, n) y[i] = v;
}

/* () -> p.a rounded to T everywhere (0 gives +0, the reference's memset) */
template <typename T> static td_status const_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    const_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_out<T>(a), n, (T)a->nd->p.a);
    LAUNCH_CHECK("const");
    return TD_OK;
}

GPU_INSTANTIATE(relu, relu_op)
GPU_INSTANTIATE(relu_bwd, relu_bwd_op)
GPU_INSTANTIATE(softplus, softplus_op)
GPU_INSTANTIATE(sigmoid, sigmoid_op)
GPU_INSTANTIATE(exp, exp_op)
GPU_INSTANTIATE(powadd, powadd_op)
GPU_INSTANTIATE(axpby, axpby_op)
GPU_INSTANTIATE(mul, mul_op)
GPU_INSTANTIATE(fill, fill_op)
GPU_INSTANTIATE(const, const_op)

/* --- elu, dropout -------------------------------------------------------- */

static __device__ inline float dev_expm1(float x) { return expm1f(x); }
static __device__ inline double dev_expm1(double x) { return expm1(x); }

template <typename T> static __global__ void elu_kernel(const T *x, T *y, size_t n)
{
    GPU_FOR(i, n) y[i] = x[i] > 0 ? x[i] : dev_expm1(x[i]);
}

template <typename T> static td_status elu_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    elu_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), n);
    LAUNCH_CHECK("elu");
    return TD_OK;
}

/* (x, m) -> x * m * scale, the products in the reference's order */
template <typename T> static __global__ void dropout_kernel(const T *x, const T *m, T scale, T *y, size_t n)
{
    GPU_FOR(i, n) y[i] = x[i] * m[i] * scale;
}

template <typename T> static td_status dropout_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    const T scale = (T)(1.0 / (1.0 - a->nd->p.a));
    dropout_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_in<T>(a, 1), scale,
                                                                      gpu_out<T>(a), n);
    LAUNCH_CHECK("dropout");
    return TD_OK;
}

GPU_INSTANTIATE(elu, elu_op)
GPU_INSTANTIATE(dropout, dropout_op)
