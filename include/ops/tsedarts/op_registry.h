/* The registry of primitive test cases: several shapes per op, odd sizes,
 * strides 1 and 2, dilation, declared with each op (core/ops/<family>.c)
 * and gathered here in op-list order. Every check that loops over ops
 * (finite differences, f32 vs f64, coverage, CPU vs GPU, `tsedarts
 * selftest`) reads this. */
#ifndef TSEDARTS_OP_REGISTRY_H
#define TSEDARTS_OP_REGISTRY_H

#include <stdint.h>

#include "tsedarts/graph.h"
#include "tsedarts/tolerances.h"

enum input_kind {
    IN_REAL = 0, /* uniform in [-1, 1) */
    IN_POSITIVE, /* uniform in [0.5, 2) */
    IN_LABELS,   /* int32 class labels */
    IN_BNSTAT,   /* a BN running-statistic parameter */
    IN_MASK,     /* 0 or 1: 0 at every flat index i with i % 3 == 1 */
    IN_UNIT      /* uniform in [0.05, 0.95): a probability */
};

#define OP_CASE_MAX_IN 6

typedef struct op_case {
    const char *label;
    op_kind op;
    int nin;
    shape4 in[OP_CASE_MAX_IN];
    unsigned char kind[OP_CASE_MAX_IN];
    int ip[8];    /* op-specific integer parameters */
    double dp[2]; /* op-specific real parameters */
    shape4 sp;    /* op-specific shape parameter */
} op_case;

/* The cases of every op; i from 0 to op_case_count() - 1. */
int op_case_count(void);
const op_case *op_case_at(int i);
/* The same ops at the map widths of real networks: too large for finite
 * differences, checked f32 against f64. */
int op_wide_case_count(void);
const op_case *op_wide_case_at(int i);
/* A case's position in its list (registry or wide), -1 if in neither. */
int op_case_index(const op_case *c);
int op_case_is_wide(const op_case *c);
/* The f32-against-f64 tolerance of a case (its op family's, wide or not). */
op_tolerance op_case_f32_tolerance(const op_case *c);

/* Appends the case's node to g given its input values; returns the output
 * value (or 0 for sinks, -1 on error). */
int op_case_build(graph *g, const op_case *c, const int *in);

/* Creates the inputs of a case in g: ROLE_INPUT / ROLE_LABEL / BN stats. */
void op_case_inputs(graph *g, const op_case *c, int *in);
/* The same for copy number copy of the case in one graph (its statistics
 * named apart; copy 0 is op_case_inputs). */
void op_case_inputs_copy(graph *g, const op_case *c, int copy, int *in);
/* Fills the case's inputs in (values of g) in the host role arrays with
 * the deterministic draws op_case_graph_seeded makes from seed. */
void op_case_fill(const graph *g, const op_case *c, const int *in, uint64_t seed, double *host[ROLE_COUNT]);

/* Whether input k of the case gets finite-difference checks. */
int op_case_input_differentiable(const op_case *c, int k);

/* Builds the case into a new graph, binds its output to ROLE_OUTPUT, and
 * fills host[r] (f64, calloc'd, one per role) with deterministic inputs
 * drawn from the stream of its index; inputs (may be NULL) receives the
 * input values. */
graph *op_case_graph(const op_case *c, double *host[ROLE_COUNT], int *inputs);
/* The same with an explicit stream for the inputs. */
graph *op_case_graph_seeded(const op_case *c, uint64_t seed, double *host[ROLE_COUNT], int *inputs);
void op_case_host_free(double *host[ROLE_COUNT]);

#endif
