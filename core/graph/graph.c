/* Graph storage: values, nodes, parameters, and the node orders that
 * reverse mode and the executor use. What an op means is the ops layer's. */
#include "tsedarts/graph.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[OP_COUNT] = {
#define TD_OP_NAME(id, name) #name,
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

int graph_push_ints(graph *g, int k, const int *xs)
{
    if (g->status != TD_OK) return -1;
    return push_ints(g, k, xs);
}

int graph_append_node(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 out)
{
    if (g->status != TD_OK) return -1;
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(node)))
        return graph_fail(g, "out of memory");
    int in_off = push_ints(g, nin, in);
    if (in_off < 0) return -1;
    node *nd = &g->nodes[g->n_nodes];
    nd->op = op;
    nd->nin = nin;
    nd->in_off = in_off;
    if (p)
        nd->p = *p;
    else
        memset(&nd->p, 0, sizeof nd->p);
    nd->out = -1;
    int idx = g->n_nodes++;
    if (out.n >= 0) {
        int v = new_value(g, out, ROLE_ACT, idx);
        if (v < 0) return -1;
        g->nodes[idx].out = v;
        return v;
    }
    return 0; /* sinks have no output value */
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
