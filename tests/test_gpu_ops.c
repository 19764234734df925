/* Every primitive of the op registry (its small and its wide cases) on the
 * GPU against the CPU, node by node: f64 within 1e-12 (tolerances.h), f32
 * against the CPU's f64 within the op family's f32 bar (core/ops/<family>.c
 * cites the evidence for each). The worst ratio per case is printed, the
 * evidence for revising the bars. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_copies.h"
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

/* The convolution cases the own kernels serve with the CPU's f32 order of
 * addition (gpu/conv_geometry.h): pointwise forward and data gradient,
 * depthwise forward, and depthwise data gradients the CPU computes by its
 * flipped-kernel or stride-2 kernel. ip = {stride, pad, dil, groups}. */
static int own_conv_keeps_cpu_bits(const op_case *c)
{
    if (c->op != OP_CONV2D && c->op != OP_CONV2D_BWD_DATA) return 0;
    shape4 w = c->in[1];
    int s = c->ip[0], p = c->ip[1], d = c->ip[2], groups = c->ip[3];
    if (w.h == 1 && w.w == 1 && p == 0 && groups == 1) return 1;
    int channels = c->op == OP_CONV2D ? c->in[0].c : w.n;
    int depthwise = groups == channels && w.c == 1 && w.h == w.w;
    return depthwise && (c->op == OP_CONV2D || s == 2 || (s == 1 && 2 * p == d * (w.h - 1)));
}

Test(gpu_ops, own_convolutions_give_the_cpus_f32_bits)
{
    const backend *be = gpu();
    int checked = 0;
    for (int wide = 0; wide < 2; wide++) {
        int n = wide ? op_wide_case_count() : op_case_count();
        for (int i = 0; i < n; i++) {
            const op_case *c = wide ? op_wide_case_at(i) : op_case_at(i);
            if (!own_conv_keeps_cpu_bits(c)) continue;
            double *host[ROLE_COUNT];
            graph *g = op_case_graph(c, host, NULL);
            compare_result res;
            compare_side on_gpu = {be, DT_F32}, on_cpu = {backend_cpu(), DT_F32};
            cr_assert_eq(compare_run(g, on_gpu, on_cpu, host, 0, 0, &res), TD_OK, "%s", td_error_message());
            cr_expect_eq(res.values_differing, 0, "%s: %ld values differ from the CPU's f32 (largest by %.3g)",
                         c->label, res.values_differing, res.max_abs_err);
            checked++;
            op_case_host_free(host);
            graph_destroy(g);
        }
    }
    fprintf(stderr, "own convolutions: %d cases compared bit for bit with the CPU's f32\n", checked);
    cr_expect_geq(checked, 12, "the pointwise and depthwise cases were not found");
}

/* The other side of the TSEDARTS_GPU_CONV switch: every convolution on
 * cuDNN, against the CPU as before (each test runs in its own process, so
 * the switch is read fresh when the device opens). */
Test(gpu_ops, convolutions_on_cudnn_against_the_cpu)
{
    cr_assert_eq(setenv("TSEDARTS_GPU_CONV", "cudnn", 1), 0);
    const backend *be = gpu();
    char *desc = be->describe();
    cr_assert(desc && strstr(desc, "TSEDARTS_GPU_CONV=cudnn"), "env.json does not record the switch: %s", desc);
    free(desc);
    int checked = 0;
    for (int wide = 0; wide < 2; wide++) {
        int n = wide ? op_wide_case_count() : op_case_count();
        for (int i = 0; i < n; i++) {
            const op_case *c = wide ? op_wide_case_at(i) : op_case_at(i);
            if (c->op != OP_CONV2D && c->op != OP_CONV2D_BWD_DATA && c->op != OP_CONV2D_BWD_FILTER) continue;
            uint64_t seed = 1000 + (uint64_t)op_case_index(c);
            check_case(be, c, seed, DT_F64);
            check_case(be, c, seed, DT_F32);
            checked++;
        }
    }
    cr_expect_gt(checked, 20);
}

/* Horizontal batches on the GPU (gpu/batched.cu, on where
 * TSEDARTS_BATCH=1): three copies of every case in one graph, batched
 * against each node alone, on the GPU, bit for bit; each test runs in its
 * own process, so the switch is read fresh when the device opens. */
static void batched_cases(int wide)
{
    cr_assert_eq(setenv("TSEDARTS_BATCH", "1", 1), 0);
    const backend *be = gpu();
    cr_assert(be->run_batched, "TSEDARTS_BATCH=1 did not turn batching on");
    int n = wide ? op_wide_case_count() : op_case_count(), batched = 0;
    for (int i = 0; i < n; i++) {
        const op_case *c = wide ? op_wide_case_at(i) : op_case_at(i);
        for (int d = 0; d < 2; d++) {
            dtype dt = d ? DT_F64 : DT_F32;
            double *host[ROLE_COUNT], *alone[ROLE_COUNT], *together[ROLE_COUNT];
            graph *g = copies_of(c, host);
            int steps_alone, steps_together;
            run_graph(g, host, be, dt, 0, alone, &steps_alone);
            run_graph(g, host, be, dt, 1, together, &steps_together);
            char why[256];
            cr_expect(same_roles(g, together, alone, why, sizeof why), "%s %s: %s", c->label, dtype_name(dt), why);
            batched += steps_together < steps_alone;
            free_roles(alone);
            free_roles(together);
            op_case_host_free(host);
            graph_destroy(g);
        }
    }
    fprintf(stderr, "%s cases: %d of %d case and type pairs ran batched on the GPU, each member's bits its own\n",
            wide ? "wide" : "small", batched, 2 * n);
    cr_expect_gt(batched, n / 2, "too few cases were batched");
}

Test(gpu_ops, batched_cases_give_the_bits_of_their_members_alone) { batched_cases(0); }
Test(gpu_ops, batched_wide_cases_give_the_bits_of_their_members_alone) { batched_cases(1); }
