/* State shared by the search loop (search.c) and the algorithms
 * (search_darts.c, search_tse.c). Not a public interface. */
#ifndef TSEDARTS_SEARCH_INTERNAL_H
#define TSEDARTS_SEARCH_INTERNAL_H

#include "tsedarts/batch_buffers.h"
#include "tsedarts/data.h"
#include "tsedarts/device_step.h"
#include "tsedarts/hash.h"
#include "tsedarts/model.h"
#include "tsedarts/pdarts.h"
#include "tsedarts/runtime.h"
#include "tsedarts/search.h"
#include "tsedarts/space.h"

#define SEARCH_MAX_EXECS 24

/* Graph kinds (see search.c): which gradients, BN statistics updated? */
enum { K_W, K_WA, K_A, K_W_NOUPD, K_WA_NOUPD, K_A_NOUPD, K_EVAL, K_HVP_W, K_HVP_A, K_COUNT };

/* What search_run_batch adds to the epoch's figures besides checking the
 * loss: the training figures (loss x batch, correct, count), and the loss
 * to the TSE group sums. */
enum { RUN_COUNT = 1, RUN_TSE_SUM = 2 };

/* The epoch's figures. Where the step keeps its scalars on the backend
 * (dstep.on), loss_sum, correct and tse_sum are in the backend's tally and
 * these hold them only after search_read_figures; count stays here. */
typedef struct epoch_stats {
    double loss_sum; /* over samples of the weight-training passes */
    long correct, count;
    double tse_sum; /* TSE: summed rollout losses per group */
    long tse_groups;
    double cos_sum; /* TSE analysis: cosines of exact vs first order */
    long cos_n;
} epoch_stats;

typedef struct search_state {
    search_config cfg;
    search_options opt;
    model m;
    net_exec *execs[SEARCH_MAX_EXECS];
    int exec_kind[SEARCH_MAX_EXECS];
    int n_execs;
    /* data */
    dataset train;
    int train_borrowed; /* train belongs to the caller */
    int *ids_w, *ids_a; /* image ids of the weight and architecture halves */
    int n_w, n_a;
    int *order_w, *order_a; /* this epoch's orders (positions into ids) */
    int orders_epoch, orders_ready;
    int *batch_ids;
    batch_buffers batches; /* two host batches, filled in turn */
    void *images;          /* the one being filled: host batch in dt */
    int32_t *labels;
    td_status batch_status; /* a failed wait for a batch buffer, reported by the next run */
    device_step dstep;      /* the step's scalars and the epoch's tally */
    /* optimiser state and scratch (backend memory) */
    void *momentum, *adam_m, *adam_v;
    void *w_snap, *bn_snap, *mom_snap, *a_acc;
    void *tmp_w, *tmp_w2, *tmp_a, *tmp_a2;
    void *tse_snaps; /* exact TSE: T weight snapshots (NULL otherwise) */
    /* the network being searched: cfg.net, or the current PDARTS stage's
     * (cells, op lists, skip dropout); stage_nets keeps every stage's */
    supernet_stage net;
    int stage;
    supernet_stage stage_nets[PDARTS_STAGES];
    double skip_p;     /* this epoch's skip-dropout probability */
    long skip_passes;  /* training passes with skip dropout so far: their mask key */
    void *skip_host;   /* host masks */
    size_t skip_host_bytes;
    struct drnas_state *drnas; /* DrNAS algorithms (drnas_search.h), else NULL */
    /* position (epoch counts over all stages) */
    int epoch, unit;
    long arch_steps, weight_steps;
    epoch_stats acc;
    /* outputs */
    char ckpt_path[4400];
    char config_hash[SHA256_HEX_LEN];
    chain_log metrics;
    progress prog;
} search_state;

typedef struct search_algorithm {
    int (*units_per_epoch)(const search_state *st);
    int (*step_of_unit)(const search_state *st, int unit); /* for progress */
    td_status (*run_unit)(search_state *st, int unit, double lr);
    /* Optional (NULL: the DARTS supernet and behaviour). */
    const struct search_stage_hooks *stages;
} search_algorithm;

struct json_t;
struct search_arch;

/* For algorithms whose network changes during the search (DrNAS). */
typedef struct search_stage_hooks {
    /* Refuses a configuration the algorithm cannot run, before the run
     * directory is touched. */
    td_status (*check_config)(const search_config *c);
    /* Creates st->m for the stage the run is in; from_checkpoint: the
     * stage is read from the checkpoint before its sections are loaded. */
    td_status (*create_model)(search_state *st, int from_checkpoint);
    /* Before every run of a graph: per-pass inputs (Dirichlet draws). */
    td_status (*before_run)(search_state *st, net_exec *ne);
    /* After an epoch is complete and st->epoch advanced, before the
     * checkpoint: a stage transition. */
    td_status (*after_epoch)(search_state *st);
    /* The learning rate of an epoch. */
    double (*lr_of_epoch)(const search_state *st, int epoch);
    /* Their own fields of the checkpoint's meta object. */
    void (*save_meta)(const search_state *st, struct json_t *meta);
    td_status (*load_meta)(search_state *st, struct json_t *meta);
    /* The architecture (genotype rule) and the logged weights. */
    td_status (*describe)(search_state *st, struct search_arch *a);
    td_status (*softmax_json)(search_state *st, struct json_t *o);
    void (*free_state)(search_state *st);
} search_stage_hooks;

const search_algorithm *search_algorithm_for(search_algo a);
extern const search_algorithm search_darts1, search_darts2, search_tse, search_pdarts, search_tse_pdarts, search_drnas,
    search_tse_drnas;
/* Whether a unit of search_tse is a rollout step (else a retraining one). */
int search_tse_is_rollout(const search_state *st, int unit);

td_status search_exec(search_state *st, int kind, int batch, net_exec **out);
/* Model, graphs and optimiser state for st->net, fresh (search.c). */
td_status search_build_model(search_state *st);
/* Releases the graphs, the optimiser state and the model (a PDARTS or
 * DrNAS stage transition builds them anew). */
void search_free_model(search_state *st);

/* PDARTS stages (search_pdarts.c). The epoch within the stage, its
 * learning rate and skip-dropout probability. */
int search_stage_epoch(const search_state *st);
double search_epoch_lr(const search_state *st);
double search_epoch_skip_p(const search_state *st);
/* st->net for stage s from st->stage_nets[s] and the config. */
void search_stage_net(search_state *st, int s);
/* End of stage st->stage: drop ops, log them, build the next stage's
 * network with fresh weights, alphas and optimisers. */
td_status search_next_stage(search_state *st);
/* The skip-dropout masks of the next training pass of ne (NULL if it has
 * none), keyed (seed, skipdrop, pass, cell, edge, element). */
td_status search_skip_masks(search_state *st, const net_exec *ne, const void **mask);
/* Reads the stage and its op lists from the checkpoint before the model is
 * built (its size depends on them). */
td_status search_peek_stage(search_state *st);
/* Of a training set of n images: the split point, and the images of the
 * weight half (n_w) and the architecture half (n_a) the search uses. */
td_status search_half_sizes(const search_config *c, int n, int *split, int *n_w, int *n_a);
td_status search_load_data(search_state *st);
td_status search_alloc_buffers(search_state *st);
/* Exact TSE sweeps (tse-exact, or tse with analysis) and their snapshots. */
int search_tse_sweeps(const search_state *st);
int search_tse_group_max(const search_state *st);
size_t search_tse_snapshot_bytes(const search_state *st);
void search_free_state(search_state *st);
void search_epoch_orders(search_state *st, int epoch);
/* How many times per step an algorithm runs a graph of this kind. */
int search_bench_uses(search_algo a, int kind);
int search_steps_per_epoch(const search_state *st);
/* Fills st->images/labels with batch `step` of half 0 (weights) or 1
 * (architecture); returns its size. */
int search_make_batch(search_state *st, int half, int step, int epoch);
/* Turns st->images and st->labels to the other batch buffer, once the
 * device has copied what it held (a failure waits in st->batch_status). */
void search_next_buffers(search_state *st);
/* Runs a graph on the current batch; what: RUN_COUNT | RUN_TSE_SUM. loss,
 * when not NULL, gets the pass's loss on the host (a download). */
td_status search_run_batch(search_state *st, int kind, int b, unsigned what, double *loss);
/* Where the figures are in the backend's tally: reads loss_sum, correct
 * and tse_sum into st->acc, and fails if a loss of the epoch was not
 * finite (the check a step cannot make without reading its loss). */
td_status search_read_figures(search_state *st);
td_status search_weight_step(search_state *st, double lr, int clip);
td_status search_arch_step(search_state *st, const void *grad);

/* The architecture the alphas encode now (search_arch.c). */
typedef struct search_arch {
    int space;
    genotype geno;                /* darts, s2 */
    int nb201_ops[NB201_EDGES];   /* nb201 */
    char text[1024];              /* canonical text of either */
    int skips_removed;            /* PDARTS' final rule: skips its limit removed; -1: other rules */
    /* DrNAS' rule (s.6.5): the softmax over the kept ops, so the audit
     * needs what was kept (drnas_derive) */
    int drnas_rule, drnas_with_none, drnas_masked;
    unsigned char drnas_keep[2 * DARTS_EDGES][DOP_COUNT];
} search_arch;
td_status search_arch_describe(search_state *st, search_arch *a);
int search_arch_skips(const search_arch *a);  /* skip_connects (normal cell) */
int search_arch_depth(const search_arch *a);  /* depth (normal cell) */
struct json_t;
void search_arch_json(const search_arch *a, struct json_t *o);
td_status search_softmax_json(search_state *st, struct json_t *o);


#endif
