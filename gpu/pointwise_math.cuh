/* The per-element arithmetic of the small element-wise ops that a fused
 * chain (fused_chain.cu) runs one after another: one definition, used by
 * each op's own kernel and by the chain, so the chain gives the bits of
 * its members run alone. The build forbids the compiler's contraction
 * into fused multiply-adds, so each expression rounds as written. */
#ifndef TSEDARTS_GPU_POINTWISE_MATH_CUH
#define TSEDARTS_GPU_POINTWISE_MATH_CUH

static __device__ inline float dev_pow(float x, float y) { return powf(x, y); }
static __device__ inline double dev_pow(double x, double y) { return pow(x, y); }

/* axpby (x[, z]) -> s x + t z with s = p.a, t = p.b rounded to T; the
 * reference's special cases give their bits: one input, s x (a copy when
 * s == 1); two, x + z when s = t = 1, else two products rounded, then
 * their sum. */
template <typename T> static __device__ inline T axpby_value(T x, T z, T s, T t, int has_z)
{
    if (!has_z) return s == 1 ? x : s * x;
    return s == 1 && t == 1 ? x + z : s * x + t * z;
}

template <typename T> static __device__ inline T mul_value(T x, T z) { return x * z; }

/* powadd: (x + eps)^pw, eps = p.a and pw = p.b rounded to T first */
template <typename T> static __device__ inline T powadd_value(T x, T eps, T pw) { return dev_pow(x + eps, pw); }

/* bn_running_update: r = (1 - mom) r + mom s, the variance unbiased by
 * count / (count - 1) first; mom and the unbias factor rounded to T, and
 * 1 - mom computed in T. */
template <typename T> static __device__ inline T running_mean_value(T rm, T m, T mom) { return (1 - mom) * rm + mom * m; }
template <typename T> static __device__ inline T running_var_value(T rv, T v, T mom, T unbias)
{
    return (1 - mom) * rv + mom * (v * unbias);
}

#endif
