/* The rules of progressive DARTS (docs/numerics.md s.7) as plain
 * functions of numbers: the skip-dropout and learning-rate schedules, the
 * op dropping between stages and the final derivation with its skip limit.
 * The staged search (search.c, search_pdarts.c) calls them; the tests feed
 * them hand-made alpha tables. */
#ifndef TSEDARTS_PDARTS_H
#define TSEDARTS_PDARTS_H

#include "tsedarts/genotype.h"
#include "tsedarts/status.h"
#include "tsedarts/supernet.h"

#define PDARTS_STAGES 3

/* Drop probability of the skip dropout in stage-local epoch e of E with
 * warm-up W and the stage's p0 (s.7.1): p0 (E - e - 1) / E before W,
 * p0 exp(-0.2 (e - W)) from W on. */
double pdarts_skip_dropout_p(double p0, int e, int E, int W);

/* Learning-rate forms of a stage's cosine schedule (s.7.2): PyTorch >= 1.1
 * (scheduler.step() before the epoch, so epoch e runs at the value of e + 1
 * and the last epoch at lr_min) or PyTorch 0.4 (epoch e at the value of e). */
enum pdarts_lr_form { PDARTS_LR_TORCH11 = 0, PDARTS_LR_TORCH04, PDARTS_LR_COUNT };
extern const char *const pdarts_lr_form_names[]; /* NULL-terminated */
double pdarts_lr(double lr_max, double lr_min, int e, int E, int form);

/* The edges of stage 0: every DARTS op on every edge. */
void pdarts_full_ops(supernet_edge_ops *edges);

/* Op dropping at the end of a stage (s.7.3): of each row of `alphas`
 * (normal then reduce, 14 rows of edges->n_ops columns each), drop the
 * n_drop ops of least softmax weight one by one (iterative argmin, first
 * index on ties; none may survive). Writes the survivors, still in
 * PRIMITIVES order, into next (skip_dropout copied). */
td_status pdarts_drop_ops(const supernet_edge_ops *edges, const double *alphas, int n_drop, supernet_edge_ops *next);

/* The final genotype (s.7.4) from the alphas of the last stage (3 ops per
 * edge): op per edge, edge ranking (higher index wins ties), edges listed by
 * increasing input index, then the skip limit on the normal cell: while it
 * holds more than max_skip skip_connects, zero the weakest kept skip's
 * probability and derive again. *limited counts the skips removed. */
td_status pdarts_derive(const supernet_edge_ops *edges, const double *alphas, int max_skip, const char *name,
                        genotype *out, int *limited);

/* A stage's op lists as logged and checkpointed: {"layers": L,
 * "ops_normal": 14 lists of op names, "ops_reduce": ...}, and back (the
 * lists only; skip_dropout untouched). */
struct json_t;
struct json_t *pdarts_stage_json(int layers, const supernet_edge_ops *edges);
td_status pdarts_edges_parse(struct json_t *o, supernet_edge_ops *edges);

#endif
