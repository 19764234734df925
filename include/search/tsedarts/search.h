/* Architecture search on the supernet: DARTS first and second order and
 * TSE-DARTS (docs/numerics.md s.2), DrNAS and TSE-DrNAS on their own network
 * (docs/numerics.md s.6, s.8.1), with checkpoints at every epoch and on
 * request, and resume that ends bit-identical to an uninterrupted run. */
#ifndef TSEDARTS_SEARCH_H
#define TSEDARTS_SEARCH_H

#include <stdint.h>

#include "tsedarts/backend.h"
#include "tsedarts/fields.h"
#include "tsedarts/genotype.h"
#include "tsedarts/model.h"
#include "tsedarts/runtime.h"
#include "tsedarts/supernet.h"

typedef enum search_algo {
    ALGO_DARTS1 = 0,
    ALGO_DARTS2,
    ALGO_TSE,
    ALGO_TSE_EXACT,
    ALGO_PDARTS,     /* progressive DARTS: three stages (docs/numerics.md s.7) */
    ALGO_TSE_PDARTS, /* its TSE form (s.8.2) */
    ALGO_DRNAS,      /* DrNAS (docs/numerics.md s.6) */
    ALGO_TSE_DRNAS,  /* TSE-DrNAS (s.8.1) */
    ALGO_COUNT
} search_algo;

const char *search_algo_name(search_algo a);
int search_algo_by_name(const char *name); /* -1 if unknown */
/* DrNAS and TSE-DrNAS: their own supernet, stages and defaults. */
int search_algo_is_drnas(search_algo a);

/* How TSE-DrNAS and the DrNAS learning rate follow the reference. */
enum { DRNAS_AS_RUN = 0, DRNAS_INTENDED = 1 };
enum { DRNAS_REG_L2 = 0, DRNAS_REG_KL = 1 };

typedef struct search_config {
    search_algo algo;
    supernet_config net; /* in_ch, hw and classes come from the dataset */
    int batch;
    int epochs;
    uint64_t seed;
    char dataset[1024]; /* "fashion-mnist", "cifar10:DIR" or "synthetic" */
    char data_dir[1024]; /* Fashion-MNIST directory */
    int pad32;           /* Fashion-MNIST zero-padded to 32x32 */
    int subset;          /* images used from each half (0: all) */
    int eval_images;     /* validation images scored per epoch (-1: all) */
    double train_portion;
    /* weights: SGD with a per-epoch cosine schedule */
    double lr_max, lr_min, momentum, weight_decay, grad_clip;
    int nesterov;
    /* alphas: Adam */
    double arch_lr, arch_beta1, arch_beta2, arch_eps, arch_weight_decay;
    /* TSE-DARTS */
    int tse_steps;            /* T */
    int tse_all_data;         /* train on all images instead of one half */
    int tse_restore_momentum; /* restore SGD momentum after the rollout */
    int tse_analysis;         /* also form the exact and first-order TSE
                                 gradients and log their cosine per update */
    /* Architecture-Hessian diagnostic (RobustDARTS): every k epochs (0: never) */
    int hessian_every;
    int hessian_lanczos;      /* Lanczos steps instead of the full Hessian (0: full) */
    /* PDARTS and TSE-PDARTS: `epochs` is per stage, `layers` the first
     * stage's cells */
    int pdarts_add_layers;    /* cells added per stage: layers, +N, +2N */
    double skip_dropout[3];   /* p0 of the skip dropout per stage */
    int warmup_epochs;        /* stage epochs without architecture steps */
    double arch_grad_clip;    /* largest norm of the alpha gradient (0: none) */
    int pdarts_lr_form;       /* enum pdarts_lr_form (pdarts.h) */
    int max_skip;             /* skip_connects kept in the final normal cell */
    /* DrNAS and TSE-DrNAS (docs/numerics.md s.6, s.8.1): two stages of
     * epochs - epochs/2 and epochs/2 epochs */
    int drnas_k1, drnas_k2;   /* partial-channel divisor of stage 1 and 2 */
    int drnas_keep;           /* ops kept per edge by the pruning between the stages */
    int drnas_warmup;         /* stage-local epochs without architecture steps */
    int drnas_with_none;      /* `none` among the ops (the TSE fork) */
    int drnas_lr_schedule;    /* DRNAS_AS_RUN (stage-2 restart quirk) or DRNAS_INTENDED */
    int drnas_reg;            /* DRNAS_REG_L2 (Adam weight decay) or DRNAS_REG_KL */
    int tse_drnas_form;       /* DRNAS_AS_RUN (delayed sums of the real steps) or DRNAS_INTENDED */
    dtype dt;
} search_config;

/* Every field once: key, type, default, help, flag (search_config.c). */
extern const field_desc search_config_fields[];
extern const int search_config_n_fields;

/* The paper's defaults (the paper budget) on Fashion-MNIST. */
void search_config_defaults(search_config *c);
/* The defaults that differ by algorithm (c->algo set), before the budget
 * and the flags: PDARTS' batch, learning rates, clipping, warm-up, skip
 * dropout (docs/numerics.md s.7.5, s.8.2); DrNAS's network, schedule
 * and optimisers (s.6.4); nothing for the DARTS algorithms. */
void search_config_algo_defaults(search_config *c);
/* Whether the algorithm searches in PDARTS stages, and the number of epochs
 * a whole search runs (stages x epochs). */
int search_algo_staged(search_algo a);
int search_total_epochs(const search_config *c);
/* The sizes of a budget (budget.h); deep: the deep methods' cell count.
 * For DrNAS algorithms (c->algo set first) the sizes are adapted: see
 * drnas_config_budget. */
td_status search_config_budget(search_config *c, const char *budget, int deep);
/* What the algorithm needs of a config before it runs (DrNAS: channels
 * that split by k, two epochs, ...); an error names the option. */
td_status search_config_check(const search_config *c);
/* Canonical JSON (sorted keys) of everything that determines the result
 * (malloc'd). */
td_status search_config_json(const search_config *c, char **json);
/* Every field must be present (diagnostics may be left out) and no other. */
td_status search_config_parse(const char *json, search_config *c);

typedef struct search_options {
    const char *out_dir;
    int resume;          /* continue the run in out_dir */
    int threads;
    const backend *be;
    long stop_after_units; /* test hook: stop (as if signalled) after this many units; 0 = never */
    int stop_after_epochs; /* stop (as if signalled) once this many epochs are done; 0 = never */
    int quiet;
    const struct dataset *train_set; /* preloaded training set matching cfg (NULL: load) */
    activation_policy activations; /* keep or recompute in the backward pass (the same bits; model.h) */
    run_tick_fn tick;              /* told of every unit, evaluation and epoch end (NULL: nobody) */
    void *tick_ctx;
} search_options;

typedef struct search_result {
    genotype geno;   /* darts and s2 spaces */
    int space;
    char arch[1024]; /* the found architecture as text (any space) */
    int epochs_done;
    double seconds;
    double seconds_per_step;
    int interrupted;
} search_result;

td_status search_run(const search_config *cfg, const search_options *opt, search_result *res);

/* The records in the metrics.jsonl of a finished search of config c on a
 * training set of train_images images: one per epoch, plus, with
 * tse_analysis, one per group of tse_steps steps. */
td_status search_expected_records(const search_config *c, int train_images, long *records);

/* The sizes a search of config c runs on a training set of train_images
 * images: training steps (batches) per epoch, and validation images scored
 * at the end of each epoch. */
td_status search_epoch_sizes(const search_config *c, int train_images, int *steps, int *eval_images);

/* Cosine learning rate for epoch e of E (docs/numerics.md s.2.1). */
double cosine_lr(double lr_max, double lr_min, int e, int E);



/* Benchmark of search steps on synthetic data: `warmup` steps, then
 * `steps` timed ones. A step is what the algorithm does per training batch
 * (darts1: architecture + weight pass; tse: rollout + retraining pass). */
typedef struct search_bench_result {
    double median_s, min_s, max_s;
    double gflop_per_step; /* convolution and matmul work, counted from the graphs */
    double arena_mib;      /* activation workspace */
    double param_mib;      /* weights, alphas, statistics, gradients, optimiser state */
    /* Launches per timed step on a backend that counts them (backend.h
     * launches; 0 elsewhere): the graphs' (recorded ones included, as
     * exec_profile counts them) and the optimisers' and other flat
     * operations'. */
    double launches_per_step;
    int graphs, graphs_recomputing; /* the step's training graphs, and how many recompute */
} search_bench_result;

td_status search_bench(const search_config *cfg, const backend *be, int warmup, int steps, activation_policy activations,
                       search_bench_result *r);

/* One first-order TSE gradient (T rollout steps with alpha gradients) and
 * one exact one (T rollout steps storing snapshots, then the reverse sweep)
 * from the same start, on synthetic data, lr 0.025. */
typedef struct tse_gradient_bench {
    double first_order_s, exact_rollout_s, exact_s;
    double cosine, norm_ratio;       /* between the two gradients */
    double snapshot_mib, arena_mib;  /* T |w|; activation workspace */
    double param_mib;                /* |w| */
} tse_gradient_bench;

td_status search_bench_tse_gradient(const search_config *cfg, const backend *be, int T, activation_policy activations,
                                    tse_gradient_bench *r);
#endif
