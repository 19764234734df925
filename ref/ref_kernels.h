/* CPU reference kernels: one entry per primitive and element type.
 * Every kernel parallelises over disjoint outputs only, and every sum runs
 * in a fixed order, so results do not depend on the thread count. */
#ifndef TSEDARTS_REF_KERNELS_H
#define TSEDARTS_REF_KERNELS_H

#include "tsedarts/backend.h"

#define REF_DECLARE(name)                          \
    td_status name##_f32(const kernel_args *a); \
    td_status name##_f64(const kernel_args *a);

REF_DECLARE(ref_conv2d)
REF_DECLARE(ref_conv2d_bwd_data)
REF_DECLARE(ref_conv2d_bwd_filter)
REF_DECLARE(ref_matmul)
REF_DECLARE(ref_relu)
REF_DECLARE(ref_relu_bwd)
REF_DECLARE(ref_softplus)
REF_DECLARE(ref_sigmoid)
REF_DECLARE(ref_exp)
REF_DECLARE(ref_powadd)
REF_DECLARE(ref_axpby)
REF_DECLARE(ref_mul)
REF_DECLARE(ref_maxpool)
REF_DECLARE(ref_maxpool_gather)
REF_DECLARE(ref_maxpool_scatter)
REF_DECLARE(ref_avgpool)
REF_DECLARE(ref_avgpool_bwd)
REF_DECLARE(ref_gap)
REF_DECLARE(ref_gap_bwd)
REF_DECLARE(ref_sum_axis)
REF_DECLARE(ref_bcast_axis)
REF_DECLARE(ref_scale_axis)
REF_DECLARE(ref_dot_axis)
REF_DECLARE(ref_affine_axis)
REF_DECLARE(ref_lincomb_axis)
REF_DECLARE(ref_bn_running_update)
REF_DECLARE(ref_weighted_sum)
REF_DECLARE(ref_dots)
REF_DECLARE(ref_softmax_rows)
REF_DECLARE(ref_log_softmax_rows)
REF_DECLARE(ref_pick_labels)
REF_DECLARE(ref_place_labels)
REF_DECLARE(ref_sum_all)
REF_DECLARE(ref_fill)
REF_DECLARE(ref_const)
REF_DECLARE(ref_concat_c)
REF_DECLARE(ref_slice_c)
REF_DECLARE(ref_crop)
REF_DECLARE(ref_uncrop)

/* Several nodes as one kernel (backend.h run_fused, fuses). */
int ref_run_fused(fused_kind kind, const kernel_args *const *nodes, td_status *result);
int ref_fuses(fused_kind kind, dtype dt);

td_status ref_flat_copy(void *dst, const void *src, size_t bytes);
td_status ref_flat_axpy(void *y, const void *x, size_t n, dtype dt, double a);
td_status ref_flat_scale(void *x, size_t n, dtype dt, double s);
td_status ref_flat_sum_squares(const void *x, size_t n, dtype dt, double *out);
td_status ref_sgd_step(void *w, const void *g, void *buf, size_t n, dtype dt, double lr, double momentum, double wd,
                       int nesterov);
td_status ref_adam_step(void *p, const void *g, void *m, void *v, size_t n, dtype dt, double lr, double beta1,
                        double beta2, double eps, double wd, long step);

/* Fixed-size chunks for full reductions: partial sums per chunk, then the
 * chunks in order. The chunking never depends on the thread count. */
#define REF_REDUCE_CHUNK 4096

#endif
