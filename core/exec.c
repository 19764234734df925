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

enum { CENTRED_NONE, CENTRED_HEAD, CENTRED_HEAD_WITH_DOT, CENTRED_TAIL };

static int is_channel_op(const graph *g, int i, op_kind op)
{
    return i >= 0 && g->nodes[i].op == op && g->nodes[i].p.axis == AXIS_C;
}

/* The centred groups (exec.h): an affine_axis over channels whose output
 * xc is read only by the next needed node, dot_axis(xc, xc), if at all,
 * and by one later scale_axis(xc, r). xc gets no memory; the affine's
 * inputs live until the tail, which reads them. */
static td_status find_centred_groups(exec_ctx *ctx, int *live_until, unsigned char *unplaced)
{
    const graph *g = ctx->g;
    int nn = g->n_nodes, nv = g->n_values;
    int *consumers = calloc((size_t)nv, sizeof *consumers), *last = malloc((size_t)nv * sizeof *last);
    if (!consumers || !last) {
        free(consumers);
        free(last);
        return TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    }
    for (int v = 0; v < nv; v++) last[v] = -1;
    for (int i = 0; i < nn; i++) {
        if (!ctx->needed[i]) continue;
        const int *in = graph_node_inputs(g, &g->nodes[i]);
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (last[in[k]] != i) {
                consumers[in[k]]++;
                last[in[k]] = i;
            }
    }
    for (int i = 0; i < nn; i++) {
        const node *nd = &g->nodes[i];
        if (!ctx->needed[i] || !is_channel_op(g, i, OP_AFFINE_AXIS) || g->values[nd->out].role != ROLE_ACT) continue;
        int xc = nd->out, j = ctx->next_needed[i], k = last[xc];
        int has_dot = is_channel_op(g, j, OP_DOT_AXIS) && graph_node_inputs(g, &g->nodes[j])[0] == xc &&
                      graph_node_inputs(g, &g->nodes[j])[1] == xc;
        if (consumers[xc] != 1 + has_dot || k == j || !is_channel_op(g, k, OP_SCALE_AXIS)) continue;
        const int *kin = graph_node_inputs(g, &g->nodes[k]);
        if (kin[0] != xc || kin[1] == xc) continue;
        ctx->centred_partner[i] = k;
        ctx->centred_partner[k] = i;
        ctx->centred_role[i] = has_dot ? CENTRED_HEAD_WITH_DOT : CENTRED_HEAD;
        ctx->centred_role[k] = CENTRED_TAIL;
        unplaced[xc] = 1;
        const int *in = graph_node_inputs(g, nd);
        for (int q = 0; q < nd->nin; q++)
            if (live_until[in[q]] < k) live_until[in[q]] = k;
    }
    free(consumers);
    free(last);
    return TD_OK;
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
    ctx->centred_partner = malloc(nn * sizeof *ctx->centred_partner);
    ctx->centred_role = calloc(nn, 1);
    int *live_until = malloc(nv * sizeof *live_until);
    unsigned char *unplaced = calloc(nv, 1);
    td_status s = TD_OK;
    if (!ctx->needed || !ctx->next_needed || !ctx->centred_partner || !ctx->centred_role || !live_until || !unplaced)
        s = TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    if (s == TD_OK) {
        graph_needed_nodes(g, ctx->needed);
        for (int i = g->n_nodes - 1, next = -1; i >= 0; i--) {
            ctx->next_needed[i] = next;
            ctx->centred_partner[i] = -1;
            if (ctx->needed[i]) next = i;
        }
        for (int v = 0; v < g->n_values; v++) live_until[v] = -1;
        ctx->fused = fused && be->run_fused;
        if (ctx->fused && be->fuses && be->fuses(FUSED_CENTRED_VARIANCE, dt) && be->fuses(FUSED_CENTRED_SCALE, dt))
            s = find_centred_groups(ctx, live_until, unplaced);
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
    if (ctx->arena) ctx->be->release(ctx->arena);
    planner_free(&ctx->plan);
    free(ctx->needed);
    free(ctx->next_needed);
    free(ctx->centred_partner);
    free(ctx->centred_role);
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
    size_t es = val->is_int ? 4 : dtype_size(ctx->dt);
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
    if (ctx->centred_partner[i] >= 0)
        return TD_FAIL(TD_ERR_STATE, "exec: node %d (%s) runs fused: run the graph, or plan it plain", i,
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

/* Runs a fused kernel for nodes i and j (kind, backend.h): 1 when the
 * backend ran it (its status in *st), else 0 (nothing ran). */
#define FUSED_MAX_INPUTS 8
static int run_fused(exec_ctx *ctx, fused_kind kind, int i, int j, td_status *st)
{
    const node *a = &ctx->g->nodes[i], *b = &ctx->g->nodes[j];
    if (a->nin > FUSED_MAX_INPUTS || b->nin > FUSED_MAX_INPUTS || a->out < 0 || b->out < 0) return 0;
    void *pa[FUSED_MAX_INPUTS], *pb[FUSED_MAX_INPUTS];
    shape4 sa[FUSED_MAX_INPUTS], sb[FUSED_MAX_INPUTS];
    kernel_args ka, kb;
    if ((*st = node_args(ctx, i, pa, sa, &ka)) != TD_OK || (*st = node_args(ctx, j, pb, sb, &kb)) != TD_OK) return 1;
    return ctx->be->run_fused(kind, &ka, &kb, st);
}

/* Runs node i, alone or fused with a partner; returns the last node it
 * covered (i, or the next needed node when they ran as one) or -1 on
 * failure (*st). */
static int run_step(exec_ctx *ctx, int i, td_status *st)
{
    int j = ctx->next_needed[i], partner = ctx->centred_partner[i];
    if (partner >= 0) {
        /* planned without xc: the fused kernels must run */
        int tail = ctx->centred_role[i] == CENTRED_TAIL;
        int head = tail ? partner : i;
        if (ctx->centred_role[i] == CENTRED_HEAD) return i; /* only the tail reads xc: it recomputes it */
        fused_kind kind = tail ? FUSED_CENTRED_SCALE : FUSED_CENTRED_VARIANCE;
        if (!run_fused(ctx, kind, head, tail ? i : j, st)) {
            *st = TD_FAIL(TD_ERR_STATE, "exec: the backend did not run a centred group at node %d", i);
            return -1;
        }
        return *st == TD_OK ? (tail ? i : j) : -1;
    }
    if (ctx->fused && j >= 0 && ctx->centred_partner[j] < 0 && run_fused(ctx, FUSED_PAIR, i, j, st))
        return *st == TD_OK ? j : -1;
    *st = exec_run_node(ctx, i);
    return *st == TD_OK ? i : -1;
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

td_status exec_run(exec_ctx *ctx)
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
