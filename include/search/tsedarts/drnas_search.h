/* DrNAS and TSE-DrNAS (docs/numerics.md s.6, s.8.1): their state beside
 * the search loop's, the two stages, and the rules a test can check alone
 * (pruning, the learning rate, the genotype). Not a public interface. */
#ifndef TSEDARTS_DRNAS_SEARCH_H
#define TSEDARTS_DRNAS_SEARCH_H

#include "tsedarts/budget.h"
#include "tsedarts/drnas_net.h"
#include "tsedarts/genotype.h"
#include "tsedarts/search.h"

struct search_state;

typedef struct drnas_state {
    drnas_net_config net; /* the current stage's network (st->m points at it) */
    int stage;            /* 0 or 1 */
    long passes;          /* forward passes so far: the Dirichlet draws' key */
    double *host;         /* scratch, 4 * DRNAS_ROWS * DOP_COUNT doubles */
    void *upload;         /* scratch in the element type, DRNAS_ROWS * DOP_COUNT */
} drnas_state;

/* --- configuration (drnas_config.c) -------------------------------------- */

/* A budget's sizes made to fit DrNAS: C a multiple of 12 (it must split
 * by both k = 6 and k = 4 with even halves), the deep cell count, at least
 * one epoch per stage, the warm-up scaled as 10 of 25 epochs. */
void drnas_config_budget(search_config *c, const budget *b);
/* docs/numerics.md s.6.4 and s.8.1 (search_config_algo_defaults). */
void drnas_config_defaults(search_config *c);
/* What a DrNAS config must hold before it runs; an error names the field. */
td_status drnas_config_check(const search_config *c);

/* --- stages and rules (drnas_stages.c) ----------------------------------- */

/* Epochs of stage 1 (the rest are stage 2). */
int drnas_stage1_epochs(const search_config *c);
int drnas_stage_of_epoch(const search_config *c, int epoch);
/* Epochs into the epoch's stage. */
int drnas_stage_epoch(const search_config *c, int epoch);

/* The weights' learning rate at a global epoch (s.6.3): one cosine over
 * all epochs (intended), or (as-run) restarted at lr_max in stage 2 and
 * continued by PyTorch's chainable rule from there. */
double drnas_lr(const search_config *c, int epoch);

/* Keeps the `keep` largest alphas of each of the `rows` rows of n_ops
 * (first index on ties), sets the others to 0 and marks them in keep_out
 * (rows x DOP_COUNT, row-major; 1 kept). */
void drnas_prune(double *alphas, int rows, int n_ops, int keep, unsigned char *keep_out);

/* The genotype (s.6.5): per row the softmax of the alphas over the kept
 * ops, then the DARTS rule without `none`. alphas: DRNAS_ROWS x n_ops;
 * keep: DRNAS_ROWS x DOP_COUNT (read when masked). */
void drnas_derive(const double *alphas, int with_none, int masked, const unsigned char *keep,
                  genotype *out);

/* The KL regulariser (drnas_kl.c): sum over the rows of n_ops alphas of
 * KL(Dir(ELU(alpha) + 1) || Dir(1)), and `scale` times its gradient in
 * alpha added to grad. */
double drnas_kl(const double *alpha, int rows, int n_ops);
void drnas_kl_add_grad(const double *alpha, int rows, int n_ops, double scale, double *grad);

/* Widens the parameters of a stage-1 network into a stage-2 one (s.6.3
 * (b)): each tensor of the new layout takes the old one's channels and
 * appends copies of channels drawn by (seed, PURPOSE_DRNAS_WIDEN, cell,
 * edge, op, slot). Applied to weights (with the same map to momentum) and
 * BN statistics; host f64 arrays in each layout's order. */
td_status drnas_widen(const graph *from, const graph *to, uint64_t seed, const double *w_old, double *w_new,
                      const double *mom_old, double *mom_new, const double *bn_old, double *bn_new);

/* --- the search loop's hooks (drnas_stages.c, search_drnas.c) ----------- */

extern const struct search_stage_hooks drnas_stage_hooks;
/* This pass's Dirichlet draws (and prune mask) into the graph's inputs. */
struct net_exec;
td_status drnas_before_run(struct search_state *st, struct net_exec *ne);
/* DrNAS's architecture batch of step t of the epoch into st->images and
 * st->labels, drawn anew for the step (with replacement across steps), its
 * augmentation keyed by (step, slot); returns its size. */
int drnas_arch_batch(struct search_state *st, int t);

#endif
