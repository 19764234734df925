/* Exact Hessian-vector products through whole networks and the
 * architecture Hessian: symmetry, a quadratic with known eigenvalues,
 * central differences of the alpha gradient, Lanczos against LAPACK. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tse_fixture.h"
#include "tsedarts/arch_hessian.h"
#include "tsedarts/autodiff.h"
#include "tsedarts/philox.h"

/* ---------------------------------------------------------- quadratic */

#define QN 12

typedef struct quad_ctx {
    host_run r;
} quad_ctx;

static td_status quad_hvp(void *ctx, const double *v, double *hv)
{
    quad_ctx *q = ctx;
    memcpy(q->r.role[ROLE_TANGENT_ALPHA], v, QN * sizeof(double));
    TD_CHECK(host_run_exec(&q->r));
    memcpy(hv, q->r.role[ROLE_HVP_ALPHA], QN * sizeof(double));
    return TD_OK;
}

/* L(a) = 0.5 a^T M a with M = Q diag(D) Q^T + K, K antisymmetric: the
 * Hessian is Q diag(D) Q^T (K drops out), so its eigenvalues are D. */
Test(arch_hessian, quadratic_with_known_eigenvalues)
{
    static const double D[QN] = {-3, -1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5.5, 7};
    graph *g = graph_create();
    int a = graph_param(g, ROLE_ALPHA, "a", shape_make(1, QN, 1, 1), INIT_ALPHA, 0, 0, NULL);
    int M = graph_param(g, ROLE_WEIGHT, "M", shape_make(QN, QN, 1, 1), INIT_ZEROS, QN, 0, NULL);
    int y = op_matmul(g, a, M, 0, 0);
    int loss = graph_bind(g, op_axpby(g, op_sum_all(g, op_mul(g, y, a)), -1, 0.5, 0.0), ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, loss, 1, 1), TD_OK, "%s", td_error_message());
    cr_assert_eq(graph_param_hvp(g, 0, 1), TD_OK, "%s", td_error_message());
    quad_ctx q;
    cr_assert_eq(host_run_init(&q.r, g, DT_F64), TD_OK);
    philox_stream s;
    philox_stream_init(&s, 21, PURPOSE_TEST, 0);
    double u[QN], nu = 0, H0[QN * QN];
    for (int i = 0; i < QN; i++) {
        u[i] = philox_next_normal(&s);
        nu += u[i] * u[i];
    }
    double *m = q.r.role[ROLE_WEIGHT], *alpha = q.r.role[ROLE_ALPHA];
    for (int i = 0; i < QN; i++) alpha[i] = philox_next_normal(&s);
    for (int i = 0; i < QN; i++)
        for (int j = 0; j < QN; j++) {
            /* Householder Q = I - 2 u u^T / |u|^2; H0 = Q D Q^T */
            double h = 0;
            for (int k = 0; k < QN; k++) {
                double qik = (i == k) - 2 * u[i] * u[k] / nu, qjk = (j == k) - 2 * u[j] * u[k] / nu;
                h += qik * D[k] * qjk;
            }
            H0[i * QN + j] = h;
        }
    for (int i = 0; i < QN; i++)
        for (int j = 0; j < QN; j++) m[i * QN + j] = H0[i * QN + j];
    for (int i = 0; i < QN; i++)
        for (int j = i + 1; j < QN; j++) {
            double k = philox_next_normal(&s);
            m[i * QN + j] += k;
            m[j * QN + i] -= k;
        }
    double H[QN * QN], eig[QN];
    cr_assert_eq(hessian_full(QN, quad_hvp, &q, H), TD_OK);
    double worst = 0;
    for (int i = 0; i < QN * QN; i++) worst = fmax(worst, fabs(H[i] - H0[i]));
    cr_expect_leq(worst, 1e-12, "Hessian off by %g", worst);
    cr_expect_leq(hessian_asymmetry(QN, H), 1e-14);
    cr_assert_eq(hessian_eigenvalues(QN, H, ARCH_HESSIAN_SHIFT, eig), TD_OK);
    for (int i = 0; i < QN; i++) cr_expect_leq(fabs(eig[i] - (D[i] + ARCH_HESSIAN_SHIFT)), 1e-12, "eig %d = %.15g", i, eig[i]);
    double lmax;
    cr_assert_eq(hessian_lanczos_max(QN, quad_hvp, &q, ARCH_HESSIAN_SHIFT, QN, 3, &lmax), TD_OK);
    cr_expect_leq(fabs(lmax - (7 + ARCH_HESSIAN_SHIFT)), 1e-10, "lanczos %.15g", lmax);
    host_run_free(&q.r);
    graph_destroy(g);
}

/* ---------------------------------------------------------- supernet */

static void random_vec(philox_stream *s, double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = 2 * philox_next_uniform_f64(s) - 1;
}

static double dotn(const double *a, const double *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++) d += a[i] * b[i];
    return d;
}

/* <u, H v> and <v, H u> for the weight-space Hessian (tangent on weights,
 * weight part of the product) and the alpha one. */
static void symmetry(int smooth)
{
    tse_fixture f;
    fixture_init(&f, smooth, 1, 1, 0.1, 0.9, 0, DT_F64);
    fixture_reset(&f, NULL);
    size_t nw = fixture_n_weight(&f), na = fixture_n_alpha(&f);
    philox_stream s;
    philox_stream_init(&s, 4, PURPOSE_TEST, 2);
    for (int space = 0; space < 2; space++) {
        size_t n = space ? na : nw;
        value_role tan = space ? ROLE_TANGENT_ALPHA : ROLE_TANGENT_WEIGHT, out = space ? ROLE_HVP_ALPHA : ROLE_HVP_WEIGHT;
        net_exec *ne = space ? f.hvp_alpha : f.exec[TSE_PASS_HVP];
        double *u = malloc(n * sizeof *u), *v = malloc(n * sizeof *v), *hu = malloc(n * sizeof *hu),
               *hv = malloc(n * sizeof *hv);
        random_vec(&s, u, n);
        random_vec(&s, v, n);
        cr_assert_eq(model_upload_f64(&f.m, tan, u), TD_OK);
        cr_assert_eq(net_exec_run(&f.m, ne, f.images_dt[0], f.labels[0], NULL), TD_OK);
        cr_assert_eq(model_download_f64(&f.m, out, hu), TD_OK);
        cr_assert_eq(model_upload_f64(&f.m, tan, v), TD_OK);
        cr_assert_eq(net_exec_run(&f.m, ne, f.images_dt[0], f.labels[0], NULL), TD_OK);
        cr_assert_eq(model_download_f64(&f.m, out, hv), TD_OK);
        double uhv = dotn(u, hv, n), vhu = dotn(v, hu, n);
        /* relative to the sum of |terms| (the rounding scale of the dots) */
        double scale = 0;
        for (size_t i = 0; i < n; i++) scale += fabs(u[i] * hv[i]) + fabs(v[i] * hu[i]);
        double e = fabs(uhv - vhu) / scale;
        fprintf(stderr, "HVP symmetry (%s, %s): <u,Hv> %.15g <v,Hu> %.15g, difference / scale %.3g\n",
                smooth ? "smooth" : "real ops", space ? "alphas" : "weights", uhv, vhu, e);
        cr_expect_gt(fabs(uhv), 0);
        /* measured 4e-17 .. 2e-16: f64 rounding of the dots; 1e-13 leaves room */
        cr_expect_leq(e, 1e-13);
        free(u), free(v), free(hu), free(hv);
    }
    fixture_free(&f);
}

Test(arch_hessian, hvp_symmetric_smooth) { symmetry(1); }
Test(arch_hessian, hvp_symmetric_real_ops) { symmetry(0); }

static td_status grad_alpha_at(tse_fixture *f, const double *a, double *g)
{
    TD_CHECK(model_upload_f64(&f->m, ROLE_ALPHA, a));
    TD_CHECK(net_exec_run(&f->m, f->exec[TSE_PASS_GRAD], f->images_dt[0], f->labels[0], NULL));
    return model_download_f64(&f->m, ROLE_GRAD_ALPHA, g);
}

Test(arch_hessian, alpha_hvp_matches_differences_of_the_gradient)
{
    tse_fixture f;
    fixture_init(&f, 1, 1, 1, 0.1, 0.9, 0, DT_F64);
    fixture_reset(&f, NULL);
    size_t na = fixture_n_alpha(&f);
    double *v = malloc(na * sizeof *v), *hv = malloc(na * sizeof *hv), *gp = malloc(na * sizeof *gp),
           *gm = malloc(na * sizeof *gm), *a = malloc(na * sizeof *a), *fd = malloc(na * sizeof *fd);
    philox_stream s;
    philox_stream_init(&s, 8, PURPOSE_TEST, 5);
    random_vec(&s, v, na);
    alpha_hvp_ctx c = {&f.m, f.hvp_alpha, f.images_dt[0], f.labels[0]};
    cr_assert_eq(alpha_hvp(&c, v, hv), TD_OK);
    double h = 1e-5;
    for (size_t i = 0; i < na; i++) a[i] = f.a0[i] + h * v[i];
    cr_assert_eq(grad_alpha_at(&f, a, gp), TD_OK);
    for (size_t i = 0; i < na; i++) a[i] = f.a0[i] - h * v[i];
    cr_assert_eq(grad_alpha_at(&f, a, gm), TD_OK);
    for (size_t i = 0; i < na; i++) fd[i] = (gp[i] - gm[i]) / (2 * h);
    double e = rel_error(hv, fd, na);
    fprintf(stderr, "alpha HVP vs central differences of the gradient: relative error %.3g\n", e);
    cr_expect_leq(e, 1e-6);
    free(v), free(hv), free(gp), free(gm), free(a), free(fd);
    fixture_free(&f);
}

Test(arch_hessian, full_hessian_symmetric_and_lanczos_agrees)
{
    tse_fixture f;
    fixture_init(&f, 0, 1, 1, 0.1, 0.9, 0, DT_F64);
    fixture_reset(&f, NULL);
    int n = (int)fixture_n_alpha(&f);
    double *H = malloc((size_t)n * n * sizeof *H), *eig = malloc((size_t)n * sizeof *eig);
    alpha_hvp_ctx c = {&f.m, f.hvp_alpha, f.images_dt[0], f.labels[0]};
    cr_assert_eq(hessian_full(n, alpha_hvp, &c, H), TD_OK);
    double asym = hessian_asymmetry(n, H);
    cr_assert_eq(hessian_eigenvalues(n, H, ARCH_HESSIAN_SHIFT, eig), TD_OK);
    double lmax;
    cr_assert_eq(hessian_lanczos_max(n, alpha_hvp, &c, ARCH_HESSIAN_SHIFT, 40, 1, &lmax), TD_OK);
    fprintf(stderr, "architecture Hessian (%d alphas): asymmetry %.3g, eigenvalues [%.6g, %.6g], Lanczos(40) %.10g vs %.10g\n",
            n, asym, eig[0], eig[n - 1], lmax, eig[n - 1]);
    /* measured 1e-15 (rounding); Lanczos matched to 10 digits */
    cr_expect_leq(asym, 1e-12);
    cr_expect_gt(fabs(eig[n - 1]), 0);
    cr_expect_leq(fabs(lmax - eig[n - 1]) / fabs(eig[n - 1]), 1e-8);
    free(H), free(eig);
    fixture_free(&f);
}
