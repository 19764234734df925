#include "tsedarts/exec.h"

#include <stdlib.h>
#include <string.h>

#include "tsedarts/runtime.h"

/* 64-byte alignment for either element type. */
#define ARENA_ALIGN_ELEMS 16

td_status workspace_reserve(workspace *ws, size_t bytes)
{
    if (bytes <= ws->bytes) return TD_OK;
    if (ws->ptr) ws->be->release(ws->ptr);
    ws->ptr = ws->be->alloc(bytes);
    ws->bytes = ws->ptr ? bytes : 0;
    if (!ws->ptr)
        return TD_FAIL(TD_ERR_MEMORY, "cannot allocate %zu MiB of activations on %s", bytes >> 20, ws->be->name);
    return TD_OK;
}

void workspace_free(workspace *ws)
{
    if (ws->ptr) ws->be->release(ws->ptr);
    ws->ptr = NULL;
    ws->bytes = 0;
}

static td_status exec_create_impl(const graph *g, const backend *be, dtype dt, workspace *ws, int fused,
                                  exec_ctx **out);

td_status exec_create(const graph *g, const backend *be, dtype dt, exec_ctx **out)
{
    return exec_create_impl(g, be, dt, NULL, 1, out);
}

td_status exec_create_plain(const graph *g, const backend *be, dtype dt, exec_ctx **out)
{
    return exec_create_impl(g, be, dt, NULL, 0, out);
}

td_status exec_create_shared(const graph *g, const backend *be, dtype dt, workspace *ws, exec_ctx **out)
{
    if (ws->be != be || ws->dt != dt) return TD_FAIL(TD_ERR_ARG, "exec: workspace belongs to another backend or type");
    return exec_create_impl(g, be, dt, ws, 1, out);
}

static td_status exec_create_impl(const graph *g, const backend *be, dtype dt, workspace *ws, int fused,
                                  exec_ctx **out)
{
    TD_CHECK(graph_status(g));
    exec_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    ctx->g = g;
    ctx->be = be;
    ctx->dt = dt;
    size_t nn = (size_t)(g->n_nodes ? g->n_nodes : 1), nv = (size_t)(g->n_values ? g->n_values : 1);
    ctx->needed = malloc(nn);
    ctx->next_needed = malloc(nn * sizeof *ctx->next_needed);
    int *live_until = malloc(nv * sizeof *live_until);
    unsigned char *unplaced = calloc(nv, 1);
    td_status s = TD_OK;
    if (!ctx->needed || !ctx->next_needed || !live_until || !unplaced) s = TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    if (s == TD_OK) {
        graph_needed_nodes(g, ctx->needed);
        for (int i = g->n_nodes - 1, next = -1; i >= 0; i--) {
            ctx->next_needed[i] = next;
            if (ctx->needed[i]) next = i;
        }
        for (int v = 0; v < g->n_values; v++) live_until[v] = -1;
        /* a plain context plans with no group: every value stored, every
         * node run by its own kernel */
        backend plain = *be;
        plain.fuses = NULL;
        s = fusion_plan_build(g, ctx->needed, ctx->next_needed, fused ? be : &plain, dt, &ctx->fusion, live_until,
                              unplaced);
    }
    if (s == TD_OK) s = planner_plan_hinted(g, ctx->needed, ARENA_ALIGN_ELEMS, live_until, unplaced, &ctx->plan);
    free(live_until);
    free(unplaced);
    if (s != TD_OK) {
        exec_destroy(ctx);
        return s;
    }
    ctx->arena_bytes = ctx->plan.arena_elems * dtype_size(dt);
    ctx->ws = ws;
    if (ws) {
        s = workspace_reserve(ws, ctx->arena_bytes);
        if (s != TD_OK) {
            exec_destroy(ctx);
            return s;
        }
    } else if (ctx->arena_bytes) {
        ctx->arena = be->alloc(ctx->arena_bytes);
        if (!ctx->arena) {
            size_t mb = ctx->arena_bytes >> 20;
            exec_destroy(ctx);
            return TD_FAIL(TD_ERR_MEMORY, "exec: cannot allocate %zu MiB of activations on %s", mb, be->name);
        }
    }
    *out = ctx;
    return TD_OK;
}

void exec_destroy(exec_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->replay) ctx->be->replay_free(ctx->replay);
    if (ctx->arena) ctx->be->release(ctx->arena);
    planner_free(&ctx->plan);
    free(ctx->needed);
    free(ctx->next_needed);
    fusion_plan_free(&ctx->fusion);
    free(ctx->in_ptr);
    free(ctx->in_shape);
    free(ctx);
}

void exec_bind(exec_ctx *ctx, value_role role, void *base)
{
    ctx->role_base[role] = base;
}

void *exec_value_ptr(const exec_ctx *ctx, int v)
{
    const value *val = &ctx->g->values[v];
    /* the planner counts in the arena's elements, int32 values included */
    size_t es = val->is_int && val->role != ROLE_ACT ? 4 : dtype_size(ctx->dt);
    char *base;
    size_t off;
    if (val->role == ROLE_ACT) {
        base = ctx->ws ? ctx->ws->ptr : ctx->arena;
        off = ctx->plan.offset[v];
    } else {
        base = ctx->role_base[val->role];
        off = val->offset;
    }
    return base ? base + off * es : NULL;
}

/* A node's kernel arguments, its inputs' pointers and shapes in ptr and
 * shape (room for nd->nin). */
static td_status node_args(const exec_ctx *ctx, int i, void **ptr, shape4 *shape, kernel_args *a)
{
    const graph *g = ctx->g;
    const node *nd = &g->nodes[i];
    const int *in = graph_node_inputs(g, nd);
    for (int k = 0; k < nd->nin; k++) {
        ptr[k] = exec_value_ptr(ctx, in[k]);
        shape[k] = g->values[in[k]].shape;
        if (!ptr[k])
            return TD_FAIL(TD_ERR_STATE, "exec: node %d (%s): input role %s is not bound", i,
                           op_name(nd->op), role_name(g->values[in[k]].role));
    }
    a->g = g;
    a->nd = nd;
    a->nin = nd->nin;
    a->in = ptr;
    a->in_shape = shape;
    a->out = nd->out >= 0 ? exec_value_ptr(ctx, nd->out) : NULL;
    a->out_shape = nd->out >= 0 ? g->values[nd->out].shape : shape_make(0, 0, 0, 0);
    a->dt = ctx->dt;
    if (nd->out >= 0 && !a->out)
        return TD_FAIL(TD_ERR_STATE, "exec: node %d (%s): output role %s is not bound", i, op_name(nd->op),
                       role_name(g->values[nd->out].role));
    return TD_OK;
}

td_status exec_run_node(exec_ctx *ctx, int i)
{
    if (!ctx->needed[i]) return TD_OK;
    if (ctx->fusion.recomputing && ctx->fusion.recomputing[i])
        return TD_FAIL(TD_ERR_STATE, "exec: node %d (%s) runs in a fused group: run the graph, or plan it plain", i,
                       op_name(ctx->g->nodes[i].op));
    const node *nd = &ctx->g->nodes[i];
    if (nd->nin > ctx->in_cap) {
        ctx->in_cap = nd->nin * 2;
        ctx->in_ptr = realloc(ctx->in_ptr, (size_t)ctx->in_cap * sizeof *ctx->in_ptr);
        ctx->in_shape = realloc(ctx->in_shape, (size_t)ctx->in_cap * sizeof *ctx->in_shape);
        if (!ctx->in_ptr || !ctx->in_shape) return TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    }
    kernel_args a;
    TD_CHECK(node_args(ctx, i, ctx->in_ptr, ctx->in_shape, &a));
    return ctx->be->run_node(&a);
}

/* Runs fused instance id (fusion_plan.h); returns its last node, or -1
 * on failure (*st). */
static int run_instance(exec_ctx *ctx, int id, td_status *st)
{
    const fused_instance *in = &ctx->fusion.inst[id];
    int n = fused_group_of(in->kind)->n;
    void *ptr[FUSED_MAX_MEMBERS][FUSED_MAX_MEMBER_INPUTS];
    shape4 shape[FUSED_MAX_MEMBERS][FUSED_MAX_MEMBER_INPUTS];
    kernel_args args[FUSED_MAX_MEMBERS];
    const kernel_args *members[FUSED_MAX_MEMBERS];
    for (int q = 0; q < n; q++) {
        if ((*st = node_args(ctx, in->member[q], ptr[q], shape[q], &args[q])) != TD_OK) return -1;
        members[q] = &args[q];
    }
    *st = ctx->be->run_fused(in->kind, members);
    return *st == TD_OK ? in->last : -1;
}

/* Runs node i, alone or as a fused kernel; returns the last node it
 * covered (i, or later when a kernel stood for several) or -1 on failure
 * (*st). */
static int run_step(exec_ctx *ctx, int i, td_status *st)
{
    switch (ctx->fusion.role[i]) {
    case FUSED_ROLE_RUNS:
        return run_instance(ctx, ctx->fusion.runs[i], st);
    case FUSED_ROLE_SILENT:
        return i;
    default:
        *st = exec_run_node(ctx, i);
        return *st == TD_OK ? i : -1;
    }
}

static int profiling;
static exec_profile profile;

void exec_profile_enable(int on) { profiling = on; }
const exec_profile *exec_profile_get(void) { return &profile; }
void exec_profile_reset(void) { memset(&profile, 0, sizeof profile); }

double exec_node_gflop(const graph *g, const node *nd)
{
    const int *in = graph_node_inputs(g, nd);
    switch (nd->op) {
    case OP_CONV2D:
    case OP_CONV2D_BWD_DATA:
    case OP_CONV2D_BWD_FILTER: {
        /* each touches every (output pixel, weight) pair once */
        shape4 y = nd->op == OP_CONV2D ? g->values[nd->out].shape
                                       : g->values[in[nd->op == OP_CONV2D_BWD_DATA ? 0 : 1]].shape;
        shape4 w = nd->op == OP_CONV2D_BWD_FILTER ? g->values[nd->out].shape : g->values[in[1]].shape;
        return 2e-9 * y.n * y.c * y.h * y.w * (double)w.c * w.h * w.w;
    }
    case OP_MATMUL: {
        shape4 a = g->values[in[0]].shape, c = g->values[nd->out].shape;
        return 2e-9 * c.n * c.c * (double)(nd->p.ta ? a.n : a.c);
    }
    default:
        return 0;
    }
}

const char *conv_class_name(conv_class c)
{
    static const char *names[CONV_CLASS_COUNT] = {"pointwise", "pointwise s2", "depthwise", "depthwise s2", "dense"};
    return c >= 0 && c < CONV_CLASS_COUNT ? names[c] : "?";
}

conv_class exec_conv_class(const graph *g, const node *nd)
{
    const int *in = graph_node_inputs(g, nd);
    shape4 w = nd->op == OP_CONV2D_BWD_FILTER ? g->values[nd->out].shape : g->values[in[1]].shape;
    int s2 = nd->p.stride == 2;
    if (nd->p.groups == 1 && w.h == 1 && w.w == 1 && nd->p.pad == 0) return s2 ? CONV_POINTWISE_S2 : CONV_POINTWISE;
    if (nd->p.groups > 1 && w.c == 1) return s2 ? CONV_DEPTHWISE_S2 : CONV_DEPTHWISE;
    return CONV_DENSE;
}

static void profile_add(const exec_ctx *ctx, int i, double dt)
{
    const node *nd = &ctx->g->nodes[i];
    op_kind op = nd->op;
    double gf = exec_node_gflop(ctx->g, nd);
    profile.seconds[op] += dt;
    profile.gflop[op] += gf;
    profile.calls[op]++;
    if (op == OP_CONV2D || op == OP_CONV2D_BWD_DATA || op == OP_CONV2D_BWD_FILTER) {
        conv_class c = exec_conv_class(ctx->g, nd);
        profile.conv_seconds[op - OP_CONV2D][c] += dt;
        profile.conv_gflop[op - OP_CONV2D][c] += gf;
    }
}

/* Every node once, in order, each directly or as a fused kernel. */
static td_status run_nodes(exec_ctx *ctx)
{
    for (int i = 0; i < ctx->g->n_nodes; i++) {
        if (!ctx->needed[i]) continue;
        double t0 = profiling ? now_seconds() : 0;
        td_status st = TD_OK;
        int last = run_step(ctx, i, &st);
        if (last < 0) return st;
        if (profiling) {
            TD_CHECK(ctx->be->sync());
            /* nodes run as one are charged to the first; the second
             * counts a call */
            profile_add(ctx, i, now_seconds() - t0);
            if (last != i) profile_add(ctx, last, 0.0);
        }
        i = last;
    }
    return TD_OK;
}

/* Recording is off while profiling (which times each node) and where
 * TSEDARTS_NO_GRAPHS is set (to compare a recorded run with a direct one). */
static int may_record(const exec_ctx *ctx)
{
    static int disabled = -1;
    if (disabled < 0) disabled = getenv("TSEDARTS_NO_GRAPHS") != NULL;
    return ctx->be->capture_begin && !profiling && !disabled;
}

/* Whether the run would use the pointers the recording was made with;
 * keeps the current ones when not. */
static int same_bases(exec_ctx *ctx)
{
    void *now[ROLE_COUNT + 1];
    memcpy(now, ctx->role_base, sizeof ctx->role_base);
    now[ROLE_COUNT] = ctx->ws ? ctx->ws->ptr : ctx->arena;
    if (!memcmp(now, ctx->replay_bases, sizeof now)) return 1;
    memcpy(ctx->replay_bases, now, sizeof now);
    return 0;
}

/* On a backend that records, a run's kernels are launched once as a
 * recording of them (a CUDA graph) instead of one by one: the same kernels
 * with the same pointers, so the same bits, without the launch cost. */
td_status exec_run(exec_ctx *ctx)
{
    if (!may_record(ctx)) return run_nodes(ctx);
    if (!same_bases(ctx)) {
        if (ctx->replay) ctx->be->replay_free(ctx->replay);
        ctx->replay = NULL;
        ctx->runs_with_bases = 0;
    }
    if (ctx->replay) return ctx->be->replay(ctx->replay);
    if (ctx->runs_with_bases++ == 0) return run_nodes(ctx); /* sizes the backend's scratch */
    TD_CHECK(ctx->be->capture_begin());
    td_status s = run_nodes(ctx);
    if (s != TD_OK) {
        ctx->be->capture_abort();
        return s;
    }
    TD_CHECK(ctx->be->capture_end(&ctx->replay));
    return ctx->be->replay(ctx->replay);
}
