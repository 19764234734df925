/* The architecture Hessian (RobustDARTS diagnostic, docs/numerics.md s.2.7): the full
 * exact Hessian of a loss w.r.t. all alphas (normal then reduce), built
 * column by column from exact Hessian-vector products, its eigenvalues
 * from LAPACK, and a Lanczos estimate of the largest one for spaces where
 * n HVPs are too many. */
#ifndef TSEDARTS_ARCH_HESSIAN_H
#define TSEDARTS_ARCH_HESSIAN_H

#include <stdint.h>

#include "tsedarts/model.h"

/* hv <- H v for an n-vector, in f64. */
typedef td_status (*hvp_fn)(void *ctx, const double *v, double *hv);

/* H (row-major n x n), column j = H e_j. Not symmetrised. */
td_status hessian_full(int n, hvp_fn f, void *ctx, double *H);
/* max |H_ij - H_ji| / max |H_ij|. */
double hessian_asymmetry(int n, const double *H);
/* Eigenvalues (ascending) of (H + H^T)/2 + shift I (LAPACKE_dsyev). */
td_status hessian_eigenvalues(int n, const double *H, double shift, double *eig);
/* Largest eigenvalue of H + shift I by `iters` Lanczos steps with full
 * reorthogonalisation from a start vector drawn from seed. */
td_status hessian_lanczos_max(int n, hvp_fn f, void *ctx, double shift, int iters, uint64_t seed, double *lmax);

/* HVPs of a network's loss w.r.t. its alphas on one batch: ne must be a
 * graph of kind hvp_a (BN as chosen there). */
typedef struct alpha_hvp_ctx {
    model *m;
    net_exec *ne;
    const void *images;    /* in m->dt */
    const int32_t *labels;
    const void *mask;      /* skip-dropout masks of a PDARTS net, one draw for every product (or NULL) */
} alpha_hvp_ctx;
td_status alpha_hvp(void *ctx, const double *v, double *hv);

/* The shift added before taking eigenvalues (docs/numerics.md s.2.7). */
#define ARCH_HESSIAN_SHIFT 1e-3

#endif
