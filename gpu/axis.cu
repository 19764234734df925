/* Per-axis ops on the GPU (ref/axis_impl.h): sums keeping N or C, broadcasts, batch norm's per-channel maps. */
#include "axis_sums.cuh"
#include "block_sum.cuh"
#include "elementwise.cuh"
#include "pointwise_math.cuh"

/* --- the sums: a fixed two-level reduction ------------------------------------------------------------------
 * The L values of kept index j are cut into P consecutive parts; a block of SUMS_THREADS threads reduces one
 * part, thread t adding the part's values t, t + SUMS_THREADS, ... in that order, then the block adds its
 * threads' sums by a fixed tree into one partial (block_tree_sum: halving, the last five steps as warp
 * shuffles); a second kernel adds each index's P partials in order. P, the parts and the tree depend on the
 * shape alone (never on the device or on timing), so a run repeats bit for bit, and every job on the same
 * shape makes the same sums. Accumulated in double (products of two f32 are exact there), rounded to T once
 * at the end. fused.cu runs its groups' sums through the same gpu_axis_sums (axis_sums.cuh). */

#define SUMS_THREADS 256 /* a power of two: the tree halves it */
#define SUMS_ITEMS 8     /* values per thread a part aims at, before the cap on parts */
#define SUMS_MAX_PARTS 64
#define SUMS_MAX_GRID_Y 65535u /* CUDA's limit; more kept indices loop */

/* Where kept index j's k-th value is: base_step j + (k / seg) seg_stride + k % seg. Over channels the
 * values are N planes of hw, n-major; over samples one stretch of C hw. */
typedef struct sums_layout {
    unsigned K;            /* kept indices */
    unsigned L;            /* values summed per kept index */
    unsigned seg;          /* contiguous run length */
    size_t seg_stride, base_step;
    unsigned P, chunk;     /* parts per kept index, values per part */
} sums_layout;

static int sums_layout_make(shape4 s, int axis, sums_layout *ly)
{
    size_t hw = (size_t)s.h * s.w, L;
    if (axis == AXIS_C) {
        L = (size_t)s.n * hw;
        ly->K = (unsigned)s.c;
        ly->seg = (unsigned)hw;
        ly->seg_stride = (size_t)s.c * hw;
        ly->base_step = hw;
    } else if (axis == AXIS_N) {
        L = (size_t)s.c * hw;
        ly->K = (unsigned)s.n;
        ly->seg = (unsigned)L;
        ly->seg_stride = 0;
        ly->base_step = L;
    } else {
        return 0;
    }
    if (L > 0x7fffffff || s.n < 0 || s.c < 0) return 0;
    ly->L = (unsigned)L;
    size_t parts = (L + SUMS_THREADS * SUMS_ITEMS - 1) / (SUMS_THREADS * SUMS_ITEMS);
    ly->P = parts < 1 ? 1 : parts > SUMS_MAX_PARTS ? SUMS_MAX_PARTS : (unsigned)parts;
    ly->chunk = (ly->L + ly->P - 1) / ly->P;
    return 1;
}

/* Part blockIdx.x of kept indices blockIdx.y, blockIdx.y + gridDim.y, ...: its sums of v and v z into
 * part_sum and part_dot (K x P). Also stores v where the job asks (each value belongs to one part). */
template <typename T>
__device__ void sums_parts(const axis_sums_job<T> &jb, const sums_layout &ly, double *part_sum, double *part_dot)
{
    __shared__ double sh_sum[SUMS_THREADS], sh_dot[SUMS_THREADS];
    unsigned t = threadIdx.x, k0 = blockIdx.x * ly.chunk, k1 = k0 + ly.chunk < ly.L ? k0 + ly.chunk : ly.L;
    for (unsigned j = blockIdx.y; j < ly.K; j += gridDim.y) {
        size_t base = (size_t)j * ly.base_step;
        T f = 0, o = 0, w = 0;
        if (jb.prep == AXIS_PREP_AFFINE) {
            f = jb.sc[j];
            o = jb.bias ? jb.bias[j] : (T)0;
        } else if (jb.prep == AXIS_PREP_SHARE) {
            w = jb.w[jb.widx];
        }
        double s = 0, d = 0;
        for (unsigned k = k0 + t; k < k1; k += SUMS_THREADS) {
            size_t e = base + (size_t)(k / ly.seg) * ly.seg_stride + k % ly.seg;
            T v = jb.x[e];
            if (jb.prep == AXIS_PREP_AFFINE) {
                v = axis_affine_value(v, f, o, jb.bias != NULL);
                if (jb.v_out) jb.v_out[e] = v;
            } else if (jb.prep == AXIS_PREP_SHARE) {
                v = axis_share_value(w, v);
            }
            s += (double)v;
            d += (double)v * (double)(jb.z ? jb.z[e] : v);
        }
        s = block_tree_sum<SUMS_THREADS>(s, sh_sum);
        d = block_tree_sum<SUMS_THREADS>(d, sh_dot);
        if (t == 0) {
            part_sum[(size_t)j * ly.P + blockIdx.x] = s;
            part_dot[(size_t)j * ly.P + blockIdx.x] = d;
        }
    }
}

template <typename T> td_status gpu_axis_sums(const axis_sums_job<T> *job, const char *what)
{
    sums_layout ly;
    if (!sums_layout_make(job->s, job->axis, &ly)) {
        char xs[64];
        return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda %s: cannot sum %s keeping axis %d", what,
                       shape_format(job->s, xs, sizeof xs), job->axis);
    }
    if (ly.K == 0) return TD_OK;
    void *scratch;
    TD_CHECK(gpu_scratch(2 * (size_t)ly.K * ly.P * sizeof(double), &scratch));
    double *part_sum = (double *)scratch, *part_dot = part_sum + (size_t)ly.K * ly.P;
    dim3 grid(ly.P, ly.K < SUMS_MAX_GRID_Y ? ly.K : SUMS_MAX_GRID_Y);
    const axis_sums_job<T> jb = *job;
    TD_CHECK(gpu_launch<SUMS_THREADS>("sums_parts", grid, 0,
                                      [=] __device__() { sums_parts<T>(jb, ly, part_sum, part_dot); }));
    /* a second launch, one thread per kept index adding its P partials in order and writing the wanted
     * results: they are written after every block has read its values */
    T *sum = job->sum, *dot = job->dot;
    unsigned P = ly.P;
    return gpu_map("sums_finish", ly.K, [=] __device__(auto j) {
        double s = 0, d = 0;
        for (unsigned p = 0; p < P; p++) {
            s += part_sum[(size_t)j * P + p];
            d += part_dot[(size_t)j * P + p];
        }
        if (sum) sum[j] = (T)s;
        if (dot) dot[j] = (T)d;
    });
}

template td_status gpu_axis_sums<float>(const axis_sums_job<float> *job, const char *what);
template td_status gpu_axis_sums<double>(const axis_sums_job<double> *job, const char *what);

/* --- the ops -------------------------------------------------------------------------------------------- */

static td_status axis_unsupported(const kernel_args *a, shape4 s)
{
    char xs[64];
    return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda %s: axis %d on %s", op_name(a->nd->op), a->nd->p.axis,
                   shape_format(s, xs, sizeof xs));
}

/* sum_axis: x (N, C, H, W) -> (1, C, 1, 1) over channels, (N, 1, 1, 1) over samples. */
template <typename T> static td_status sum_axis_run(const kernel_args *a)
{
    axis_sums_job<T> jb = {};
    jb.s = a->in_shape[0];
    jb.axis = a->nd->p.axis;
    jb.x = gpu_in<T>(a, 0);
    jb.sum = gpu_out<T>(a);
    return gpu_axis_sums(&jb, "sum_axis");
}

/* dot_axis: (x, z) of one shape -> sum x z keeping the axis. */
template <typename T> static td_status dot_axis_run(const kernel_args *a)
{
    axis_sums_job<T> jb = {};
    jb.s = a->in_shape[0];
    jb.axis = a->nd->p.axis;
    jb.x = gpu_in<T>(a, 0);
    jb.z = gpu_in<T>(a, 1);
    jb.dot = gpu_out<T>(a);
    return gpu_axis_sums(&jb, "dot_axis");
}

/* y (out shape) = v[kept index]. */
template <typename T> static td_status bcast_axis_run(const kernel_args *a)
{
    axis_map m;
    if (!axis_map_make(a->out_shape, a->nd->p.axis, &m)) return axis_unsupported(a, a->out_shape);
    const T *v = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    return gpu_map("bcast_axis", shape_numel(a->out_shape), [=] __device__(auto e) { y[e] = v[axis_of(m, e)]; });
}

/* y = x v[kept index]. */
template <typename T> static td_status scale_axis_run(const kernel_args *a)
{
    axis_map m;
    if (!axis_map_make(a->out_shape, a->nd->p.axis, &m)) return axis_unsupported(a, a->out_shape);
    const T *x = gpu_in<T>(a, 0), *v = gpu_in<T>(a, 1);
    T *y = gpu_out<T>(a);
    return gpu_map("scale_axis", shape_numel(a->out_shape),
                   [=] __device__(auto e) { y[e] = x[e] * v[axis_of(m, e)]; });
}

/* y = x sc[j] + bias[j] (bias NULL: x sc[j]). */
template <typename T> static td_status affine_axis_run(const kernel_args *a)
{
    axis_map m;
    if (!axis_map_make(a->out_shape, a->nd->p.axis, &m)) return axis_unsupported(a, a->out_shape);
    const T *x = gpu_in<T>(a, 0), *sc = gpu_in<T>(a, 1), *bias = a->nin > 2 ? gpu_in<T>(a, 2) : NULL;
    T *y = gpu_out<T>(a);
    return gpu_map("affine_axis", shape_numel(a->out_shape), [=] __device__(auto e) {
        auto j = axis_of(m, e);
        y[e] = axis_affine_value(x[e], sc[j], bias ? bias[j] : (T)0, bias != NULL);
    });
}

/* y = (ca[j] u + cb[j] v) + ce[j]. */
template <typename T> static td_status lincomb_axis_run(const kernel_args *a)
{
    axis_map m;
    if (!axis_map_make(a->out_shape, a->nd->p.axis, &m)) return axis_unsupported(a, a->out_shape);
    const T *u = gpu_in<T>(a, 0), *v = gpu_in<T>(a, 1), *ca = gpu_in<T>(a, 2), *cb = gpu_in<T>(a, 3),
            *ce = gpu_in<T>(a, 4);
    T *y = gpu_out<T>(a);
    return gpu_map("lincomb_axis", shape_numel(a->out_shape), [=] __device__(auto e) {
        auto j = axis_of(m, e);
        y[e] = axis_lincomb_value(ca[j], u[e], cb[j], v[e], ce[j]);
    });
}

/* The running statistics (C) of batch norm, in place from the batch's mean m and biased variance v:
 * r = (1 - mom) r + mom s, the variance unbiased by count / (count - 1) first. mom and the unbias factor are
 * rounded to T as the ref rounds them; 1 - mom is computed in T.
 * A sink: (m, v, running mean, running var), all (1, C, 1, 1); p.a the momentum, p.b the count N H W. */
template <typename T> static td_status bn_running_update_run(const kernel_args *a)
{
    size_t n = shape_numel(a->in_shape[0]);
    T mom = (T)a->nd->p.a;
    T unbias = (T)(a->nd->p.b / (a->nd->p.b - 1.0));
    const T *m = gpu_in<T>(a, 0), *v = gpu_in<T>(a, 1);
    T *rm = (T *)a->in[2], *rv = (T *)a->in[3];
    return gpu_map("bn_running_update", n, [=] __device__(auto c) {
        rm[c] = running_mean_value(rm[c], m[c], mom);
        rv[c] = running_var_value(rv[c], v[c], mom, unbias);
    });
}

GPU_INSTANTIATE(sum_axis, sum_axis_run)
GPU_INSTANTIATE(dot_axis, dot_axis_run)
GPU_INSTANTIATE(bcast_axis, bcast_axis_run)
GPU_INSTANTIATE(scale_axis, scale_axis_run)
GPU_INSTANTIATE(affine_axis, affine_axis_run)
GPU_INSTANTIATE(lincomb_axis, lincomb_axis_run)
GPU_INSTANTIATE(bn_running_update, bn_running_update_run)
