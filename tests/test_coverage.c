/* Fails when a primitive has no registry test case or lacks a CPU kernel,
 * so a new op cannot land untested. */
#include <criterion/criterion.h>

#include "tsedarts/op_registry.h"
#include "tsedarts/backend.h"
#include "tsedarts/backend_cpu.h"

Test(coverage, every_primitive_has_test_cases_and_cpu_kernels)
{
    int count[OP_COUNT] = {0};
    for (int i = 0; i < n_op_cases; i++) count[op_cases[i].op]++;
    for (int op = 0; op < OP_COUNT; op++) {
        cr_expect_gt(count[op], 0, "primitive %s has no test case in tests/op_cases.c", op_name((op_kind)op));
        cr_expect(backend_cpu_has_kernel((op_kind)op), "primitive %s has no CPU kernel", op_name((op_kind)op));
    }
}

Test(coverage, registry_cases_build)
{
    for (int i = 0; i < n_op_cases; i++) {
        graph *g = graph_create();
        int in[OP_CASE_MAX_IN];
        op_case_inputs(g, &op_cases[i], in);
        int y = op_case_build(g, &op_cases[i], in);
        cr_expect(y >= 0 && graph_status(g) == TD_OK, "case %s does not build: %s", op_cases[i].label, g->error);
        graph_destroy(g);
    }
}

Test(coverage, op_names_round_trip)
{
    for (int op = 0; op < OP_COUNT; op++) cr_expect_eq(op_by_name(op_name((op_kind)op)), op);
    cr_expect_eq(op_by_name("no_such_op"), OP_COUNT);
}
