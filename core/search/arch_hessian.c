/* Full architecture Hessian from exact HVPs, LAPACK eigenvalues, Lanczos. */
#include "tsedarts/arch_hessian.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/philox.h"

td_status hessian_full(int n, hvp_fn f, void *ctx, double *H)
{
    double *e = calloc((size_t)n, sizeof *e), *col = malloc((size_t)n * sizeof *col);
    td_status s = e && col ? TD_OK : TD_FAIL(TD_ERR_MEMORY, "out of memory");
    for (int j = 0; s == TD_OK && j < n; j++) {
        e[j] = 1;
        s = f(ctx, e, col);
        e[j] = 0;
        for (int i = 0; s == TD_OK && i < n; i++) H[(size_t)i * n + j] = col[i];
    }
    free(e);
    free(col);
    return s;
}

double hessian_asymmetry(int n, const double *H)
{
    double worst = 0, big = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double d = fabs(H[(size_t)i * n + j] - H[(size_t)j * n + i]);
            worst = d > worst ? d : worst;
            big = fabs(H[(size_t)i * n + j]) > big ? fabs(H[(size_t)i * n + j]) : big;
        }
    return big > 0 ? worst / big : 0;
}

td_status hessian_eigenvalues(int n, const double *H, double shift, double *eig)
{
    double *A = malloc((size_t)n * n * sizeof *A);
    if (!A) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) A[(size_t)i * n + j] = 0.5 * (H[(size_t)i * n + j] + H[(size_t)j * n + i]);
    for (int i = 0; i < n; i++) A[(size_t)i * n + i] += shift;
    lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', n, A, n, eig);
    free(A);
    if (info != 0) return TD_FAIL(TD_ERR_STATE, "LAPACKE_dsyev failed (info %d)", (int)info);
    return TD_OK;
}

static double dot(int n, const double *a, const double *b)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

td_status hessian_lanczos_max(int n, hvp_fn f, void *ctx, double shift, int iters, uint64_t seed, double *lmax)
{
    int k = iters < n ? iters : n;
    if (k < 1) return TD_FAIL(TD_ERR_ARG, "lanczos: need at least one step");
    double *Q = malloc((size_t)(k + 1) * n * sizeof *Q), *w = malloc((size_t)n * sizeof *w);
    double *alpha = calloc((size_t)k, sizeof *alpha), *beta = calloc((size_t)k + 1, sizeof *beta);
    if (!Q || !w || !alpha || !beta) {
        free(Q), free(w), free(alpha), free(beta);
        return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    }
    philox_stream s;
    philox_stream_init(&s, seed, PURPOSE_TEST, 0x1a9c);
    for (int i = 0; i < n; i++) Q[i] = philox_next_normal(&s);
    double nq = sqrt(dot(n, Q, Q));
    for (int i = 0; i < n; i++) Q[i] /= nq;
    td_status st = TD_OK;
    int m = 0;
    for (int j = 0; j < k && st == TD_OK; j++) {
        const double *q = Q + (size_t)j * n;
        st = f(ctx, q, w);
        if (st != TD_OK) break;
        for (int i = 0; i < n; i++) w[i] += shift * q[i];
        alpha[j] = dot(n, w, q);
        m = j + 1;
        /* full reorthogonalisation, twice: n is small (hundreds) and the
         * Ritz values must not pick up ghost copies */
        for (int pass = 0; pass < 2; pass++)
            for (int l = 0; l <= j; l++) {
                const double *ql = Q + (size_t)l * n;
                double c = dot(n, w, ql);
                for (int i = 0; i < n; i++) w[i] -= c * ql[i];
            }
        beta[j] = sqrt(dot(n, w, w));
        if (beta[j] < 1e-12 * fabs(alpha[j]) || j == k - 1) break; /* invariant subspace found */
        for (int i = 0; i < n; i++) Q[(size_t)(j + 1) * n + i] = w[i] / beta[j];
    }
    if (st == TD_OK) {
        /* eigenvalues of the m x m tridiagonal (alpha, beta) */
        lapack_int info = LAPACKE_dstev(LAPACK_ROW_MAJOR, 'N', m, alpha, beta, NULL, m);
        if (info != 0) st = TD_FAIL(TD_ERR_STATE, "LAPACKE_dstev failed (info %d)", (int)info);
        else *lmax = alpha[m - 1];
    }
    free(Q), free(w), free(alpha), free(beta);
    return st;
}

td_status alpha_hvp(void *vctx, const double *v, double *hv)
{
    alpha_hvp_ctx *c = vctx;
    if (!c->ne->kind.hvp_a) return TD_FAIL(TD_ERR_ARG, "alpha_hvp: the graph has no alpha tangent");
    TD_CHECK(model_upload_f64(c->m, ROLE_TANGENT_ALPHA, v));
    TD_CHECK(net_exec_run(c->m, c->ne, c->images, c->labels, c->mask));
    return model_download_f64(c->m, ROLE_HVP_ALPHA, hv);
}
