/* Flat-buffer kernels: optimiser steps and reductions over whole role
 * buffers. Elementwise loops split freely; the sum of squares uses fixed
 * chunks, so it does not depend on the thread count. */

static void FN(flat_axpy)(REAL *y, const REAL *x, size_t n, double a)
{
    REAL ar = (REAL)a;
#pragma omp parallel for schedule(static) if (n >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] += ar * x[i];
}

static void FN(flat_scale)(REAL *x, size_t n, double s)
{
    REAL sr = (REAL)s;
#pragma omp parallel for schedule(static) if (n >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) x[i] *= sr;
}

static double FN(flat_sum_squares)(const REAL *x, size_t n)
{
    size_t nb = (n + REF_REDUCE_CHUNK - 1) / REF_REDUCE_CHUNK;
    double *part = malloc((nb ? nb : 1) * sizeof *part);
    TD_ASSERT(part, "out of memory");
#pragma omp parallel for schedule(static) if (n >= REF_PARALLEL_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * REF_REDUCE_CHUNK, hi = lo + REF_REDUCE_CHUNK < n ? lo + REF_REDUCE_CHUNK : n;
        double acc = 0;
        for (size_t i = lo; i < hi; i++) acc += (double)x[i] * (double)x[i];
        part[b] = acc;
    }
    double total = 0;
    for (size_t b = 0; b < nb; b++) total += part[b];
    free(part);
    return total;
}

static void FN(sgd_step)(REAL *w, const REAL *g, REAL *buf, size_t n, double lr, double momentum, double wd,
                         int nesterov)
{
    REAL lr_r = (REAL)lr, mom = (REAL)momentum, wd_r = (REAL)wd;
#pragma omp parallel for schedule(static) if (n >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        REAL d = g[i] + wd_r * w[i];
        REAL b = mom * buf[i] + d;
        buf[i] = b;
        w[i] -= lr_r * (nesterov ? d + mom * b : b);
    }
}

static void FN(adam_step)(REAL *p, const REAL *g, REAL *m, REAL *v, size_t n, double lr, double beta1, double beta2,
                          double eps, double wd, long step)
{
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    REAL step_size = (REAL)(lr / bc1), bc2_sqrt = (REAL)sqrt(bc2);
    REAL b1 = (REAL)beta1, b2 = (REAL)beta2, e = (REAL)eps, wd_r = (REAL)wd;
    for (size_t i = 0; i < n; i++) {
        REAL gi = g[i] + wd_r * p[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        REAL denom = RX(sqrt)(v[i]) / bc2_sqrt + e;
        p[i] -= step_size * (m[i] / denom);
    }
}
