/* The CPU kernels' vectorised paths and their tails, at the map widths of
 * real networks: f32 (fast paths) against f64 (plain kernels) on the wide
 * cases of the op registry, node by node. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tsedarts/compare.h"
#include "tsedarts/op_registry.h"
#include "tsedarts/backend_cpu.h"

Test(wide_kernels, f32_agrees_with_f64)
{
    compare_side a = {backend_cpu(), DT_F32}, b = {backend_cpu(), DT_F64};
    cr_assert_gt(op_wide_case_count(), 0);
    fprintf(stderr, "worst |f32 - f64| / (1e-7 + 1e-7 |f64|) per wide case:\n");
    for (int i = 0; i < op_wide_case_count(); i++) {
        const op_case *c = op_wide_case_at(i);
        op_tolerance tol = op_case_f32_tolerance(c);
        double *host[ROLE_COUNT];
        graph *g = op_case_graph_seeded(c, 1000 + (uint64_t)i, host, NULL);
        compare_result res;
        cr_assert_eq(compare_run(g, a, b, host, tol.rtol, tol.atol, &res), TD_OK,
                     "%s: %s", c->label, td_error_message());
        cr_expect_eq(res.first_bad_node, -1, "%s: %s", c->label, res.message);
        cr_expect_gt(res.nodes_compared, 0, "%s: nothing compared", c->label);
        /* the same run against a fine bar, for the evidence line */
        compare_result fine;
        compare_run(g, a, b, host, 1e-7, 1e-7, &fine);
        fprintf(stderr, "  %-44s %8.3g\n", c->label, fine.worst_ratio);
        op_case_host_free(host);
        graph_destroy(g);
    }
}
