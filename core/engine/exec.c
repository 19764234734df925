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

/* What a node does in a fused group (exec.h). */
enum {
    ROLE_PLAIN,
    CENTRED_HEAD,          /* affine_axis -> xc, read only by the tail: runs nothing */
    CENTRED_HEAD_WITH_DOT, /* the same, with dot_axis(xc, xc) next: runs both */
    CENTRED_TAIL,          /* scale_axis(xc, r): recomputes xc */
    SCALED_HEAD,           /* weighted_sum(w; G) -> S: runs nothing */
    SCALED_SUM,            /* sum_axis(S), with dot_axis(S, Z) next: runs both */
    SCALED_LINCOMB,        /* lincomb_axis(S, ...): recomputes S */
    PAIR_HEAD              /* a node whose next needed node is a channel dot: the backend may run both */
};

static int is_channel_op(const graph *g, int i, op_kind op)
{
    return i >= 0 && g->nodes[i].op == op && g->nodes[i].p.axis == AXIS_C;
}

static void keep_inputs_until(const graph *g, int i, int k, int *live_until)
{
    const int *in = graph_node_inputs(g, &g->nodes[i]);
    for (int q = 0; q < g->nodes[i].nin; q++)
        if (live_until[in[q]] < k) live_until[in[q]] = k;
}

static int reads(const graph *g, int i, int v, int pos)
{
    return i >= 0 && g->nodes[i].nin > pos && graph_node_inputs(g, &g->nodes[i])[pos] == v;
}

/* The fused groups (exec.h), whose intermediate gets no memory while the
 * inputs it is recomputed from live until its last reader:
 *  centred: an affine_axis over channels whose output xc is read only by
 *    the next needed node, dot_axis(xc, xc), if at all, and by one later
 *    scale_axis(xc, r);
 *  scaled: a one-term weighted_sum S = w G read only by sum_axis(S), the
 *    next needed node after it, dot_axis(S, Z), and one later
 *    lincomb_axis(S, ...) (a batch norm's backward, fed by a mixed op's
 *    share of its node's cotangent). */
static td_status find_fused_groups(exec_ctx *ctx, int *live_until, unsigned char *unplaced)
{
    const graph *g = ctx->g;
    int nn = g->n_nodes, nv = g->n_values;
    /* per value: the needed nodes that read it (distinct), the first and
     * the last of them */
    int *consumers = calloc((size_t)nv, sizeof *consumers), *first = malloc((size_t)nv * sizeof *first),
        *last = malloc((size_t)nv * sizeof *last);
    if (!consumers || !first || !last) {
        free(consumers);
        free(first);
        free(last);
        return TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    }
    for (int v = 0; v < nv; v++) first[v] = last[v] = -1;
    for (int i = 0; i < nn; i++) {
        if (!ctx->needed[i]) continue;
        const int *in = graph_node_inputs(g, &g->nodes[i]);
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (last[in[k]] != i) {
                consumers[in[k]]++;
                if (first[in[k]] < 0) first[in[k]] = i;
                last[in[k]] = i;
            }
    }
    for (int i = 0; i < nn; i++) {
        const node *nd = &g->nodes[i];
        if (!ctx->needed[i] || nd->out < 0 || g->values[nd->out].role != ROLE_ACT) continue;
        int v = nd->out, k = last[v];
        if (is_channel_op(g, i, OP_AFFINE_AXIS)) {
            int j = ctx->next_needed[i];
            int has_dot = is_channel_op(g, j, OP_DOT_AXIS) && reads(g, j, v, 0) && reads(g, j, v, 1);
            if (consumers[v] != 1 + has_dot || k == j || !is_channel_op(g, k, OP_SCALE_AXIS) || !reads(g, k, v, 0) ||
                reads(g, k, v, 1))
                continue;
            ctx->fused_partner[i] = k;
            ctx->fused_partner[k] = i;
            ctx->fused_role[i] = has_dot ? CENTRED_HEAD_WITH_DOT : CENTRED_HEAD;
            ctx->fused_role[k] = CENTRED_TAIL;
        } else if (nd->op == OP_WEIGHTED_SUM && nd->p.wlen > 0 && nd->p.idx_len == 1 && nd->nin == 2) {
            int s = first[v], d = s >= 0 ? ctx->next_needed[s] : -1;
            if (consumers[v] != 3 || !is_channel_op(g, s, OP_SUM_AXIS) || !is_channel_op(g, d, OP_DOT_AXIS) ||
                !reads(g, d, v, 0) || reads(g, d, v, 1) || !is_channel_op(g, k, OP_LINCOMB_AXIS) || k == d ||
                !reads(g, k, v, 0))
                continue;
            const int *kin = graph_node_inputs(g, &g->nodes[k]);
            int twice = 0;
            for (int q = 1; q < g->nodes[k].nin; q++) twice |= kin[q] == v;
            if (twice || ctx->fused_role[s] || ctx->fused_role[d] || ctx->fused_role[k]) continue;
            ctx->fused_role[i] = SCALED_HEAD;
            ctx->fused_role[s] = SCALED_SUM;
            ctx->fused_role[k] = SCALED_LINCOMB;
            ctx->fused_partner[i] = k;
            ctx->fused_partner[s] = ctx->fused_partner[k] = i;
        } else {
            continue;
        }
        unplaced[v] = 1;
        keep_inputs_until(g, i, k, live_until);
    }
    free(consumers);
    free(first);
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
    ctx->fused_partner = malloc(nn * sizeof *ctx->fused_partner);
    ctx->fused_role = calloc(nn, 1);
    int *live_until = malloc(nv * sizeof *live_until);
    unsigned char *unplaced = calloc(nv, 1);
    td_status s = TD_OK;
    if (!ctx->needed || !ctx->next_needed || !ctx->fused_partner || !ctx->fused_role || !live_until || !unplaced)
        s = TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    if (s == TD_OK) {
        graph_needed_nodes(g, ctx->needed);
        for (int i = g->n_nodes - 1, next = -1; i >= 0; i--) {
            ctx->next_needed[i] = next;
            ctx->fused_partner[i] = -1;
            if (ctx->needed[i]) next = i;
        }
        for (int v = 0; v < g->n_values; v++) live_until[v] = -1;
        ctx->fused = fused && be->run_fused;
        int all = be->fuses != NULL;
        for (int k = FUSED_PAIR; all && k < FUSED_KIND_END; k++) all = be->fuses((fused_kind)k, dt);
        if (ctx->fused && all) s = find_fused_groups(ctx, live_until, unplaced);
        /* pairs are offered to the backend where the second node could be
         * one of its pairs' (a dot over channels), not at every node */
        for (int i = 0; ctx->fused && s == TD_OK && i < g->n_nodes; i++) {
            int j = ctx->next_needed[i];
            if (ctx->needed[i] && !ctx->fused_role[i] && j >= 0 && !ctx->fused_role[j] && is_channel_op(g, j, OP_DOT_AXIS))
                ctx->fused_role[i] = PAIR_HEAD;
        }
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
    free(ctx->fused_partner);
    free(ctx->fused_role);
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
    if (ctx->fused_role[i] && ctx->fused_role[i] != PAIR_HEAD)
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

/* Runs a fused kernel for the nodes in idx (kind, backend.h): 1 when the
 * backend ran it (its status in *st), else 0 (nothing ran). */
#define FUSED_MAX_INPUTS 8
static int run_fused(exec_ctx *ctx, fused_kind kind, const int *idx, td_status *st)
{
    int n = fused_kind_nodes(kind);
    void *ptr[3][FUSED_MAX_INPUTS];
    shape4 shape[3][FUSED_MAX_INPUTS];
    kernel_args args[3];
    const kernel_args *nodes[3];
    for (int q = 0; q < n; q++) {
        const node *nd = &ctx->g->nodes[idx[q]];
        if (nd->nin > FUSED_MAX_INPUTS || nd->out < 0) return 0;
        if ((*st = node_args(ctx, idx[q], ptr[q], shape[q], &args[q])) != TD_OK) return 1;
        nodes[q] = &args[q];
    }
    return ctx->be->run_fused(kind, nodes, st);
}

/* Runs node i, alone or fused with others; returns the last node it
 * covered (i, or the next needed node when they ran as one) or -1 on
 * failure (*st). */
static int run_step(exec_ctx *ctx, int i, td_status *st)
{
    int j = ctx->next_needed[i], head = ctx->fused_partner[i], role = ctx->fused_role[i];
    int idx[3] = {head, i, j}, covered = i;
    fused_kind kind;
    switch (role) {
    case CENTRED_HEAD:
    case SCALED_HEAD:
        return i; /* the intermediate is recomputed where it is read */
    case CENTRED_HEAD_WITH_DOT:
        kind = FUSED_CENTRED_VARIANCE;
        idx[0] = i;
        idx[1] = j;
        covered = j;
        break;
    case CENTRED_TAIL:
        kind = FUSED_CENTRED_SCALE;
        break;
    case SCALED_SUM:
        kind = FUSED_SCALED_PAIR;
        covered = j;
        break;
    case SCALED_LINCOMB:
        kind = FUSED_SCALED_LINCOMB;
        break;
    case PAIR_HEAD:
        if (run_fused(ctx, FUSED_PAIR, (int[]){i, j}, st)) return *st == TD_OK ? j : -1;
        *st = exec_run_node(ctx, i);
        return *st == TD_OK ? i : -1;
    default:
        *st = exec_run_node(ctx, i);
        return *st == TD_OK ? i : -1;
    }
    /* planned without the intermediate: the fused kernel must run */
    if (!run_fused(ctx, kind, idx, st)) {
        *st = TD_FAIL(TD_ERR_STATE, "exec: the backend did not run the fused group at node %d (%s)", i,
                      op_name(ctx->g->nodes[i].op));
        return -1;
    }
    return *st == TD_OK ? covered : -1;
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
