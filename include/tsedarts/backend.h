/* The backend interface: memory management plus one kernel entry per
 * primitive. The CPU reference (ref/) and the CUDA backend (gpu/) implement
 * the same table, so one graph runs on either. */
#ifndef TSEDARTS_BACKEND_H
#define TSEDARTS_BACKEND_H

#include "tsedarts/graph.h"

typedef struct kernel_args {
    const graph *g;
    const node *nd;
    int nin;
    void *const *in;       /* input data, backend memory */
    const shape4 *in_shape; /* input shapes */
    void *out;             /* output data (NULL for sinks) */
    shape4 out_shape;
    dtype dt;              /* element type of float tensors */
} kernel_args;

/* Kernels that stand for two nodes of a graph:
 *  FUSED_PAIR: two consecutive nodes the backend recognises, run as one;
 *  FUSED_CENTRED_VARIANCE: first = affine_axis(x, sc, b) -> xc, second =
 *    dot_axis(xc, xc): writes only the second's output, xc is never stored;
 *  FUSED_CENTRED_SCALE: first = that affine_axis, second = scale_axis(xc,
 *    r): writes the second's output from x, sc and b, (x sc + b) r. */
typedef enum fused_kind { FUSED_PAIR = 1, FUSED_CENTRED_VARIANCE, FUSED_CENTRED_SCALE } fused_kind;

typedef struct backend {
    const char *name;
    int device_memory; /* 1 when pointers are not host-addressable */
    void *(*alloc)(size_t bytes);
    void (*release)(void *p);
    td_status (*upload)(void *dst, const void *src, size_t bytes);
    td_status (*download)(void *dst, const void *src, size_t bytes);
    td_status (*zero)(void *dst, size_t bytes);
    td_status (*run_node)(const kernel_args *a);
    /* Optional (NULL where absent): runs two nodes as one kernel (see
     * fused_kind) when it has one (returns 1 and sets *result), else
     * returns 0 and runs nothing. Results are bit-identical to run_node on
     * the nodes of the unfused graph. */
    int (*run_fused)(fused_kind kind, const kernel_args *first, const kernel_args *second, td_status *result);
    /* Optional: whether run_fused always runs kind for dt (the executor
     * plans memory for the centred kinds before any kernel runs). */
    int (*fuses)(fused_kind kind, dtype dt);
    td_status (*sync)(void);
    /* Flat-buffer operations on n elements of dt, for optimisers and
     * snapshots. Sums run in a fixed order (reproducible). */
    td_status (*flat_copy)(void *dst, const void *src, size_t bytes);
    /* y <- y + a x */
    td_status (*flat_axpy)(void *y, const void *x, size_t n, dtype dt, double a);
    td_status (*flat_scale)(void *x, size_t n, dtype dt, double s);
    /* *out = sum x^2 (accumulated in double) */
    td_status (*flat_sum_squares)(const void *x, size_t n, dtype dt, double *out);
    /* PyTorch SGD: d = g + wd w; buf = mom buf + d; w -= lr (nesterov ? d + mom buf : buf) */
    td_status (*sgd_step)(void *w, const void *g, void *buf, size_t n, dtype dt, double lr, double momentum,
                          double wd, int nesterov);
    /* PyTorch Adam with L2 weight decay added to the gradient; step >= 1 */
    td_status (*adam_step)(void *p, const void *g, void *m, void *v, size_t n, dtype dt, double lr, double beta1,
                           double beta2, double eps, double wd, long step);
} backend;

const backend *backend_cpu(void);
/* Whether the CPU backend has both element-type kernels of op. */
int backend_cpu_has_kernel(op_kind op);
/* Kernels on fewer elements than this run on one thread (default 16384);
 * tests set 0 to put every kernel through its parallel path. */
void backend_cpu_set_parallel_min(size_t elements);

/* The CUDA backend, or NULL when this build has none or no device is
 * usable (then *why says which). */
const backend *backend_cuda(int device, const char **why);

#endif
