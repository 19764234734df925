#include "case_inputs.h"

#include <stdlib.h>

#include "tsedarts/philox.h"

graph *case_graph_with_inputs(const op_case *c, double *host[ROLE_COUNT])
{
    graph *g = graph_create();
    int in[OP_CASE_MAX_IN];
    op_case_inputs(g, c, in);
    int y = op_case_build(g, c, in);
    if (y > 0 && g->nodes[g->n_nodes - 1].out == y) graph_bind(g, y, ROLE_OUTPUT, (size_t)-1);
    for (int r = 0; r < ROLE_COUNT; r++) host[r] = calloc(g->role_size[r] + 1, sizeof(double));
    for (int k = 0; k < c->nin; k++) {
        const value *v = &g->values[in[k]];
        size_t n = shape_numel(v->shape);
        double *dst = host[v->role] + v->offset;
        philox_stream s;
        philox_stream_init(&s, 500 + (uint64_t)k, PURPOSE_TEST, (uint64_t)(c - op_cases));
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
            default: dst[i] = 2 * u - 1; break;
            }
        }
    }
    return g;
}

void case_inputs_free(double *host[ROLE_COUNT])
{
    for (int r = 0; r < ROLE_COUNT; r++) free(host[r]);
}
