#include "tsedarts/device_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int device_step_wanted(const backend *be)
{
    if (!be->flat_clip || !be->flat_inverse_norm || !be->flat_axpy_dev || !be->tally_pass) return 0;
    const char *v = getenv("TSEDARTS_DEVICE_STEP");
    return !(v && !strcmp(v, "0"));
}

td_status device_step_open(device_step *d, const backend *be)
{
    memset(d, 0, sizeof *d);
    d->be = be;
    if (!device_step_wanted(be)) return TD_OK;
    d->tally = be->alloc(sizeof *d->tally);
    d->scalar = be->alloc(2 * sizeof *d->scalar);
    if (!d->tally || !d->scalar) {
        device_step_close(d);
        return TD_FAIL(TD_ERR_MEMORY, "out of memory for the step's scalars on %s", be->name);
    }
    d->on = 1;
    TD_CHECK(be->zero(d->scalar, 2 * sizeof *d->scalar));
    return be->zero(d->tally, sizeof *d->tally);
}

void device_step_close(device_step *d)
{
    if (d->tally) d->be->release(d->tally);
    if (d->scalar) d->be->release(d->scalar);
    d->tally = NULL;
    d->scalar = NULL;
    d->on = 0;
}

td_status device_step_clip(device_step *d, void *x, size_t n, dtype dt, double max_norm)
{
    const backend *be = d->be;
    if (d->on) return be->flat_clip(x, n, dt, max_norm, d->scalar);
    double sq;
    TD_CHECK(be->flat_sum_squares(x, n, dt, &sq));
    double coef = max_norm / (sqrt(sq) + 1e-6);
    return coef < 1 ? be->flat_scale(x, n, dt, coef) : TD_OK;
}

td_status device_step_inverse_norm(device_step *d, const void *x, size_t n, dtype dt, double num)
{
    const backend *be = d->be;
    if (d->on) return be->flat_inverse_norm(x, n, dt, num, d->scalar);
    double sq;
    TD_CHECK(be->flat_sum_squares(x, n, dt, &sq));
    d->host_scalar = num / sqrt(sq);
    return TD_OK;
}

td_status device_step_axpy(device_step *d, void *y, const void *x, size_t n, dtype dt, double num, double den)
{
    const backend *be = d->be;
    if (d->on) return be->flat_axpy_dev(y, x, n, dt, d->scalar, num, den);
    double s = d->host_scalar;
    return be->flat_axpy(y, x, n, dt, den == 0 ? num * s : num / (den * s));
}

td_status device_step_tally_read(device_step *d, backend_tally *out)
{
    if (!d->on) return TD_FAIL(TD_ERR_STATE, "the step's figures are on the host, not in a tally");
    return d->be->download(out, d->tally, sizeof *out);
}

int device_step_diverged_now(const device_step *d)
{
    return d->on && !d->be->device_memory && d->tally->nonfinite > 0;
}

td_status device_step_tally_write(device_step *d, const backend_tally *in)
{
    if (!d->on) return TD_FAIL(TD_ERR_STATE, "the step's figures are on the host, not in a tally");
    return d->be->upload(d->tally, in, sizeof *in);
}
