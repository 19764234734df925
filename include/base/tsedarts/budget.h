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
    int spec;          /* SPEC.md's settings: results comparable with the paper */
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
    } train;
    int select_valid_images; /* the protocol's held-out images for selection */
} budget;

extern const budget budgets[];
extern const int budget_count;

/* The budget of that name, or an error listing the known ones. */
td_status budget_find(const char *name, const budget **out);

#endif
