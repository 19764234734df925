#include "tsedarts/budget.h"

#include <stdlib.h>
#include <string.h>

/* smoke: the standalone search and train runs CI has always hashed, so
 * their files stay as they were; the deep and shallow sizes and the
 * selection split are the smallest that keep every protocol step real.
 * tiny: smaller still, so that the protocol's own tests (which run it end
 * to end several times) take a minute rather than five.
 * mini: the main job, sized so that the protocol's 70 runs fit in 40
 * minutes on 2 cores (29 measured). paper: SPEC.md, the config defaults.
 * pdarts rows: three stages of the first's cells plus 0, N, 2N; the
 * warm-up is the reference's 10 of 25 epochs scaled down, leaving every
 * stage at least one epoch with architecture steps. */
const budget budgets[] = {
    {
        .name = "smoke",
        .about = "seconds per run; what CI runs",
        .search = {.channels = 4, .layers = 4, .deep_layers = 5, .batch = 16, .epochs = 2, .subset = 64,
                   .eval_images = 64, .tse_steps = 2},
        .pdarts = {.layers = 3, .add_layers = 1, .epochs = 2, .warmup = 1, .batch = 16},
        .train = {.channels = 4, .layers = 8, .shallow_layers = 3, .batch = 32, .epochs = 2, .subset = 256,
                  .test_images = 256},
        .select_valid_images = 32,
    },
    {
        .name = "tiny",
        .about = "the smallest runs that take every step; for tests of the machinery, not of learning",
        .search = {.channels = 2, .layers = 3, .deep_layers = 5, .batch = 16, .epochs = 1, .subset = 32,
                   .eval_images = 16, .tse_steps = 2},
        .pdarts = {.layers = 3, .add_layers = 1, .epochs = 1, .warmup = 0, .batch = 16},
        .train = {.channels = 2, .layers = 5, .shallow_layers = 3, .batch = 32, .epochs = 1, .subset = 64,
                  .test_images = 64},
        .select_valid_images = 32,
    },
    {
        .name = "mini",
        .about = "the main job: the whole protocol in under 40 minutes on 2 cores",
        .search = {.channels = 4, .layers = 5, .deep_layers = 8, .batch = 32, .epochs = 3, .subset = 384,
                   .eval_images = 128, .tse_steps = 3},
        .pdarts = {.layers = 5, .add_layers = 2, .epochs = 3, .warmup = 1, .batch = 32},
        .train = {.channels = 8, .layers = 8, .shallow_layers = 5, .batch = 64, .epochs = 3, .subset = 1024,
                  .test_images = 1000},
        .select_valid_images = 512,
    },
    {
        .name = "paper",
        .about = "SPEC.md's settings, comparable with the paper",
        .spec = 1,
        .search = {.channels = 16, .layers = 8, .deep_layers = 20, .batch = 64, .epochs = 50, .subset = 0,
                   .eval_images = -1, .tse_steps = 100},
        /* SPEC-drnas-pdarts.md s.2.5: 5/11/17 cells, 25 epochs, 10 warm-up */
        .pdarts = {.layers = 5, .add_layers = 6, .epochs = 25, .warmup = 10, .batch = 0},
        .train = {.channels = 36, .layers = 20, .shallow_layers = 8, .batch = 96, .epochs = 600, .subset = 0,
                  .test_images = -1},
        .select_valid_images = 5000,
    },
};
const int budget_count = (int)(sizeof budgets / sizeof budgets[0]);

td_status budget_find(const char *name, const budget **out)
{
    for (int i = 0; i < budget_count; i++)
        if (!strcmp(budgets[i].name, name)) {
            *out = &budgets[i];
            return TD_OK;
        }
    size_t len = 1;
    for (int i = 0; i < budget_count; i++) len += strlen(budgets[i].name) + 4;
    char *known = malloc(len);
    if (!known) return TD_FAIL(TD_ERR_ARG, "unknown budget '%s'", name);
    known[0] = '\0';
    for (int i = 0; i < budget_count; i++) {
        strcat(known, !i ? "" : i + 1 < budget_count ? ", " : " or ");
        strcat(known, budgets[i].name);
    }
    td_status s = TD_FAIL(TD_ERR_ARG, "unknown budget '%s' (%s)", name, known);
    free(known);
    return s;
}
