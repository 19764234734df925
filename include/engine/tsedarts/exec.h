/* Runs a graph on a backend in one element type. */
#ifndef TSEDARTS_EXEC_H
#define TSEDARTS_EXEC_H

#include "tsedarts/backend.h"
#include "tsedarts/fusion_plan.h"
#include "tsedarts/graph.h"
#include "tsedarts/planner.h"
#include "tsedarts/schedule.h"

/* An activation arena that several executors share: they run one after
 * another, never at once, so one arena sized for the largest plan serves
 * them all. Executors read ws->ptr at run time, so it may grow. */
typedef struct workspace {
    const backend *be;
    dtype dt;
    void *ptr;
    size_t bytes;
} workspace;

td_status workspace_reserve(workspace *ws, size_t bytes);
void workspace_free(workspace *ws);

typedef struct exec_ctx {
    const graph *g;
    const backend *be;
    dtype dt;
    unsigned char *needed; /* per node */
    memory_plan plan;
    void *arena; /* own arena, or NULL when a workspace is shared */
    size_t arena_bytes;
    workspace *ws;
    void *role_base[ROLE_COUNT]; /* bound by the caller, backend memory */
    /* per-node scratch for argument marshalling */
    void **in_ptr;
    shape4 *in_shape;
    normed_input *in_normed;
    int in_cap;
    /* Fused groups (fusion.h; the bits are the same without them): none
     * in a plain context. Some intermediates are not stored but
     * recomputed where they are read: a batch norm's centred input xc =
     * affine_axis(x) (its variance sums it in cache, its output recomputes
     * it from x) and a mixed op's share of its node's cotangent S = w G
     * (the batch norm's backward recomputes it from G). */
    int *next_needed; /* per node: the next needed node, or -1 */
    fusion_plan fusion;
    /* A backend that records runs (backend.h capture_*): the recording of
     * this graph with the bindings it was made with, and how many runs have
     * had those bindings (the first runs directly and sizes the backend's
     * scratch; the second is recorded; the rest replay it). */
    void *replay;
    void *replay_bases[ROLE_COUNT + 1]; /* role_base[], then the arena */
    int runs_with_bases;
    long replay_dispatches, replay_launches; /* what the recording holds */
    /* What a trace calls a run (exec_run's range): the caller may write
     * it; "graph of N nodes" otherwise. */
    char name[64];
    /* Profiling on a device clock: per mark k >= 1, the node charged with
     * the time since mark k - 1 and the launches it made (room for every
     * node; made on the first profiled run). */
    int *mark_node;
    long *mark_launches;
    /* The order of the kernel calls and the batches (schedule.h), and
     * per node whether some unit's kernel computes it (the others a fused
     * group recomputes: counted once per run while profiling). */
    exec_schedule sched;
    unsigned char *covered;
    /* A batched step's member arguments, grown as needed. */
    kernel_args *bargs;
    const kernel_args **bmembers;
    void **bptr;
    shape4 *bshape;
    normed_input *bnormed;
    int bargs_cap, bptr_cap;
} exec_ctx;

/* Plans memory and allocates the activation arena. */
td_status exec_create(const graph *g, const backend *be, dtype dt,
                      exec_ctx **out);
/* Same, storing every value and running each node by its own kernel (for
 * node-by-node comparison with exec_run_node). */
td_status exec_create_plain(const graph *g, const backend *be, dtype dt, exec_ctx **out);
/* Same as exec_create, with activations in a shared workspace (grown if
 * needed). */
td_status exec_create_shared(const graph *g, const backend *be, dtype dt, workspace *ws, exec_ctx **out);
void exec_destroy(exec_ctx *ctx);
/* The activation arena exec_create would allocate for g, allocating none. */
td_status exec_plan_bytes(const graph *g, const backend *be, dtype dt, size_t *bytes);

/* Points a role at a buffer of at least g->role_size[role] elements. */
void exec_bind(exec_ctx *ctx, value_role role, void *base);

/* Address of a value's data (backend memory). */
void *exec_value_ptr(const exec_ctx *ctx, int v);

/* Kinds of convolution, for the profile: they run different kernels. */
typedef enum conv_class {
    CONV_POINTWISE,    /* 1x1, stride 1 */
    CONV_POINTWISE_S2, /* 1x1, stride 2 (factorized reduce) */
    CONV_DEPTHWISE,    /* groups = channels, stride 1 */
    CONV_DEPTHWISE_S2, /* groups = channels, stride 2 */
    CONV_DENSE,        /* anything else (stem, auxiliary head) */
    CONV_CLASS_COUNT
} conv_class;
const char *conv_class_name(conv_class c);
/* The class of a conv2d, conv2d_bwd_data or conv2d_bwd_filter node. */
conv_class exec_conv_class(const graph *g, const node *nd);

/* Per-op time and work accumulated over every run while enabled; the three
 * convolution ops also by class (conv[op - OP_CONV2D][class]). On a backend
 * with a device clock (backend.h timer_mark) each node's time is the
 * interval between marks recorded on the stream around it, read once at
 * the end of each run after one synchronisation; elsewhere (the CPU) it is
 * the host clock around the node, with a synchronisation after it. Either
 * way profiling runs every node directly, never a recorded run. A fused
 * group's time, calls and launches are charged to its first node; its
 * other members count a call. */
typedef struct exec_profile {
    double seconds[OP_COUNT];
    double gflop[OP_COUNT];
    /* Bytes each node reads and writes when it runs alone (its inputs and
     * its output once each), in GB: a lower bound on the traffic of a
     * kernel that streams its tensors, so GB over seconds says how near a
     * memory-bound op is to the machine's bandwidth. A fused group's
     * members are counted as if each ran alone. */
    double gbytes[OP_COUNT];
    long calls[OP_COUNT];
    long launches_by_op[OP_COUNT];
    double conv_seconds[3][CONV_CLASS_COUNT];
    double conv_gflop[3][CONV_CLASS_COUNT];
    double conv_gbytes[3][CONV_CLASS_COUNT];
    /* The same time by what ran it: a fused group's kind (the head op's
     * row above lumps its kernels), FUSED_NONE for plain nodes. */
    double fused_seconds[FUSED_KIND_END];
    long fused_calls[FUSED_KIND_END];
    int device_clock; /* some run was timed on the device's clock */
    /* Counted on every run, profiled or not. A replayed run counts the
     * dispatches and launches of its recording. */
    long runs;              /* exec_run calls */
    long dispatches;        /* calls into the backend for nodes: run_node, or run_fused for a group */
    long launches;          /* launches those calls made (backend.h launches; 0 without the hook) */
    long replays;           /* runs replayed from a recording */
    long replayed_launches; /* the part of launches that replays ran */
    long recorded_launches; /* launches the backend counted while recording (run only by the replays) */
} exec_profile;

void exec_profile_enable(int on);
const exec_profile *exec_profile_get(void);
void exec_profile_reset(void);
/* A program that can count the CPU's OpenMP parallel regions (bench) hands
 * its two counters here; each exec_profile_reset notes them, and
 * exec_profile_regions gives the regions started, and those that ran on
 * more than one thread, since the last reset (0 where no counter was
 * given or it cannot count, with -1 in both). */
void exec_profile_count_regions(long (*started)(void), long (*forked)(void));
int exec_profile_regions(long *started, long *forked);
/* Multiply-adds x 2 of a node (convolutions and matmuls; 0 otherwise). */
double exec_node_gflop(const graph *g, const node *nd);
/* GB a node reads and writes run alone: its inputs and output once each. */
double exec_node_gbytes(const graph *g, const node *nd, size_t float_bytes);

/* Whether TSEDARTS_SYNC_EACH_NODE asks for a synchronisation after every
 * node, so that a kernel that faults is named (node index and op) instead
 * of surfacing at a later call. Runs are then never recorded. A run under
 * it is slower but gives the same bits; env.json records it. */
int exec_sync_each_node(void);

/* Runs every needed node in order. */
td_status exec_run(exec_ctx *ctx);
/* Runs one node (skipped if not needed); for node-by-node comparison in a
 * plain context (a fused one refuses the nodes of its groups). */
td_status exec_run_node(exec_ctx *ctx, int i);

#endif
