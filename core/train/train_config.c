/* Retraining configuration: its fields (the paper's defaults, docs/numerics.md s.4), budgets,
 * canonical JSON. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/budget.h"
#include "tsedarts/data.h"
#include "tsedarts/path.h"
#include "tsedarts/train.h"

static const char *const net_kinds[] = {"eval", "linear", NULL}; /* index: net.linear */

/* The genotype is stored parsed and written as its canonical line; a linear
 * baseline has none. */
static td_status genotype_text(const void *config, char **text)
{
    const train_config *c = config;
    /* a canonical line is under 400 characters: a 63-character name and 16
     * ops of at most 16 */
    char line[1024] = "";
    if (!c->net.linear) genotype_format(&c->net.geno, line, sizeof line);
    *text = strdup(line);
    return *text ? TD_OK : TD_FAIL(TD_ERR_MEMORY, "out of memory writing a genotype");
}

static td_status genotype_from_line(void *config, const char *text, const char *where)
{
    train_config *c = config;
    return c->net.linear ? TD_OK : genotype_parse(text, where, &c->net.geno);
}

static td_status genotype_from_name(void *config, const char *text, const char *where)
{
    (void)where; /* genotype_load names the file or the unknown name */
    train_config *c = config;
    return c->net.linear ? TD_OK : genotype_load(text, &c->net.geno);
}

#define AT(type, member) FIELD_AT(type, train_config, member)

/* Every field of a retraining config, in the order of `train --help`. */
const field_desc train_config_fields[] = {
    {.key = "net", AT(FIELD_ENUM, net.linear), .def = 0, .choices = net_kinds,
     .help = "the genotype's evaluation network, or a linear classifier as a baseline"},
    {.key = "genotype", AT(FIELD_CUSTOM, net.geno), .format = genotype_text, .parse = genotype_from_line,
     .parse_flag = genotype_from_name, .help = "genotype NAME or FILE to train (required unless --net linear)"},
    {.key = "dataset", AT(FIELD_STRING, dataset), .def_str = "fashion-mnist",
     .help = "fashion-mnist | cifar10:DIR | synthetic"},
    {.key = "data_dir", AT(FIELD_STRING, data_dir), .def_str = FASHION_MNIST_DEFAULT_DIR,
     .help = "Fashion-MNIST directory"},
    {.key = "pad32", AT(FIELD_BOOL, pad32), .def = 1, .flag = "no-pad",
     .help = "keep Fashion-MNIST at 28x28 (then the auxiliary head cannot apply)"},
    {.key = "layers", AT(FIELD_INT, net.layers), .def = 20, .min = 3, .max = 200, .help = "cells"},
    {.key = "channels", AT(FIELD_INT, net.C), .def = 36, .min = 2, .max = 2048, .help = "initial channels C"},
    {.key = "epochs", AT(FIELD_INT, epochs), .def = 600, .min = 1, .max = 100000, .help = "epochs"},
    {.key = "batch", AT(FIELD_INT, batch), .def = 96, .min = 1, .max = 100000, .help = "batch size"},
    {.key = "seed", AT(FIELD_U64, seed), .def = 0, .min = 0, .max = 0x7fffffff,
     .help = "seed of initialisation, order, augmentation, drop path"},
    {.key = "subset", AT(FIELD_INT, subset), .def = 0, .min = 0, .max = 100000000,
     .help = "train on the first N images only (0: all)"},
    {.key = "valid_images", AT(FIELD_INT, valid_images), .def = 0, .min = 0, .max = 100000000,
     .help = "hold N training images out as a validation split"},
    {.key = "split_seed", AT(FIELD_U64, split_seed), .def = 1, .min = 0, .max = 0x7fffffff,
     .help = "seed choosing the held-out images"},
    {.key = "test_images", AT(FIELD_INT, test_images), .def = -1, .min = -1, .max = 100000000,
     .help = "test images scored at the end (-1: all)"},
    {.key = "auxiliary", AT(FIELD_BOOL, net.auxiliary), .def = 1, .flag = "no-auxiliary",
     .help = "train without the auxiliary head"},
    {.key = "drop_path", AT(FIELD_BOOL, net.drop_path), .def = 1, .flag = "no-drop-path",
     .help = "train without drop path"},
    {.key = "cutout", AT(FIELD_INT, cutout), .def = 16, .min = 0, .max = 1024,
     .help = "cutout square side, 0 for none"},
    {.key = "augment", AT(FIELD_BOOL, augment), .def = 1, .flag = "no-augment",
     .help = "no random crop or flip (cutout is set separately)"},
    {.key = "dtype", AT(FIELD_ENUM, dt), .def = DT_F32, .choices = dtype_float_names, .help = "element type"},
    /* the optimiser and drop path (docs/numerics.md s.4) */
    {.key = "lr", AT(FIELD_REAL, lr), .def = 0.025, .min = 0, .max = 10,
     .help = "SGD learning rate at the start of the cosine schedule"},
    {.key = "lr_min", AT(FIELD_REAL, lr_min), .def = 0.0, .min = 0, .max = 10, .help = "SGD learning rate at its end"},
    {.key = "momentum", AT(FIELD_REAL, momentum), .def = 0.9, .min = 0, .max = 0.999, .help = "SGD momentum"},
    {.key = "weight_decay", AT(FIELD_REAL, weight_decay), .def = 3e-4, .min = 0, .max = 1, .help = "weight decay"},
    {.key = "grad_clip", AT(FIELD_REAL, grad_clip), .def = 5.0, .min = 1e-6, .max = 1e6,
     .help = "largest norm of the gradient"},
    {.key = "drop_path_prob", AT(FIELD_REAL, drop_path_prob), .def = DROP_PATH_PROB, .min = 0, .max = 0.99,
     .help = "drop path probability, reached at the last epoch (it grows linearly from 0)"},
    /* set by the run from its data */
    {.key = "in_channels", AT(FIELD_INT, net.in_ch), .def = 3, .no_flag = 1,
     .help = "image channels (the dataset's)"},
    {.key = "image_size", AT(FIELD_INT, net.hw), .def = 32, .no_flag = 1, .help = "image side (the dataset's)"},
    {.key = "classes", AT(FIELD_INT, net.classes), .def = 10, .no_flag = 1, .help = "classes (the dataset's)"},
};
const int train_config_n_fields = (int)(sizeof train_config_fields / sizeof train_config_fields[0]);

void train_config_defaults(train_config *c)
{
    memset(c, 0, sizeof *c);
    fields_defaults(train_config_fields, train_config_n_fields, c);
}

/* The regularisers meant for long trainings off, and Fashion-MNIST at its
 * own size (budget.h, train.plain). */
static void plain_recipe(train_config *c)
{
    c->augment = 0;
    c->cutout = 0;
    c->net.drop_path = 0;
    c->net.auxiliary = 0;
    c->pad32 = 0;
}

td_status train_config_budget(train_config *c, const char *name, int shallow)
{
    const budget *b;
    TD_CHECK(budget_find(name, &b));
    c->net.C = b->train.channels;
    c->net.layers = shallow ? b->train.shallow_layers : b->train.layers;
    c->batch = b->train.batch;
    c->epochs = b->train.epochs;
    c->subset = b->train.subset;
    c->test_images = b->train.test_images;
    if (b->train.plain) plain_recipe(c);
    return TD_OK;
}

td_status train_config_baseline(train_config *c, const char *name)
{
    const budget *b;
    TD_CHECK(train_config_budget(c, name, 1));
    TD_CHECK(budget_find(name, &b));
    c->net.linear = 1;
    c->epochs = b->baseline.epochs;
    c->lr = b->baseline.lr;
    /* crops, flips and cutout only blur what a linear model can learn; it
     * has no auxiliary head and no cells to drop */
    c->augment = 0;
    c->cutout = 0;
    c->net.drop_path = 0;
    c->net.auxiliary = 0;
    return TD_OK;
}

td_status train_config_json(const train_config *c, char **json)
{
    return fields_to_json(train_config_fields, train_config_n_fields, c, json);
}

td_status train_config_parse(const char *json, train_config *c)
{
    train_config_defaults(c);
    return fields_from_json(train_config_fields, train_config_n_fields, "train config", json, c);
}

long train_expected_records(const train_config *c) { return c->epochs; }
