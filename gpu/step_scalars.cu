/* The step scalars on the device (backend.h flat_clip, flat_inverse_norm,
 * flat_axpy_dev, tally_pass), so that a search or training step queues
 * its work and never waits to read a scalar back. Each follows the host
 * composition it replaces operation for operation: the sum of squares is
 * flat_sum_squares' (gpu_sum_squares_to), the scalar expressions are the
 * host's in IEEE double (sqrt and division correctly rounded, no
 * contraction: --fmad=false), and the coefficient is rounded to T before
 * the element-wise work, as flat_axpy and flat_scale round theirs. */
#include "elementwise.cuh"

static td_status step_bad_type(const char *what, dtype dt)
{
    return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda %s: element type %s is not a float type", what, dtype_name(dt));
}

/* --- clipping -------------------------------------------------------------- */

/* Every thread computes the coefficient from the sum itself (the same
 * double operations, so the same value) rather than waiting for a
 * one-thread launch to store it; index 0 stores it for whoever reads it. */
static __device__ double clip_coef(double max_norm, const double *dev) { return max_norm / (sqrt(dev[0]) + 1e-6); }

template <typename T> static td_status flat_clip(void *xv, size_t n, double max_norm, double *dev)
{
    T *x = (T *)xv;
    /* no element to scale: the coefficient is stored all the same */
    if (n == 0) return gpu_map("flat_clip", 1, [=] __device__(auto) { dev[1] = clip_coef(max_norm, dev); });
    return gpu_map("flat_clip", n, [=] __device__(auto i) {
        double coef = clip_coef(max_norm, dev);
        if (i == 0) dev[1] = coef;
        if (coef < 1) x[i] = x[i] * (T)coef;
    });
}

td_status gpu_flat_clip(void *x, size_t n, dtype dt, double max_norm, double *dev)
{
    if (dt != DT_F32 && dt != DT_F64) return step_bad_type("flat_clip", dt);
    td_status st = gpu_sum_squares_to(x, n, dt, &dev[0]);
    if (st != TD_OK) return st;
    return dt == DT_F64 ? flat_clip<double>(x, n, max_norm, dev) : flat_clip<float>(x, n, max_norm, dev);
}

/* --- the finite-difference step's R ---------------------------------------- */

static __global__ void __launch_bounds__(1) inverse_norm_kernel(double *dev, double num) { dev[0] = num / sqrt(dev[0]); }

td_status gpu_flat_inverse_norm(const void *x, size_t n, dtype dt, double num, double *dev)
{
    if (dt != DT_F32 && dt != DT_F64) return step_bad_type("flat_inverse_norm", dt);
    td_status st = gpu_sum_squares_to(x, n, dt, dev);
    if (st != TD_OK) return st;
    inverse_norm_kernel<<<1, 1, 0, gpu.stream>>>(dev, num);
    LAUNCH_CHECK("flat_inverse_norm");
    return TD_OK;
}

template <typename T>
static td_status flat_axpy_dev(void *yv, const void *xv, size_t n, const double *dev, double num, double den)
{
    T *y = (T *)yv;
    const T *x = (const T *)xv;
    return gpu_map("flat_axpy_dev", n, [=] __device__(auto i) {
        double s = *dev, a = den == 0 ? num * s : num / (den * s);
        T ar = (T)a;
        y[i] = y[i] + ar * x[i];
    });
}

td_status gpu_flat_axpy_dev(void *y, const void *x, size_t n, dtype dt, const double *dev, double num, double den)
{
    if (dt == DT_F64) return flat_axpy_dev<double>(y, x, n, dev, num, den);
    if (dt == DT_F32) return flat_axpy_dev<float>(y, x, n, dev, num, den);
    return step_bad_type("flat_axpy_dev", dt);
}

/* --- a pass's figures ---------------------------------------------------------- */

/* One block: a thread per row (strided) finds the row's first maximum as
 * net_exec_correct does (comparing in T is comparing in double: the
 * conversion is exact), the counts add up in shared memory (integers: any
 * order gives the same sum), and thread 0 adds the loss in pass order. */
#define TALLY_THREADS 256

template <typename T>
static __global__ void __launch_bounds__(TALLY_THREADS) tally_kernel(backend_tally *t, const T *loss, const T *logits,
                                                                     const int32_t *labels, int rows, int classes,
                                                                     unsigned what)
{
    __shared__ int hits[TALLY_THREADS];
    int mine = 0;
    if (what & TALLY_TRAIN)
        for (int r = threadIdx.x; r < rows; r += TALLY_THREADS) {
            const T *row = logits + (size_t)r * classes;
            int best = 0;
            for (int k = 1; k < classes; k++)
                if (row[k] > row[best]) best = k;
            mine += best == labels[r];
        }
    hits[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x != 0) return;
    long long correct = 0;
    for (int k = 0; k < TALLY_THREADS; k++) correct += hits[k];
    double l = (double)loss[0];
    if (!isfinite(l)) {
        if (t->nonfinite == 0) t->first_nonfinite = l;
        t->nonfinite++;
    }
    if (what & TALLY_TRAIN) {
        t->loss_sum += l * rows;
        t->correct += correct;
    }
    if (what & TALLY_PLAIN) t->loss_plain += l;
}

td_status gpu_tally_pass(backend_tally *dev, const tally_pass_args *a)
{
    if (a->dt == DT_F64)
        tally_kernel<double><<<1, TALLY_THREADS, 0, gpu.stream>>>(dev, (const double *)a->loss, (const double *)a->logits,
                                                                a->labels, a->rows, a->classes, a->what);
    else if (a->dt == DT_F32)
        tally_kernel<float><<<1, TALLY_THREADS, 0, gpu.stream>>>(dev, (const float *)a->loss, (const float *)a->logits,
                                                               a->labels, a->rows, a->classes, a->what);
    else
        return step_bad_type("tally_pass", a->dt);
    LAUNCH_CHECK("tally_pass");
    return TD_OK;
}
