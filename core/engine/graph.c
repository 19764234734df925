/* Graph storage and the typed builders with their shape rules. */
#include "tsedarts/graph.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[OP_COUNT] = {
#define TD_OP_NAME(id, name) name,
    TD_OP_LIST(TD_OP_NAME)
#undef TD_OP_NAME
};

const char *op_name(op_kind op)
{
    return (op >= 0 && op < OP_COUNT) ? op_names[op] : "?";
}

op_kind op_by_name(const char *name)
{
    for (int i = 0; i < OP_COUNT; i++)
        if (strcmp(op_names[i], name) == 0) return (op_kind)i;
    return OP_COUNT;
}

const char *role_name(value_role r)
{
    static const char *const names[ROLE_COUNT] = {
        "act", "weight", "alpha", "bnstat", "grad_weight",
        "grad_alpha", "input", "label", "output", "tangent_weight",
        "tangent_alpha", "hvp_weight", "hvp_alpha"};
    return (r >= 0 && r < ROLE_COUNT) ? names[r] : "?";
}

graph *graph_create(void)
{
    graph *g = calloc(1, sizeof *g);
    return g;
}

void graph_destroy(graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_params; i++) free(g->params[i].name);
    free(g->params);
    free(g->blocks);
    free(g->segments);
    free(g->nodes);
    free(g->values);
    free(g->ints);
    free(g);
}

td_status graph_status(const graph *g)
{
    if (g->status != TD_OK) td_error_at(g->status, __FILE__, __LINE__, "%s", g->error);
    return g->status;
}

int graph_fail(graph *g, const char *fmt, ...)
{
    if (g->status == TD_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->error, sizeof g->error, fmt, ap);
        va_end(ap);
        g->status = TD_ERR_ARG;
    }
    return -1;
}

static int grow(void **ptr, int *cap, int need, size_t elem)
{
    if (need <= *cap) return 1;
    int nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *p = realloc(*ptr, (size_t)nc * elem);
    if (!p) return 0;
    *ptr = p;
    *cap = nc;
    return 1;
}

static int push_ints(graph *g, int k, const int *xs)
{
    if (!grow((void **)&g->ints, &g->cap_ints, g->n_ints + k, sizeof(int))) {
        graph_fail(g, "out of memory");
        g->status = TD_ERR_MEMORY;
        return -1;
    }
    int off = g->n_ints;
    if (k) memcpy(g->ints + off, xs, (size_t)k * sizeof(int));
    g->n_ints += k;
    return off;
}

static int new_value(graph *g, shape4 s, value_role role, int producer)
{
    if (!grow((void **)&g->values, &g->cap_values, g->n_values + 1,
              sizeof(value))) {
        graph_fail(g, "out of memory");
        g->status = TD_ERR_MEMORY;
        return -1;
    }
    value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->shape = s;
    v->role = role;
    v->producer = producer;
    v->param = -1;
    return g->n_values++;
}

static int valid(const graph *g, int v)
{
    return v >= 0 && v < g->n_values;
}

static shape4 vshape(const graph *g, int v) { return g->values[v].shape; }

static char shape_buf[4][48];
static const char *fmt_shape(int slot, shape4 s)
{
    return shape_format(s, shape_buf[slot & 3], sizeof shape_buf[0]);
}

int graph_input(graph *g, shape4 s, int is_int)
{
    if (g->status != TD_OK) return -1;
    value_role role = is_int ? ROLE_LABEL : ROLE_INPUT;
    int v = new_value(g, s, role, -1);
    if (v < 0) return -1;
    g->values[v].is_int = is_int;
    g->values[v].offset = g->role_size[role];
    g->role_size[role] += shape_numel(s);
    return v;
}

int graph_param(graph *g, value_role role, const char *name, shape4 s,
                param_init init, int fan_in, int torch_ndim,
                const int *torch_dims)
{
    if (g->status != TD_OK) return -1;
    if (role != ROLE_WEIGHT && role != ROLE_ALPHA && role != ROLE_BNSTAT)
        return graph_fail(g, "parameter %s: role %s cannot hold parameters",
                          name, role_name(role));
    if (graph_find_param(g, name) >= 0)
        return graph_fail(g, "parameter %s defined twice", name);
    if (!grow((void **)&g->params, &g->cap_params, g->n_params + 1,
              sizeof(param)))
        return graph_fail(g, "out of memory");
    int v = new_value(g, s, role, -1);
    if (v < 0) return -1;
    param *p = &g->params[g->n_params];
    memset(p, 0, sizeof *p);
    p->name = strdup(name);
    p->role = role;
    p->shape = s;
    p->offset = g->role_size[role];
    p->init = init;
    p->fan_in = fan_in;
    p->value = v;
    if (torch_dims && torch_ndim > 0) {
        p->torch_ndim = torch_ndim;
        for (int i = 0; i < torch_ndim && i < 4; i++) p->torch_dims[i] = torch_dims[i];
    } else {
        p->torch_ndim = 4;
        p->torch_dims[0] = s.n;
        p->torch_dims[1] = s.c;
        p->torch_dims[2] = s.h;
        p->torch_dims[3] = s.w;
    }
    g->values[v].offset = p->offset;
    g->values[v].param = g->n_params;
    g->role_size[role] += shape_numel(s);
    if (role == ROLE_WEIGHT)
        g->role_size[ROLE_GRAD_WEIGHT] = g->role_size[ROLE_TANGENT_WEIGHT] = g->role_size[ROLE_HVP_WEIGHT] = g->role_size[role];
    if (role == ROLE_ALPHA)
        g->role_size[ROLE_GRAD_ALPHA] = g->role_size[ROLE_TANGENT_ALPHA] = g->role_size[ROLE_HVP_ALPHA] = g->role_size[role];
    return g->n_params++ >= 0 ? v : -1;
}

int graph_add_segment(graph *g, int first, int last)
{
    if (g->status != TD_OK) return -1;
    if (first < 0 || last >= g->n_nodes || first > last) return graph_fail(g, "recompute segment: bad node range");
    if (g->n_segments && g->segments[g->n_segments - 1].last >= first)
        return graph_fail(g, "recompute segments must be disjoint and in order");
    if (!grow((void **)&g->segments, &g->cap_segments, g->n_segments + 1, sizeof(recompute_segment)))
        return graph_fail(g, "out of memory");
    g->segments[g->n_segments].first = first;
    g->segments[g->n_segments].last = last;
    return g->n_segments++;
}

int graph_add_vjp_block(graph *g, const vjp_block *b)
{
    if (g->status != TD_OK) return -1;
    if (b->first < 0 || b->last >= g->n_nodes || b->first > b->last || g->nodes[b->last].out != b->out)
        return graph_fail(g, "custom-VJP block: bad node range");
    if (!grow((void **)&g->blocks, &g->cap_blocks, g->n_blocks + 1, sizeof(vjp_block)))
        return graph_fail(g, "out of memory");
    g->blocks[g->n_blocks] = *b;
    return g->n_blocks++;
}

int graph_find_param(const graph *g, const char *name)
{
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i].name, name) == 0) return i;
    return -1;
}

size_t graph_param_count(const graph *g, value_role role)
{
    size_t n = 0;
    for (int i = 0; i < g->n_params; i++)
        if (g->params[i].role == role) n += shape_numel(g->params[i].shape);
    return n;
}

int graph_bind(graph *g, int v, value_role role, size_t offset)
{
    if (g->status != TD_OK || !valid(g, v)) return -1;
    value *val = &g->values[v];
    int target = v;
    if (val->role != ROLE_ACT || val->producer < 0 || val->is_int) {
        target = op_axpby(g, v, -1, 1.0, 0.0);
        if (target < 0) return -1;
    }
    if (role == ROLE_OUTPUT && offset == (size_t)-1) {
        offset = g->role_size[ROLE_OUTPUT];
        g->role_size[ROLE_OUTPUT] += shape_numel(g->values[target].shape);
    }
    g->values[target].role = role;
    g->values[target].offset = offset;
    return target;
}

/* Output shape of a conv, or n = -1 if it does not exist. */
static shape4 conv_out_shape(shape4 x, shape4 w, const node_params *p)
{
    shape4 bad = {-1, 0, 0, 0};
    if (p->groups < 1 || x.c % p->groups || w.n % p->groups ||
        w.c != x.c / p->groups || p->stride < 1 || p->dil < 1 || p->pad < 0)
        return bad;
    int ho = (x.h + 2 * p->pad - p->dil * (w.h - 1) - 1) / p->stride + 1;
    int wo = (x.w + 2 * p->pad - p->dil * (w.w - 1) - 1) / p->stride + 1;
    if (x.h + 2 * p->pad - p->dil * (w.h - 1) - 1 < 0 ||
        x.w + 2 * p->pad - p->dil * (w.w - 1) - 1 < 0)
        return bad;
    return shape_make(x.n, w.n, ho, wo);
}

static shape4 pool_out_shape(shape4 x, const node_params *p)
{
    shape4 bad = {-1, 0, 0, 0};
    if (p->k < 1 || p->stride < 1 || p->pad < 0 || 2 * p->pad > p->k ||
        x.h + 2 * p->pad < p->k || x.w + 2 * p->pad < p->k)
        return bad;
    return shape_make(x.n, x.c, (x.h + 2 * p->pad - p->k) / p->stride + 1,
                      (x.w + 2 * p->pad - p->k) / p->stride + 1);
}

static shape4 axis_vec_shape(shape4 x, int axis)
{
    return axis == AXIS_C ? shape_make(1, x.c, 1, 1) : shape_make(x.n, 1, 1, 1);
}

/* Checks inputs and computes the output shape of a node; returns 0 and
 * records an error on misuse. */
static int infer_shape(graph *g, op_kind op, int nin, const int *in,
                       const node_params *p, shape4 *out)
{
    const char *nm = op_name(op);
    for (int i = 0; i < nin; i++)
        if (!valid(g, in[i])) return graph_fail(g, "%s: input %d is invalid", nm, i), 0;
#define NEED(cond, ...) \
    do { if (!(cond)) { graph_fail(g, __VA_ARGS__); return 0; } } while (0)
#define NIN(k) NEED(nin == (k), "%s: expects %d inputs, got %d", nm, (k), nin)
#define SAME(a, b) NEED(shape_equal(vshape(g, a), vshape(g, b)), \
        "%s: shapes differ: %s vs %s", nm, fmt_shape(0, vshape(g, a)), fmt_shape(1, vshape(g, b)))
    for (int i = 0; i < nin; i++) {
        int label_ok = (op == OP_PICK_LABELS || op == OP_PLACE_LABELS) && i == 1;
        NEED(g->values[in[i]].is_int == label_ok, "%s: input %d has the wrong element type", nm, i);
    }
    switch (op) {
    case OP_CONV2D: {
        NIN(2);
        shape4 s = conv_out_shape(vshape(g, in[0]), vshape(g, in[1]), p);
        NEED(s.n > 0, "conv2d: x %s and w %s do not fit (stride %d pad %d dil %d groups %d)",
             fmt_shape(0, vshape(g, in[0])), fmt_shape(1, vshape(g, in[1])),
             p->stride, p->pad, p->dil, p->groups);
        *out = s;
        return 1;
    }
    case OP_CONV2D_BWD_DATA: {
        NIN(2);
        shape4 s = conv_out_shape(p->shape, vshape(g, in[1]), p);
        NEED(s.n > 0 && shape_equal(s, vshape(g, in[0])),
             "conv2d_bwd_data: dy %s does not match x %s and w %s",
             fmt_shape(0, vshape(g, in[0])), fmt_shape(1, p->shape), fmt_shape(2, vshape(g, in[1])));
        *out = p->shape;
        return 1;
    }
    case OP_CONV2D_BWD_FILTER: {
        NIN(2);
        shape4 x = vshape(g, in[0]), dy = vshape(g, in[1]);
        NEED(p->groups >= 1 && x.c % p->groups == 0, "conv2d_bwd_filter: bad groups");
        shape4 w = shape_make(dy.c, x.c / p->groups, p->kh, p->kw);
        shape4 s = conv_out_shape(x, w, p);
        NEED(s.n > 0 && shape_equal(s, dy), "conv2d_bwd_filter: x %s and dy %s do not fit",
             fmt_shape(0, x), fmt_shape(1, dy));
        *out = w;
        return 1;
    }
    case OP_MATMUL: {
        NIN(2);
        shape4 a = vshape(g, in[0]), b = vshape(g, in[1]);
        NEED(a.h == 1 && a.w == 1 && b.h == 1 && b.w == 1, "matmul: operands must be (rows, cols, 1, 1)");
        int m = p->ta ? a.c : a.n, ka = p->ta ? a.n : a.c;
        int kb = p->tb ? b.c : b.n, n = p->tb ? b.n : b.c;
        NEED(ka == kb, "matmul: inner sizes differ (%d vs %d)", ka, kb);
        *out = shape_make(m, n, 1, 1);
        return 1;
    }
    case OP_RELU: case OP_SOFTPLUS: case OP_SIGMOID: case OP_EXP:
    case OP_POWADD: case OP_SOFTMAX_ROWS: case OP_LOG_SOFTMAX_ROWS:
        NIN(1);
        *out = vshape(g, in[0]);
        return 1;
    case OP_RELU_BWD: case OP_MUL:
        NIN(2);
        SAME(in[0], in[1]);
        *out = vshape(g, in[0]);
        return 1;
    case OP_MAXPOOL: case OP_AVGPOOL: {
        NIN(1);
        shape4 s = pool_out_shape(vshape(g, in[0]), p);
        NEED(s.n > 0, "%s: window %d stride %d pad %d does not fit %s", nm, p->k, p->stride, p->pad,
             fmt_shape(0, vshape(g, in[0])));
        *out = s;
        return 1;
    }
    case OP_MAXPOOL_GATHER: {
        NIN(2);
        SAME(in[0], in[1]);
        shape4 s = pool_out_shape(vshape(g, in[0]), p);
        NEED(s.n > 0, "maxpool_gather: window does not fit");
        *out = s;
        return 1;
    }
    case OP_MAXPOOL_SCATTER: {
        NIN(2);
        shape4 s = pool_out_shape(vshape(g, in[0]), p);
        NEED(s.n > 0 && shape_equal(s, vshape(g, in[1])), "maxpool_scatter: g does not match the pooled x");
        *out = vshape(g, in[0]);
        return 1;
    }
    case OP_AVGPOOL_BWD: {
        NIN(1);
        shape4 s = pool_out_shape(p->shape, p);
        NEED(s.n > 0 && shape_equal(s, vshape(g, in[0])), "avgpool_bwd: g does not match the pooled x");
        *out = p->shape;
        return 1;
    }
    case OP_GAP: {
        NIN(1);
        shape4 x = vshape(g, in[0]);
        *out = shape_make(x.n, x.c, 1, 1);
        return 1;
    }
    case OP_GAP_BWD: {
        NIN(1);
        shape4 gr = vshape(g, in[0]);
        NEED(gr.n == p->shape.n && gr.c == p->shape.c && gr.h == 1 && gr.w == 1,
             "global_avgpool_bwd: g %s does not match x %s", fmt_shape(0, gr), fmt_shape(1, p->shape));
        *out = p->shape;
        return 1;
    }
    case OP_SUM_AXIS:
        NIN(1);
        NEED(p->axis == AXIS_N || p->axis == AXIS_C, "sum_axis: bad axis");
        *out = axis_vec_shape(vshape(g, in[0]), p->axis);
        return 1;
    case OP_BCAST_AXIS:
        NIN(1);
        NEED(p->axis == AXIS_N || p->axis == AXIS_C, "bcast_axis: bad axis");
        NEED(shape_equal(vshape(g, in[0]), axis_vec_shape(p->shape, p->axis)),
             "bcast_axis: v %s does not fit %s", fmt_shape(0, vshape(g, in[0])), fmt_shape(1, p->shape));
        *out = p->shape;
        return 1;
    case OP_SCALE_AXIS:
        NIN(2);
        NEED(p->axis == AXIS_N || p->axis == AXIS_C, "scale_axis: bad axis");
        NEED(shape_equal(vshape(g, in[1]), axis_vec_shape(vshape(g, in[0]), p->axis)),
             "scale_axis: v %s does not fit x %s", fmt_shape(0, vshape(g, in[1])), fmt_shape(1, vshape(g, in[0])));
        *out = vshape(g, in[0]);
        return 1;
    case OP_DOT_AXIS:
        NIN(2);
        NEED(p->axis == AXIS_N || p->axis == AXIS_C, "dot_axis: bad axis");
        SAME(in[0], in[1]);
        *out = axis_vec_shape(vshape(g, in[0]), p->axis);
        return 1;
    case OP_LINCOMB_AXIS: {
        NIN(5);
        NEED(p->axis == AXIS_N || p->axis == AXIS_C, "lincomb_axis: bad axis");
        SAME(in[0], in[1]);
        shape4 vs = axis_vec_shape(vshape(g, in[0]), p->axis);
        for (int i = 2; i < 5; i++)
            NEED(shape_equal(vshape(g, in[i]), vs), "lincomb_axis: coefficient %d has shape %s, want %s", i,
                 fmt_shape(0, vshape(g, in[i])), fmt_shape(1, vs));
        *out = vshape(g, in[0]);
        return 1;
    }
    case OP_AFFINE_AXIS: {
        NEED(nin == 2 || nin == 3, "affine_axis: expects 2 or 3 inputs");
        NEED(p->axis == AXIS_N || p->axis == AXIS_C, "affine_axis: bad axis");
        shape4 vs = axis_vec_shape(vshape(g, in[0]), p->axis);
        for (int i = 1; i < nin; i++)
            NEED(shape_equal(vshape(g, in[i]), vs), "affine_axis: coefficient %d has shape %s, want %s", i,
                 fmt_shape(0, vshape(g, in[i])), fmt_shape(1, vs));
        *out = vshape(g, in[0]);
        return 1;
    }
    case OP_BN_RUNNING_UPDATE: {
        NIN(4);
        shape4 vs = vshape(g, in[0]);
        for (int i = 1; i < 4; i++) SAME(in[0], in[i]);
        NEED(g->values[in[2]].role == ROLE_BNSTAT && g->values[in[3]].role == ROLE_BNSTAT,
             "bn_running_update: running statistics must be BN-stat parameters");
        (void)vs;
        out->n = -1;
        return 1;
    }
    case OP_AXPBY:
        NEED(nin == 1 || nin == 2, "axpby: expects 1 or 2 inputs");
        if (nin == 2) SAME(in[0], in[1]);
        *out = vshape(g, in[0]);
        return 1;
    case OP_WEIGHTED_SUM: {
        int has_w = p->wlen > 0;
        int k = nin - has_w;
        NEED(k >= 1 && k == p->idx_len, "weighted_sum: %d terms but %d indices", k, p->idx_len);
        for (int i = has_w + 1; i < nin; i++) SAME(in[has_w], in[i]);
        if (has_w) {
            NEED((int)shape_numel(vshape(g, in[0])) == p->wlen, "weighted_sum: weight length mismatch");
            const int *idx = g->ints + p->idx_off;
            for (int i = 0; i < k; i++)
                NEED(idx[i] >= 0 && idx[i] < p->wlen, "weighted_sum: index %d out of range", idx[i]);
        }
        *out = vshape(g, in[has_w]);
        return 1;
    }
    case OP_DOTS: {
        NEED(nin >= 2 && nin - 1 == p->idx_len, "dots: terms and indices differ");
        for (int i = 1; i < nin; i++) SAME(in[0], in[i]);
        NEED((int)shape_numel(p->shape) == p->wlen && p->wlen > 0, "dots: bad output length");
        const int *idx = g->ints + p->idx_off;
        for (int i = 0; i < p->idx_len; i++)
            NEED(idx[i] >= 0 && idx[i] < p->wlen, "dots: index %d out of range", idx[i]);
        *out = p->shape;
        return 1;
    }
    case OP_PICK_LABELS: {
        NIN(2);
        shape4 z = vshape(g, in[0]), l = vshape(g, in[1]);
        NEED(z.h == 1 && z.w == 1 && shape_equal(l, shape_make(z.n, 1, 1, 1)),
             "pick_labels: logits %s and labels %s do not fit", fmt_shape(0, z), fmt_shape(1, l));
        *out = l;
        return 1;
    }
    case OP_PLACE_LABELS: {
        NIN(2);
        shape4 v = vshape(g, in[0]), l = vshape(g, in[1]);
        NEED(shape_equal(v, l) && v.c == 1 && v.h == 1 && v.w == 1 && p->k >= 1,
             "place_labels: v %s and labels %s do not fit", fmt_shape(0, v), fmt_shape(1, l));
        *out = shape_make(v.n, p->k, 1, 1);
        return 1;
    }
    case OP_SUM_ALL:
        NIN(1);
        *out = shape_make(1, 1, 1, 1);
        return 1;
    case OP_FILL:
        NIN(1);
        NEED(shape_numel(vshape(g, in[0])) == 1, "fill: source must be a scalar");
        *out = p->shape;
        return 1;
    case OP_CONST:
        NIN(0);
        NEED(shape_numel(p->shape) > 0, "const: empty shape");
        *out = p->shape;
        return 1;
    case OP_CONCAT_C: {
        NEED(nin >= 1, "concat_channels: no inputs");
        shape4 s = vshape(g, in[0]);
        for (int i = 1; i < nin; i++) {
            shape4 t = vshape(g, in[i]);
            NEED(t.n == s.n && t.h == s.h && t.w == s.w, "concat_channels: input %d has shape %s, want (%d, *, %d, %d)",
                 i, fmt_shape(0, t), s.n, s.h, s.w);
            s.c += t.c;
        }
        *out = s;
        return 1;
    }
    case OP_SLICE_C: {
        NIN(1);
        shape4 s = vshape(g, in[0]);
        NEED(0 <= p->c0 && p->c0 < p->c1 && p->c1 <= s.c, "slice_channels: range [%d, %d) outside %d channels",
             p->c0, p->c1, s.c);
        s.c = p->c1 - p->c0;
        *out = s;
        return 1;
    }
    case OP_CROP: {
        NIN(1);
        shape4 s = vshape(g, in[0]);
        NEED(p->top >= 0 && p->left >= 0 && p->shape.h >= 1 && p->shape.w >= 1 &&
             p->top + p->shape.h <= s.h && p->left + p->shape.w <= s.w, "crop: window outside %s", fmt_shape(0, s));
        *out = shape_make(s.n, s.c, p->shape.h, p->shape.w);
        return 1;
    }
    case OP_UNCROP: {
        NIN(1);
        shape4 s = vshape(g, in[0]), x = p->shape;
        NEED(s.n == x.n && s.c == x.c && p->top >= 0 && p->left >= 0 && p->top + s.h <= x.h &&
             p->left + s.w <= x.w, "uncrop: %s does not fit in %s", fmt_shape(0, s), fmt_shape(1, x));
        *out = x;
        return 1;
    }
    case OP_COUNT:
        break;
    }
#undef NEED
#undef NIN
#undef SAME
    graph_fail(g, "unknown op %d", (int)op);
    return 0;
}

int graph_add_node(graph *g, op_kind op, int nin, const int *in,
                   const node_params *p)
{
    if (g->status != TD_OK) return -1;
    node_params params;
    if (p)
        params = *p;
    else
        memset(&params, 0, sizeof params);
    shape4 out_shape;
    if (!infer_shape(g, op, nin, in, &params, &out_shape)) return -1;
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(node)))
        return graph_fail(g, "out of memory");
    int in_off = push_ints(g, nin, in);
    if (in_off < 0) return -1;
    node *nd = &g->nodes[g->n_nodes];
    nd->op = op;
    nd->nin = nin;
    nd->in_off = in_off;
    nd->p = params;
    nd->out = -1;
    int idx = g->n_nodes++;
    if (out_shape.n >= 0) {
        int v = new_value(g, out_shape, ROLE_ACT, idx);
        if (v < 0) return -1;
        g->nodes[idx].out = v;
        return v;
    }
    return 0; /* sinks have no output value */
}

/* ---------------------------------------------------------------------- */
/* Typed builders                                                         */

static node_params conv_params(int stride, int pad, int dil, int groups)
{
    node_params p;
    memset(&p, 0, sizeof p);
    p.stride = stride;
    p.pad = pad;
    p.dil = dil;
    p.groups = groups;
    return p;
}

static int any_bad(const graph *g, int k, const int *v)
{
    if (g->status != TD_OK) return 1;
    for (int i = 0; i < k; i++)
        if (v[i] < 0) return 1;
    return 0;
}

int op_conv2d(graph *g, int x, int w, int stride, int pad, int dil, int groups)
{
    int in[2] = {x, w};
    if (any_bad(g, 2, in)) return -1;
    node_params p = conv_params(stride, pad, dil, groups);
    shape4 ws = vshape(g, w);
    p.kh = ws.h;
    p.kw = ws.w;
    return graph_add_node(g, OP_CONV2D, 2, in, &p);
}

int op_conv2d_bwd_data(graph *g, int dy, int w, shape4 xshape, int stride,
                      int pad, int dil, int groups)
{
    int in[2] = {dy, w};
    if (any_bad(g, 2, in)) return -1;
    node_params p = conv_params(stride, pad, dil, groups);
    shape4 ws = vshape(g, w);
    p.kh = ws.h;
    p.kw = ws.w;
    p.shape = xshape;
    return graph_add_node(g, OP_CONV2D_BWD_DATA, 2, in, &p);
}

int op_conv2d_bwd_filter(graph *g, int x, int dy, int kh, int kw, int stride,
                        int pad, int dil, int groups)
{
    int in[2] = {x, dy};
    if (any_bad(g, 2, in)) return -1;
    node_params p = conv_params(stride, pad, dil, groups);
    p.kh = kh;
    p.kw = kw;
    return graph_add_node(g, OP_CONV2D_BWD_FILTER, 2, in, &p);
}

int op_matmul(graph *g, int a, int b, int ta, int tb)
{
    int in[2] = {a, b};
    if (any_bad(g, 2, in)) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.ta = ta;
    p.tb = tb;
    return graph_add_node(g, OP_MATMUL, 2, in, &p);
}

static int unary(graph *g, op_kind op, int x)
{
    if (any_bad(g, 1, &x)) return -1;
    return graph_add_node(g, op, 1, &x, NULL);
}

static int binary(graph *g, op_kind op, int a, int b)
{
    int in[2] = {a, b};
    if (any_bad(g, 2, in)) return -1;
    return graph_add_node(g, op, 2, in, NULL);
}

int op_relu(graph *g, int x) { return unary(g, OP_RELU, x); }
int op_relu_bwd(graph *g, int x, int gr) { return binary(g, OP_RELU_BWD, x, gr); }
int op_softplus(graph *g, int x) { return unary(g, OP_SOFTPLUS, x); }
int op_sigmoid(graph *g, int x) { return unary(g, OP_SIGMOID, x); }
int op_exp(graph *g, int a) { return unary(g, OP_EXP, a); }
int op_mul(graph *g, int a, int b) { return binary(g, OP_MUL, a, b); }
int op_softmax_rows(graph *g, int a) { return unary(g, OP_SOFTMAX_ROWS, a); }
int op_log_softmax_rows(graph *g, int z) { return unary(g, OP_LOG_SOFTMAX_ROWS, z); }
int op_sum_all(graph *g, int x) { return unary(g, OP_SUM_ALL, x); }
int op_gap(graph *g, int x) { return unary(g, OP_GAP, x); }
int op_pick_labels(graph *g, int z, int labels) { return binary(g, OP_PICK_LABELS, z, labels); }

static node_params pool_params(int k, int stride, int pad)
{
    node_params p;
    memset(&p, 0, sizeof p);
    p.k = k;
    p.stride = stride;
    p.pad = pad;
    return p;
}

int op_maxpool(graph *g, int x, int k, int stride, int pad)
{
    if (any_bad(g, 1, &x)) return -1;
    node_params p = pool_params(k, stride, pad);
    return graph_add_node(g, OP_MAXPOOL, 1, &x, &p);
}

int op_maxpool_gather(graph *g, int x, int t, int k, int stride, int pad)
{
    int in[2] = {x, t};
    if (any_bad(g, 2, in)) return -1;
    node_params p = pool_params(k, stride, pad);
    return graph_add_node(g, OP_MAXPOOL_GATHER, 2, in, &p);
}

int op_maxpool_scatter(graph *g, int x, int gr, int k, int stride, int pad)
{
    int in[2] = {x, gr};
    if (any_bad(g, 2, in)) return -1;
    node_params p = pool_params(k, stride, pad);
    return graph_add_node(g, OP_MAXPOOL_SCATTER, 2, in, &p);
}

int op_avgpool(graph *g, int x, int k, int stride, int pad, int count_pad)
{
    if (any_bad(g, 1, &x)) return -1;
    node_params p = pool_params(k, stride, pad);
    p.count_pad = count_pad;
    return graph_add_node(g, OP_AVGPOOL, 1, &x, &p);
}

int op_avgpool_bwd(graph *g, int gr, shape4 xshape, int k, int stride,
                  int pad, int count_pad)
{
    if (any_bad(g, 1, &gr)) return -1;
    node_params p = pool_params(k, stride, pad);
    p.count_pad = count_pad;
    p.shape = xshape;
    return graph_add_node(g, OP_AVGPOOL_BWD, 1, &gr, &p);
}

int op_gap_bwd(graph *g, int gr, shape4 xshape)
{
    if (any_bad(g, 1, &gr)) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.shape = xshape;
    return graph_add_node(g, OP_GAP_BWD, 1, &gr, &p);
}

static node_params axis_params(int axis)
{
    node_params p;
    memset(&p, 0, sizeof p);
    p.axis = axis;
    return p;
}

int op_sum_axis(graph *g, int x, int axis)
{
    if (any_bad(g, 1, &x)) return -1;
    node_params p = axis_params(axis);
    return graph_add_node(g, OP_SUM_AXIS, 1, &x, &p);
}

int op_bcast_axis(graph *g, int v, shape4 s, int axis)
{
    if (any_bad(g, 1, &v)) return -1;
    node_params p = axis_params(axis);
    p.shape = s;
    return graph_add_node(g, OP_BCAST_AXIS, 1, &v, &p);
}

int op_scale_axis(graph *g, int x, int v, int axis)
{
    int in[2] = {x, v};
    if (any_bad(g, 2, in)) return -1;
    node_params p = axis_params(axis);
    return graph_add_node(g, OP_SCALE_AXIS, 2, in, &p);
}

int op_dot_axis(graph *g, int a, int b, int axis)
{
    int in[2] = {a, b};
    if (any_bad(g, 2, in)) return -1;
    node_params p = axis_params(axis);
    return graph_add_node(g, OP_DOT_AXIS, 2, in, &p);
}

int op_affine_axis(graph *g, int x, int a, int b, int axis)
{
    int in[3] = {x, a, b};
    int nin = b >= 0 ? 3 : 2;
    if (any_bad(g, nin, in)) return -1;
    node_params p = axis_params(axis);
    return graph_add_node(g, OP_AFFINE_AXIS, nin, in, &p);
}

int op_lincomb_axis(graph *g, int u, int v, int a, int b, int e, int axis)
{
    int in[5] = {u, v, a, b, e};
    if (any_bad(g, 5, in)) return -1;
    node_params p = axis_params(axis);
    return graph_add_node(g, OP_LINCOMB_AXIS, 5, in, &p);
}

int op_bn_running_update(graph *g, int m, int v, int rm, int rv,
                        double momentum, double count)
{
    int in[4] = {m, v, rm, rv};
    if (any_bad(g, 4, in)) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.a = momentum;
    p.b = count;
    return graph_add_node(g, OP_BN_RUNNING_UPDATE, 4, in, &p);
}

int op_axpby(graph *g, int a, int b, double s, double t)
{
    int in[2] = {a, b};
    int nin = b >= 0 ? 2 : 1;
    if (any_bad(g, nin, in)) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.a = s;
    p.b = t;
    return graph_add_node(g, OP_AXPBY, nin, in, &p);
}

int op_powadd(graph *g, int a, double eps, double pw)
{
    if (any_bad(g, 1, &a)) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.a = eps;
    p.b = pw;
    return graph_add_node(g, OP_POWADD, 1, &a, &p);
}

int op_weighted_sum(graph *g, int w, int k, const int *xs, const int *idx)
{
    if (g->status != TD_OK || k < 1) return k < 1 ? graph_fail(g, "weighted_sum: no terms") : -1;
    if (any_bad(g, k, xs)) return -1;
    int *in = malloc((size_t)(k + 1) * sizeof *in);
    if (!in) return graph_fail(g, "out of memory");
    int nin = 0;
    node_params p;
    memset(&p, 0, sizeof p);
    if (w >= 0) {
        in[nin++] = w;
        p.wlen = (int)shape_numel(vshape(g, w));
        p.idx_off = push_ints(g, k, idx);
    } else {
        /* A plain sum: the index list is unused but kept the same length. */
        p.idx_off = g->n_ints;
        for (int i = 0; i < k; i++) push_ints(g, 1, &(int){-1});
    }
    p.idx_len = k;
    for (int i = 0; i < k; i++) in[nin++] = xs[i];
    int out = graph_add_node(g, OP_WEIGHTED_SUM, nin, in, &p);
    free(in);
    return out;
}

int op_dots(graph *g, int gr, int k, const int *xs, const int *idx,
           shape4 wshape)
{
    if (g->status != TD_OK || gr < 0) return -1;
    if (k < 1) return graph_fail(g, "dots: no terms");
    if (any_bad(g, k, xs)) return -1;
    int *in = malloc((size_t)(k + 1) * sizeof *in);
    if (!in) return graph_fail(g, "out of memory");
    in[0] = gr;
    for (int i = 0; i < k; i++) in[1 + i] = xs[i];
    node_params p;
    memset(&p, 0, sizeof p);
    p.idx_off = push_ints(g, k, idx);
    p.idx_len = k;
    p.shape = wshape;
    p.wlen = (int)shape_numel(wshape);
    int out = graph_add_node(g, OP_DOTS, k + 1, in, &p);
    free(in);
    return out;
}

int op_place_labels(graph *g, int v, int labels, int classes)
{
    int in[2] = {v, labels};
    if (any_bad(g, 2, in)) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.k = classes;
    return graph_add_node(g, OP_PLACE_LABELS, 2, in, &p);
}

int op_fill(graph *g, int s, shape4 shape)
{
    if (any_bad(g, 1, &s)) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.shape = shape;
    return graph_add_node(g, OP_FILL, 1, &s, &p);
}

int op_const(graph *g, shape4 shape, double c)
{
    if (g->status != TD_OK) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.shape = shape;
    p.a = c;
    return graph_add_node(g, OP_CONST, 0, NULL, &p);
}

int op_concat_c(graph *g, int k, const int *xs)
{
    if (any_bad(g, k, xs)) return -1;
    return graph_add_node(g, OP_CONCAT_C, k, xs, NULL);
}

int op_slice_c(graph *g, int x, int c0, int c1)
{
    if (any_bad(g, 1, &x)) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.c0 = c0;
    p.c1 = c1;
    return graph_add_node(g, OP_SLICE_C, 1, &x, &p);
}

int op_crop(graph *g, int x, int top, int left, int h, int w)
{
    if (any_bad(g, 1, &x)) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.top = top;
    p.left = left;
    p.shape = shape_make(0, 0, h, w);
    return graph_add_node(g, OP_CROP, 1, &x, &p);
}

int op_uncrop(graph *g, int gr, shape4 xshape, int top, int left)
{
    if (any_bad(g, 1, &gr)) return -1;
    node_params p;
    memset(&p, 0, sizeof p);
    p.top = top;
    p.left = left;
    p.shape = xshape;
    return graph_add_node(g, OP_UNCROP, 1, &gr, &p);
}

void graph_needed_nodes(const graph *g, unsigned char *needed)
{
    unsigned char *want = calloc((size_t)g->n_values, 1);
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].role != ROLE_ACT) want[v] = 1;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const node *nd = &g->nodes[i];
        needed[i] = nd->out < 0 || want[nd->out];
        if (!needed[i]) continue;
        const int *in = graph_node_inputs(g, nd);
        for (int k = 0; k < nd->nin; k++) want[in[k]] = 1;
    }
    free(want);
}

void graph_interleave_tail(graph *g, int first_tail)
{
    int n = g->n_nodes;
    if (g->status != TD_OK || first_tail >= n) return;
    int *anchor = malloc((size_t)n * sizeof *anchor), *order = malloc((size_t)n * sizeof *order);
    int *newpos = malloc((size_t)n * sizeof *newpos), *slot = calloc((size_t)first_tail + 1, sizeof *slot);
    node *moved = malloc((size_t)n * sizeof *moved);
    if (!anchor || !order || !newpos || !slot || !moved) {
        graph_fail(g, "out of memory scheduling the graph");
        free(anchor), free(order), free(newpos), free(slot), free(moved);
        return;
    }
    /* anchor: the latest head node a node depends on (through tail nodes);
     * head nodes anchor at themselves; a tail node on leaves only, at -1 */
    for (int i = 0; i < n; i++) {
        if (i < first_tail) {
            anchor[i] = i;
            continue;
        }
        const int *in = graph_node_inputs(g, &g->nodes[i]);
        int a = -1;
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int p = g->values[in[k]].producer;
            if (p >= 0 && anchor[p] > a) a = anchor[p];
        }
        anchor[i] = a;
    }
    /* new order: the tail nodes anchored at -1, then every head node
     * followed by the tail nodes anchored at it, in the original order;
     * slot[b] counts the tail nodes of group b (anchor b - 1) */
    for (int i = first_tail; i < n; i++) slot[anchor[i] + 1]++;
    int pos = 0;
    for (int b = 0; b <= first_tail; b++) {
        if (b > 0) order[pos++] = b - 1;
        int tails = slot[b];
        slot[b] = pos; /* now: where the group's next tail node goes */
        pos += tails;
    }
    for (int i = first_tail; i < n; i++) order[slot[anchor[i] + 1]++] = i;
    for (int k = 0; k < n; k++) newpos[order[k]] = k;
    for (int k = 0; k < n; k++) moved[k] = g->nodes[order[k]];
    memcpy(g->nodes, moved, (size_t)n * sizeof *moved);
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].producer >= 0) g->values[v].producer = newpos[g->values[v].producer];
    /* the node ranges used while building reverse mode no longer hold */
    g->n_segments = 0;
    g->n_blocks = 0;
    free(anchor), free(order), free(newpos), free(slot), free(moved);
}
