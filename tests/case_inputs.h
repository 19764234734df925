/* Deterministic inputs for a registry case, shared by the tests that run
 * cases on two element types or two backends. */
#ifndef TSEDARTS_TEST_CASE_INPUTS_H
#define TSEDARTS_TEST_CASE_INPUTS_H

#include "op_cases.h"

/* Builds the case into a new graph, binds its output to ROLE_OUTPUT, and
 * fills host[r] (f64, calloc'd) with the inputs. Returns the graph. */
graph *case_graph_with_inputs(const op_case *c, double *host[ROLE_COUNT]);
void case_inputs_free(double *host[ROLE_COUNT]);

#endif
