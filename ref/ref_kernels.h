/* CPU reference kernels: one entry per primitive and element type.
 * Every kernel parallelises over disjoint outputs only, and every sum runs
 * in a fixed order, so results do not depend on the thread count. */
#ifndef TSEDARTS_REF_KERNELS_H
#define TSEDARTS_REF_KERNELS_H

#include "tsedarts/backend.h"

#define REF_DECLARE(name)                          \
    td_status name##_f32(const kernel_args *a); \
    td_status name##_f64(const kernel_args *a);
#define REF_DECLARE_FUSED(name)                                                \
    td_status name##_f32(const kernel_args *head, const kernel_args *next); \
    td_status name##_f64(const kernel_args *head, const kernel_args *next);

/* ref_<op>_f32 and ref_<op>_f64 for every op of the list: an op without
 * its kernels fails to link. */
#define REF_DECLARE_OP(id, name) REF_DECLARE(ref_##name)
TD_OP_LIST(REF_DECLARE_OP)
#undef REF_DECLARE_OP

/* Several nodes as one kernel (backend.h run_fused, fuses). */
td_status ref_run_fused(fused_kind kind, const kernel_args *const *members);
int ref_fuses(fused_kind kind, dtype dt);
/* pool.c: maxpool_argmax with the gather_at of its maxima (FUSED_ARGMAX_GATHER). */
REF_DECLARE_FUSED(ref_maxpool_argmax_gather)

td_status ref_flat_copy(void *dst, const void *src, size_t bytes);
td_status ref_flat_axpy(void *y, const void *x, size_t n, dtype dt, double a);
td_status ref_flat_scale(void *x, size_t n, dtype dt, double s);
td_status ref_flat_sum_squares(const void *x, size_t n, dtype dt, double *out);
td_status ref_sgd_step(void *w, const void *g, void *buf, size_t n, dtype dt, double lr, double momentum, double wd,
                       int nesterov);
td_status ref_adam_step(void *p, const void *g, void *m, void *v, size_t n, dtype dt, double lr, double beta1,
                        double beta2, double eps, double wd, long step);
/* step_scalars.c: the device-resident step scalars (backend.h) */
td_status ref_flat_clip(void *x, size_t n, dtype dt, double max_norm, double *dev);
td_status ref_flat_inverse_norm(const void *x, size_t n, dtype dt, double num, double *dev);
td_status ref_flat_axpy_dev(void *y, const void *x, size_t n, dtype dt, const double *dev, double num, double den);
td_status ref_tally_pass(backend_tally *t, const tally_pass_args *a);

/* Fixed-size chunks for full reductions: partial sums per chunk, then the
 * chunks in order (backend.h). The chunking never depends on the thread count. */
#define REF_REDUCE_CHUNK BACKEND_REDUCE_CHUNK

#endif
