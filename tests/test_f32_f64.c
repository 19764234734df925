/* Every op run in f32 and in f64 from the same inputs agrees within the
 * tolerance table below; the node-by-node comparator does the checking. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tsedarts/op_registry.h"
#include "tsedarts/compare.h"
#include "tsedarts/tolerances.h"
#include "tsedarts/backend_cpu.h"

/* The tolerance and its evidence are in tsedarts/tolerances.h; this test
 * prints the worst observed ratios that the evidence cites. */
#define F32_RTOL TOL_F32_VS_F64_RTOL
#define F32_ATOL TOL_F32_VS_F64_ATOL

Test(f32_f64, every_op_agrees_within_tolerance)
{
    compare_side a = {backend_cpu(), DT_F32}, b = {backend_cpu(), DT_F64};
    double worst_fine[OP_COUNT] = {0};
    for (int i = 0; i < n_op_cases; i++) {
        const op_case *c = &op_cases[i];
        double *host[ROLE_COUNT];
        graph *g = op_case_graph(c, host, NULL);
        compare_result res, fine;
        cr_assert_eq(compare_run(g, a, b, host, F32_RTOL, F32_ATOL, &res), TD_OK, "%s: %s", c->label,
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
