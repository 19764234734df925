#include "tsedarts/exec.h"

#include <stdio.h>
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
    snprintf(ctx->name, sizeof ctx->name, "graph of %d nodes", g->n_nodes);
    size_t nn = (size_t)(g->n_nodes ? g->n_nodes : 1), nv = (size_t)(g->n_values ? g->n_values : 1);
    ctx->needed = malloc(nn);
    ctx->next_needed = malloc(nn * sizeof *ctx->next_needed);
    unsigned char *unplaced = calloc(nv, 1);
    td_status s = TD_OK;
    if (!ctx->needed || !ctx->next_needed || !unplaced) s = TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    if (s == TD_OK) {
        graph_needed_nodes(g, ctx->needed);
        for (int i = g->n_nodes - 1, next = -1; i >= 0; i--) {
            ctx->next_needed[i] = next;
            if (ctx->needed[i]) next = i;
        }
        /* a plain context plans with no group: every value stored, every
         * node run by its own kernel */
        backend plain = *be;
        plain.fuses = NULL;
        s = fusion_plan_build(g, ctx->needed, ctx->next_needed, fused ? be : &plain, dt, &ctx->fusion, unplaced);
    }
    /* a fused group reads the inputs of a head it recomputes where its
     * kernel runs: the schedule lists those reads for the planner */
    if (s == TD_OK)
        s = schedule_build(g, ctx->needed, &ctx->fusion, be, dt, fused ? schedule_default_window(be) : 0, &ctx->sched);
    if (s == TD_OK) s = planner_plan_steps(g, &ctx->sched, ARENA_ALIGN_ELEMS, unplaced, &ctx->plan);
    if (s == TD_OK && !(ctx->covered = calloc(nn, 1))) s = TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    for (int k = 0; s == TD_OK && k < ctx->sched.n_units; k++) {
        int members[FUSED_MAX_MEMBERS], n = schedule_unit_members(&ctx->fusion, ctx->sched.unit[k], members);
        for (int q = 0; q < n; q++) ctx->covered[members[q]] = 1;
    }
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

td_status exec_plan_bytes(const graph *g, const backend *be, dtype dt, size_t *bytes)
{
    /* the plan exec_create makes, without its arena: a shared workspace
     * is grown only when an executor is made with it */
    workspace none = {be, dt, NULL, (size_t)-1};
    exec_ctx *ctx;
    TD_CHECK(exec_create_impl(g, be, dt, &none, 1, &ctx));
    *bytes = ctx->arena_bytes;
    exec_destroy(ctx);
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
    free(ctx->in_normed);
    free(ctx->mark_node);
    free(ctx->mark_launches);
    schedule_free(&ctx->sched);
    free(ctx->covered);
    free(ctx->bargs);
    free(ctx->bmembers);
    free(ctx->bptr);
    free(ctx->bshape);
    free(ctx->bnormed);
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

/* A node's kernel arguments, its inputs' pointers, shapes and normed
 * inputs in ptr, shape and normed (room for nd->nin). A normed value is
 * passed as where it is computed from (fusion_plan.h), its pointer NULL. */
static td_status node_args(const exec_ctx *ctx, int i, void **ptr, shape4 *shape, normed_input *normed,
                           kernel_args *a)
{
    const graph *g = ctx->g;
    const node *nd = &g->nodes[i];
    const int *in = graph_node_inputs(g, nd);
    int any_normed = 0;
    for (int k = 0; k < nd->nin; k++) {
        normed_source src;
        int s = fusion_normed_source(&ctx->fusion, g, in[k], &src);
        shape[k] = g->values[in[k]].shape;
        normed[k] = (normed_input){0};
        if (s >= 0) {
            normed[k].x = exec_value_ptr(ctx, src.x);
            normed[k].sc = exec_value_ptr(ctx, src.sc);
            normed[k].bias = src.bias >= 0 ? exec_value_ptr(ctx, src.bias) : NULL;
            normed[k].r = src.r >= 0 ? exec_value_ptr(ctx, src.r) : NULL;
            normed[k].img = src.img >= 0 ? exec_value_ptr(ctx, src.img) : NULL;
            ptr[k] = NULL;
            any_normed = 1;
            continue;
        }
        ptr[k] = exec_value_ptr(ctx, in[k]);
        if (!ptr[k])
            return TD_FAIL(TD_ERR_STATE, "exec: node %d (%s): input role %s is not bound", i,
                           op_name(nd->op), role_name(g->values[in[k]].role));
    }
    a->normed = any_normed ? normed : NULL;
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

/* Names node i (and its fused group) in front of the backend's message:
 * "exec: node 12 (relu)<when>: <message>". */
static td_status node_failed(const exec_ctx *ctx, int i, td_status s, const char *when)
{
    char why[600];
    snprintf(why, sizeof why, "%s", td_error_message());
    const char *op = op_name(ctx->g->nodes[i].op);
    if (ctx->fusion.role && ctx->fusion.role[i] == FUSED_ROLE_RUNS) {
        const fused_instance *in = &ctx->fusion.inst[ctx->fusion.runs[i]];
        return TD_FAIL(s, "exec: node %d (%s, fused group %s up to node %d)%s: %s", i, op, fused_kind_name(in->kind),
                       in->last, when, why);
    }
    return TD_FAIL(s, "exec: node %d (%s)%s: %s", i, op, when, why);
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
        ctx->in_normed = realloc(ctx->in_normed, (size_t)ctx->in_cap * sizeof *ctx->in_normed);
        if (!ctx->in_ptr || !ctx->in_shape || !ctx->in_normed) return TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    }
    kernel_args a;
    TD_CHECK(node_args(ctx, i, ctx->in_ptr, ctx->in_shape, ctx->in_normed, &a));
    td_status s = ctx->be->run_node(&a);
    return s == TD_OK ? TD_OK : node_failed(ctx, i, s, "");
}

/* Runs the fused instance that runs at node i (fusion_plan.h); returns
 * its last node, or -1 on failure (*st). */
static int run_instance(exec_ctx *ctx, int i, td_status *st)
{
    const fused_instance *in = &ctx->fusion.inst[ctx->fusion.runs[i]];
    int n = in->n;
    void *ptr[FUSED_MAX_MEMBERS][FUSED_MAX_MEMBER_INPUTS];
    shape4 shape[FUSED_MAX_MEMBERS][FUSED_MAX_MEMBER_INPUTS];
    normed_input normed[FUSED_MAX_MEMBERS][FUSED_MAX_MEMBER_INPUTS];
    kernel_args args[FUSED_MAX_MEMBERS];
    const kernel_args *members[FUSED_MAX_MEMBERS];
    for (int q = 0; q < n; q++) {
        if ((*st = node_args(ctx, in->member[q], ptr[q], shape[q], normed[q], &args[q])) != TD_OK) return -1;
        members[q] = &args[q];
    }
    *st = ctx->be->run_fused(in->kind, n, members);
    if (*st != TD_OK) *st = node_failed(ctx, i, *st, "");
    return *st == TD_OK ? in->last : -1;
}

/* The arguments of nodes[0 .. n), in the context's batch buffers. */
static td_status gather_args(exec_ctx *ctx, const int *nodes, int n)
{
    int inputs = 0;
    for (int k = 0; k < n; k++) inputs += ctx->g->nodes[nodes[k]].nin;
    if (n > ctx->bargs_cap) {
        int cap = 2 * n;
        kernel_args *a = realloc(ctx->bargs, (size_t)cap * sizeof *a);
        if (a) ctx->bargs = a;
        const kernel_args **m = realloc(ctx->bmembers, (size_t)cap * sizeof *m);
        if (m) ctx->bmembers = m;
        if (!a || !m) return TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
        ctx->bargs_cap = cap;
    }
    if (inputs > ctx->bptr_cap) {
        int cap = 2 * inputs;
        void **p = realloc(ctx->bptr, (size_t)cap * sizeof *p);
        if (p) ctx->bptr = p;
        shape4 *sh = realloc(ctx->bshape, (size_t)cap * sizeof *sh);
        if (sh) ctx->bshape = sh;
        normed_input *nm = realloc(ctx->bnormed, (size_t)cap * sizeof *nm);
        if (nm) ctx->bnormed = nm;
        if (!p || !sh || !nm) return TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
        ctx->bptr_cap = cap;
    }
    for (int k = 0, at = 0; k < n; k++) {
        TD_CHECK(node_args(ctx, nodes[k], ctx->bptr + at, ctx->bshape + at, ctx->bnormed + at, &ctx->bargs[k]));
        ctx->bmembers[k] = &ctx->bargs[k];
        at += ctx->g->nodes[nodes[k]].nin;
    }
    return TD_OK;
}

/* Names a failed batched step's members: "exec: batch of 14 relu nodes
 * (12, 40, ...): <message>". */
static td_status batch_failed(const exec_ctx *ctx, int k0, int n, td_status s)
{
    char why[600], list[160] = "";
    snprintf(why, sizeof why, "%s", td_error_message());
    size_t len = 0;
    for (int k = 0; k < n && len + 16 < sizeof list; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", k ? ", " : "", ctx->sched.unit[k0 + k]);
    int u = ctx->sched.unit[k0];
    const char *what = ctx->fusion.role[u] == FUSED_ROLE_RUNS
                           ? fused_kind_name(ctx->fusion.inst[ctx->fusion.runs[u]].kind)
                           : op_name(ctx->g->nodes[u].op);
    return TD_FAIL(s, "exec: batch of %d %s nodes (%s): %s", n, what, list, why);
}

/* Units k0 .. k0 + n - 1 of the schedule, matching ones, as one batched
 * call: plain nodes by run_batched, fused groups by run_fused_batched
 * (their members instance by instance). */
static td_status run_batch(exec_ctx *ctx, int k0, int n)
{
    const backend *be = ctx->be;
    int u0 = ctx->sched.unit[k0], fused = ctx->fusion.role[u0] == FUSED_ROLE_RUNS;
    fused_kind kind = fused ? ctx->fusion.inst[ctx->fusion.runs[u0]].kind : FUSED_NONE;
    int per = fused ? ctx->fusion.inst[ctx->fusion.runs[u0]].n : 1;
    int nodes[SCHEDULE_MAX_BATCH * FUSED_MAX_MEMBERS];
    for (int k = 0; k < n; k++) {
        int u = ctx->sched.unit[k0 + k];
        if (!fused) nodes[k] = u;
        else
            for (int q = 0; q < per; q++) nodes[k * per + q] = ctx->fusion.inst[ctx->fusion.runs[u]].member[q];
    }
    TD_CHECK(gather_args(ctx, nodes, n * per));
    td_status s = fused ? be->run_fused_batched(kind, per, n, ctx->bmembers) : be->run_batched(n, ctx->bmembers);
    return s == TD_OK ? TD_OK : batch_failed(ctx, k0, n, s);
}

/* Step t of the schedule: one unit (a node alone, or a fused group's
 * kernel) or a batch of matching units. */
static td_status run_schedule_step(exec_ctx *ctx, int t)
{
    int k0 = ctx->sched.step_first[t], n = ctx->sched.step_first[t + 1] - k0, u = ctx->sched.unit[k0];
    if (n > 1) return run_batch(ctx, k0, n);
    if (ctx->fusion.role[u] != FUSED_ROLE_RUNS) return exec_run_node(ctx, u);
    td_status st = TD_OK;
    return run_instance(ctx, u, &st) < 0 ? st : TD_OK;
}

static int profiling;
static exec_profile profile;

void exec_profile_enable(int on) { profiling = on; }
const exec_profile *exec_profile_get(void) { return &profile; }
static long (*regions_started)(void), (*regions_forked)(void);
static long started_at_reset, forked_at_reset;

void exec_profile_count_regions(long (*started)(void), long (*forked)(void))
{
    regions_started = started;
    regions_forked = forked;
    started_at_reset = started ? started() : 0;
    forked_at_reset = forked ? forked() : 0;
}

int exec_profile_regions(long *started, long *forked)
{
    long now = regions_started ? regions_started() : -1;
    *started = *forked = -1;
    if (now < 0 || !regions_forked) return 0;
    *started = now - started_at_reset;
    *forked = regions_forked() - forked_at_reset;
    return 1;
}

void exec_profile_reset(void)
{
    memset(&profile, 0, sizeof profile);
    if (regions_started) started_at_reset = regions_started();
    if (regions_forked) forked_at_reset = regions_forked();
}

int exec_sync_each_node(void) { return env_flag("TSEDARTS_SYNC_EACH_NODE"); }

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

double exec_node_gbytes(const graph *g, const node *nd, size_t float_bytes)
{
    const int *in = graph_node_inputs(g, nd);
    double bytes = 0;
    for (int k = 0; k <= nd->nin; k++) {
        int v = k < nd->nin ? in[k] : nd->out;
        if (v < 0) continue;
        bytes += (double)shape_numel(g->values[v].shape) * (g->values[v].is_int ? 4 : (double)float_bytes);
    }
    return 1e-9 * bytes;
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

static void profile_add(const exec_ctx *ctx, int i, double dt, long launches)
{
    const node *nd = &ctx->g->nodes[i];
    op_kind op = nd->op;
    double gf = exec_node_gflop(ctx->g, nd), gb = exec_node_gbytes(ctx->g, nd, dtype_size(ctx->dt));
    profile.seconds[op] += dt;
    profile.gflop[op] += gf;
    profile.gbytes[op] += gb;
    profile.calls[op]++;
    profile.launches_by_op[op] += launches;
    if (op == OP_CONV2D || op == OP_CONV2D_BWD_DATA || op == OP_CONV2D_BWD_FILTER) {
        conv_class c = exec_conv_class(ctx->g, nd);
        profile.conv_seconds[op - OP_CONV2D][c] += dt;
        profile.conv_gflop[op - OP_CONV2D][c] += gf;
        profile.conv_gbytes[op - OP_CONV2D][c] += gb;
    }
}

/* Trace ranges (backend.h range_push) while profiling or where
 * TSEDARTS_NVTX asks; otherwise a run pays one test per node. */
static int ranges_on(const backend *be)
{
    static int asked = -1;
    if (asked < 0) asked = env_flag("TSEDARTS_NVTX");
    return be->range_push && (profiling || asked);
}

static void range_push_step(const exec_ctx *ctx, int t)
{
    char name[80];
    int k0 = ctx->sched.step_first[t], n = ctx->sched.step_first[t + 1] - k0, i = ctx->sched.unit[k0];
    const node *nd = &ctx->g->nodes[i];
    int fused = ctx->fusion.role && ctx->fusion.role[i] == FUSED_ROLE_RUNS;
    const char *kind = fused ? fused_kind_name(ctx->fusion.inst[ctx->fusion.runs[i]].kind) : "";
    if (n > 1)
        snprintf(name, sizeof name, "%s #%d%s%s (batch of %d)", op_name(nd->op), i, fused ? ", fused " : "", kind, n);
    else if (fused)
        snprintf(name, sizeof name, "%s #%d (fused %s)", op_name(nd->op), i, kind);
    else
        snprintf(name, sizeof name, "%s #%d", op_name(nd->op), i);
    ctx->be->range_push(name);
}

static long launches_now(const backend *be) { return be->launches ? be->launches() : 0; }

/* Step t's time and launches, charged to its first unit's node; every
 * other node its kernel computed counts a call. */
static void profile_step(exec_ctx *ctx, int t, double dt, long launched)
{
    int head = ctx->sched.unit[ctx->sched.step_first[t]];
    fused_kind kind = ctx->fusion.role && ctx->fusion.role[head] == FUSED_ROLE_RUNS ? ctx->fusion.inst[ctx->fusion.runs[head]].kind
                                                                                   : FUSED_NONE;
    profile.fused_seconds[kind] += dt;
    profile.fused_calls[kind] += ctx->sched.step_first[t + 1] - ctx->sched.step_first[t];
    for (int k = ctx->sched.step_first[t]; k < ctx->sched.step_first[t + 1]; k++) {
        int members[FUSED_MAX_MEMBERS], n = schedule_unit_members(&ctx->fusion, ctx->sched.unit[k], members);
        for (int q = 0; q < n; q++) {
            int first = k == ctx->sched.step_first[t] && q == 0;
            profile_add(ctx, members[q], first ? dt : 0.0, first ? launched : 0);
        }
    }
}

/* The device-clock profile of a run whose marks 0..n were recorded: one
 * synchronisation, then each interval charged to its step. */
static td_status profile_read_marks(exec_ctx *ctx, int n)
{
    TD_CHECK(ctx->be->sync());
    for (int k = 1; k <= n; k++) {
        double dt;
        TD_CHECK(ctx->be->timer_read(k - 1, k, &dt));
        profile_step(ctx, ctx->mark_node[k], dt, ctx->mark_launches[k]);
    }
    profile.device_clock = 1;
    return TD_OK;
}

/* What one pass over the nodes called and launched. */
typedef struct run_tally {
    long dispatches, launches;
} run_tally;

/* Every step of the schedule once, in order: a node, a fused kernel or a
 * batch. While profiling, on a device clock a mark follows each step
 * (mark 0 precedes the first) and the marks are read at the end; on the
 * host clock each step is timed with a synchronisation after it. */
static td_status run_nodes(exec_ctx *ctx, run_tally *t)
{
    const backend *be = ctx->be;
    int marks = profiling && be->timer_mark && be->timer_read, ranges = ranges_on(be);
    int sync_each = exec_sync_each_node(), n_marks = 0;
    if (marks && !ctx->mark_node) {
        size_t n = (size_t)ctx->sched.n_steps + 1;
        ctx->mark_node = malloc(n * sizeof *ctx->mark_node);
        ctx->mark_launches = malloc(n * sizeof *ctx->mark_launches);
        if (!ctx->mark_node || !ctx->mark_launches) return TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    }
    if (marks) TD_CHECK(be->timer_mark(0));
    long run_l0 = launches_now(be);
    for (int step = 0; step < ctx->sched.n_steps; step++) {
        double t0 = profiling && !marks ? now_seconds() : 0;
        long l0 = profiling ? launches_now(be) : 0;
        if (ranges) range_push_step(ctx, step);
        td_status st = run_schedule_step(ctx, step);
        if (ranges) be->range_pop();
        if (st != TD_OK) return st;
        t->dispatches++;
        if (sync_each && (st = be->sync()) != TD_OK) {
            int u = ctx->sched.unit[ctx->sched.step_first[step]];
            return node_failed(ctx, u, st, ", at the synchronisation after it");
        }
        if (profiling) {
            long launched = launches_now(be) - l0;
            if (marks) {
                TD_CHECK(be->timer_mark(++n_marks));
                ctx->mark_node[n_marks] = step;
                ctx->mark_launches[n_marks] = launched;
            } else {
                TD_CHECK(be->sync());
                profile_step(ctx, step, now_seconds() - t0, launched);
            }
        }
    }
    /* the heads the fused groups recompute count a call each */
    for (int i = 0; profiling && i < ctx->g->n_nodes; i++)
        if (ctx->needed[i] && !ctx->covered[i]) profile_add(ctx, i, 0.0, 0);
    t->launches += launches_now(be) - run_l0;
    return marks ? profile_read_marks(ctx, n_marks) : TD_OK;
}

/* A run's nodes launched one by one: counted as they ran. */
static td_status run_direct(exec_ctx *ctx)
{
    run_tally t = {0, 0};
    td_status s = run_nodes(ctx, &t);
    profile.dispatches += t.dispatches;
    profile.launches += t.launches;
    return s;
}

/* A recording launched as one: counted as it was recorded. */
static td_status run_replay(exec_ctx *ctx)
{
    TD_CHECK(ctx->be->replay(ctx->replay));
    profile.replays++;
    profile.dispatches += ctx->replay_dispatches;
    profile.launches += ctx->replay_launches;
    profile.replayed_launches += ctx->replay_launches;
    return TD_OK;
}

/* Recording is off while profiling (which times each node, so runs every
 * node directly), under TSEDARTS_SYNC_EACH_NODE (no synchronisation is
 * possible inside a recording) and where TSEDARTS_NO_GRAPHS is set (to
 * compare a recorded run with a direct one). */
static int may_record(const exec_ctx *ctx)
{
    static int disabled = -1;
    if (disabled < 0) disabled = env_flag("TSEDARTS_NO_GRAPHS");
    return ctx->be->capture_begin && !profiling && !disabled && !exec_sync_each_node();
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
static td_status run_recorded(exec_ctx *ctx)
{
    if (!may_record(ctx)) return run_direct(ctx);
    if (!same_bases(ctx)) {
        if (ctx->replay) ctx->be->replay_free(ctx->replay);
        ctx->replay = NULL;
        ctx->runs_with_bases = 0;
    }
    if (ctx->replay) return run_replay(ctx);
    if (ctx->runs_with_bases++ == 0) return run_direct(ctx); /* sizes the backend's scratch */
    TD_CHECK(ctx->be->capture_begin());
    run_tally t = {0, 0}; /* recorded, not run: counted when replayed */
    td_status s = run_nodes(ctx, &t);
    if (s != TD_OK) {
        ctx->be->capture_abort();
        return s;
    }
    TD_CHECK(ctx->be->capture_end(&ctx->replay));
    ctx->replay_dispatches = t.dispatches;
    ctx->replay_launches = t.launches;
    profile.recorded_launches += t.launches;
    return run_replay(ctx);
}

td_status exec_run(exec_ctx *ctx)
{
    int ranges = ranges_on(ctx->be);
    if (ranges) ctx->be->range_push(ctx->name);
    td_status s = run_recorded(ctx);
    if (ranges) ctx->be->range_pop();
    profile.runs++;
    return s;
}
