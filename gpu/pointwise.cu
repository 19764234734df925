/* Element-wise kernels (pointwise family): relu, relu_bwd, softplus, sigmoid, exp, powadd, axpby, mul, fill, const. */
#include "elementwise.cuh"
#include "pointwise_math.cuh"

/* The math library by element type, as the reference's RX(): float calls
 * the f-suffixed function, so f32 is computed in float as on the CPU. */
static __device__ inline float dev_exp(float x) { return expf(x); }
static __device__ inline double dev_exp(double x) { return exp(x); }
static __device__ inline float dev_log1p(float x) { return log1pf(x); }
static __device__ inline double dev_log1p(double x) { return log1p(x); }
static __device__ inline float dev_fabs(float x) { return fabsf(x); }
static __device__ inline double dev_fabs(double x) { return fabs(x); }

/* --- relu, relu_bwd ------------------------------------------------------ */

template <typename T> static td_status relu_op(const kernel_args *a)
{
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    /* NaN gives 0, as on the CPU */
    return gpu_map("relu", shape_numel(a->out_shape), [=] __device__(auto i) { y[i] = x[i] > 0 ? x[i] : T(0); });
}

/* (x, g) -> g where x > 0, else 0 */
template <typename T> static td_status relu_bwd_op(const kernel_args *a)
{
    const T *x = gpu_in<T>(a, 0), *g = gpu_in<T>(a, 1);
    T *y = gpu_out<T>(a);
    return gpu_map("relu_bwd", shape_numel(a->out_shape),
                   [=] __device__(auto i) { y[i] = x[i] > 0 ? g[i] : T(0); });
}

/* --- softplus, sigmoid, exp, powadd -------------------------------------- */

/* log(1 + e^x) = max(x, 0) + log1p(e^-|x|): the reference's form, which
 * cannot overflow for large |x|. */
template <typename T> static td_status softplus_op(const kernel_args *a)
{
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    return gpu_map("softplus", shape_numel(a->out_shape), [=] __device__(auto i) {
        T v = x[i];
        y[i] = (v > 0 ? v : T(0)) + dev_log1p(dev_exp(-dev_fabs(v)));
    });
}

/* 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: e^ never overflows. */
template <typename T> static td_status sigmoid_op(const kernel_args *a)
{
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    return gpu_map("sigmoid", shape_numel(a->out_shape), [=] __device__(auto i) {
        T v = x[i];
        if (v >= 0) {
            y[i] = T(1) / (T(1) + dev_exp(-v));
        } else {
            T e = dev_exp(v);
            y[i] = e / (T(1) + e);
        }
    });
}

template <typename T> static td_status exp_op(const kernel_args *a)
{
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    return gpu_map("exp", shape_numel(a->out_shape), [=] __device__(auto i) { y[i] = dev_exp(x[i]); });
}

/* (x + eps)^pw, with eps = p.a and pw = p.b rounded to T first as on the CPU */
template <typename T> static td_status powadd_op(const kernel_args *a)
{
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    T eps = (T)a->nd->p.a, pw = (T)a->nd->p.b;
    return gpu_map("powadd", shape_numel(a->out_shape), [=] __device__(auto i) { y[i] = powadd_value(x[i], eps, pw); });
}

/* --- axpby, mul ---------------------------------------------------------- */

/* (x[, z]) -> s x + t z (pointwise_math.cuh axpby_value: the reference's
 * special cases, no FMA, as on the CPU) */
template <typename T> static td_status axpby_op(const kernel_args *a)
{
    size_t n = shape_numel(a->out_shape);
    T s = (T)a->nd->p.a, t = (T)a->nd->p.b;
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    if (a->nin == 1) return gpu_map("axpby", n, [=] __device__(auto i) { y[i] = axpby_value(x[i], T(0), s, t, 0); });
    const T *z = gpu_in<T>(a, 1);
    return gpu_map("axpby", n, [=] __device__(auto i) { y[i] = axpby_value(x[i], z[i], s, t, 1); });
}

template <typename T> static td_status mul_op(const kernel_args *a)
{
    const T *x = gpu_in<T>(a, 0), *z = gpu_in<T>(a, 1);
    T *y = gpu_out<T>(a);
    return gpu_map("mul", shape_numel(a->out_shape), [=] __device__(auto i) { y[i] = mul_value(x[i], z[i]); });
}

/* --- fill, const --------------------------------------------------------- */

/* The 1-element source is device memory: every thread reads it, so the
 * host never waits for it. */
template <typename T> static td_status fill_op(const kernel_args *a)
{
    const T *src = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    return gpu_map("fill", shape_numel(a->out_shape), [=] __device__(auto i) { y[i] = src[0]; });
}

/* () -> p.a rounded to T everywhere (0 gives +0, the reference's memset) */
template <typename T> static td_status const_op(const kernel_args *a)
{
    T *y = gpu_out<T>(a);
    T v = (T)a->nd->p.a;
    return gpu_map("const", shape_numel(a->out_shape), [=] __device__(auto i) { y[i] = v; });
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

template <typename T> static td_status elu_op(const kernel_args *a)
{
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    return gpu_map("elu", shape_numel(a->out_shape),
                   [=] __device__(auto i) { y[i] = x[i] > 0 ? x[i] : dev_expm1(x[i]); });
}

/* (x, m) -> x * m * scale, the products in the reference's order */
template <typename T> static td_status dropout_op(const kernel_args *a)
{
    const T *x = gpu_in<T>(a, 0), *m = gpu_in<T>(a, 1);
    T *y = gpu_out<T>(a);
    const T scale = (T)(1.0 / (1.0 - a->nd->p.a));
    return gpu_map("dropout", shape_numel(a->out_shape), [=] __device__(auto i) { y[i] = x[i] * m[i] * scale; });
}

GPU_INSTANTIATE(elu, elu_op)
GPU_INSTANTIATE(dropout, dropout_op)
