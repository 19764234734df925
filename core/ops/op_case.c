/* The registry of primitive test cases, gathered from the op definitions
 * in op-list order, and what every check does with a case: its inputs,
 * its graph, its data. */
#include "tsedarts/op_def.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/philox.h"

/* The i-th case over all ops (wide: the wide sets), or NULL. */
static const op_case *case_at(int i, int wide)
{
    for (int op = 0; op < OP_COUNT && i >= 0; op++) {
        const op_def *d = op_def_of((op_kind)op);
        int n = wide ? d->n_wide_cases : d->n_cases;
        if (i < n) return (wide ? d->wide_cases : d->cases) + i;
        i -= n;
    }
    return NULL;
}

static int case_count(int wide)
{
    int n = 0;
    for (int op = 0; op < OP_COUNT; op++) n += wide ? op_def_of((op_kind)op)->n_wide_cases : op_def_of((op_kind)op)->n_cases;
    return n;
}

int op_case_count(void) { return case_count(0); }
const op_case *op_case_at(int i) { return case_at(i, 0); }
int op_wide_case_count(void) { return case_count(1); }
const op_case *op_wide_case_at(int i) { return case_at(i, 1); }

int op_case_index(const op_case *c)
{
    for (int i = 0, n = op_case_count(); i < n; i++)
        if (op_case_at(i) == c) return i;
    for (int i = 0, n = op_wide_case_count(); i < n; i++)
        if (op_wide_case_at(i) == c) return i;
    return -1;
}

int op_case_is_wide(const op_case *c)
{
    const op_def *d = op_def_of(c->op);
    return d && c >= d->wide_cases && c < d->wide_cases + d->n_wide_cases;
}

op_tolerance op_case_f32_tolerance(const op_case *c)
{
    const op_def *d = op_def_of(c->op);
    return *(op_case_is_wide(c) ? d->f32_vs_f64_wide : d->f32_vs_f64);
}

int op_case_build(graph *g, const op_case *c, const int *in)
{
    const op_def *d = op_def_of(c->op);
    return d ? d->build_case(g, c, in) : -1;
}

void op_case_inputs_copy(graph *g, const op_case *c, int copy, int *in)
{
    for (int k = 0; k < c->nin; k++) {
        if (c->kind[k] == IN_BNSTAT) {
            char name[64];
            if (copy) snprintf(name, sizeof name, "running_%d_%d", k, copy);
            else snprintf(name, sizeof name, "running_%d", k);
            in[k] = graph_param(g, ROLE_BNSTAT, name, c->in[k], k == 2 ? INIT_ZEROS : INIT_ONES, 0, 0, NULL);
        } else {
            in[k] = graph_input(g, c->in[k], c->kind[k] == IN_LABELS);
        }
    }
}

void op_case_inputs(graph *g, const op_case *c, int *in) { op_case_inputs_copy(g, c, 0, in); }

int op_case_input_differentiable(const op_case *c, int k)
{
    if (c->kind[k] == IN_LABELS || c->kind[k] == IN_BNSTAT) return 0;
    return op_input_differentiable(c->op, k);
}

graph *op_case_graph(const op_case *c, double *host[ROLE_COUNT], int *inputs)
{
    return op_case_graph_seeded(c, (uint64_t)op_case_index(c), host, inputs);
}

graph *op_case_graph_seeded(const op_case *c, uint64_t seed, double *host[ROLE_COUNT], int *inputs)
{
    graph *g = graph_create();
    int in[OP_CASE_MAX_IN];
    op_case_inputs(g, c, in);
    if (inputs) memcpy(inputs, in, sizeof in);
    int y = op_case_build(g, c, in);
    if (y >= 0 && g->nodes[g->n_nodes - 1].out == y) graph_bind(g, y, ROLE_OUTPUT, (size_t)-1);
    for (int r = 0; r < ROLE_COUNT; r++) host[r] = calloc(g->role_size[r] + 1, sizeof(double));
    op_case_fill(g, c, in, seed, host);
    return g;
}

void op_case_fill(const graph *g, const op_case *c, const int *in, uint64_t seed, double *host[ROLE_COUNT])
{
    for (int k = 0; k < c->nin; k++) {
        const value *v = &g->values[in[k]];
        size_t n = shape_numel(v->shape);
        double *dst = host[v->role] + v->offset;
        philox_stream s;
        philox_stream_init(&s, 500 + (uint64_t)k, PURPOSE_TEST, seed);
        for (size_t i = 0; i < n; i++) {
            double u = philox_next_uniform_f64(&s);
            switch (c->kind[k]) {
            case IN_LABELS: {
                int classes = c->op == OP_PICK_LABELS ? c->in[0].c : c->ip[0];
                dst[i] = (double)((i * 3 + 1) % (size_t)classes);
                break;
            }
            case IN_POSITIVE: dst[i] = 0.5 + 1.5 * u; break;
            case IN_BNSTAT: dst[i] = 0.5 + u; break;
            case IN_MASK: dst[i] = i % 3 == 1 ? 0.0 : 1.0; break;
            case IN_UNIT: dst[i] = 0.05 + 0.9 * u; break;
            default: dst[i] = 2 * u - 1; break;
            }
        }
    }
}

void op_case_host_free(double *host[ROLE_COUNT])
{
    for (int r = 0; r < ROLE_COUNT; r++) free(host[r]);
}
