/* Retraining a genotype from scratch (docs/numerics.md s.4): SGD with cosine decay
 * to zero, clipping, cutout, drop path and the auxiliary loss; optional
 * held-out validation split of the training set; final test error. */
#ifndef TSEDARTS_TRAIN_H
#define TSEDARTS_TRAIN_H

#include <stdint.h>

#include "tsedarts/backend.h"
#include "tsedarts/evalnet.h"
#include "tsedarts/fields.h"
#include "tsedarts/runtime.h"

typedef struct train_config {
    evalnet_config net; /* genotype, C, layers; in_ch/hw/classes from the data */
    int batch, epochs;
    uint64_t seed;
    char dataset[1024];
    char data_dir[1024];
    int pad32;
    int subset;        /* training images used (0: all) */
    int valid_images;  /* held out from the training set for selection (0: none) */
    uint64_t split_seed; /* which images are held out (shared by compared runs) */
    int test_images;   /* test images scored at the end (-1: all) */
    double lr, lr_min, momentum, weight_decay, grad_clip, drop_path_prob;
    int cutout;
    int augment; /* random crop (padding 4) and horizontal flip */
    dtype dt;
} train_config;

/* Every field once: key, type, default, help, flag (train_config.c). */
extern const field_desc train_config_fields[];
extern const int train_config_n_fields;

/* The paper's defaults (the paper budget) on Fashion-MNIST. */
void train_config_defaults(train_config *c);
/* The sizes of a budget (budget.h); shallow: the shallow evaluation's
 * cells instead of the 20-layer one's. */
td_status train_config_budget(train_config *c, const char *budget, int shallow);
/* The budget's linear baseline: a linear classifier on the retrainings'
 * images and test images, with the budget's baseline epochs and rate. */
td_status train_config_baseline(train_config *c, const char *budget);
/* Canonical JSON (sorted keys), malloc'd. */
td_status train_config_json(const train_config *c, char **json);
/* Every field must be present and no other. */
td_status train_config_parse(const char *json, train_config *c);
/* The records in the metrics.jsonl of a finished training: one per epoch. */
long train_expected_records(const train_config *c);

typedef struct train_options {
    const char *out_dir;
    int resume;
    int threads;
    const backend *be;
    long stop_after_steps; /* test hook: stop as if signalled */
    int stop_after_epochs; /* stop (as if signalled) once this many epochs are done */
    int quiet;
    const struct dataset *train_set, *test_set; /* preloaded sets matching cfg (NULL: load) */
    run_tick_fn tick; /* told of every step, evaluation and epoch end (NULL: nobody) */
    void *tick_ctx;
} train_options;

typedef struct train_result {
    double test_error, test_loss; /* fractions / mean CE on the test set */
    int test_count;
    double valid_error; /* final held-out validation error, -1 if none */
    double seconds_per_epoch;
    int epochs_done;
} train_result;

td_status train_run(const train_config *cfg, const train_options *opt, train_result *res);

/* The final evaluation of train_run (test error and loss, and the held-out
 * error when cfg holds images out) of the weights in weights_path (a
 * weights.safetensors train_run wrote for cfg), on be. */
td_status train_reevaluate(const train_config *cfg, const backend *be, const char *weights_path, train_result *res);

/* Drop-path masks of one step: n_masks vectors of batch entries, each
 * 1 / keep with probability keep = 1 - prob * epoch / epochs, else 0, drawn
 * from (seed, drop path, epoch << 32 | step). */
void drop_path_masks(uint64_t seed, double prob, int epoch, int epochs, int step, int n_masks, int batch, dtype dt,
                     void *out);

/* Benchmark of training steps on synthetic data: median seconds per step. */
td_status train_bench(const train_config *cfg, const backend *be, int warmup, int steps, double *median_s,
                      double *arena_mib);

#endif
