/* The exact TSE hypergradient (docs/numerics.md s.2.6) on a tiny supernet
 * in f64: bit-identical to first order for T = 1, equal to central
 * differences of the unrolled TSE(alpha) for T = 2 and 5 with momentum and
 * weight decay, and apart from first order by O(lr). Exactness is checked
 * on the smooth stand-in (softplus for ReLU, average for max pooling): with
 * the real ops TSE(alpha) is only piecewise smooth and central differences
 * drift with the step (docs/numerics.md s.2.6). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tse_fixture.h"
#include "tsedarts/philox.h"

Test(tse_exact, one_step_is_bit_identical_to_first_order)
{
    /* real ops and f32, as a search runs; both with and without recompute */
    for (int recompute = 0; recompute < 2; recompute++) {
        tse_fixture f;
        fixture_init(&f, 0, recompute, 1, 0.025, 0.9, 3e-4, DT_F32);
        size_t na = fixture_n_alpha(&f);
        double *ex = malloc(na * sizeof *ex), *fo = malloc(na * sizeof *fo);
        fixture_gradients(&f, NULL, ex, fo);
        cr_expect_eq(memcmp(ex, fo, na * sizeof *ex), 0, "T = 1: exact differs from first order");
        /* and the first-order sum as the search forms it: zero, then + 1 * grad */
        fixture_reset(&f, NULL);
        double loss;
        cr_assert_eq(f.prob.run(&f, TSE_PASS_GRAD, 0, &loss), TD_OK);
        double *direct = malloc(na * sizeof *direct);
        cr_assert_eq(model_download_f64(&f.m, ROLE_GRAD_ALPHA, direct), TD_OK);
        double nz = 0;
        for (size_t i = 0; i < na; i++) nz += fabs(direct[i]);
        cr_expect_gt(nz, 0, "the alpha gradient is zero; the comparison would be empty");
        cr_expect_eq(memcmp(ex, direct, na * sizeof *ex), 0);
        free(ex);
        free(fo);
        free(direct);
        fixture_free(&f);
    }
}

/* Relative error of the exact gradient against central differences of
 * TSE(alpha) along `dirs` random directions and on each alpha half. */
static double fd_error(tse_fixture *f, double h, int dirs)
{
    size_t na = fixture_n_alpha(f);
    double *g = malloc(na * sizeof *g), *a = malloc(na * sizeof *a), *d = malloc(na * sizeof *d);
    fixture_gradients(f, NULL, g, NULL);
    philox_stream s;
    philox_stream_init(&s, 3, PURPOSE_TEST, 9);
    double worst = 0;
    for (int k = 0; k < dirs + 2; k++) {
        /* dense directions, then ones on the normal alphas only and on the
         * reduce alphas only (the second half) */
        for (size_t i = 0; i < na; i++) {
            int half = i >= na / 2;
            d[i] = k < dirs || (k - dirs) % 2 == half ? 2 * philox_next_uniform_f64(&s) - 1 : 0;
        }
        double ad = 0, scale = 0;
        for (size_t i = 0; i < na; i++) {
            ad += g[i] * d[i];
            scale += fabs(g[i] * d[i]);
        }
        /* Richardson: central differences at h and h/2 cancel the h^2
         * term, which at lr 0.3 is still 1e-5 relative at h = 1e-5
         * (measured: the error falls as h^2 down to 1e-8) */
        double c[2];
        for (int r = 0; r < 2; r++) {
            double hr = r ? h / 2 : h;
            for (size_t i = 0; i < na; i++) a[i] = f->a0[i] + hr * d[i];
            double plus = fixture_tse(f, a);
            for (size_t i = 0; i < na; i++) a[i] = f->a0[i] - hr * d[i];
            double minus = fixture_tse(f, a);
            c[r] = (plus - minus) / (2 * hr);
        }
        double fd = (4 * c[1] - c[0]) / 3;
        /* relative to the size of the terms summed, so that a direction
         * where they cancel is not judged against rounding */
        double e = fabs(ad - fd) / fmax(fmax(fabs(ad), 1e-3 * scale), 1e-12);
        if (e > worst) worst = e;
    }
    free(g);
    free(a);
    free(d);
    return worst;
}

static void check_fd(int steps, double lr, int recompute)
{
    tse_fixture f;
    fixture_init(&f, 1, recompute, steps, lr, 0.9, 0.01, DT_F64);
    double e = fd_error(&f, 1e-5, 3);
    fprintf(stderr, "exact TSE vs central differences, T=%d lr=%g recompute=%d: relative error %.3g\n", steps, lr,
            recompute, e);
    /* the bar; measured errors are printed above */
    cr_expect_leq(e, 1e-6);
    fixture_free(&f);
}

Test(tse_exact, matches_finite_differences_T2) { check_fd(2, 0.1, 1); }
Test(tse_exact, matches_finite_differences_T5) { check_fd(5, 0.1, 1); }
Test(tse_exact, matches_finite_differences_T5_large_lr_no_recompute) { check_fd(5, 0.3, 0); }

/* Real ReLU and max pooling at a small learning rate: plain central
 * differences at two step sizes, both of which must agree with the exact
 * gradient (a kink inside either step would make it miss). */
Test(tse_exact, matches_finite_differences_real_ops_small_lr)
{
    tse_fixture f;
    fixture_init(&f, 0, 1, 2, 0.01, 0.9, 0.01, DT_F64);
    size_t na = fixture_n_alpha(&f);
    double *g = malloc(na * sizeof *g), *a = malloc(na * sizeof *a), *d = malloc(na * sizeof *d);
    fixture_gradients(&f, NULL, g, NULL);
    philox_stream s;
    philox_stream_init(&s, 3, PURPOSE_TEST, 10);
    for (size_t i = 0; i < na; i++) d[i] = 2 * philox_next_uniform_f64(&s) - 1;
    double ad = 0;
    for (size_t i = 0; i < na; i++) ad += g[i] * d[i];
    for (int r = 0; r < 2; r++) {
        double h = r ? 2e-7 : 1e-7;
        for (size_t i = 0; i < na; i++) a[i] = f.a0[i] + h * d[i];
        double plus = fixture_tse(&f, a);
        for (size_t i = 0; i < na; i++) a[i] = f.a0[i] - h * d[i];
        double fd = (plus - fixture_tse(&f, a)) / (2 * h);
        double e = fabs(fd - ad) / fabs(ad);
        fprintf(stderr, "exact TSE (real ops, T=2, lr 0.01) vs central differences at h=%g: relative error %.3g\n", h, e);
        cr_expect_leq(e, 1e-6);
    }
    free(g), free(a), free(d);
    fixture_free(&f);
}

Test(tse_exact, first_order_error_shrinks_linearly_with_lr)
{
    double diff[3];
    double lrs[3] = {4e-3, 2e-3, 1e-3};
    for (int k = 0; k < 3; k++) {
        tse_fixture f;
        fixture_init(&f, 1, 1, 3, lrs[k], 0.9, 0.01, DT_F64);
        size_t na = fixture_n_alpha(&f);
        double *ex = malloc(na * sizeof *ex), *fo = malloc(na * sizeof *fo);
        fixture_gradients(&f, NULL, ex, fo);
        double d2 = 0;
        for (size_t i = 0; i < na; i++) d2 += (ex[i] - fo[i]) * (ex[i] - fo[i]);
        diff[k] = sqrt(d2);
        free(ex);
        free(fo);
        fixture_free(&f);
    }
    fprintf(stderr, "|exact - first order| at lr 4e-3, 2e-3, 1e-3: %.4g %.4g %.4g (ratios %.4f %.4f)\n", diff[0],
            diff[1], diff[2], diff[0] / diff[1], diff[1] / diff[2]);
    cr_expect_gt(diff[2], 0, "exact and first order coincide: the second-order terms are missing");
    /* the difference is lr * (sum of H B terms) + O(lr^2): halving lr
     * halves it, up to the O(lr) relative correction */
    cr_expect(fabs(diff[0] / diff[1] - 2) < 0.05, "ratio %g", diff[0] / diff[1]);
    cr_expect(fabs(diff[1] / diff[2] - 2) < 0.05, "ratio %g", diff[1] / diff[2]);
}
