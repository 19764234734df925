/* A tiny supernet in f64 with a fixed sequence of random batches, for the
 * exact-TSE and architecture-Hessian tests. */
#ifndef TSEDARTS_TEST_TSE_FIXTURE_H
#define TSEDARTS_TEST_TSE_FIXTURE_H

#include "tsedarts/model.h"
#include "tsedarts/tse_exact.h"

#define FIX_MAX_STEPS 8

typedef struct tse_fixture {
    supernet_config net;
    model m;
    int batch, steps;
    dtype dt;
    double *images[FIX_MAX_STEPS]; /* host, in f64 */
    void *images_dt[FIX_MAX_STEPS];
    int32_t *labels[FIX_MAX_STEPS];
    net_exec *exec[3]; /* TRAIN, GRAD, HVP */
    net_exec *hvp_alpha;
    double *w0, *v0, *bn0, *a0; /* the starting point, host f64 */
    void *momentum, *snaps, *adj_w, *adj_v, *g_exact, *g_first;
    double lr[FIX_MAX_STEPS];
    tse_problem prob;
} tse_fixture;

/* smooth: stand-in ops; recompute: recompute segments in backward. */
void fixture_init(tse_fixture *f, int smooth, int recompute, int steps, double lr, double momentum, double wd, dtype dt);
/* The same on backend be (fixture_init: the CPU). */
void fixture_init_on(tse_fixture *f, const backend *be, int smooth, int recompute, int steps, double lr,
                     double momentum, double wd, dtype dt);
void fixture_free(tse_fixture *f);
/* Resets weights, momentum and BN statistics to the start; alphas = a. */
void fixture_reset(tse_fixture *f, const double *alphas);
/* TSE(alpha) of the unrolled trajectory. */
double fixture_tse(tse_fixture *f, const double *alphas);
/* Exact and first-order gradients at alphas, into host f64 arrays. */
void fixture_gradients(tse_fixture *f, const double *alphas, double *exact, double *first);
size_t fixture_n_alpha(const tse_fixture *f);
size_t fixture_n_weight(const tse_fixture *f);

#endif
