/* The backend interface: memory management plus one kernel entry per
 * primitive. The CPU reference (ref/) and the CUDA backend (gpu/) implement
 * the same table, so one graph runs on either. */
#ifndef TSEDARTS_BACKEND_H
#define TSEDARTS_BACKEND_H

#include "tsedarts/fusion.h"
#include "tsedarts/graph.h"

/* Full reductions (sum_all, dots, the flat sum of squares) add fixed
 * chunks of this many elements, then the chunks' sums: in order on the CPU,
 * by a fixed tree on the GPU for sum_all and the sum of squares
 * (gpu/block_sum.cuh). Every backend uses the same chunks, so their sums
 * group the same terms and never depend on how many threads or blocks run
 * them. */
#define BACKEND_REDUCE_CHUNK 4096

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

typedef struct backend {
    const char *name;  /* the device name it is opened by: "cpu", "cuda:0", ... */
    int device_memory; /* 1 when pointers are not host-addressable */
    /* A JSON object (malloc'd text) describing the device for a run's
     * env.json: "name" first, then versions, threads, model. */
    char *(*describe)(void);
    void *(*alloc)(size_t bytes);
    void (*release)(void *p);
    td_status (*upload)(void *dst, const void *src, size_t bytes);
    td_status (*download)(void *dst, const void *src, size_t bytes);
    td_status (*zero)(void *dst, size_t bytes);
    td_status (*run_node)(const kernel_args *a);
    /* Optional (NULL where absent): the fused groups (fusion.h) the
     * backend implements for an element type, and running one given its
     * n members' arguments in the group's member order (n is the group's
     * count; a chain's own length). The executor finds
     * the groups and plans memory for them; a fused kernel gives the bits
     * of run_node on its members one after the other. */
    int (*fuses)(fused_kind kind, dtype dt);
    td_status (*run_fused)(fused_kind kind, int n, const kernel_args *const *members);
    /* Optional (NULL where absent): horizontal batches. n nodes of one op
     * with equal shapes and parameters (a weighted sum's index list aside),
     * none reading another's output, run by one call (one launch on a GPU);
     * the same for n instances of one fused group of per members each,
     * their members instance by instance (n x per arguments). Each member's results
     * are those run_node (or run_fused) gives it alone, bit for bit.
     * batches / fused_batches: which ops and groups the backend batches. */
    int (*batches)(op_kind op, dtype dt);
    td_status (*run_batched)(int n, const kernel_args *const *members);
    int (*fused_batches)(fused_kind kind, dtype dt);
    td_status (*run_fused_batched)(fused_kind kind, int per, int n, const kernel_args *const *members);
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
    /* Optional (NULL where absent): recording the kernels of one executor
     * run and replaying them as one launch (a CUDA graph). Between begin
     * and end the kernels are recorded, not run; a replay runs them with the
     * same pointers, so the executor records only a run whose bindings it
     * then keeps, and records again when they change. */
    /* Optional: the most memory this backend's allocations held at once,
     * in bytes (a device's own count; the host's is the process's RSS). */
    size_t (*memory_peak)(void);
    /* Bytes the device can still allocate now; NULL on the CPU. */
    size_t (*memory_free)(void);
    td_status (*capture_begin)(void);
    td_status (*capture_end)(void **handle);
    td_status (*capture_abort)(void);
    td_status (*replay)(void *handle);
    void (*replay_free)(void *handle);
    /* Optional (NULL where absent): timing on the device's own clock, for
     * a backend whose kernels run after run_node has returned. The CPU has
     * none: its kernels have finished when run_node returns, so the host
     * clock times them. timer_mark(k) records mark k (0, 1, ...) on the
     * stream behind everything launched before it, without waiting; the
     * marks are made once and reused by every run. timer_read(from, to,
     * &s), after sync(): the seconds between two marks of the last run. */
    td_status (*timer_mark)(int k);
    td_status (*timer_read)(int from, int to, double *seconds);
    /* Optional: the launches made since the backend opened: kernels, and
     * each library call (cuDNN, cuBLAS) counting one whatever it runs.
     * Copies and memsets are not counted, nor is a replay (the executor
     * counts what it recorded). */
    long (*launches)(void);
    /* Optional: named, nested ranges for an external trace (NVTX, which
     * nsys and ncu show). The executor calls them only when asked. */
    void (*range_push)(const char *name);
    void (*range_pop)(void);
} backend;

#endif
