/* The table of op definitions, built from the op list, and what every
 * builder goes through: input checks, the op's shape rule, the node. */
#include "op_family.h"

#define TD_OP_DECLARE(id, name) extern const op_def op_def_##name;
TD_OP_LIST(TD_OP_DECLARE)
#undef TD_OP_DECLARE

static const op_def *const op_defs[OP_COUNT] = {
#define TD_OP_ENTRY(id, name) [OP_##id] = &op_def_##name,
    TD_OP_LIST(TD_OP_ENTRY)
#undef TD_OP_ENTRY
};

const op_def *op_def_of(op_kind op) { return op >= 0 && op < OP_COUNT ? op_defs[op] : NULL; }

int op_input_differentiable(op_kind op, int k)
{
    const op_def *d = op_def_of(op);
    return d && !(k < 32 && (d->nondiff_inputs >> k) & 1u);
}

const char *op_fmt_shape(int slot, shape4 s)
{
    static char buf[4][48];
    return shape_format(s, buf[slot & 3], sizeof buf[0]);
}

int graph_add_node(graph *g, op_kind op, int nin, const int *in, const node_params *p)
{
    if (g->status != TD_OK) return -1;
    const op_def *d = op_def_of(op);
    if (!d) return graph_fail(g, "unknown op %d", (int)op);
    node_params params = p ? *p : op_params();
    for (int k = 0; k < nin; k++) {
        if (!op_valid_value(g, in[k])) return graph_fail(g, "%s: input %d is invalid", op_name(op), k);
        int want_int = k < 32 && (d->int_inputs >> k) & 1u;
        if (g->values[in[k]].is_int != want_int)
            return graph_fail(g, "%s: input %d has the wrong element type", op_name(op), k);
    }
    shape4 out;
    if (!d->shape(g, op, nin, in, &params, &out)) return -1;
    int y = graph_append_node(g, op, nin, in, &params, out);
    if (y >= 0 && out.n >= 0 && d->int_output) g->values[y].is_int = 1;
    return y;
}

int op_refuse_derivative(graph *g, op_kind op, const char *why)
{
    graph_fail(g, "%s: no derivative: %s", op_name(op), why);
    if (g->status == TD_ERR_ARG) g->status = TD_ERR_UNSUPPORTED;
    return -1;
}

int op_unary(graph *g, op_kind op, int x)
{
    if (op_any_bad(g, 1, &x)) return -1;
    return graph_add_node(g, op, 1, &x, NULL);
}

int op_binary(graph *g, op_kind op, int a, int b)
{
    int in[2] = {a, b};
    if (op_any_bad(g, 2, in)) return -1;
    return graph_add_node(g, op, 2, in, NULL);
}

int op_shape_same_as_input(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)p;
    NIN(1);
    *out = vshape(g, in[0]);
    return 1;
}

int op_shape_same_pair(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out)
{
    (void)p;
    NIN(2);
    SAME(in[0], in[1]);
    *out = vshape(g, in[0]);
    return 1;
}

int graph_bind(graph *g, int v, value_role role, size_t offset)
{
    if (g->status != TD_OK || !op_valid_value(g, v)) return -1;
    value *val = &g->values[v];
    /* the role buffers a value can be bound to hold reals */
    if (val->is_int) return graph_fail(g, "graph_bind: value %d is int32: only reals can be bound", v);
    int target = v;
    if (val->role != ROLE_ACT || val->producer < 0) {
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
