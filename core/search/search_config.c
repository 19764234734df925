/* Search configuration: its fields (the paper's defaults, docs/numerics.md), budgets, canonical
 * JSON. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/budget.h"
#include "tsedarts/data.h"
#include "tsedarts/pdarts.h"
#include "tsedarts/search.h"
#include "tsedarts/space.h"
#include "tsedarts/drnas_search.h"

static const char *const algo_names[ALGO_COUNT + 1] = {
    [ALGO_DARTS1] = "darts1", [ALGO_DARTS2] = "darts2", [ALGO_TSE] = "tse", [ALGO_TSE_EXACT] = "tse-exact",
    [ALGO_PDARTS] = "pdarts", [ALGO_TSE_PDARTS] = "tse-pdarts",  [ALGO_DRNAS] = "drnas",
    [ALGO_TSE_DRNAS] = "tse-drnas", NULL};
static const char *const drnas_forms[] = {[DRNAS_AS_RUN] = "as-run", [DRNAS_INTENDED] = "intended", NULL};
static const char *const drnas_nones[] = {"without", "with", NULL};
static const char *const drnas_regs[] = {[DRNAS_REG_L2] = "l2", [DRNAS_REG_KL] = "kl", NULL};
static const char *const tse_halves[] = {"half", "all", NULL};

const char *search_algo_name(search_algo a) { return a >= 0 && a < ALGO_COUNT ? algo_names[a] : "?"; }

int search_algo_is_drnas(search_algo a) { return a == ALGO_DRNAS || a == ALGO_TSE_DRNAS; }

int search_algo_by_name(const char *name)
{
    for (int i = 0; i < ALGO_COUNT; i++)
        if (!strcmp(algo_names[i], name)) return i;
    return -1;
}

double cosine_lr(double lr_max, double lr_min, int e, int E)
{
    return lr_min + (lr_max - lr_min) * (1.0 + cos(3.14159265358979323846 * e / E)) / 2.0;
}

#define AT(type, member) FIELD_AT(type, search_config, member)

/* Every field of a search config, in the order of `search --help`. */
const field_desc search_config_fields[] = {
    {.key = "algo", AT(FIELD_ENUM, algo), .def = ALGO_DARTS1, .choices = algo_names, .help = "search algorithm"},
    {.key = "space", AT(FIELD_ENUM, net.space), .def = SPACE_DARTS, .choices = space_names, .optional = 1,
     .help = "search space; s2: skip_connect and sep_conv_3x3 only, nb201: the NAS-Bench-201 cell and skeleton"},
    {.key = "dataset", AT(FIELD_STRING, dataset), .def_str = "fashion-mnist",
     .help = "fashion-mnist | cifar10:DIR | synthetic"},
    {.key = "data_dir", AT(FIELD_STRING, data_dir), .def_str = FASHION_MNIST_DEFAULT_DIR,
     .help = "Fashion-MNIST directory"},
    {.key = "pad32", AT(FIELD_BOOL, pad32), .def = 1, .flag = "no-pad",
     .help = "keep Fashion-MNIST at 28x28 instead of zero-padding to 32x32"},
    {.key = "layers", AT(FIELD_INT, net.layers), .def = 8, .min = 1, .max = 100,
     .help = "cells in the supernet; nb201: cells per stage, 5 unless given; pdarts: of stage 1"},
    {.key = "channels", AT(FIELD_INT, net.C), .def = 16, .min = 2, .max = 1024, .help = "initial channels C"},
    {.key = "epochs", AT(FIELD_INT, epochs), .def = 50, .min = 1, .max = 100000, .help = "epochs (pdarts: per stage)"},
    {.key = "batch", AT(FIELD_INT, batch), .def = 64, .min = 1, .max = 100000, .help = "batch size"},
    {.key = "seed", AT(FIELD_U64, seed), .def = 2, .min = 0, .max = 0x7fffffff, .help = "seed of everything random"},
    {.key = "subset", AT(FIELD_INT, subset), .def = 0, .min = 0, .max = 10000000,
     .help = "use only the first N images of each half (0: all)"},
    {.key = "eval_images", AT(FIELD_INT, eval_images), .def = -1, .min = -1, .max = 10000000,
     .help = "validation images scored per epoch (-1: all, 0: none)"},
    {.key = "tse_steps", AT(FIELD_INT, tse_steps), .def = 100, .min = 1, .max = 100000,
     .help = "TSE: steps per architecture update T"},
    {.key = "tse_all_data", AT(FIELD_BOOL, tse_all_data), .def = 0, .choices = tse_halves, .flag = "tse-data",
     .help = "TSE: images the weights train on"},
    {.key = "tse_restore_momentum", AT(FIELD_BOOL, tse_restore_momentum), .def = 0,
     .help = "TSE: restore SGD momentum after the rollout (NAS-Bench-201 code)"},
    {.key = "tse_analysis", AT(FIELD_BOOL, tse_analysis), .def = 0, .optional = 1,
     .help = "TSE: also form the exact and first-order gradients and log their cosine per update"},
    {.key = "hessian_every", AT(FIELD_INT, hessian_every), .def = 0, .optional = 1, .min = 0, .max = 100000,
     .help = "log the largest eigenvalue of the architecture Hessian every K epochs (0: never)"},
    {.key = "hessian_lanczos", AT(FIELD_INT, hessian_lanczos), .def = 0, .optional = 1, .min = 0, .max = 100000,
     .help = "estimate it with K Lanczos steps instead of the full Hessian of 224 HVPs (0: full)"},
    /* PDARTS (docs/numerics.md s.7); --algo pdarts sets its own
     * defaults (search_config_algo_defaults) */
    {.key = "pdarts_add_layers", AT(FIELD_INT, pdarts_add_layers), .def = 6, .optional = 1, .min = 0, .max = 100,
     .help = "pdarts: cells added per stage (stages of layers, +N, +2N cells)"},
    {.key = "skip_dropout1", AT(FIELD_REAL, skip_dropout[0]), .def = 0, .optional = 1, .min = 0, .max = 0.99,
     .help = "pdarts: skip-connect dropout p0 of stage 1 (pdarts default 0 as published; 0.1 is the reference README's)"},
    {.key = "skip_dropout2", AT(FIELD_REAL, skip_dropout[1]), .def = 0, .optional = 1, .min = 0, .max = 0.99,
     .help = "pdarts: ... of stage 2 (pdarts default 0.4, tse-pdarts 0)"},
    {.key = "skip_dropout3", AT(FIELD_REAL, skip_dropout[2]), .def = 0, .optional = 1, .min = 0, .max = 0.99,
     .help = "pdarts: ... of stage 3 (pdarts default 0.7, tse-pdarts 0)"},
    {.key = "warmup_epochs", AT(FIELD_INT, warmup_epochs), .def = 0, .optional = 1, .min = 0, .max = 100000,
     .help = "pdarts: epochs per stage without architecture steps (pdarts default 10, tse-pdarts 0)"},
    {.key = "arch_grad_clip", AT(FIELD_REAL, arch_grad_clip), .def = 0, .optional = 1, .min = 0, .max = 1e6,
     .help = "pdarts: largest norm of the alpha gradient, 0 for none (pdarts default 5)"},
    {.key = "pdarts_lr_form", AT(FIELD_ENUM, pdarts_lr_form), .def = PDARTS_LR_TORCH11, .optional = 1,
     .choices = pdarts_lr_form_names,
     .help = "pdarts: per-stage cosine as PyTorch >= 1.1 runs it (last epoch at lr_min) or as 0.4 did"},
    {.key = "max_skip", AT(FIELD_INT, max_skip), .def = 2, .optional = 1, .min = 0, .max = 8,
     .help = "pdarts: skip_connects kept in the final normal cell"},
    /* DrNAS and TSE-DrNAS (docs/numerics.md s.6.4, s.8.1); optional, so
     * the other algorithms' configs keep their hashes */
    {.key = "drnas_k1", AT(FIELD_INT, drnas_k1), .def = 6, .optional = 1, .min = 1, .max = 64,
     .help = "DrNAS: stage 1 sends 1/K of the channels through the mixed ops"},
    {.key = "drnas_k2", AT(FIELD_INT, drnas_k2), .def = 4, .optional = 1, .min = 1, .max = 64,
     .help = "DrNAS: the same for stage 2 (the ops are widened from C/k1 to C/k2 channels)"},
    {.key = "drnas_keep", AT(FIELD_INT, drnas_keep), .def = 4, .optional = 1, .min = 1, .max = 8,
     .help = "DrNAS: ops kept per edge (top alphas) when stage 2 starts"},
    {.key = "drnas_warmup", AT(FIELD_INT, drnas_warmup), .def = 10, .optional = 1, .min = 0, .max = 100000,
     .help = "DrNAS: epochs at the start of each stage that train the weights only"},
    {.key = "drnas_with_none", AT(FIELD_BOOL, drnas_with_none), .def = 0, .optional = 1, .choices = drnas_nones,
     .flag = "drnas-none", .help = "DrNAS: `none` among the ops (default: tse-drnas with, drnas without)"},
    {.key = "drnas_lr_schedule", AT(FIELD_ENUM, drnas_lr_schedule), .def = DRNAS_AS_RUN, .choices = drnas_forms,
     .optional = 1,
     .help = "DrNAS: as-run restarts stage 2 at lr_max (the reference's scheduler), intended is one cosine"},
    {.key = "drnas_reg", AT(FIELD_ENUM, drnas_reg), .def = DRNAS_REG_L2, .choices = drnas_regs, .optional = 1,
     .help = "DrNAS: regulariser of the alphas, scaled by arch_weight_decay: l2 as Adam weight decay, or kl: "
             "KL(Dir(beta) || Dir(1)) added to the architecture loss (Adam without weight decay)"},
    {.key = "tse_drnas_form", AT(FIELD_ENUM, tse_drnas_form), .def = DRNAS_AS_RUN, .choices = drnas_forms,
     .optional = 1,
     .help = "TSE-DrNAS: as-run (alphas from the previous chunk's training gradients) or intended (Algorithm 1 "
             "with a restored rollout)"},
    {.key = "dtype", AT(FIELD_ENUM, dt), .def = DT_F32, .choices = dtype_float_names, .help = "element type"},
    /* the optimisers (docs/numerics.md s.2.1) */
    {.key = "train_portion", AT(FIELD_REAL, train_portion), .def = 0.5, .min = 0.01, .max = 0.99,
     .help = "weights: fraction of the training set they train on (the rest trains the alphas)"},
    {.key = "lr_max", AT(FIELD_REAL, lr_max), .def = 0.025, .min = 0, .max = 10,
     .help = "weights: SGD learning rate at the start of the cosine schedule"},
    {.key = "lr_min", AT(FIELD_REAL, lr_min), .def = 0.001, .min = 0, .max = 10,
     .help = "weights: SGD learning rate at its end"},
    {.key = "momentum", AT(FIELD_REAL, momentum), .def = 0.9, .min = 0, .max = 0.999, .help = "weights: SGD momentum"},
    {.key = "nesterov", AT(FIELD_BOOL, nesterov), .def = 0, .help = "weights: Nesterov momentum"},
    {.key = "weight_decay", AT(FIELD_REAL, weight_decay), .def = 3e-4, .min = 0, .max = 1,
     .help = "weights: weight decay"},
    {.key = "grad_clip", AT(FIELD_REAL, grad_clip), .def = 5.0, .min = 1e-6, .max = 1e6,
     .help = "weights: largest norm of the gradient"},
    {.key = "arch_lr", AT(FIELD_REAL, arch_lr), .def = 3e-4, .min = 0, .max = 10, .help = "alphas: Adam learning rate"},
    {.key = "arch_beta1", AT(FIELD_REAL, arch_beta1), .def = 0.5, .min = 0, .max = 0.9999, .help = "alphas: Adam beta1"},
    {.key = "arch_beta2", AT(FIELD_REAL, arch_beta2), .def = 0.999, .min = 0, .max = 0.9999,
     .help = "alphas: Adam beta2"},
    {.key = "arch_eps", AT(FIELD_REAL, arch_eps), .def = 1e-8, .min = 1e-12, .max = 1, .help = "alphas: Adam epsilon"},
    {.key = "arch_weight_decay", AT(FIELD_REAL, arch_weight_decay), .def = 1e-3, .min = 0, .max = 1,
     .help = "alphas: weight decay"},
    /* set by the run from its data, or only by tests */
    {.key = "in_channels", AT(FIELD_INT, net.in_ch), .def = 3, .no_flag = 1,
     .help = "image channels (the dataset's)"},
    {.key = "image_size", AT(FIELD_INT, net.hw), .def = 32, .no_flag = 1, .help = "image side (the dataset's)"},
    {.key = "classes", AT(FIELD_INT, net.classes), .def = 10, .no_flag = 1, .help = "classes (the dataset's)"},
    {.key = "smooth_ops", AT(FIELD_BOOL, net.smooth), .def = 0, .no_flag = 1,
     .help = "smooth stand-in ops (for exactness tests)"},
};
const int search_config_n_fields = (int)(sizeof search_config_fields / sizeof search_config_fields[0]);

void search_config_defaults(search_config *c)
{
    memset(c, 0, sizeof *c);
    fields_defaults(search_config_fields, search_config_n_fields, c);
}

int search_algo_staged(search_algo a) { return a == ALGO_PDARTS || a == ALGO_TSE_PDARTS; }

int search_total_epochs(const search_config *c) { return (search_algo_staged(c->algo) ? 3 : 1) * c->epochs; }

void search_config_algo_defaults(search_config *c)
{
    if (search_algo_is_drnas(c->algo)) {
        drnas_config_defaults(c);
        return;
    }
    if (!search_algo_staged(c->algo)) return;
    /* both: 5 + 0/6/12 cells, 25 epochs a stage, cosine to 0 (s.7.5) */
    c->net.layers = 5;
    c->pdarts_add_layers = 6;
    c->epochs = 25;
    c->lr_min = 0;
    if (c->algo == ALGO_PDARTS) {
        c->batch = 96;
        c->arch_lr = 6e-4;
        c->warmup_epochs = 10;
        c->arch_grad_clip = 5;
        /* the PDARTS paper's 0.0 / 0.4 / 0.7, which its author confirms
         * (chenxin061/pdarts issue 29); the reference README's command has
         * 0.1 for stage 1 (--skip-dropout1 0.1), the code's own default is
         * 0, 0, 0 */
        c->skip_dropout[0] = 0;
        c->skip_dropout[1] = 0.4;
        c->skip_dropout[2] = 0.7;
    } else {
        /* as the TSE authors' fork runs (s.8.2): batch 64, arch lr 3e-4 (the
         * field defaults), no skip dropout, no warm-up, no clipping */
        c->batch = 64;
        c->arch_lr = 3e-4;
        c->warmup_epochs = 0;
        c->arch_grad_clip = 0;
        c->skip_dropout[0] = c->skip_dropout[1] = c->skip_dropout[2] = 0;
    }
}

td_status search_config_budget(search_config *c, const char *name, int deep)
{
    const budget *b;
    TD_CHECK(budget_find(name, &b));
    if (search_algo_staged(c->algo)) {
        c->net.C = b->search.channels;
        c->net.layers = b->pdarts.layers;
        c->pdarts_add_layers = b->pdarts.add_layers;
        c->epochs = b->pdarts.epochs;
        if (c->algo == ALGO_PDARTS) c->warmup_epochs = b->pdarts.warmup;
        if (b->pdarts.batch) c->batch = b->pdarts.batch;
        c->subset = b->search.subset;
        c->eval_images = b->search.eval_images;
        c->tse_steps = b->search.tse_steps;
        return TD_OK;
    }
    c->net.C = b->search.channels;
    c->net.layers = deep ? b->search.deep_layers : b->search.layers;
    c->batch = b->search.batch;
    c->epochs = b->search.epochs;
    c->subset = b->search.subset;
    c->eval_images = b->search.eval_images;
    c->tse_steps = b->search.tse_steps;
    if (search_algo_is_drnas(c->algo)) drnas_config_budget(c, b);
    return TD_OK;
}

td_status search_config_check(const search_config *c)
{
    return search_algo_is_drnas(c->algo) ? drnas_config_check(c) : TD_OK;
}

td_status search_config_json(const search_config *c, char **json)
{
    return fields_to_json(search_config_fields, search_config_n_fields, c, json);
}

td_status search_config_parse(const char *json, search_config *c)
{
    search_config_defaults(c);
    return fields_from_json(search_config_fields, search_config_n_fields, "search config", json, c);
}
