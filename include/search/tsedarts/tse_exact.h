/* The exact TSE hypergradient (paper Eq. 13, docs/numerics.md s.2.6):
 * the gradient of TSE(alpha) = sum_{t<T} L_t(w_t(alpha), alpha) through T
 * steps of SGD with momentum and weight decay, by reverse mode over the
 * trajectory. The rollout stores the T weight snapshots (T |w| elements);
 * the reverse sweep recomputes each step's activations from its snapshot
 * and takes both second-order terms from one exact Hessian-vector product
 * (forward over reverse, tangent on the weights). */
#ifndef TSEDARTS_TSE_EXACT_H
#define TSEDARTS_TSE_EXACT_H

#include "tsedarts/model.h"

/* What a pass over batch t must compute. */
typedef enum tse_pass {
    TSE_PASS_TRAIN, /* loss, weight gradient; BN running statistics updated */
    TSE_PASS_GRAD,  /* loss, weight and alpha gradients; statistics kept */
    TSE_PASS_HVP,   /* GRAD plus H_ww u, H_aw u for u = ROLE_TANGENT_WEIGHT */
} tse_pass;

typedef struct tse_problem {
    model *m;
    int steps;        /* T */
    const double *lr; /* eta_t for t < T */
    double momentum, weight_decay;
    /* Runs the model's graph for `pass` on batch t of the trajectory (the
     * same batch every time it is asked for) and returns its loss, where
     * loss is not NULL (the sweep asks for none: reading it back would make
     * the host wait for a device). */
    td_status (*run)(void *ctx, tse_pass pass, int t, double *loss);
    void *ctx;
} tse_problem;

/* Bytes of the T weight snapshots. */
size_t tse_snapshot_bytes(const tse_problem *p);

/* Step t of the rollout: stores the weights in snapshot t, runs a TRAIN
 * pass and takes the SGD step (PyTorch semantics, no Nesterov) on the
 * momentum buffer; *loss, where loss is not NULL, gets the pass's loss. */
td_status tse_rollout_step(const tse_problem *p, int t, void *momentum, void *snapshots, double *loss);

/* All T steps; *tse, where tse is not NULL, is the sum of the losses. */
td_status tse_rollout(const tse_problem *p, void *momentum, void *snapshots, double *tse);

/* The reverse sweep after a rollout: grad_exact <- d TSE / d alpha, and,
 * when grad_first is not NULL, the first-order gradient (Eq. 6: the sum of
 * the direct terms at the same weights). adj_w and adj_v are |w| scratch
 * buffers. Uses the model's ROLE_TANGENT_WEIGHT; leaves the weights at
 * snapshot 0. For T = 1 grad_exact equals the first-order sum bit for bit. */
td_status tse_exact_gradient(const tse_problem *p, const void *snapshots, void *adj_w, void *adj_v, void *grad_exact,
                             void *grad_first);

/* Cosine similarity and norm ratio |exact| / |first| of two gradients. */
td_status tse_compare_gradients(const model *m, const void *exact, const void *first, double *cosine,
                                double *norm_ratio, double *norm_exact, double *norm_first);

#endif
