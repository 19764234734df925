/* The protocol's plan: Table 2's rows, budgets, seeds and every search
 * configuration, declared before anything runs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol_internal.h"
#include "tsedarts/budget.h"
#include "tsedarts/path.h"

/* A row as the table lists it: id, label, algorithm, searched deep, and
 * the paper's test errors at 8 and 20 layers (std -1: none published). */
#define ROW(i, l, a, dp, p8, s8, p20, s20)                                                                       \
    .id = i, .label = l, .runnable = 1, .algo = a, .deep = dp, .paper8 = p8, .paper8_std = s8, .paper20 = p20, \
    .paper20_std = s20

const method_def protocol_methods[] = {
    {ROW("darts1", "DARTS (1st)", ALGO_DARTS1, 0, 4.87, 0.18, 3.00, 0.14)},
    {ROW("darts2", "DARTS (2nd)", ALGO_DARTS2, 0, 4.91, 0.22, 2.76, 0.09)},
    {ROW("tse", "TSE-DARTS", ALGO_TSE, 0, 4.64, 0.22, 2.73, 0.12)},
    {ROW("tse-drnas", "TSE-DrNAS", ALGO_TSE_DRNAS, 0, 4.35, 0.19, 2.90, 0.14)},
    {ROW("tse-pdarts", "TSE-PDARTS", ALGO_TSE_PDARTS, 0, 4.61, 0.22, 3.19, 0.12)},
    {ROW("tse20", "TSE-DARTS-20", ALGO_TSE, 1, 4.47, 0.18, 2.68, 0.04)},
    {ROW("darts1-20", "DARTS-20 (1st)", ALGO_DARTS1, 1, 5.06, 0.39, 2.89, 0.11)},
    /* the baselines the paper reprints (its 8-layer figures are the TSE
     * authors' own evaluations; PDARTS published no 20-layer std). DrNAS
     * searches TSE-DrNAS's 8 ops, `none` included, where the original
     * searches 7: the two rows then differ only in how the alphas learn
     * (PAPER.md, deviation 24). */
    {ROW("drnas", "DrNAS", ALGO_DRNAS, 0, 4.47, 0.28, 2.46, 0.03), .extra = 1, .drnas_none = 1,
     .note = "searched over the 8 ops of TSE-DrNAS, `none` included, so that the two rows differ only in how the "
             "architecture weights learn; the original DrNAS, whose published figures the paper column shows, "
             "searches 7 ops without `none`"},
    {ROW("pdarts", "PDARTS", ALGO_PDARTS, 0, 4.47, 0.15, 2.50, -1), .extra = 1},
};
#undef ROW
const int protocol_n_methods = (int)(sizeof protocol_methods / sizeof protocol_methods[0]);

const int protocol_search_seeds[PROTOCOL_SEARCHES] = {1, 2, 3, 4};
const int protocol_select_seed = 0;
const int protocol_final_seeds[PROTOCOL_FINAL_SEEDS] = {1, 2, 3};

const method_def *protocol_method(const char *id)
{
    for (int i = 0; i < protocol_n_methods; i++)
        if (!strcmp(protocol_methods[i].id, id)) return &protocol_methods[i];
    return NULL;
}

void protocol_request_defaults(protocol_request *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->budget, sizeof r->budget, "mini");
    snprintf(r->dataset, sizeof r->dataset, "fashion-mnist");
    snprintf(r->data_dir, sizeof r->data_dir, "%s", FASHION_MNIST_DEFAULT_DIR);
    for (int i = 0; i < protocol_n_methods; i++)
        if (protocol_methods[i].runnable && !protocol_methods[i].extra) r->methods[r->n_methods++] = i;
    r->selection = SELECT_VALID;
    r->jobs = 1;
}

td_status protocol_parse_methods(protocol_request *r, const char *list)
{
    r->n_methods = 0;
    char buf[512];
    if ((size_t)snprintf(buf, sizeof buf, "%s", list) >= sizeof buf)
        return TD_FAIL(TD_ERR_ARG, "--methods list longer than %zu bytes", sizeof buf - 1);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const method_def *m = protocol_method(tok);
        if (!m) {
            char known[256] = "";
            for (int i = 0; i < protocol_n_methods; i++) {
                strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
                strncat(known, protocol_methods[i].id, sizeof known - strlen(known) - 1);
            }
            return TD_FAIL(TD_ERR_ARG, "unknown method '%s' (known: %s)", tok, known);
        }
        if (!m->runnable)
            return TD_FAIL(TD_ERR_UNSUPPORTED, "method %s (%s) is not implemented; it is listed in the report as not run",
                           m->id, m->label);
        int idx = (int)(m - protocol_methods);
        for (int k = 0; k < r->n_methods; k++)
            if (r->methods[k] == idx) return TD_FAIL(TD_ERR_ARG, "method %s given twice", tok);
        if (r->n_methods == PROTOCOL_MAX_METHODS) return TD_FAIL(TD_ERR_ARG, "too many methods");
        r->methods[r->n_methods++] = idx;
    }
    if (!r->n_methods) return TD_FAIL(TD_ERR_ARG, "--methods lists no method");
    /* Table order, whatever the order given. */
    for (int i = 1; i < r->n_methods; i++)
        for (int j = i; j > 0 && r->methods[j] < r->methods[j - 1]; j--) {
            int t = r->methods[j];
            r->methods[j] = r->methods[j - 1];
            r->methods[j - 1] = t;
        }
    return TD_OK;
}

/* Image channels, side and classes of a retraining: its own pad32 (a
 * plain recipe keeps Fashion-MNIST at 28x28 while searches pad it). */
static td_status train_dims(const char *dataset, train_config *c)
{
    return dataset_dims(dataset, c->pad32, &c->net.in_ch, &c->net.hw, &c->net.classes);
}

td_status protocol_baseline_config(const protocol_request *r, train_config *c)
{
    train_config_defaults(c);
    TD_CHECK(path_format(c->dataset, sizeof c->dataset, "%s", r->dataset));
    TD_CHECK(path_format(c->data_dir, sizeof c->data_dir, "%s", r->data_dir));
    TD_CHECK(train_config_baseline(c, r->budget));
    c->seed = (uint64_t)protocol_final_seeds[0];
    return train_dims(r->dataset, c);
}

/* Sizes of every run of a method under a budget: the row of budget.h that
 * `search --budget` and `train --budget` read too. */
td_status protocol_configs(const protocol_request *r, const method_def *m, search_config *sc, train_config *t20,
                           train_config *t8, int *select_valid_images)
{
    const budget *b;
    TD_CHECK(budget_find(r->budget, &b));
    search_config_defaults(sc);
    train_config_defaults(t20);
    sc->algo = m->algo;
    search_config_algo_defaults(sc);
    if (m->drnas_none) sc->drnas_with_none = 1;
    TD_CHECK(path_format(sc->dataset, sizeof sc->dataset, "%s", r->dataset));
    TD_CHECK(path_format(sc->data_dir, sizeof sc->data_dir, "%s", r->data_dir));
    TD_CHECK(path_format(t20->dataset, sizeof t20->dataset, "%s", r->dataset));
    TD_CHECK(path_format(t20->data_dir, sizeof t20->data_dir, "%s", r->data_dir));
    TD_CHECK(search_config_budget(sc, b->name, m->deep));
    TD_CHECK(train_config_budget(t20, b->name, 0));
    int ch, side, classes;
    TD_CHECK(dataset_dims(r->dataset, sc->pad32, &ch, &side, &classes));
    sc->net.in_ch = ch;
    sc->net.hw = side;
    sc->net.classes = classes;
    TD_CHECK(train_dims(r->dataset, t20));
    *t8 = *t20;
    TD_CHECK(train_config_budget(t8, b->name, 1));
    *select_valid_images = b->select_valid_images;
    return TD_OK;
}

/* A config's canonical text as a JSON value; on failure NULL, and *s holds
 * the first error. */
static json_t *json_of(char *text, td_status *s)
{
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    if (!o && *s == TD_OK) *s = TD_FAIL(TD_ERR_FORMAT, "plan: a config is not JSON: %s", err.text);
    free(text);
    return o;
}

static json_t *train_template(const train_config *t, td_status *s)
{
    char *text = NULL;
    td_status made = train_config_json(t, &text);
    if (made == TD_OK) return json_of(text, s);
    if (*s == TD_OK) *s = made;
    return NULL;
}

static json_t *seed_array(const int *s, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(s[i]));
    return a;
}

td_status protocol_plan_json(const protocol_request *r, char **out)
{
    const budget *b;
    TD_CHECK(budget_find(r->budget, &b));
    json_t *plan = json_object();
    json_object_set_new(plan, "protocol", json_string("darts_space"));
    json_object_set_new(plan, "plan_version", json_integer(2));
    json_object_set_new(plan, "budget", json_string(r->budget));
    json_object_set_new(plan, "comparable_to_paper", json_boolean(b->spec));
    json_object_set_new(plan, "dataset", json_string(r->dataset));
    json_object_set_new(plan, "selection", json_string(r->selection == SELECT_VALID ? "valid" : "test"));
    json_object_set_new(plan, "final_mean_over", json_string("the 3 extra seeds (the selection run is excluded); "
                                                             "standard deviation with n - 1"));
    json_t *not_run = json_array(), *methods = json_array();
    for (int i = 0; i < protocol_n_methods; i++) {
        int chosen = 0;
        for (int k = 0; k < r->n_methods; k++) chosen |= r->methods[k] == i;
        if (!chosen && !protocol_methods[i].extra) json_array_append_new(not_run, json_string(protocol_methods[i].label));
    }
    json_object_set_new(plan, "not_run", not_run);
    td_status s = TD_OK;
    /* the baseline, declared like the runs it is measured against */
    train_config base;
    char *bj = NULL;
    s = protocol_baseline_config(r, &base);
    if (s == TD_OK) s = train_config_json(&base, &bj);
    if (s == TD_OK) {
        char hash[SHA256_HEX_LEN];
        sha256_buffer(bj, strlen(bj), hash);
        json_t *bo = json_object();
        json_object_set_new(bo, "label", json_string("linear classifier"));
        json_object_set_new(bo, "about", json_string("trained on the final retrainings' images and scored on their "
                                                     "test images; every retrained network is measured against it"));
        json_object_set_new(bo, "run", json_string(hash));
        json_object_set_new(bo, "config", json_of(bj, &s));
        json_object_set_new(plan, "baseline", bo);
    }
    for (int k = 0; s == TD_OK && k < r->n_methods; k++) {
        const method_def *m = &protocol_methods[r->methods[k]];
        search_config sc;
        train_config t20, t8;
        int valid_images;
        s = protocol_configs(r, m, &sc, &t20, &t8, &valid_images);
        if (s != TD_OK) break;
        json_t *mo = json_object(), *searches = json_array();
        json_object_set_new(mo, "id", json_string(m->id));
        json_object_set_new(mo, "label", json_string(m->label));
        for (int i = 0; i < PROTOCOL_SEARCHES; i++) {
            sc.seed = (uint64_t)protocol_search_seeds[i];
            char *cj = NULL;
            s = search_config_json(&sc, &cj);
            if (s != TD_OK) break;
            char hash[SHA256_HEX_LEN];
            sha256_buffer(cj, strlen(cj), hash);
            json_t *so = json_object();
            json_object_set_new(so, "seed", json_integer(protocol_search_seeds[i]));
            json_object_set_new(so, "run", json_string(hash));
            json_object_set_new(so, "config", json_of(cj, &s));
            json_array_append_new(searches, so);
        }
        json_object_set_new(mo, "searches", searches);
        /* Retraining templates: the genotype and seed are filled in when the
         * searches have produced them. */
        t20.valid_images = valid_images;
        t20.seed = (uint64_t)protocol_select_seed;
        json_t *sel = json_object();
        json_object_set_new(sel, "seed", json_integer(protocol_select_seed));
        json_object_set_new(sel, "rule", json_string(r->selection == SELECT_VALID ? "lowest held-out validation error"
                                                                                 : "lowest test error (test-set selection)"));
        json_object_set_new(sel, "template", train_template(&t20, &s));
        json_object_set_new(mo, "select", sel);
        t20.valid_images = 0;
        json_t *f20 = json_object(), *f8 = json_object();
        json_object_set_new(f20, "seeds", seed_array(protocol_final_seeds, PROTOCOL_FINAL_SEEDS));
        json_object_set_new(f20, "template", train_template(&t20, &s));
        json_object_set_new(f8, "seeds", seed_array(protocol_final_seeds, PROTOCOL_FINAL_SEEDS));
        json_object_set_new(f8, "template", train_template(&t8, &s));
        json_object_set_new(mo, "final_deep", f20);
        json_object_set_new(mo, "final_shallow", f8);
        json_array_append_new(methods, mo);
    }
    json_object_set_new(plan, "methods", methods);
    if (s == TD_OK) *out = json_dumps(plan, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(plan);
    return s;
}
