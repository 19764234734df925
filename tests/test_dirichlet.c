/* The Dirichlet pathwise gradient (dirichlet_grad.h, the dirichlet_rows
 * op's rules) against an f64 reference of the same derivative written
 * here from its definition,
 *   D = -(d/da) I_x(a, b) / f(x; a, b) / (1 - x),
 * I the regularised incomplete beta (continued fraction), d/da by central
 * differences, per approximation regime; not against finite differences of
 * the sampler, which follow another transport map. Also the gamma draws
 * and, where Debian's python3-torch is installed, PyTorch's own values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"
#include "tsedarts/autodiff.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/buffers.h"
#include "tsedarts/dirichlet_grad.h"
#include "tsedarts/exec.h"
#include "tsedarts/gamma_draws.h"
#include "tsedarts/ops.h"

/* --- the reference ---------------------------------------------------- */

/* The continued fraction of I_x(a, b) by the modified Lentz method, for
 * x below the mean-ish point where it converges fast. */
static double beta_fraction(double x, double a, double b)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    d = fabs(d) < tiny ? tiny : d;
    d = 1 / d;
    double h = d;
    for (int m = 1; m < 100000; m++) {
        for (int odd = 0; odd < 2; odd++) {
            double num = odd ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                             : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + num * d;
            d = fabs(d) < tiny ? tiny : d;
            c = 1 + num / c;
            c = fabs(c) < tiny ? tiny : c;
            d = 1 / d;
            h *= d * c;
            if (odd && fabs(d * c - 1) < 1e-16) return h;
        }
    }
    return h;
}

static double log_beta(double a, double b) { return lgamma(a) + lgamma(b) - lgamma(a + b); }

static double inc_beta(double x, double a, double b)
{
    if (x > (a + 1) / (a + b + 2)) return 1 - inc_beta(1 - x, b, a);
    return exp(a * log(x) + b * log1p(-x) - log_beta(a, b)) / a * beta_fraction(x, a, b);
}

static double reference_grad(double x, double a, double b)
{
    const double h = 1e-5 * (a < 1 ? a : 1);
    const double dI = (inc_beta(x, a + h, b) - inc_beta(x, a - h, b)) / (2 * h);
    const double pdf = exp((a - 1) * log(x) + (b - 1) * log1p(-x) - log_beta(a, b));
    return -dI / pdf / (1 - x);
}

/* --- per regime -------------------------------------------------------- */

static const char *const regime_names[DIRICHLET_REGIMES] = {"small x (series in x)", "large x (series in 1 - x)",
                                                            "both large (saddle point)", "rational correction"};

/* Worst relative error per regime over a grid of (x, a, b) inside the
 * central 1 - 2e-6 of each Beta(a, b), where samples fall. Bars: two to
 * three times the worst seen (5.6e-4, 3.1e-4, 3.7e-3, 1.3e-2), which is
 * the approximations' own error: the reference's central difference has a
 * truncation error of order h^2 (about 1e-10 at h = 1e-5) on top of the
 * incomplete beta's, an estimate not measured here but far below them. */
static const double regime_bar[DIRICHLET_REGIMES] = {1.5e-3, 1e-3, 1e-2, 3e-2};

typedef struct regime_stats {
    double worst[DIRICHLET_REGIMES];
    double at[DIRICHLET_REGIMES][3];
    int count[DIRICHLET_REGIMES];
} regime_stats;

static void sweep(regime_stats *st, double perturb)
{
    static const double conc[] = {0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 3.0, 4.5, 6.5, 9.0, 14.0, 25.0, 40.0};
    const int nc = (int)(sizeof conc / sizeof conc[0]);
    memset(st, 0, sizeof *st);
    for (int i = 0; i < nc; i++)
        for (int j = 0; j < nc; j++)
            for (int k = 1; k < 400; k++) {
                double a = conc[i], b = conc[j], x = k / 400.0;
                double cdf = inc_beta(x, a, b);
                if (cdf < 1e-6 || cdf > 1 - 1e-6) continue;
                int r = dirichlet_grad_regime(x, a, a + b);
                double d = dirichlet_grad_one(x, a, a + b) * (1 + perturb), ref = reference_grad(x, a, b);
                double e = fabs(d - ref) / fabs(ref);
                st->count[r]++;
                if (!(e <= st->worst[r])) {
                    st->worst[r] = e;
                    st->at[r][0] = x, st->at[r][1] = a, st->at[r][2] = b;
                }
            }
}

Test(dirichlet, gradient_matches_its_f64_reference_in_every_regime)
{
    regime_stats st;
    sweep(&st, 0.0);
    fprintf(stderr, "Dirichlet pathwise gradient against its f64 reference (relative error):\n");
    for (int r = 0; r < DIRICHLET_REGIMES; r++) {
        fprintf(stderr, "  %-28s %6d points  worst %.3g at x=%.4g a=%.4g b=%.4g  (bar %.1e)\n", regime_names[r],
                st.count[r], st.worst[r], st.at[r][0], st.at[r][1], st.at[r][2], regime_bar[r]);
        cr_expect_gt(st.count[r], 20, "regime %s has too few points", regime_names[r]);
        cr_expect_leq(st.worst[r], regime_bar[r], "regime %s: relative error %.3g", regime_names[r], st.worst[r]);
    }
}

/* The checker itself must be able to fail: a gradient 10% off is caught. */
Test(dirichlet, reference_catches_a_wrong_gradient)
{
    regime_stats st;
    sweep(&st, 0.10);
    for (int r = 0; r < DIRICHLET_REGIMES; r++)
        cr_expect_gt(st.worst[r], regime_bar[r], "regime %s: a 10%% error went unnoticed", regime_names[r]);
}

Test(dirichlet, digamma_matches_known_values)
{
    const double euler = 0.57721566490153286061;
    cr_expect_leq(fabs(dirichlet_digamma(1.0) + euler), 1e-14);
    cr_expect_leq(fabs(dirichlet_digamma(0.5) + euler + 2 * log(2.0)), 1e-14);
    cr_expect_leq(fabs(dirichlet_digamma(10.0) - 2.25175258906672110764), 1e-14);
    cr_expect_leq(fabs(dirichlet_digamma(30.5) - dirichlet_digamma(29.5) - 1 / 29.5), 1e-13);
}

/* --- the op's reverse rule --------------------------------------------- */

/* dL/dbeta from the graph (dirichlet_rows, CPU, f64) against
 * D_ref (u - <x, u>) computed with the reference. */
Test(dirichlet, op_vjp_is_the_pathwise_gradient)
{
    enum { ROWS = 4, OPS = 7 };
    double beta[ROWS * OPS], gam[ROWS * OPS], u[ROWS * OPS];
    for (int i = 0; i < ROWS * OPS; i++) beta[i] = (i % 5 == 0) ? 7.5 + i * 0.1 : 0.3 + 0.17 * (i % 11);
    cr_assert_eq(gamma_draws(11, 3, beta, ROWS * OPS, gam), 0);
    for (int i = 0; i < ROWS * OPS; i++) u[i] = sin(1.3 * i);

    graph *g = graph_create();
    shape4 s = shape_make(ROWS, OPS, 1, 1);
    int b = graph_input(g, s, 0), gm = graph_input(g, s, 0), up = graph_input(g, s, 0);
    int x = op_dirichlet_rows(g, b, gm);
    int L = op_sum_all(g, op_mul(g, x, up));
    int grad;
    cr_assert_eq(graph_vjp(g, L, 1, &b, &grad), TD_OK, "%s", td_error_message());
    x = graph_bind(g, x, ROLE_OUTPUT, (size_t)-1);
    grad = graph_bind(g, grad, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_status(g), TD_OK);
    double *in = calloc(g->role_size[ROLE_INPUT], sizeof *in);
    memcpy(in + g->values[b].offset, beta, sizeof beta);
    memcpy(in + g->values[gm].offset, gam, sizeof gam);
    memcpy(in + g->values[up].offset, u, sizeof u);
    role_buffers rb;
    exec_ctx *ctx;
    cr_assert_eq(role_buffers_alloc(&rb, g, backend_cpu(), DT_F64), TD_OK);
    cr_assert_eq(role_buffers_upload_f64(&rb, ROLE_INPUT, in, g->role_size[ROLE_INPUT]), TD_OK);
    cr_assert_eq(exec_create(g, backend_cpu(), DT_F64, &ctx), TD_OK);
    role_buffers_bind(&rb, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK, "%s", td_error_message());
    const double *xs = exec_value_ptr(ctx, x), *gs = exec_value_ptr(ctx, grad);
    double worst = 0;
    for (int r = 0; r < ROWS; r++) {
        double total = 0, xu = 0;
        for (int j = 0; j < OPS; j++) total += beta[r * OPS + j], xu += xs[r * OPS + j] * u[r * OPS + j];
        for (int j = 0; j < OPS; j++) {
            int i = r * OPS + j;
            double want = reference_grad(xs[i], beta[i], total - beta[i]) * (u[i] - xu);
            double e = fabs(gs[i] - want) / (fabs(want) + 1e-3);
            worst = e > worst ? e : worst;
        }
    }
    fprintf(stderr, "dirichlet_rows VJP against the reference: worst error %.3g\n", worst);
    cr_expect_leq(worst, 1e-2);
    exec_destroy(ctx);
    role_buffers_free(&rb);
    free(in);
    graph_destroy(g);
}

/* --- the gamma draws --------------------------------------------------- */

Test(dirichlet, gamma_draws_repeat_and_have_the_right_mean)
{
    enum { N = 20000 };
    static double beta[N], a[N], b[N];
    const double conc[4] = {0.3, 1.0, 2.5, 9.0};
    for (int i = 0; i < N; i++) beta[i] = conc[i % 4];
    cr_assert_eq(gamma_draws(5, 17, beta, N, a), 0);
    cr_assert_eq(gamma_draws(5, 17, beta, N, b), 0);
    cr_expect_eq(memcmp(a, b, sizeof a), 0, "the same (seed, pass) drew different numbers");
    cr_assert_eq(gamma_draws(5, 18, beta, N, b), 0);
    cr_expect_neq(memcmp(a, b, sizeof a), 0, "another pass drew the same numbers");
    for (int c = 0; c < 4; c++) {
        double sum = 0;
        for (int i = c; i < N; i += 4) {
            cr_expect_gt(a[i], 0.0);
            sum += a[i];
        }
        double mean = sum / (N / 4), sd = sqrt(conc[c] / (N / 4));
        cr_expect_leq(fabs(mean - conc[c]), 4 * sd, "Gamma(%g) draws have mean %g", conc[c], mean);
    }
    cr_expect_eq(gamma_draws(5, 0, (const double[]){-1.0}, 1, a), -1, "a negative concentration was accepted");
}

/* --- PyTorch's own values ---------------------------------------------- */

Test(dirichlet, agrees_with_pytorch_dirichlet_grad)
{
    const char *py = sandbox_oracle_python();
    /* one point per regime: (x, a, S) */
    static const double pts[][3] = {{0.05, 0.5, 3.0}, {0.97, 2.0, 2.6}, {0.45, 9.0, 20.0}, {0.3, 1.5, 6.0}};
    const int n = (int)(sizeof pts / sizeof pts[0]);
    char script[1024], path[] = "/tmp/tsedarts_dirichlet_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(script, sizeof script,
             "import torch\n"
             "p = [(0.05, 0.5, 3.0), (0.97, 2.0, 2.6), (0.45, 9.0, 20.0), (0.3, 1.5, 6.0)]\n"
             "t = lambda k: torch.tensor([q[k] for q in p], dtype=torch.float64)\n"
             "print('\\n'.join(repr(float(v)) for v in torch._dirichlet_grad(t(0), t(1), t(2))))\n");
    const char *argv[] = {py, "-c", script, NULL};
    cr_assert_eq(sandbox_run(argv, path), 0, "python failed (output in %s)", path);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    for (int i = 0; i < n; i++) {
        double want;
        cr_assert_eq(fscanf(f, "%lf", &want), 1);
        double got = dirichlet_grad_one(pts[i][0], pts[i][1], pts[i][2]);
        fprintf(stderr, "x=%g a=%g S=%g: ours %.17g, PyTorch %.17g\n", pts[i][0], pts[i][1], pts[i][2], got, want);
        cr_expect_leq(fabs(got - want), 1e-12 * (1 + fabs(want)));
    }
    fclose(f);
    remove(path);
}
