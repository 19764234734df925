/* What the op family files share: the definitions' types, and helpers for
 * writing shape rules and derivative rules. Private to core/ops. */
#ifndef TSEDARTS_OP_FAMILY_H
#define TSEDARTS_OP_FAMILY_H

#include <stdlib.h>
#include <string.h>

#include "tsedarts/op_def.h"

static inline int op_valid_value(const graph *g, int v) { return v >= 0 && v < g->n_values; }
static inline shape4 vshape(const graph *g, int v) { return g->values[v].shape; }

/* "(n, c, h, w)" of s in one of four rotating buffers, for messages that
 * name several shapes. */
const char *op_fmt_shape(int slot, shape4 s);

/* Zeroed node parameters. */
static inline node_params op_params(void)
{
    node_params p;
    memset(&p, 0, sizeof p);
    return p;
}

/* Whether any of the k values is invalid or the graph already failed. */
static inline int op_any_bad(const graph *g, int k, const int *v)
{
    if (g->status != TD_OK) return 1;
    for (int i = 0; i < k; i++)
        if (v[i] < 0) return 1;
    return 0;
}

/* Builders of ops without parameters. */
int op_unary(graph *g, op_kind op, int x);
int op_binary(graph *g, op_kind op, int a, int b);

/* a + b where either may be absent (-1). */
static inline int op_add_opt(graph *g, int a, int b)
{
    if (a < 0) return b;
    if (b < 0) return a;
    return op_axpby(g, a, b, 1.0, 1.0);
}

/* In a shape rule (graph *g, op_kind op, int nin, const int *in in scope):
 * NEED records the message and makes the rule fail; NIN checks the input
 * count, SAME that two inputs have one shape. */
#define NEED(cond, ...)                 \
    do {                                \
        if (!(cond)) {                  \
            graph_fail(g, __VA_ARGS__); \
            return 0;                   \
        }                               \
    } while (0)
#define NIN(k) NEED(nin == (k), "%s: expects %d inputs, got %d", op_name(op), (k), nin)
#define SAME(a, b)                                                                                          \
    NEED(shape_equal(vshape(g, a), vshape(g, b)), "%s: shapes differ: %s vs %s", op_name(op),             \
         op_fmt_shape(0, vshape(g, a)), op_fmt_shape(1, vshape(g, b)))

/* Shape rules shared by several ops. */
int op_shape_same_as_input(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out);
int op_shape_same_pair(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out);

#define R IN_REAL
#define S(n, c, h, w) {n, c, h, w}

#endif
