/* Central finite differences in f64 against every primitive's VJP and JVP
 * rule, over the whole op registry. A rule that is wrong for any input of
 * any case fails here. Prints the worst relative error per op. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tsedarts/backend_cpu.h"
#include "tsedarts/gradcheck.h"

Test(op_gradients, vjp_and_jvp_rules_match_finite_differences)
{
    double worst_vjp[OP_COUNT] = {0}, worst_jvp[OP_COUNT] = {0};
    int cases[OP_COUNT] = {0}, checked = 0;
    cr_assert_gt(op_case_count(), 0);
    for (int i = 0; i < op_case_count(); i++) {
        const op_case *c = op_case_at(i);
        gradcheck_result r;
        cr_assert_eq(gradcheck_case(c, backend_cpu(), &r), TD_OK, "%s: %s", c->label, td_error_message());
        if (!r.applicable) continue;
        cr_expect_leq(r.vjp_err, GRADCHECK_TOL, "%s: VJP relative error %.3g (input %d)", c->label, r.vjp_err,
                      r.worst_input);
        cr_expect_leq(r.jvp_err, GRADCHECK_TOL, "%s: JVP relative error %.3g", c->label, r.jvp_err);
        if (r.vjp_err > worst_vjp[c->op]) worst_vjp[c->op] = r.vjp_err;
        if (r.jvp_err > worst_jvp[c->op]) worst_jvp[c->op] = r.jvp_err;
        cases[c->op]++;
        checked++;
    }
    fprintf(stderr, "%-20s %5s %12s %12s\n", "op", "cases", "worst vjp", "worst jvp");
    for (int op = 0; op < OP_COUNT; op++)
        if (cases[op])
            fprintf(stderr, "%-20s %5d %12.3g %12.3g\n", op_name((op_kind)op), cases[op], worst_vjp[op], worst_jvp[op]);
    cr_expect_gt(checked, 50);
}
