/* Everything one primitive is, in one place: its shape rule, its reverse
 * (VJP) and forward (JVP) rules, and its test cases with their tolerances.
 * Each op family (core/ops/<family>.c) defines op_def_<name> for its ops;
 * op_def_of() finds them through the op list (graph.h), so an op listed
 * without a definition fails to link. Kernels are the backends'
 * (ref/<family>*.c, gpu/<family>.cu). */
#ifndef TSEDARTS_OP_DEF_H
#define TSEDARTS_OP_DEF_H

#include "tsedarts/op_registry.h"
#include "tsedarts/ops.h"
#include "tsedarts/tolerances.h"

/* A node as its rules see it. Rules append nodes, so they get copies. */
typedef struct op_rule_args {
    const node_params *p;
    int nin;
    const int *in;  /* inputs (in reverse mode, recomputed copies where there are any) */
    const int *idx; /* weighted_sum and dots: the index list, p->idx_len entries */
    int y;          /* the output value (-1 for sinks) */
} op_rule_args;

typedef struct op_def {
    op_kind op;
    unsigned int_inputs;     /* bit k: input k holds int32 (labels, window indices) */
    unsigned nondiff_inputs; /* bit k: input k gets no derivative (labels, masks, argmax sources) */
    /* The output holds int32 (window indices): it takes no derivative, and
     * only ops that declare the input in int_inputs may read it. */
    int int_output;
    /* Checks the inputs and parameters and sets *out (out->n < 0: a sink);
     * on misuse records the error (graph_fail) and returns 0. */
    int (*shape)(graph *g, op_kind op, int nin, const int *in, const node_params *p, shape4 *out);
    /* Reverse rule: from the output's cotangent G, sets ct[k] for every
     * input with want[k] (-1 where it has none). NULL: no derivative. */
    void (*vjp)(graph *g, const op_rule_args *a, int G, const unsigned char *want, int *ct);
    /* Forward rule: from input tangents t[k] (-1: zero), the output's
     * tangent (-1: zero). NULL: no derivative. Both rules build their
     * result from primitives, so they compose (JVP over a backward pass is
     * exact second-order differentiation). */
    int (*jvp)(graph *g, const op_rule_args *a, const int *t);
    /* Test cases: small ones for finite differences and f32 against f64,
     * wide ones at real map widths (f32 against f64 only), each set with
     * its tolerance and the evidence for it beside them. */
    int (*build_case)(graph *g, const op_case *c, const int *in);
    const op_case *cases;
    int n_cases;
    const op_case *wide_cases;
    int n_wide_cases;
    const op_tolerance *f32_vs_f64;
    const op_tolerance *f32_vs_f64_wide;
    /* Set, saying why, where the rules are deliberately not the derivative
     * of the forward kernel (a pathwise gradient of a random sample, whose
     * kernel sees only the draws): finite differences cannot check them,
     * so gradcheck checks that the VJP and JVP rules are each other's
     * transpose, and the op's own test checks their values. */
    const char *surrogate_rules;
    /* Set, saying why, where the rules refuse to differentiate: they
     * record TD_ERR_UNSUPPORTED naming the op, and gradcheck checks that. */
    const char *refused_rules;
} op_def;

/* In a rule of an op with refused_rules: records the refusal. */
int op_refuse_derivative(graph *g, op_kind op, const char *why);

const op_def *op_def_of(op_kind op);

/* Whether input k of op is differentiable. */
int op_input_differentiable(op_kind op, int k);

#define OP_CASES(list) .cases = list, .n_cases = (int)(sizeof list / sizeof list[0])
#define OP_WIDE_CASES(list) .wide_cases = list, .n_wide_cases = (int)(sizeof list / sizeof list[0])

#endif
