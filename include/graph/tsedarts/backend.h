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

/* Figures of a run of training passes, kept where the backend computes
 * (device memory on a GPU) so that a step never waits to read them; the
 * host reads them when it reports them (an epoch's record, a progress
 * line, a checkpoint). Zeroed or set by the caller through upload. */
typedef struct backend_tally {
    double loss_sum;        /* TALLY_TRAIN passes: (double)loss x rows, added in pass order */
    double loss_plain;      /* TALLY_PLAIN passes: (double)loss, added in pass order */
    long long correct;      /* TALLY_TRAIN passes: rows whose first maximum is their label */
    long long nonfinite;    /* every pass: those whose loss was not finite */
    double first_nonfinite; /* the first such loss, for the message that stops the run */
} backend_tally;

/* What tally_pass adds besides the finiteness check. */
enum { TALLY_TRAIN = 1, TALLY_PLAIN = 2 };

/* One pass's outputs in backend memory, for tally_pass. */
typedef struct tally_pass_args {
    const void *loss;      /* one element of dt */
    const void *logits;    /* rows x classes of dt */
    const int32_t *labels; /* rows */
    int rows, classes;
    dtype dt;
    unsigned what; /* TALLY_TRAIN | TALLY_PLAIN */
} tally_pass_args;

/* Host fences of the optional upload_async: one per host buffer of a pair
 * filled alternately. */
#define BACKEND_FENCES 2

/* An input that is not stored: a batch norm's output y, which the kernel
 * computes where it reads it, y = ((x sc [+ bias]) r) img per channel and
 * image, each step rounded as the batch norm's own kernels round it
 * (engine/fusion_plan.c, normed values): from the batch norm's input and
 * its centring's scalars, or with affine terms from its stored centred
 * input, sc and bias being the affine terms and r absent; img is a drop
 * path's factor per image, where y is read through one. */
typedef struct normed_input {
    const void *x, *sc, *bias, *r, *img; /* bias NULL: none; r, img NULL: 1 */
} normed_input;

typedef struct kernel_args {
    const graph *g;
    const node *nd;
    int nin;
    void *const *in;       /* input data, backend memory */
    const shape4 *in_shape; /* input shapes */
    void *out;             /* output data (NULL for sinks) */
    shape4 out_shape;
    dtype dt;              /* element type of float tensors */
    /* NULL when every input is stored; else per input, x NULL where
     * that input is stored (its in[k] is NULL where it is not) */
    const normed_input *normed;
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
    /* Optional (NULL where absent): whether input k of node nd can be a
     * normed_input for an element type, whether nd runs alone or in a
     * fused group. A batch norm's output whose every reader says yes is
     * never stored. */
    int (*reads_normed)(const node *nd, int k, dtype dt);
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
    /* Optional (NULL: any size): the largest unit worth batching, in
     * elements of its largest input or output. A backend that runs larger
     * members one after another anyway (each split over its threads) gains
     * nothing from batching them, and the reordering costs it the cache:
     * in graph order a tensor is read again by the next node while it is
     * still in the last-level cache; batched, the members' tensors of a
     * whole level are written before any is read. Larger units keep
     * their place in graph order. */
    size_t (*batch_member_max)(void);
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
    /* Optional (NULL where absent): the scalars of a search or training
     * step kept where the backend computes, so that the host never waits
     * for the device inside a step (docs/design.md, "Device-resident step
     * scalars"). A device scalar is a double in backend memory. Each entry
     * gives the bits of the composition the host ran before: the sum of
     * squares of flat_sum_squares, the scalar expressions in IEEE double
     * (sqrt and division are correctly rounded on both sides, so the
     * device gets the host's bits), the coefficient rounded to dt as
     * flat_axpy and flat_scale round theirs. A GPU offers them where
     * TSEDARTS_DEVICE_STEP=1 asks until a GPU check has confirmed them; the
     * CPU always does, so its tests run them.
     * flat_clip: torch.nn.utils.clip_grad_norm_ over x: coef = max_norm /
     * (sqrt(sum x^2) + 1e-6), x <- coef x where coef < 1 (a NaN coefficient
     * scales nothing, as on the host); dev[0] gets the sum of squares,
     * dev[1] the coefficient. */
    td_status (*flat_clip)(void *x, size_t n, dtype dt, double max_norm, double *dev);
    /* *dev = num / sqrt(sum x^2): the second-order DARTS step's
     * R = 0.01 / ||v||, which the finite differences then use four times. */
    td_status (*flat_inverse_norm)(const void *x, size_t n, dtype dt, double num, double *dev);
    /* y <- y + a x with a = num * s (den == 0) or num / (den * s), s = *dev,
     * a computed in double where s lives */
    td_status (*flat_axpy_dev)(void *y, const void *x, size_t n, dtype dt, const double *dev, double num, double den);
    /* Adds one pass's figures to a tally: what net_exec_correct and the
     * host's sums computed from a downloaded output, without the download. */
    td_status (*tally_pass)(backend_tally *dev, const tally_pass_args *a);
    /* Optional: host memory the device copies from without staging it
     * first (pinned), and its release; NULL: the host's own allocator. */
    void *(*host_alloc)(size_t bytes);
    void (*host_release)(void *p);
    /* Optional: an upload from host_alloc memory that may return before the
     * copy is done (in stream order with the kernels): src must stay
     * unchanged until a fence recorded after it has passed. fence_record(k)
     * records fence k (k < BACKEND_FENCES) behind everything queued so far;
     * fence_wait(k) returns once the last one recorded has passed (at once
     * if none was). The CPU needs none: its uploads are done on return. */
    td_status (*upload_async)(void *dst, const void *src, size_t bytes);
    td_status (*fence_record)(int k);
    td_status (*fence_wait)(int k);
} backend;

#endif
