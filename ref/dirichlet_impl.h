/* Dirichlet samples from gamma draws, and their pathwise gradient. The
 * tensors are (rows, ops, 1, 1), a few hundred entries: serial loops. */
#include <float.h>

#include "tsedarts/dirichlet_grad.h"

/* (beta, G) -> G / row sum of G, clamped as PyTorch clamps its samples:
 * no entry exactly 0 or 1, where the gradient's logarithms fail. The
 * bounds are float's in both element types, so both give one sample. */
td_status FN(ref_dirichlet_rows)(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const REAL *gm = IN(1);
    REAL *y = OUT;
    for (int r = 0; r < s.n; r++) {
        const REAL *gr = gm + (size_t)r * s.c;
        REAL *yr = y + (size_t)r * s.c;
        REAL sum = 0;
        for (int j = 0; j < s.c; j++) sum += gr[j];
        for (int j = 0; j < s.c; j++) {
            REAL v = gr[j] / sum;
            yr[j] = v < (REAL)FLT_MIN ? (REAL)FLT_MIN : v > (REAL)(1 - FLT_EPSILON) ? (REAL)(1 - FLT_EPSILON) : v;
        }
    }
    return TD_OK;
}

/* (x, beta) -> D_j = dirichlet_grad_one(x_j, beta_j, S), S the row's sum of
 * beta in index order, all in double. */
td_status FN(ref_dirichlet_grad)(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const REAL *x = IN(0), *beta = IN(1);
    REAL *y = OUT;
    for (int r = 0; r < s.n; r++) {
        const REAL *xr = x + (size_t)r * s.c, *br = beta + (size_t)r * s.c;
        double total = 0;
        for (int j = 0; j < s.c; j++) total += (double)br[j];
        for (int j = 0; j < s.c; j++) y[(size_t)r * s.c + j] = (REAL)dirichlet_grad_one((double)xr[j], (double)br[j], total);
    }
    return TD_OK;
}
