/* Shared by axis.cu and fused.cu: the per-kept-index sums and the roundings a fused kernel must repeat. */
#ifndef TSEDARTS_GPU_AXIS_SUMS_CUH
#define TSEDARTS_GPU_AXIS_SUMS_CUH

#include "gpu_internal.h"

/* The values the separate kernels store, one expression each, so that a fused kernel recomputing a value
 * that was never stored rounds it as the kernel that would have stored it (compiled without contraction:
 * x f + o is two roundings, as in the ref). */

/* affine_axis: x f + o, or x f without a shift. */
template <typename T> __device__ static inline T axis_affine_value(T x, T f, T o, bool shift)
{
    return shift ? x * f + o : x * f;
}

/* lincomb_axis: (fa u + fb v) + fe. */
template <typename T> __device__ static inline T axis_lincomb_value(T fa, T u, T fb, T v, T fe)
{
    return (fa * u + fb * v) + fe;
}

/* The one-term weighted_sum w[idx] g (a mixed op's share of a cotangent): one product, one rounding. */
template <typename T> __device__ static inline T axis_share_value(T w, T g) { return w * g; }

/* Which kept index element e of a (N, C, H, W) tensor belongs to, as the ref's axis_index. */
typedef struct axis_map {
    size_t hw, c;
    int axis;
} axis_map;

/* 0 for an axis that is neither AXIS_C nor AXIS_N. */
static inline int axis_map_make(shape4 s, int axis, axis_map *m)
{
    m->hw = (size_t)s.h * s.w;
    m->c = (size_t)s.c;
    m->axis = axis;
    return axis == AXIS_C || axis == AXIS_N;
}

/* In e's index type I (gpu_map's: 32-bit where the tensor has under 2^31 elements, when hw and c fit too). */
template <typename I> __device__ static inline I axis_of(const axis_map &m, I e)
{
    return m.axis == AXIS_C ? (e / (I)m.hw) % (I)m.c : e / (I)(m.hw * m.c);
}

/* What is summed is v, made from x before summing. */
enum axis_prep {
    AXIS_PREP_NONE = 0, /* v = x */
    AXIS_PREP_AFFINE,   /* v = axis_affine_value(x, sc[j], bias[j]): the centred input of batch norm */
    AXIS_PREP_SHARE     /* v = axis_share_value(w[widx], x) */
};

/* One pass over a tensor giving, per kept index j (a channel for AXIS_C, a sample for AXIS_N), sum v and
 * sum v z. The order of every sum depends on the shape only (axis.cu), so sum_axis, dot_axis and every
 * fused group give the same bits for the same values. Accumulated in double for both element types. */
template <typename T> struct axis_sums_job {
    shape4 s;              /* shape of x, z and v_out */
    int axis;              /* AXIS_C or AXIS_N: the index kept */
    const T *x;            /* s */
    int prep;              /* axis_prep */
    const T *sc, *bias;    /* AFFINE: (K) coefficients; bias NULL: no shift */
    T *v_out;              /* AFFINE: s, v is stored there; NULL: not stored */
    const T *w;            /* SHARE: the weight vector, read at widx on the device */
    int widx;
    const T *z;            /* s, the dot's second factor; NULL: v itself */
    T *sum, *dot;          /* (K) results: sum v and sum v z; NULL: not wanted */
};

/* Runs a job on gpu.stream; what names the op or group in errors. The results are written after every
 * value has been read, so they may overlay inputs that die at the first member of a fused group. */
template <typename T> td_status gpu_axis_sums(const axis_sums_job<T> *job, const char *what);
/* instantiated once, in axis.cu */
extern template td_status gpu_axis_sums<float>(const axis_sums_job<float> *job, const char *what);
extern template td_status gpu_axis_sums<double>(const axis_sums_job<double> *job, const char *what);

#endif
