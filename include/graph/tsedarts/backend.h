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

/* Kernels that stand for several nodes of a graph (nodes[] in order):
 *  FUSED_PAIR: two consecutive nodes the backend recognises, run as one;
 *  FUSED_CENTRED_VARIANCE: affine_axis(x, sc, b) -> xc, dot_axis(xc, xc):
 *    writes only the dot's output, xc is never stored;
 *  FUSED_CENTRED_SCALE: that affine_axis, scale_axis(xc, r): writes the
 *    scale's output from x, sc and b, (x sc + b) r;
 *  FUSED_SCALED_PAIR: weighted_sum(w; G) -> S (one term), sum_axis(S),
 *    dot_axis(S, Z): writes the two sums, S is never stored;
 *  FUSED_SCALED_LINCOMB: that weighted_sum, lincomb_axis(S, V, ...):
 *    writes the lincomb's output with S recomputed from w and G. */
typedef enum fused_kind {
    FUSED_PAIR = 1,
    FUSED_CENTRED_VARIANCE,
    FUSED_CENTRED_SCALE,
    FUSED_SCALED_PAIR,
    FUSED_SCALED_LINCOMB,
    FUSED_KIND_END
} fused_kind;

/* Nodes a fused kernel stands for. */
static inline int fused_kind_nodes(fused_kind k) { return k == FUSED_SCALED_PAIR ? 3 : 2; }

typedef struct backend {
    const char *name;
    int device_memory; /* 1 when pointers are not host-addressable */
    void *(*alloc)(size_t bytes);
    void (*release)(void *p);
    td_status (*upload)(void *dst, const void *src, size_t bytes);
    td_status (*download)(void *dst, const void *src, size_t bytes);
    td_status (*zero)(void *dst, size_t bytes);
    td_status (*run_node)(const kernel_args *a);
    /* Optional (NULL where absent): runs fused_kind_nodes(kind) nodes as
     * one kernel when it has one (returns 1 and sets *result), else
     * returns 0 and runs nothing. Results are bit-identical to run_node on
     * the nodes of the unfused graph. */
    int (*run_fused)(fused_kind kind, const kernel_args *const *nodes, td_status *result);
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

#endif
