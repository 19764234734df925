#include "tsedarts/budget.h"

#include <stdlib.h>
#include <string.h>

/* smoke: the standalone search and train runs CI has always hashed, so
 * their files stay as they were; the deep and shallow sizes and the
 * selection split are the smallest that keep every protocol step real.
 * tiny: smaller still, so that the protocol's own tests (which run it end
 * to end several times) take a minute rather than five.
 * mini: the main job, sized so that the protocol fits in 40 minutes on 2
 * cores and every retrained network beats the linear baseline. Its
 * searches are too short for the architecture to mean much (they pick
 * mostly pooling cells, as DARTS does early in a search), so the time goes
 * to retraining, measured on two cells of mini searches (a pooling-heavy
 * one and one with convolutions in its reduction cell) over several seeds:
 *   3 epochs on 4096 images (rate 0.05, 1000 test images): 21.0%, the
 *   linear classifier 17.6%;
 *   16 epochs on 1024 (2000 test images from here on): 16.0-18.4%, linear
 *   20.0%, the networks fitting their images almost perfectly;
 *   10 epochs on 2048: 15.5-16.3%, linear 17.8%: the choice.
 * the paper's rate of 0.025 for batch 32 (on 1024 images, 0.05 gave 16.7% and
 * 18.8% on two seeds where 0.025 gave 16.4% and 16.0%); no regularisers
 * (crops and flips at 0.05: 18.6% and 19.9%, against 16.7% and 18.8%);
 * 5 and 4 cells learn as well as 6. Three rows by default: the deep
 * searches and the staged algorithms cost several DARTS searches each.
 * paper: the paper's settings, the config defaults.
 * docs/budgets.md shows this table with these reasons.
 * pdarts rows: three stages of the first's cells plus 0, N, 2N; the
 * warm-up is the reference's 10 of 25 epochs scaled down, leaving every
 * stage at least one epoch with architecture steps.
 * baseline: a linear classifier converges in a few dozen epochs at a rate
 * of 0.003 for batch 32 (on the mini images: 40 epochs at 0.003, 17.8%; 20
 * at 0.003, 18.1%; 20 and 40 at 0.01, 18.0% and 19.0%). */
const budget budgets[] = {
    {
        .name = "smoke",
        .about = "seconds per run; what CI runs",
        .search = {.channels = 4, .layers = 4, .deep_layers = 5, .batch = 16, .epochs = 2, .subset = 64,
                   .eval_images = 64, .tse_steps = 2},
        .pdarts = {.layers = 3, .add_layers = 1, .epochs = 2, .warmup = 1, .batch = 16},
        .train = {.channels = 4, .layers = 8, .shallow_layers = 3, .batch = 32, .epochs = 2, .subset = 256,
                  .test_images = 256},
        .baseline = {.epochs = 2, .lr = 0.003},
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
        .baseline = {.epochs = 2, .lr = 0.003},
        .select_valid_images = 32,
    },
    {
        .name = "mini",
        .about = "the main job: the whole protocol in under 40 minutes on 2 cores, every network beating a linear one",
        .scope = "What `mini` can show: that every step of the protocol runs and is audited end to end, and that "
                 "the retrained networks learn: each is measured against a linear classifier on the same images. "
                 "What it cannot show: which search method is better, or any of the paper's findings. Its searches "
                 "see 384 images for 3 epochs, too few steps for the architecture weights to move far; they pick "
                 "mostly pooling cells, as DARTS does early in any search, and the rows differ by less than the "
                 "noise of 2,048 training images. Skip connections piling up, the Hessian's eigenvalue growing and "
                 "TSE-DARTS avoiding both take the paper's 50 search epochs: `--budget paper`.",
        .search = {.channels = 4, .layers = 5, .deep_layers = 8, .batch = 32, .epochs = 3, .subset = 384,
                   .eval_images = 128, .tse_steps = 3},
        .pdarts = {.layers = 5, .add_layers = 2, .epochs = 3, .warmup = 1, .batch = 32},
        .train = {.channels = 8, .layers = 5, .shallow_layers = 4, .batch = 32, .epochs = 10, .subset = 2048,
                  .test_images = 2000, .plain = 1},
        .baseline = {.epochs = 40, .lr = 0.003},
        .select_valid_images = 512,
        .methods = "darts1,darts2,tse",
        .methods_why = "not in `mini` by default, to stay within 40 minutes on 2 cores (a deep or staged search "
                       "costs several DARTS searches, and each row retrains ten networks); `--methods` runs any row",
    },
    {
        .name = "paper",
        .about = "the paper's settings (docs/budgets.md), comparable with it",
        .spec = 1,
        .search = {.channels = 16, .layers = 8, .deep_layers = 20, .batch = 64, .epochs = 50, .subset = 0,
                   .eval_images = -1, .tse_steps = 100},
        /* docs/numerics.md s.7.5: 5/11/17 cells, 25 epochs, 10 warm-up */
        .pdarts = {.layers = 5, .add_layers = 6, .epochs = 25, .warmup = 10, .batch = 0},
        .train = {.channels = 36, .layers = 20, .shallow_layers = 8, .batch = 96, .epochs = 600, .subset = 0,
                  .test_images = -1},
        .baseline = {.epochs = 40, .lr = 0.003},
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
