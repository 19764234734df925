/* tsedarts selftest: every primitive of the op registry, checked on this
 * machine. On the CPU: finite differences of each VJP/JVP rule in f64 and
 * f32 against f64; on a GPU (--device cuda): the GPU's f64 and f32 against
 * the CPU's f64, on the small and the wide cases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "device_arg.h"
#include "tsedarts/compare.h"
#include "tsedarts/gradcheck.h"
#include "tsedarts/op_registry.h"
#include "tsedarts/tolerances.h"
#include "tsedarts/backend_cpu.h"

static const opt_spec specs[] = {
    DEVICE_OPT_SPEC,
    {"help", 0, "show this help"},
};

/* One case in one element type on a device against the CPU's f64; prints
 * its row and returns whether it passed. An f32 row also says whether the
 * device gave the CPU's f32 bits in every value of every node (*same). */
static int device_row(const backend *be, const op_case *c, dtype dt, int *same)
{
    op_tolerance tol = dt == DT_F64 ? (op_tolerance){TOL_GPU_F64_RTOL, TOL_GPU_F64_ATOL} : op_case_f32_tolerance(c);
    double *host[ROLE_COUNT];
    graph *g = op_case_graph(c, host, NULL);
    compare_result res, bits;
    compare_side on_device = {be, dt}, on_cpu = {backend_cpu(), DT_F64}, on_cpu_same = {backend_cpu(), dt};
    td_status s = compare_run(g, on_device, on_cpu, host, tol.rtol, tol.atol, &res);
    int ok = s == TD_OK && res.first_bad_node < 0;
    *same = 0;
    if (ok && dt == DT_F32) {
        /* no tolerance: only the count of differing values matters */
        s = compare_run(g, on_device, on_cpu_same, host, 0, 0, &bits);
        ok = s == TD_OK;
        *same = ok && bits.values_differing == 0;
    }
    char shape[48] = "-", tl[32];
    int out = g->nodes[g->n_nodes - 1].out;
    if (out >= 0) shape_format(g->values[out].shape, shape, sizeof shape);
    snprintf(tl, sizeof tl, "%.0e, %.0e", tol.atol, tol.rtol);
    printf("%-34s %-22s %-5s %12.3g %10.3g %18s %-9s %s\n", c->label, shape, dtype_name(dt), res.max_abs_err,
           res.worst_ratio, tl, dt == DT_F64 ? "" : *same ? "same" : "differ", ok ? "pass" : "FAIL");
    if (s != TD_OK) printf("    %s\n", td_error_message());
    if (res.first_bad_node >= 0) printf("    %s\n", res.message);
    op_case_host_free(host);
    graph_destroy(g);
    return ok;
}

/* Every case, f64 and f32, on a device against the CPU's f64; then the
 * ops whose f32 cases all gave the CPU's f32 bits. */
static int selftest_device(const backend *be)
{
    printf("%-34s %-22s %-5s %12s %10s %18s %-9s %s\n", "case", "output shape", "dtype", "max |err|", "max ratio",
           "tolerance (a, r)", "f32 bits", "result");
    int failed = 0, rows = 0, same_cases = 0, f32_cases = 0;
    int op_cases[OP_COUNT] = {0}, op_same[OP_COUNT] = {0};
    for (int wide = 0; wide < 2; wide++) {
        int n = wide ? op_wide_case_count() : op_case_count();
        for (int i = 0; i < n; i++) {
            const op_case *c = wide ? op_wide_case_at(i) : op_case_at(i);
            for (int d = 0; d < 2; d++, rows++) {
                int same;
                failed += !device_row(be, c, d ? DT_F32 : DT_F64, &same);
                if (!d) continue;
                f32_cases++;
                same_cases += same;
                op_cases[c->op]++;
                op_same[c->op] += same;
            }
        }
    }
    printf("\n%s against cpu/f64: passes when |a - b| <= atol + rtol |b| (max ratio: the worst |a - b| / (atol + rtol "
           "|b|)); f64 to 1e-12, f32 to its op family's bar\n",
           be->name);
    printf("f32 bits: %d of %d cases give the CPU's f32 bits in every value of every node\n", same_cases, f32_cases);
    printf("ops whose every f32 case does:");
    for (int op = 0; op < OP_COUNT; op++)
        if (op_cases[op] && op_same[op] == op_cases[op]) printf(" %s", op_name((op_kind)op));
    printf("\nops with f32 cases that differ:");
    for (int op = 0; op < OP_COUNT; op++)
        if (op_cases[op] && op_same[op] < op_cases[op]) printf(" %s (%d of %d)", op_name((op_kind)op), op_cases[op] - op_same[op], op_cases[op]);
    printf("\n%d of %d rows passed\n", rows - failed, rows);
    return failed ? 1 : 0;
}

int cmd_selftest(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "selftest", specs, 2, argc, argv);
    if (s == TD_OK) s = args_no_positionals(&a);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (args_has(&a, "help")) {
        args_usage("selftest", "[--device cpu|cuda[:N]]", specs, 2);
        printf("exit status: 0 all passed, 1 a case failed, 3 not run (the device cannot be used here)\n");
        return 0;
    }
    /* a device that cannot be used here is a test not run, not a failure */
    const backend *be;
    s = device_open(args_str(&a, "device", "cpu"), &be);
    if (s == TD_ERR_UNSUPPORTED) {
        printf("not run: %s\n", td_error_message());
        return 3;
    }
    if (s != TD_OK) {
        fprintf(stderr, "tsedarts: error: selftest: --device: %s\n", td_error_message());
        return 2;
    }
    if (be->device_memory) return selftest_device(be);
    compare_side test_side = {be, DT_F32};
    compare_side ref = {backend_cpu(), DT_F64};
    printf("%-34s %-22s %10s %18s %10s %10s %s\n", "case", "output shape", "max ratio", "tolerance (a, r)",
           "vjp err", "jvp err", "result");
    int failed = 0, n = op_case_count();
    for (int i = 0; i < n; i++) {
        const op_case *c = op_case_at(i);
        op_tolerance tol = op_case_f32_tolerance(c);
        double *host[ROLE_COUNT];
        graph *g = op_case_graph(c, host, NULL);
        compare_result res;
        s = compare_run(g, test_side, ref, host, tol.rtol, tol.atol, &res);
        gradcheck_result gc = {0};
        if (s == TD_OK) s = gradcheck_case(c, backend_cpu(), &gc);
        int ok = s == TD_OK && res.first_bad_node < 0 &&
                 (!gc.applicable || (gc.vjp_err <= GRADCHECK_TOL && gc.jvp_err <= GRADCHECK_TOL));
        char shape[48] = "-";
        int out = g->nodes[g->n_nodes - 1].out;
        if (out >= 0) shape_format(g->values[out].shape, shape, sizeof shape);
        char ve[16] = "-", je[16] = "-", tl[32];
        if (gc.applicable) {
            snprintf(ve, sizeof ve, "%.2g", gc.vjp_err);
            snprintf(je, sizeof je, "%.2g", gc.jvp_err);
        }
        snprintf(tl, sizeof tl, "%.0e, %.0e", tol.atol, tol.rtol);
        printf("%-34s %-22s %10.3g %18s %10s %10s %s\n", c->label, shape, res.worst_ratio, tl, ve, je,
               ok ? "pass" : "FAIL");
        if (!ok) {
            failed++;
            if (s != TD_OK) td_error_print(s);
            if (res.first_bad_node >= 0) printf("    %s\n", res.message);
        }
        op_case_host_free(host);
        graph_destroy(g);
    }
    printf("\n%s/f32 vs cpu/f64: passes when |a - b| <= atol + rtol |b| (max ratio: the worst |a - b| / (atol + rtol |b|));"
           " gradient checks: relative error <= %g\n",
           be->name, GRADCHECK_TOL);
    printf("%d of %d cases passed\n", n - failed, n);
    return failed ? 1 : 0;
}
