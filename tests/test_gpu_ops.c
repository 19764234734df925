/* Every primitive of the op registry (its small and its wide cases) on the
 * GPU against the CPU, node by node: f64 within 1e-12 (tolerances.h), f32
 * against the CPU's f64 within the op family's f32 bar (core/ops/<family>.c
 * cites the evidence for each). The worst ratio per case is printed, the
 * evidence for revising the bars. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tsedarts/backend_cpu.h"
#include "tsedarts/compare.h"
#include "tsedarts/device.h"
#include "tsedarts/op_registry.h"
#include "tsedarts/tolerances.h"

static const backend *gpu(void)
{
    const backend *be;
    cr_assert_eq(device_open("cuda", &be), TD_OK, "%s", td_error_message());
    return be;
}

/* One case in one element type; returns the worst ratio. */
static double check_case(const backend *be, const op_case *c, uint64_t seed, dtype dt)
{
    op_tolerance tol = dt == DT_F64 ? (op_tolerance){TOL_GPU_F64_RTOL, TOL_GPU_F64_ATOL} : op_case_f32_tolerance(c);
    double *host[ROLE_COUNT];
    graph *g = op_case_graph_seeded(c, seed, host, NULL);
    compare_result res;
    compare_side on_gpu = {be, dt}, on_cpu = {backend_cpu(), DT_F64};
    cr_assert_eq(compare_run(g, on_gpu, on_cpu, host, tol.rtol, tol.atol, &res), TD_OK, "%s %s: %s", c->label,
                 dtype_name(dt), td_error_message());
    cr_expect_eq(res.first_bad_node, -1, "%s %s: %s", c->label, dtype_name(dt), res.message);
    cr_expect_gt(res.nodes_compared, 0, "%s: nothing compared", c->label);
    op_case_host_free(host);
    graph_destroy(g);
    return res.worst_ratio;
}

static void check_all(int wide)
{
    const backend *be = gpu();
    int n = wide ? op_wide_case_count() : op_case_count();
    cr_assert_gt(n, 0);
    fprintf(stderr, "%-44s %12s %12s  (worst |gpu - cpu| / (atol + rtol |cpu|))\n", "case", "f64", "f32");
    for (int i = 0; i < n; i++) {
        const op_case *c = wide ? op_wide_case_at(i) : op_case_at(i);
        uint64_t seed = 1000 + (uint64_t)op_case_index(c);
        double r64 = check_case(be, c, seed, DT_F64), r32 = check_case(be, c, seed, DT_F32);
        fprintf(stderr, "%-44s %12.3g %12.3g\n", c->label, r64, r32);
    }
}

Test(gpu_ops, every_case_against_the_cpu) { check_all(0); }
Test(gpu_ops, every_wide_case_against_the_cpu) { check_all(1); }
