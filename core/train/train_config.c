/* Retraining configuration: SPEC.md defaults, budgets, canonical JSON. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/data.h"
#include "tsedarts/path.h"
#include "tsedarts/train.h"

void train_config_defaults(train_config *c)
{
    memset(c, 0, sizeof *c);
    c->net.C = 36;
    c->net.layers = 20;
    c->net.in_ch = 3;
    c->net.hw = 32;
    c->net.classes = 10;
    c->net.auxiliary = 1;
    c->net.drop_path = 1;
    c->batch = 96;
    c->epochs = 600;
    c->seed = 0;
    snprintf(c->dataset, sizeof c->dataset, "fashion-mnist");
    snprintf(c->data_dir, sizeof c->data_dir, "%s", FASHION_MNIST_DEFAULT_DIR);
    c->pad32 = 1;
    c->split_seed = 1;
    c->test_images = -1;
    c->lr = 0.025;
    c->lr_min = 0.0;
    c->momentum = 0.9;
    c->weight_decay = 3e-4;
    c->grad_clip = 5.0;
    c->drop_path_prob = DROP_PATH_PROB;
    c->cutout = 16;
    c->augment = 1;
    c->dt = DT_F32;
}

td_status train_config_budget(train_config *c, const char *budget)
{
    if (!strcmp(budget, "paper")) {
        train_config d;
        train_config_defaults(&d);
        c->net.C = d.net.C;
        c->net.layers = d.net.layers;
        c->batch = d.batch;
        c->epochs = d.epochs;
        c->subset = 0;
        c->test_images = -1;
    } else if (!strcmp(budget, "mini")) {
        c->net.C = 16;
        c->net.layers = 8;
        c->batch = 64;
        c->epochs = 3;
        c->subset = 15000;
        c->test_images = -1;
        /* three epochs are too few for cutout's regularisation to pay */
        c->cutout = 0;
    } else if (!strcmp(budget, "smoke")) {
        c->net.C = 4;
        c->net.layers = 8;
        c->batch = 32;
        c->epochs = 2;
        c->subset = 256;
        c->test_images = 256;
    } else {
        return TD_FAIL(TD_ERR_ARG, "unknown budget '%s' (smoke, mini or paper)", budget);
    }
    return TD_OK;
}

char *train_config_json(const train_config *c)
{
    json_t *o = json_object();
    char line[1024] = "";
    if (!c->net.linear) genotype_format(&c->net.geno, line, sizeof line);
    json_object_set_new(o, "net", json_string(c->net.linear ? "linear" : "eval"));
    json_object_set_new(o, "genotype", json_string(line));
    json_object_set_new(o, "channels", json_integer(c->net.C));
    json_object_set_new(o, "layers", json_integer(c->net.layers));
    json_object_set_new(o, "in_channels", json_integer(c->net.in_ch));
    json_object_set_new(o, "image_size", json_integer(c->net.hw));
    json_object_set_new(o, "classes", json_integer(c->net.classes));
    json_object_set_new(o, "auxiliary", json_integer(c->net.auxiliary));
    json_object_set_new(o, "drop_path", json_integer(c->net.drop_path));
    json_object_set_new(o, "batch", json_integer(c->batch));
    json_object_set_new(o, "epochs", json_integer(c->epochs));
    json_object_set_new(o, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(o, "dataset", json_string(c->dataset));
    json_object_set_new(o, "data_dir", json_string(c->data_dir));
    json_object_set_new(o, "pad32", json_integer(c->pad32));
    json_object_set_new(o, "subset", json_integer(c->subset));
    json_object_set_new(o, "valid_images", json_integer(c->valid_images));
    json_object_set_new(o, "split_seed", json_integer((json_int_t)c->split_seed));
    json_object_set_new(o, "test_images", json_integer(c->test_images));
    json_object_set_new(o, "lr", json_real(c->lr));
    json_object_set_new(o, "lr_min", json_real(c->lr_min));
    json_object_set_new(o, "momentum", json_real(c->momentum));
    json_object_set_new(o, "weight_decay", json_real(c->weight_decay));
    json_object_set_new(o, "grad_clip", json_real(c->grad_clip));
    json_object_set_new(o, "drop_path_prob", json_real(c->drop_path_prob));
    json_object_set_new(o, "cutout", json_integer(c->cutout));
    json_object_set_new(o, "augment", json_integer(c->augment));
    json_object_set_new(o, "dtype", json_string(dtype_name(c->dt)));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

td_status train_config_parse(const char *json, train_config *c)
{
    json_error_t err;
    json_t *o = json_loads(json, 0, &err);
    if (!json_is_object(o)) {
        if (o) json_decref(o);
        return TD_FAIL(TD_ERR_FORMAT, "train config: not a JSON object (%s)", err.text);
    }
    train_config_defaults(c);
    td_status s = TD_OK;
    const char *ints[] = {"channels", "layers", "in_channels", "image_size", "classes", "auxiliary", "drop_path", "batch",
                          "epochs", "seed", "pad32", "subset", "valid_images", "split_seed", "test_images", "cutout"};
    json_int_t iv[16];
    for (int i = 0; i < 16; i++) {
        json_t *v = json_object_get(o, ints[i]);
        if (!json_is_integer(v)) {
            s = TD_FAIL(TD_ERR_FORMAT, "train config: \"%s\" missing or not an integer", ints[i]);
            goto done;
        }
        iv[i] = json_integer_value(v);
    }
    c->net.C = (int)iv[0];
    c->net.layers = (int)iv[1];
    c->net.in_ch = (int)iv[2];
    c->net.hw = (int)iv[3];
    c->net.classes = (int)iv[4];
    c->net.auxiliary = (int)iv[5];
    c->net.drop_path = (int)iv[6];
    c->batch = (int)iv[7];
    c->epochs = (int)iv[8];
    c->seed = (uint64_t)iv[9];
    c->pad32 = (int)iv[10];
    c->subset = (int)iv[11];
    c->valid_images = (int)iv[12];
    c->split_seed = (uint64_t)iv[13];
    c->test_images = (int)iv[14];
    c->cutout = (int)iv[15];
    const char *reals[] = {"lr", "lr_min", "momentum", "weight_decay", "grad_clip", "drop_path_prob"};
    double *rdst[] = {&c->lr, &c->lr_min, &c->momentum, &c->weight_decay, &c->grad_clip, &c->drop_path_prob};
    for (int i = 0; i < 6; i++) {
        json_t *v = json_object_get(o, reals[i]);
        if (!json_is_number(v)) {
            s = TD_FAIL(TD_ERR_FORMAT, "train config: \"%s\" missing or not a number", reals[i]);
            goto done;
        }
        *rdst[i] = json_number_value(v);
    }
    const char *net = json_string_value(json_object_get(o, "net"));
    const char *geno = json_string_value(json_object_get(o, "genotype"));
    const char *ds = json_string_value(json_object_get(o, "dataset"));
    const char *dd = json_string_value(json_object_get(o, "data_dir"));
    const char *dt = json_string_value(json_object_get(o, "dtype"));
    if (!net || !geno || !ds || !dd || !dt) {
        s = TD_FAIL(TD_ERR_FORMAT, "train config: missing net, genotype, dataset, data_dir or dtype");
        goto done;
    }
    c->net.linear = !strcmp(net, "linear");
    if (!c->net.linear) s = genotype_parse(geno, "train config", &c->net.geno);
    if (path_format(c->dataset, sizeof c->dataset, "%s", ds) != TD_OK ||
        path_format(c->data_dir, sizeof c->data_dir, "%s", dd) != TD_OK) {
        s = TD_FAIL(TD_ERR_FORMAT, "train config: dataset or data_dir longer than %zu bytes", sizeof c->dataset - 1);
        goto done;
    }
    json_t *aug = json_object_get(o, "augment");
    if (!json_is_integer(aug)) {
        s = TD_FAIL(TD_ERR_FORMAT, "train config: \"augment\" missing or not an integer");
        goto done;
    }
    c->augment = (int)json_integer_value(aug);
    c->dt = !strcmp(dt, "f64") ? DT_F64 : DT_F32;
done:
    json_decref(o);
    return s;
}
