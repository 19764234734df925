/* Search configuration: defaults (SPEC.md), budgets, canonical JSON. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/data.h"
#include "tsedarts/search.h"
#include "tsedarts/space.h"

static const char *const algo_names[ALGO_COUNT] = {"darts1", "darts2", "tse", "tse-exact"};

const char *search_algo_name(search_algo a) { return a >= 0 && a < ALGO_COUNT ? algo_names[a] : "?"; }

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

void search_config_defaults(search_config *c)
{
    memset(c, 0, sizeof *c);
    c->algo = ALGO_DARTS1;
    c->net.C = 16;
    c->net.layers = 8;
    c->net.in_ch = 3;
    c->net.hw = 32;
    c->net.classes = 10;
    c->batch = 64;
    c->epochs = 50;
    c->seed = 2;
    snprintf(c->dataset, sizeof c->dataset, "fashion-mnist");
    snprintf(c->data_dir, sizeof c->data_dir, "%s", FASHION_MNIST_DEFAULT_DIR);
    c->pad32 = 1;
    c->subset = 0;
    c->eval_images = -1;
    c->train_portion = 0.5;
    c->lr_max = 0.025;
    c->lr_min = 0.001;
    c->momentum = 0.9;
    c->weight_decay = 3e-4;
    c->grad_clip = 5.0;
    c->arch_lr = 3e-4;
    c->arch_beta1 = 0.5;
    c->arch_beta2 = 0.999;
    c->arch_eps = 1e-8;
    c->arch_weight_decay = 1e-3;
    c->tse_steps = 100;
    c->dt = DT_F32;
}

td_status search_config_budget(search_config *c, const char *budget)
{
    if (!strcmp(budget, "paper")) {
        search_config d;
        search_config_defaults(&d);
        c->net.C = d.net.C;
        c->net.layers = d.net.layers;
        c->batch = d.batch;
        c->epochs = d.epochs;
        c->subset = 0;
        c->eval_images = -1;
        c->tse_steps = d.tse_steps;
    } else if (!strcmp(budget, "mini")) {
        c->net.C = 8;
        c->net.layers = 5;
        c->batch = 32;
        c->epochs = 8;
        c->subset = 1600;
        c->eval_images = 1000;
        c->tse_steps = 10;
    } else if (!strcmp(budget, "smoke")) {
        c->net.C = 4;
        c->net.layers = 4;
        c->batch = 16;
        c->epochs = 2;
        c->subset = 64;
        c->eval_images = 64;
        c->tse_steps = 2;
    } else {
        return TD_FAIL(TD_ERR_ARG, "unknown budget '%s' (smoke, mini or paper)", budget);
    }
    return TD_OK;
}

char *search_config_json(const search_config *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "algo", json_string(search_algo_name(c->algo)));
    json_object_set_new(o, "channels", json_integer(c->net.C));
    json_object_set_new(o, "layers", json_integer(c->net.layers));
    json_object_set_new(o, "in_channels", json_integer(c->net.in_ch));
    json_object_set_new(o, "image_size", json_integer(c->net.hw));
    json_object_set_new(o, "classes", json_integer(c->net.classes));
    json_object_set_new(o, "smooth_ops", json_integer(c->net.smooth));
    json_object_set_new(o, "batch", json_integer(c->batch));
    json_object_set_new(o, "epochs", json_integer(c->epochs));
    json_object_set_new(o, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(o, "dataset", json_string(c->dataset));
    json_object_set_new(o, "data_dir", json_string(c->data_dir));
    json_object_set_new(o, "pad32", json_integer(c->pad32));
    json_object_set_new(o, "subset", json_integer(c->subset));
    json_object_set_new(o, "eval_images", json_integer(c->eval_images));
    json_object_set_new(o, "train_portion", json_real(c->train_portion));
    json_object_set_new(o, "lr_max", json_real(c->lr_max));
    json_object_set_new(o, "lr_min", json_real(c->lr_min));
    json_object_set_new(o, "momentum", json_real(c->momentum));
    json_object_set_new(o, "weight_decay", json_real(c->weight_decay));
    json_object_set_new(o, "grad_clip", json_real(c->grad_clip));
    json_object_set_new(o, "nesterov", json_integer(c->nesterov));
    json_object_set_new(o, "arch_lr", json_real(c->arch_lr));
    json_object_set_new(o, "arch_beta1", json_real(c->arch_beta1));
    json_object_set_new(o, "arch_beta2", json_real(c->arch_beta2));
    json_object_set_new(o, "arch_eps", json_real(c->arch_eps));
    json_object_set_new(o, "arch_weight_decay", json_real(c->arch_weight_decay));
    json_object_set_new(o, "tse_steps", json_integer(c->tse_steps));
    json_object_set_new(o, "tse_all_data", json_integer(c->tse_all_data));
    json_object_set_new(o, "tse_restore_momentum", json_integer(c->tse_restore_momentum));
    json_object_set_new(o, "dtype", json_string(dtype_name(c->dt)));
    /* diagnostics: present only when on, so that the hashes of plain
     * configurations do not depend on them */
    if (c->net.space) json_object_set_new(o, "space", json_string(space_name(c->net.space)));
    if (c->tse_analysis) json_object_set_new(o, "tse_analysis", json_integer(c->tse_analysis));
    if (c->hessian_every) json_object_set_new(o, "hessian_every", json_integer(c->hessian_every));
    if (c->hessian_lanczos) json_object_set_new(o, "hessian_lanczos", json_integer(c->hessian_lanczos));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

#define GET_INT(key, dst)                                                                        \
    do {                                                                                         \
        json_t *v_ = json_object_get(o, key);                                                    \
        if (!json_is_integer(v_)) {                                                              \
            s = TD_FAIL(TD_ERR_FORMAT, "search config: \"%s\" missing or not an integer", key);   \
            goto done;                                                                           \
        }                                                                                        \
        dst = json_integer_value(v_);                                                            \
    } while (0)
#define GET_REAL(key, dst)                                                                       \
    do {                                                                                         \
        json_t *v_ = json_object_get(o, key);                                                    \
        if (!json_is_number(v_)) {                                                               \
            s = TD_FAIL(TD_ERR_FORMAT, "search config: \"%s\" missing or not a number", key);     \
            goto done;                                                                           \
        }                                                                                        \
        dst = json_number_value(v_);                                                             \
    } while (0)
#define GET_STR(key, dst)                                                                        \
    do {                                                                                         \
        const char *v_ = json_string_value(json_object_get(o, key));                              \
        if (!v_) {                                                                               \
            s = TD_FAIL(TD_ERR_FORMAT, "search config: \"%s\" missing or not a string", key);     \
            goto done;                                                                           \
        }                                                                                        \
        if ((size_t)snprintf(dst, sizeof dst, "%s", v_) >= sizeof dst) {                          \
            s = TD_FAIL(TD_ERR_FORMAT, "search config: \"%s\" is longer than %zu bytes", key,       \
                        sizeof dst - 1);                                                         \
            goto done;                                                                           \
        }                                                                                        \
    } while (0)

td_status search_config_parse(const char *json, search_config *c)
{
    json_error_t err;
    json_t *o = json_loads(json, 0, &err);
    if (!json_is_object(o)) {
        if (o) json_decref(o);
        return TD_FAIL(TD_ERR_FORMAT, "search config: not a JSON object (%s)", err.text);
    }
    td_status s = TD_OK;
    search_config_defaults(c);
    char algo[32], dt[8];
    json_int_t seed = 0;
    GET_STR("algo", algo);
    int a = search_algo_by_name(algo);
    if (a < 0) {
        s = TD_FAIL(TD_ERR_FORMAT, "search config: unknown algo '%s'", algo);
        goto done;
    }
    c->algo = (search_algo)a;
    GET_INT("channels", c->net.C);
    GET_INT("layers", c->net.layers);
    GET_INT("in_channels", c->net.in_ch);
    GET_INT("image_size", c->net.hw);
    GET_INT("classes", c->net.classes);
    GET_INT("smooth_ops", c->net.smooth);
    GET_INT("batch", c->batch);
    GET_INT("epochs", c->epochs);
    GET_INT("seed", seed);
    c->seed = (uint64_t)seed;
    GET_STR("dataset", c->dataset);
    GET_STR("data_dir", c->data_dir);
    GET_INT("pad32", c->pad32);
    GET_INT("subset", c->subset);
    GET_INT("eval_images", c->eval_images);
    GET_REAL("train_portion", c->train_portion);
    GET_REAL("lr_max", c->lr_max);
    GET_REAL("lr_min", c->lr_min);
    GET_REAL("momentum", c->momentum);
    GET_REAL("weight_decay", c->weight_decay);
    GET_REAL("grad_clip", c->grad_clip);
    GET_INT("nesterov", c->nesterov);
    GET_REAL("arch_lr", c->arch_lr);
    GET_REAL("arch_beta1", c->arch_beta1);
    GET_REAL("arch_beta2", c->arch_beta2);
    GET_REAL("arch_eps", c->arch_eps);
    GET_REAL("arch_weight_decay", c->arch_weight_decay);
    GET_INT("tse_steps", c->tse_steps);
    GET_INT("tse_all_data", c->tse_all_data);
    GET_INT("tse_restore_momentum", c->tse_restore_momentum);
    GET_STR("dtype", dt);
    if (json_object_get(o, "space")) {
        char sp[32];
        GET_STR("space", sp);
        c->net.space = space_by_name(sp);
        if (c->net.space < 0) {
            s = TD_FAIL(TD_ERR_FORMAT, "search config: unknown space '%s'", sp);
            goto done;
        }
    }
    if (json_object_get(o, "tse_analysis")) GET_INT("tse_analysis", c->tse_analysis);
    if (json_object_get(o, "hessian_every")) GET_INT("hessian_every", c->hessian_every);
    if (json_object_get(o, "hessian_lanczos")) GET_INT("hessian_lanczos", c->hessian_lanczos);
    c->dt = !strcmp(dt, "f64") ? DT_F64 : DT_F32;
done:
    json_decref(o);
    return s;
}
