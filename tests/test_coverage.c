/* Every primitive is defined whole: its definition sits in its slot of the
 * op list, has test cases that build, both derivative rules where it has
 * something to differentiate, and a tolerance for each set of cases. (A
 * listed op without a definition or a CPU kernel fails to link.) */
#include <criterion/criterion.h>

#include "tsedarts/op_def.h"

Test(coverage, every_primitive_has_a_whole_definition)
{
    for (int op = 0; op < OP_COUNT; op++) {
        const op_def *d = op_def_of((op_kind)op);
        const char *name = op_name((op_kind)op);
        cr_assert_not_null(d, "primitive %s has no definition", name);
        cr_expect_eq(d->op, (op_kind)op, "the definition in %s's slot is %s's", name, op_name(d->op));
        cr_expect(d->shape && d->build_case, "primitive %s lacks a shape rule or a case builder", name);
        cr_expect_gt(d->n_cases, 0, "primitive %s has no test case", name);
        cr_expect(d->f32_vs_f64 != NULL, "primitive %s has no f32-against-f64 tolerance", name);
        cr_expect(d->n_wide_cases == 0 || d->f32_vs_f64_wide != NULL, "primitive %s: wide cases without a tolerance",
                  name);
        for (int i = 0; i < d->n_cases; i++) cr_expect_eq(d->cases[i].op, (op_kind)op, "%s", d->cases[i].label);
        for (int i = 0; i < d->n_wide_cases; i++)
            cr_expect_eq(d->wide_cases[i].op, (op_kind)op, "%s", d->wide_cases[i].label);
    }
}

/* Each case builds; an op with an output and a differentiable input has
 * both rules. */
static void check_cases(const op_case *(*at)(int), int n)
{
    for (int i = 0; i < n; i++) {
        const op_case *c = at(i);
        graph *g = graph_create();
        int in[OP_CASE_MAX_IN];
        op_case_inputs(g, c, in);
        int y = op_case_build(g, c, in);
        cr_expect(y >= 0 && graph_status(g) == TD_OK, "case %s does not build: %s", c->label, g->error);
        int differentiable = 0;
        for (int k = 0; k < c->nin; k++) differentiable |= op_case_input_differentiable(c, k);
        const op_def *d = op_def_of(c->op);
        if (y > 0 && differentiable)
            cr_expect(d->vjp && d->jvp, "case %s: %s has a differentiable input but lacks a rule", c->label,
                      op_name(c->op));
        graph_destroy(g);
    }
}

Test(coverage, registry_cases_build) { check_cases(op_case_at, op_case_count()); }

Test(coverage, wide_cases_build) { check_cases(op_wide_case_at, op_wide_case_count()); }

Test(coverage, op_names_round_trip)
{
    for (int op = 0; op < OP_COUNT; op++) cr_expect_eq(op_by_name(op_name((op_kind)op)), op);
    cr_expect_eq(op_by_name("no_such_op"), OP_COUNT);
}
