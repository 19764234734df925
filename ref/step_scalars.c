/* The CPU's device-resident step scalars (backend.h flat_clip, ...): each
 * the composition of the flat operations the search and training code ran
 * before, with the host's scalar expressions, so the CPU takes the new
 * path and gives the old path's bits by construction. The scalars live in
 * host memory here; a GPU keeps them on the device (gpu/step_scalars.cu). */
#include <math.h>

#include "ref_kernels.h"

td_status ref_flat_clip(void *x, size_t n, dtype dt, double max_norm, double *dev)
{
    TD_CHECK(ref_flat_sum_squares(x, n, dt, &dev[0]));
    dev[1] = max_norm / (sqrt(dev[0]) + 1e-6);
    return dev[1] < 1 ? ref_flat_scale(x, n, dt, dev[1]) : TD_OK;
}

td_status ref_flat_inverse_norm(const void *x, size_t n, dtype dt, double num, double *dev)
{
    double sq;
    TD_CHECK(ref_flat_sum_squares(x, n, dt, &sq));
    *dev = num / sqrt(sq);
    return TD_OK;
}

td_status ref_flat_axpy_dev(void *y, const void *x, size_t n, dtype dt, const double *dev, double num, double den)
{
    return ref_flat_axpy(y, x, n, dt, den == 0 ? num * *dev : num / (den * *dev));
}

static double element(const void *p, dtype dt, size_t i)
{
    return dt == DT_F64 ? ((const double *)p)[i] : ((const float *)p)[i];
}

/* net_exec_correct's rule: the first maximum, compared in double (exact
 * for either element type, so the same as comparing in it). */
static long long correct_rows(const tally_pass_args *a)
{
    long long correct = 0;
    for (int n = 0; n < a->rows; n++) {
        size_t row = (size_t)n * a->classes;
        int best = 0;
        for (int k = 1; k < a->classes; k++)
            if (element(a->logits, a->dt, row + k) > element(a->logits, a->dt, row + best)) best = k;
        correct += best == a->labels[n];
    }
    return correct;
}

td_status ref_tally_pass(backend_tally *t, const tally_pass_args *a)
{
    if (a->dt != DT_F32 && a->dt != DT_F64)
        return TD_FAIL(TD_ERR_ARG, "cpu tally_pass: unsupported element type %s", dtype_name(a->dt));
    double l = element(a->loss, a->dt, 0);
    if (!isfinite(l)) {
        if (t->nonfinite == 0) t->first_nonfinite = l;
        t->nonfinite++;
    }
    if (a->what & TALLY_TRAIN) {
        t->loss_sum += l * a->rows;
        t->correct += correct_rows(a);
    }
    if (a->what & TALLY_PLAIN) t->loss_plain += l;
    return TD_OK;
}
