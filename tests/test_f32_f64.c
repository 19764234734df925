/* Every op run in f32 and in f64 from the same inputs agrees within its
 * family's tolerance (core/ops/<family>.c, with the evidence); the
 * node-by-node comparator does the checking. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tsedarts/op_registry.h"
#include "tsedarts/compare.h"
#include "tsedarts/backend_cpu.h"

/* This test prints the worst observed ratios that the evidence cites. */
Test(f32_f64, every_op_agrees_within_tolerance)
{
    compare_side a = {backend_cpu(), DT_F32}, b = {backend_cpu(), DT_F64};
    double worst_fine[OP_COUNT] = {0};
    cr_assert_gt(op_case_count(), 0);
    for (int i = 0; i < op_case_count(); i++) {
        const op_case *c = op_case_at(i);
        op_tolerance tol = op_case_f32_tolerance(c);
        double *host[ROLE_COUNT];
        graph *g = op_case_graph(c, host, NULL);
        compare_result res, fine;
        cr_assert_eq(compare_run(g, a, b, host, tol.rtol, tol.atol, &res), TD_OK, "%s: %s", c->label,
                     td_error_message());
        cr_expect_eq(res.first_bad_node, -1, "%s: %s", c->label, res.message);
        /* The same run against a tenfold tighter bar, for the evidence line. */
        compare_run(g, a, b, host, 1e-7, 1e-7, &fine);
        if (fine.worst_ratio > worst_fine[c->op]) worst_fine[c->op] = fine.worst_ratio;
        op_case_host_free(host);
        graph_destroy(g);
    }
    fprintf(stderr, "worst |f32 - f64| / (1e-7 + 1e-7 |f64|) per op:\n");
    for (int op = 0; op < OP_COUNT; op++) fprintf(stderr, "  %-20s %8.3g\n", op_name((op_kind)op), worst_fine[op]);
}
