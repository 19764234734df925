/* Budgets: the sizes of every run at smoke, mini and paper, one row each.
 * `search --budget`, `train --budget` and the protocol all read this table,
 * so a budget means the same runs wherever it is named. It lives in base:
 * it is plain numbers, read by search, train, the protocol and the command
 * line, and base lies below all of them without knowing their types. */
#ifndef TSEDARTS_BUDGET_H
#define TSEDARTS_BUDGET_H

#include "tsedarts/status.h"

typedef struct budget {
    const char *name;
    const char *about; /* one line for --help */
    /* the report's banner: what a protocol at this budget can and cannot
     * show (NULL: that it runs end to end, and that the paper's budget is
     * the one comparable with it) */
    const char *scope;
    int spec;          /* the paper's settings: results comparable with it */
    struct {
        int channels, layers, batch, epochs;
        int deep_layers; /* methods marked deep (the paper's 20-cell searches) */
        int subset;      /* images used from each half (0: all) */
        int eval_images; /* validation images scored per epoch (-1: all) */
        int tse_steps;
    } search;
    struct {
        int layers, add_layers; /* stage s has layers + s * add_layers cells */
        int epochs, warmup;     /* per stage; warm-up: pdarts only */
        int batch;              /* 0: the algorithm's (pdarts 96, tse-pdarts 64) */
    } pdarts; /* pdarts and tse-pdarts; channels, subset, images from search */
    struct {
        int channels, layers, batch, epochs; /* layers: the 20-layer evaluation */
        int shallow_layers;                  /* the 8-layer evaluation */
        int subset;      /* training images used (0: all) */
        int test_images; /* test images scored at the end (-1: all) */
        /* no augmentation, cutout, drop path or auxiliary head, and
         * Fashion-MNIST at its own 28x28: a dozen epochs on a thousand
         * images learn more without the regularisers meant for 600 */
        int plain;
    } train;
    /* The linear classifier every retrained network is measured against:
     * trained on the final retrainings' images, scored on their test
     * images, with the batch and recipe of the retrainings and its own
     * epochs and rate (a linear model wants a smaller one). */
    struct {
        int epochs;
        double lr;
    } baseline;
    int select_valid_images; /* the protocol's held-out images for selection */
    /* the protocol's methods when --methods is not given (NULL: every row of
     * Table 2), with the reason the report gives for the rows left out */
    const char *methods, *methods_why;
} budget;

extern const budget budgets[];
extern const int budget_count;

/* The budget of that name, or an error listing the known ones. */
td_status budget_find(const char *name, const budget **out);

#endif
