/* The scalars of a search or training step where the backend computes
 * (backend.h flat_clip, flat_inverse_norm, flat_axpy_dev, tally_pass), so
 * that a step queues its work and the host never waits for a device inside
 * it; and, where the backend lacks them or TSEDARTS_DEVICE_STEP=0 asks,
 * the same operations as the host ran them before (a download per scalar).
 * Either way the bits are the same: the entries compute the host's
 * expressions in IEEE double over the same sums. */
#ifndef TSEDARTS_DEVICE_STEP_H
#define TSEDARTS_DEVICE_STEP_H

#include "tsedarts/backend.h"

typedef struct device_step {
    const backend *be;
    int on;                /* the scalars stay where the backend computes */
    backend_tally *tally;  /* backend memory, where on */
    double *scalar;        /* backend memory, two doubles, where on */
    double host_scalar;    /* the inverse norm the host computed, where off */
} device_step;

/* Whether a step on be keeps its scalars on the backend: it offers every
 * entry and TSEDARTS_DEVICE_STEP is not "0" (a GPU offers them only where
 * it is "1": gpu/backend_cuda.cu). */
int device_step_wanted(const backend *be);

td_status device_step_open(device_step *d, const backend *be);
void device_step_close(device_step *d);

/* Gradient clipping (torch.nn.utils.clip_grad_norm_ with the 1e-6 of its
 * denominator) of x to norm max_norm. */
td_status device_step_clip(device_step *d, void *x, size_t n, dtype dt, double max_norm);
/* The step's scalar s = num / ||x|| ... */
td_status device_step_inverse_norm(device_step *d, const void *x, size_t n, dtype dt, double num);
/* ... then y <- y + a x with a = num * s (den == 0) or num / (den * s). */
td_status device_step_axpy(device_step *d, void *y, const void *x, size_t n, dtype dt, double num, double den);

/* The tally's figures, read back (waits for the device), and set (zero at
 * an epoch's start, a checkpoint's figures on resume). Only where on. */
td_status device_step_tally_read(device_step *d, backend_tally *out);
/* Whether the tally already counts a non-finite loss, where the host can
 * look without waiting (the CPU: its tally is host memory, complete when
 * tally_pass returns); 0 on a device. A diverging CPU run then stops at
 * the pass that diverged, as it did when the host read every loss, rather
 * than at the end of the epoch. */
int device_step_diverged_now(const device_step *d);
td_status device_step_tally_write(device_step *d, const backend_tally *in);

#endif
