/* The config tables and the budget table. Each config's one table of
 * fields gives its JSON, its parser and its command-line flags and help:
 * every field round-trips through JSON, reaches the JSON when changed, is
 * refused when mistyped or missing (the message naming it), appears in
 * --help and is set by its flag. The smoke configs keep their bytes. And
 * `search --budget`, `train --budget` and the protocol's plan give the same
 * configs for every budget. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tsedarts/budget.h"
#include "tsedarts/data.h"
#include "tsedarts/fileio.h"
#include "tsedarts/protocol.h"

/* ------------------------------------------------------------ the tables */

typedef struct config_kind {
    const char *what;    /* as parse messages say it */
    const char *command; /* the CLI command */
    const field_desc *fields;
    int n;
    size_t size;
    void (*defaults)(void *c);
    td_status (*to_json)(const void *c, char **json);
    td_status (*parse)(const char *json, void *c);
} config_kind;

static void search_defaults(void *c) { search_config_defaults(c); }
static td_status search_json(const void *c, char **j) { return search_config_json(c, j); }
static td_status search_parse(const char *j, void *c) { return search_config_parse(j, c); }
static void train_defaults(void *c)
{
    train_config_defaults(c);
    /* a config always holds a genotype, and the default one is empty */
    cr_assert_eq(genotype_load("DARTS_V2", &((train_config *)c)->net.geno), TD_OK, "%s", td_error_message());
}
static td_status train_json(const void *c, char **j) { return train_config_json(c, j); }
static td_status train_parse(const char *j, void *c) { return train_config_parse(j, c); }

static config_kind kinds[2];

static void kinds_init(void)
{
    kinds[0] = (config_kind){.what = "search config", .command = "search", .fields = search_config_fields,
                             .n = search_config_n_fields, .size = sizeof(search_config), .defaults = search_defaults,
                             .to_json = search_json, .parse = search_parse};
    kinds[1] = (config_kind){.what = "train config", .command = "train", .fields = train_config_fields,
                             .n = train_config_n_fields, .size = sizeof(train_config), .defaults = train_defaults,
                             .to_json = train_json, .parse = train_parse};
}

#define FOR_KINDS(k) for (const config_kind *k = (kinds_init(), kinds); k < kinds + 2; k++)

static char *to_json(const config_kind *k, const void *c)
{
    char *j = NULL;
    cr_assert_eq(k->to_json(c, &j), TD_OK, "%s: %s", k->what, td_error_message());
    return j;
}

static size_t type_align(const field_desc *f)
{
    switch (f->type) {
    case FIELD_STRING: return 1;
    case FIELD_U64:
    case FIELD_REAL:
    case FIELD_CUSTOM: return 8;
    default: return 4;
    }
}

/* Checks every byte of the struct belongs to a field or is padding the
 * compiler needs before the next field: a member the table forgot leaves a
 * gap at least as wide as that alignment, unless it hides in padding
 * before an 8-byte member (an int there is not caught). */
static int covered(const config_kind *k, char *why, size_t len)
{
    int order[128];
    cr_assert_leq(k->n, 128);
    for (int i = 0; i < k->n; i++) order[i] = i;
    for (int i = 1; i < k->n; i++)
        for (int j = i; j > 0 && k->fields[order[j]].offset < k->fields[order[j - 1]].offset; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t end = 0;
    for (int i = 0; i < k->n; i++) {
        const field_desc *f = &k->fields[order[i]];
        if (f->offset > end && f->offset - end >= type_align(f)) {
            snprintf(why, len, "%s: bytes %zu..%zu before field %s belong to no field", k->what, end, f->offset,
                     f->key);
            return 0;
        }
        end = f->offset + f->size;
    }
    if (k->size - end >= 8) {
        snprintf(why, len, "%s: bytes %zu..%zu at the end belong to no field", k->what, end, k->size);
        return 0;
    }
    return 1;
}

Test(config, tables_are_well_formed_and_cover_their_structs)
{
    FOR_KINDS(k)
    {
        cr_expect_eq(fields_check(k->fields, k->n, k->size, k->what), TD_OK, "%s", td_error_message());
        char why[256];
        cr_expect(covered(k, why, sizeof why), "%s", why);
    }
    /* the checks themselves can fail: a table without a member, a flag twice */
    config_kind cut = kinds[1];
    field_desc fields[128];
    memcpy(fields, cut.fields, (size_t)cut.n * sizeof *fields);
    for (int i = 0; i < cut.n; i++)
        if (!strcmp(fields[i].key, "cutout")) fields[i] = fields[--cut.n];
    cut.fields = fields;
    char why[256];
    cr_expect(!covered(&cut, why, sizeof why), "a table without cutout passed the coverage check");
    fields[0].flag = "seed";
    cr_expect_neq(fields_check(fields, cut.n, cut.size, "broken"), TD_OK, "a flag used twice passed");
}

/* ------------------------------------------------------------------ JSON */

/* Sets field f of c to a value other than its default. */
static void set_other(const field_desc *f, void *c)
{
    void *p = (char *)c + f->offset;
    switch (f->type) {
    case FIELD_INT: *(int *)p = (int)f->def + 3; break;
    case FIELD_U64: *(uint64_t *)p = (uint64_t)f->def + 5; break;
    case FIELD_REAL: *(double *)p = f->def * 2 + 0.375; break;
    case FIELD_BOOL: *(int *)p = f->def == 0; break;
    case FIELD_STRING: snprintf(p, f->size, "other-%s", f->key); break;
    case FIELD_ENUM: {
        int n = 0;
        while (f->choices[n]) n++;
        *(int *)p = ((int)f->def + 1) % n;
        break;
    }
    case FIELD_CUSTOM:
        cr_assert_str_eq(f->key, "genotype", "no test value for custom field %s", f->key);
        cr_assert_eq(genotype_load("DARTS_V1", p), TD_OK);
        break;
    }
}

Test(config, every_field_round_trips_through_json)
{
    FOR_KINDS(k)
    {
        char base[sizeof(search_config) > sizeof(train_config) ? sizeof(search_config) : sizeof(train_config)];
        char c[sizeof base], back[sizeof base];
        memset(base, 0, sizeof base);
        k->defaults(base);
        char *j0 = to_json(k, base);
        cr_expect_eq(k->parse(j0, back), TD_OK, "%s: defaults: %s", k->what, td_error_message());
        for (int i = 0; i < k->n; i++) {
            const field_desc *f = &k->fields[i];
            memcpy(c, base, sizeof c);
            set_other(f, c);
            char *j1 = to_json(k, c);
            char key[80];
            snprintf(key, sizeof key, "\"%s\":", f->key);
            cr_expect(strstr(j1, key) != NULL, "%s: %s is not written", k->what, f->key);
            cr_expect(strcmp(j0, j1) != 0, "%s: changing %s leaves the JSON as it was", k->what, f->key);
            cr_assert_eq(k->parse(j1, back), TD_OK, "%s: %s: %s", k->what, f->key, td_error_message());
            char *j2 = to_json(k, back);
            cr_expect_str_eq(j2, j1, "%s: %s does not survive the round trip", k->what, f->key);
            const char *a = c + f->offset, *b = back + f->offset;
            if (f->type == FIELD_STRING)
                cr_expect_str_eq(b, a, "%s: %s", k->what, f->key);
            else if (f->type != FIELD_CUSTOM)
                cr_expect(!memcmp(a, b, f->size), "%s: %s parsed to another value", k->what, f->key);
            free(j1);
            free(j2);
        }
        free(j0);
    }
}

/* Optional fields are left out at their default, so that the hashes of
 * configs from before them stay as they were. */
Test(config, optional_fields_are_written_only_when_set)
{
    FOR_KINDS(k)
    {
        char c[sizeof(search_config) > sizeof(train_config) ? sizeof(search_config) : sizeof(train_config)];
        memset(c, 0, sizeof c);
        k->defaults(c);
        char *j = to_json(k, c);
        for (int i = 0; i < k->n; i++) {
            char key[80];
            snprintf(key, sizeof key, "\"%s\":", k->fields[i].key);
            cr_expect((strstr(j, key) == NULL) == (k->fields[i].optional != 0), "%s: %s %s at its default", k->what,
                      k->fields[i].key, k->fields[i].optional ? "is written" : "is missing");
        }
        free(j);
    }
}

/* Parses text after one change to the default config's JSON; returns the
 * status and the message. */
static td_status parse_changed(const config_kind *k, const char *key, json_t *value, char *msg, size_t len)
{
    char c[sizeof(search_config) > sizeof(train_config) ? sizeof(search_config) : sizeof(train_config)];
    memset(c, 0, sizeof c);
    k->defaults(c);
    char *j = to_json(k, c);
    json_t *o = json_loads(j, 0, NULL);
    free(j);
    if (value)
        json_object_set_new(o, key, value);
    else
        json_object_del(o, key);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    td_error_clear();
    td_status s = k->parse(text, c);
    snprintf(msg, len, "%s", td_error_message());
    free(text);
    return s;
}

Test(config, parse_refuses_unknown_missing_and_mistyped_fields_by_name)
{
    FOR_KINDS(k)
    {
        char msg[1024], quoted[80];
        cr_expect_neq(parse_changed(k, "bogus", json_integer(1), msg, sizeof msg), TD_OK, "%s: unknown key", k->what);
        cr_expect(strstr(msg, "\"bogus\"") && strstr(msg, k->what), "%s: %s", k->what, msg);
        for (int i = 0; i < k->n; i++) {
            const field_desc *f = &k->fields[i];
            snprintf(quoted, sizeof quoted, "\"%s\"", f->key);
            int number = f->type == FIELD_INT || f->type == FIELD_U64 || f->type == FIELD_REAL || f->type == FIELD_BOOL;
            json_t *wrong = number ? json_string("x") : json_integer(5);
            cr_expect_neq(parse_changed(k, f->key, wrong, msg, sizeof msg), TD_OK, "%s: %s of the wrong type passed",
                          k->what, f->key);
            cr_expect(strstr(msg, quoted) != NULL, "%s: the message for %s does not name it: %s", k->what, f->key, msg);
            td_status s = parse_changed(k, f->key, NULL, msg, sizeof msg);
            if (f->optional) {
                cr_expect_eq(s, TD_OK, "%s: optional %s is required: %s", k->what, f->key, msg);
            } else {
                cr_expect_neq(s, TD_OK, "%s: missing %s passed", k->what, f->key);
                cr_expect(strstr(msg, quoted) != NULL, "%s: missing %s unnamed: %s", k->what, f->key, msg);
            }
            json_t *bad = NULL;
            if (f->type == FIELD_ENUM) bad = json_string("no-such-name");
            if (f->type == FIELD_BOOL) bad = json_integer(2);
            if (f->type == FIELD_INT) bad = json_integer(1LL << 40);
            if (f->type == FIELD_U64) bad = json_integer(-1);
            if (bad) {
                cr_expect_neq(parse_changed(k, f->key, bad, msg, sizeof msg), TD_OK, "%s: %s out of range passed",
                              k->what, f->key);
                cr_expect(strstr(msg, quoted) != NULL, "%s: %s: %s", k->what, f->key, msg);
            }
        }
    }
}

/* ---------------------------------------------------------- command line */

static const char *bin(void)
{
    const char *b = getenv("TSEDARTS_BIN");
    if (!b || !file_exists(b)) cr_skip_test("TSEDARTS_BIN not set");
    return b;
}

/* Runs the command (arguments already quoted) and returns its stdout. */
static char *capture(const char *args, int *rc)
{
    size_t len = strlen(bin()) + strlen(args) + 16;
    char *cmd = malloc(len);
    snprintf(cmd, len, "%s %s", bin(), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "%s", cmd);
    char *out = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) out = realloc(out, cap = 2 * cap + 8192);
        size_t got = fread(out + n, 1, 4096, p);
        n += got;
        if (!got) break;
    }
    out[n] = '\0';
    int status = pclose(p);
    *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    free(cmd);
    return out;
}

static char *config_from_cli(const char *args)
{
    int rc;
    char *out = capture(args, &rc);
    cr_assert_eq(rc, 0, "tsedarts %s: exit %d", args, rc);
    char *nl = strchr(out, '\n');
    if (nl) *nl = '\0';
    return out;
}

Test(config, help_shows_every_flag_with_its_help)
{
    FOR_KINDS(k)
    {
        char args[64];
        snprintf(args, sizeof args, "%s --help", k->command);
        int rc;
        char *help = capture(args, &rc);
        cr_expect_eq(rc, 0);
        for (int i = 0; i < k->n; i++) {
            char flag[FIELD_FLAG_MAX], line[FIELD_FLAG_MAX + 8];
            if (!field_flag(&k->fields[i], flag)[0]) continue;
            snprintf(line, sizeof line, "  --%s ", flag);
            char *at = strstr(help, line);
            cr_expect(at != NULL, "%s --help lacks --%s", k->command, flag);
            char *eol = at ? strchr(at, '\n') : NULL;
            if (eol) *eol = '\0';
            char *text = field_help_text(&k->fields[i]);
            cr_expect(at && strstr(at, text), "%s --help: --%s lacks its help '%s'", k->command, flag, text);
            free(text);
            if (eol) *eol = '\n';
        }
        for (int b = 0; b < budget_count; b++)
            cr_expect(strstr(help, budgets[b].about) != NULL, "%s --help lacks budget %s", k->command, budgets[b].name);
        free(help);
    }
}

/* The flag's text for a value other than the default and valid for the
 * command (even channels, a dataset with known sizes). */
static void other_text(const field_desc *f, char *buf, size_t len)
{
    buf[0] = '\0';
    switch (f->type) {
    case FIELD_INT:
    case FIELD_U64: snprintf(buf, len, "%.0f", f->def + 2 <= f->max || !f->max ? f->def + 2 : f->def - 2); break;
    case FIELD_REAL: snprintf(buf, len, "%.17g", (f->def + f->max) / 2); break;
    case FIELD_BOOL:
        if (f->choices) snprintf(buf, len, "%s", f->choices[f->def == 0]);
        break;
    case FIELD_STRING: snprintf(buf, len, "%s", !strcmp(f->key, "dataset") ? "synthetic" : "/tmp/other-dir"); break;
    case FIELD_ENUM: {
        /* the one algorithm every other field's new value suits (the nb201
         * space, TSE analysis); pdarts and tse-pdarts take neither */
        if (!strcmp(f->key, "algo")) {
            snprintf(buf, len, "tse-exact");
            break;
        }
        int n = 0;
        while (f->choices[n]) n++;
        /* DrNAS algorithms start from their own defaults (tested in
         * test_drnas_search); the flags-over-defaults rule is DARTS's */
        if (!strcmp(f->key, "algo")) {
            snprintf(buf, len, "tse-exact");
            break;
        }
        snprintf(buf, len, "%s", f->choices[(int)f->def == n - 1 ? 0 : n - 1]);
        break;
    }
    case FIELD_CUSTOM: snprintf(buf, len, "DARTS_V1"); break;
    }
}

/* Every flag at once: what the command writes equals the defaults with
 * each field set from its flag's text, and no field keeps its default. */
Test(config, flags_set_every_field)
{
    FOR_KINDS(k)
    {
        char args[8192], c[sizeof(search_config) > sizeof(train_config) ? sizeof(search_config) : sizeof(train_config)];
        char d[sizeof c];
        memset(c, 0, sizeof c);
        k->defaults(c);
        memcpy(d, c, sizeof d);
        int at = snprintf(args, sizeof args, "%s --print-config", k->command);
        for (int i = 0; i < k->n; i++) {
            const field_desc *f = &k->fields[i];
            char flag[FIELD_FLAG_MAX], value[64];
            if (!field_flag(f, flag)[0]) continue;
            other_text(f, value, sizeof value);
            at += snprintf(args + at, sizeof args - (size_t)at, " --%s %s", flag, value);
            cr_assert_lt(at, (int)sizeof args);
            cr_assert_eq(field_set_text(f, c, value, flag), TD_OK, "%s", td_error_message());
            char *a = to_json(k, c), *b = to_json(k, d);
            /* a linear baseline has no genotype to write */
            int linear = !strcmp(f->key, "genotype") && ((train_config *)c)->net.linear;
            cr_expect(linear || strcmp(a, b), "%s: --%s %s changes nothing", k->command, flag, value);
            memcpy(d, c, sizeof d);
            free(a);
            free(b);
        }
        if (k->fields == train_config_fields) {
            train_config *t = (train_config *)c;
            t->net.auxiliary = t->net.drop_path = 0; /* as the command does for --net linear */
        }
        /* the run takes the image sizes from the data */
        for (int i = 0; i < k->n; i++)
            if (k->fields[i].no_flag && strcmp(k->fields[i].key, "smooth_ops")) {
                int ch, side, classes;
                cr_assert_eq(dataset_dims("synthetic", 0, &ch, &side, &classes), TD_OK);
                int v = !strcmp(k->fields[i].key, "in_channels") ? ch
                        : !strcmp(k->fields[i].key, "image_size") ? side
                                                                 : classes;
                *(int *)(c + k->fields[i].offset) = v;
            }
        char *want = to_json(k, c), *got = config_from_cli(args);
        cr_expect_str_eq(got, want, "tsedarts %s", args);
        free(want);
        free(got);
    }
    /* the genotype's flag, which the linear net above ignores */
    char *got = config_from_cli("train --genotype DARTS_V1 --print-config");
    cr_expect(strstr(got, "\"genotype\":\"DARTS_V1 | normal:") != NULL, "%s", got);
    free(got);
}

/* The bytes the smoke runs have always written (from before the tables). */
Test(config, smoke_configs_keep_their_bytes)
{
    char *s = config_from_cli("search --budget smoke --print-config");
    cr_expect_str_eq(
        s, "{\"algo\":\"darts1\",\"arch_beta1\":0.5,\"arch_beta2\":0.999,\"arch_eps\":1e-8,\"arch_lr\":"
           "0.00029999999999999997,\"arch_weight_decay\":0.001,\"batch\":16,\"channels\":4,\"classes\":10,\"data_dir\":"
           "\"/usr/share/datasets/fashion-mnist\",\"dataset\":\"fashion-mnist\",\"dtype\":\"f32\",\"epochs\":2,"
           "\"eval_images\":64,\"grad_clip\":5.0,\"image_size\":32,\"in_channels\":1,\"layers\":4,\"lr_max\":"
           "0.025000000000000001,\"lr_min\":0.001,\"momentum\":0.90000000000000002,\"nesterov\":0,\"pad32\":1,\"seed\":2,"
           "\"smooth_ops\":0,\"subset\":64,\"train_portion\":0.5,\"tse_all_data\":0,\"tse_restore_momentum\":0,"
           "\"tse_steps\":2,\"weight_decay\":0.00029999999999999997}");
    free(s);
    char *t = config_from_cli("train --budget smoke --genotype DARTS_V2 --print-config");
    cr_expect_str_eq(
        t, "{\"augment\":1,\"auxiliary\":1,\"batch\":32,\"channels\":4,\"classes\":10,\"cutout\":16,\"data_dir\":"
           "\"/usr/share/datasets/fashion-mnist\",\"dataset\":\"fashion-mnist\",\"drop_path\":1,\"drop_path_prob\":"
           "0.20000000000000001,\"dtype\":\"f32\",\"epochs\":2,\"genotype\":\"DARTS_V2 | normal: sep_conv_3x3:0 "
           "sep_conv_3x3:1 sep_conv_3x3:0 sep_conv_3x3:1 sep_conv_3x3:1 skip_connect:0 skip_connect:0 dil_conv_3x3:2 | "
           "reduce: max_pool_3x3:0 max_pool_3x3:1 skip_connect:2 max_pool_3x3:1 max_pool_3x3:0 skip_connect:2 "
           "skip_connect:2 max_pool_3x3:1 | concat 2-5\",\"grad_clip\":5.0,\"image_size\":32,\"in_channels\":1,"
           "\"layers\":8,\"lr\":0.025000000000000001,\"lr_min\":0.0,\"momentum\":0.90000000000000002,\"net\":\"eval\","
           "\"pad32\":1,\"seed\":0,\"split_seed\":1,\"subset\":256,\"test_images\":256,\"valid_images\":0,"
           "\"weight_decay\":0.00029999999999999997}");
    free(t);
}

/* --------------------------------------------------------------- budgets */

/* A plan template with a genotype and seed, as the protocol's runs get it. */
static char *template_config(json_t *method, const char *section, const char *genotype_line, int seed)
{
    json_t *o = json_deep_copy(json_object_get(json_object_get(method, section), "template"));
    cr_assert_not_null(o, "plan lacks %s", section);
    json_object_set_new(o, "genotype", json_string(genotype_line));
    json_object_set_new(o, "seed", json_integer(seed));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    train_config t;
    cr_assert_eq(train_config_parse(text, &t), TD_OK, "%s", td_error_message());
    free(text);
    char *j = NULL;
    cr_assert_eq(train_config_json(&t, &j), TD_OK);
    return j;
}

Test(config, search_train_and_protocol_agree_for_every_budget, .timeout = 300)
{
    genotype g;
    cr_assert_eq(genotype_load("DARTS_V2", &g), TD_OK);
    char line[1024], args[2048];
    genotype_format(&g, line, sizeof line);
    for (int b = 0; b < budget_count; b++) {
        const budget *row = &budgets[b];
        protocol_request r;
        protocol_request_defaults(&r);
        snprintf(r.budget, sizeof r.budget, "%s", row->name);
        snprintf(r.dataset, sizeof r.dataset, "synthetic");
        char *text;
        cr_assert_eq(protocol_plan_json(&r, &text), TD_OK, "%s", td_error_message());
        json_t *plan = json_loads(text, 0, NULL);
        free(text);
        cr_expect_eq(json_is_true(json_object_get(plan, "comparable_to_paper")), row->spec);
        json_t *methods = json_object_get(plan, "methods");
        cr_assert_eq((int)json_array_size(methods), r.n_methods);
        for (int m = 0; m < r.n_methods; m++) {
            const method_def *def = &protocol_methods[r.methods[m]];
            json_t *mo = json_array_get(methods, (size_t)m);
            json_t *searches = json_object_get(mo, "searches");
            for (size_t k = 0; k < json_array_size(searches); k++) {
                json_t *so = json_array_get(searches, k);
                json_t *cfg = json_object_get(so, "config");
                /* PDARTS: the first stage's cells; DrNAS searches at the
                 * evaluation depth */
                int layers = search_algo_staged(def->algo)      ? row->pdarts.layers
                             : def->deep || search_algo_is_drnas(def->algo) ? row->search.deep_layers
                                                                         : row->search.layers;
                cr_expect_eq(json_integer_value(json_object_get(cfg, "layers")), layers, "%s %s", row->name, def->id);
                char *want = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS), deep[32] = "";
                if (def->deep) snprintf(deep, sizeof deep, " --layers %d", row->search.deep_layers);
                snprintf(args, sizeof args, "search --budget %s --algo %s --seed %lld --dataset synthetic --print-config%s",
                         row->name, search_algo_name(def->algo), json_integer_value(json_object_get(so, "seed")), deep);
                char *got = config_from_cli(args);
                cr_expect_str_eq(got, want, "budget %s, method %s: tsedarts %s", row->name, def->id, args);
                free(got);
                free(want);
            }
            /* retraining: selection (held-out split), 20-layer and shallow */
            int select_seed = (int)json_integer_value(json_object_get(json_object_get(mo, "select"), "seed"));
            char *want = template_config(mo, "select", line, select_seed);
            snprintf(args, sizeof args,
                     "train --budget %s --genotype DARTS_V2 --seed %d --valid-images %d --dataset synthetic "
                     "--print-config",
                     row->name, select_seed, row->select_valid_images);
            char *got = config_from_cli(args);
            cr_expect_str_eq(got, want, "budget %s, method %s: tsedarts %s", row->name, def->id, args);
            free(got);
            free(want);
            const char *sections[2] = {"final_deep", "final_shallow"};
            for (int f = 0; f < 2; f++) {
                json_t *seeds = json_object_get(json_object_get(mo, sections[f]), "seeds");
                int seed = (int)json_integer_value(json_array_get(seeds, 0));
                want = template_config(mo, sections[f], line, seed);
                char layers[32], shallow[32] = "";
                snprintf(layers, sizeof layers, "\"layers\":%d,", f ? row->train.shallow_layers : row->train.layers);
                cr_expect(strstr(want, layers) != NULL, "budget %s, %s: not %s", row->name, sections[f], layers);
                if (f) snprintf(shallow, sizeof shallow, " --layers %d", row->train.shallow_layers);
                snprintf(args, sizeof args,
                         "train --budget %s --genotype DARTS_V2 --seed %d --dataset synthetic --print-config%s",
                         row->name, seed, shallow);
                got = config_from_cli(args);
                cr_expect_str_eq(got, want, "budget %s, method %s, %s: tsedarts %s", row->name, def->id, sections[f],
                                 args);
                free(got);
                free(want);
            }
        }
        json_decref(plan);
    }
}

/* The paper row is the configs' defaults (docs/budgets.md). */
Test(config, paper_budget_is_the_defaults)
{
    const budget *p;
    cr_assert_eq(budget_find("paper", &p), TD_OK);
    cr_expect(p->spec);
    search_config d, s;
    search_config_defaults(&d);
    search_config_defaults(&s);
    cr_assert_eq(search_config_budget(&s, "paper", 0), TD_OK);
    cr_expect(!memcmp(&d, &s, sizeof d), "search --budget paper differs from the defaults");
    train_config td, tt;
    train_config_defaults(&td);
    train_config_defaults(&tt);
    cr_assert_eq(train_config_budget(&tt, "paper", 0), TD_OK);
    cr_expect(!memcmp(&td, &tt, sizeof td), "train --budget paper differs from the defaults");
    cr_expect_eq(budget_find("huge", &p), TD_ERR_ARG);
    cr_expect(strstr(td_error_message(), "huge") && strstr(td_error_message(), "smoke"), "%s", td_error_message());
}

/* docs/budgets.md's table states every size of every budget; it must say
 * what core/base/budget.c holds, field for field. */
typedef struct budget_field {
    const char *name;
    double (*get)(const budget *b);
} budget_field;

#define BUDGET_FIELD(path) {#path, budget_get_##path}
#define BUDGET_GETTER(path, expr) \
    static double budget_get_##path(const budget *b) { return (double)(expr); }
BUDGET_GETTER(search_channels, b->search.channels)
BUDGET_GETTER(search_layers, b->search.layers)
BUDGET_GETTER(search_deep_layers, b->search.deep_layers)
BUDGET_GETTER(search_batch, b->search.batch)
BUDGET_GETTER(search_epochs, b->search.epochs)
BUDGET_GETTER(search_subset, b->search.subset)
BUDGET_GETTER(search_eval_images, b->search.eval_images)
BUDGET_GETTER(search_tse_steps, b->search.tse_steps)
BUDGET_GETTER(pdarts_layers, b->pdarts.layers)
BUDGET_GETTER(pdarts_add_layers, b->pdarts.add_layers)
BUDGET_GETTER(pdarts_epochs, b->pdarts.epochs)
BUDGET_GETTER(pdarts_warmup, b->pdarts.warmup)
BUDGET_GETTER(pdarts_batch, b->pdarts.batch)
BUDGET_GETTER(train_channels, b->train.channels)
BUDGET_GETTER(train_layers, b->train.layers)
BUDGET_GETTER(train_shallow_layers, b->train.shallow_layers)
BUDGET_GETTER(train_batch, b->train.batch)
BUDGET_GETTER(train_epochs, b->train.epochs)
BUDGET_GETTER(train_subset, b->train.subset)
BUDGET_GETTER(train_test_images, b->train.test_images)
BUDGET_GETTER(train_plain, b->train.plain)
BUDGET_GETTER(baseline_epochs, b->baseline.epochs)
BUDGET_GETTER(baseline_lr, b->baseline.lr)
BUDGET_GETTER(select_valid_images, b->select_valid_images)

static const budget_field budget_fields[] = {
    BUDGET_FIELD(search_channels),   BUDGET_FIELD(search_layers),      BUDGET_FIELD(search_deep_layers),
    BUDGET_FIELD(search_batch),      BUDGET_FIELD(search_epochs),      BUDGET_FIELD(search_subset),
    BUDGET_FIELD(search_eval_images), BUDGET_FIELD(search_tse_steps),  BUDGET_FIELD(pdarts_layers),
    BUDGET_FIELD(pdarts_add_layers), BUDGET_FIELD(pdarts_epochs),      BUDGET_FIELD(pdarts_warmup),
    BUDGET_FIELD(pdarts_batch),      BUDGET_FIELD(train_channels),     BUDGET_FIELD(train_layers),
    BUDGET_FIELD(train_shallow_layers), BUDGET_FIELD(train_batch),     BUDGET_FIELD(train_epochs),
    BUDGET_FIELD(train_subset),      BUDGET_FIELD(train_test_images),  BUDGET_FIELD(train_plain),
    BUDGET_FIELD(baseline_epochs),   BUDGET_FIELD(baseline_lr),        BUDGET_FIELD(select_valid_images),
};
#define N_BUDGET_FIELDS ((int)(sizeof budget_fields / sizeof budget_fields[0]))

/* "search.channels" -> "search_channels", the getter's name. */
static int budget_field_index(const char *doc_name)
{
    char name[64];
    snprintf(name, sizeof name, "%s", doc_name);
    for (char *c = name; *c; c++)
        if (*c == '.') *c = '_';
    for (int i = 0; i < N_BUDGET_FIELDS; i++)
        if (!strcmp(budget_fields[i].name, name)) return i;
    return -1;
}

/* The cells of a markdown table row, trimmed, into cell[] (at most max). */
static int table_cells(char *line, char **cell, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *c = strtok_r(line, "|", &save); c && n < max; c = strtok_r(NULL, "|", &save)) {
        while (*c == ' ') c++;
        char *end = c + strlen(c);
        while (end > c && end[-1] == ' ') *--end = '\0';
        cell[n++] = c;
    }
    return n;
}

Test(config, docs_budgets_table_is_budget_c)
{
    const char *src = getenv("TSEDARTS_SOURCE_DIR");
    cr_assert_not_null(src, "TSEDARTS_SOURCE_DIR is not set (ctest sets it)");
    char path[1024], *text;
    snprintf(path, sizeof path, "%s/docs/budgets.md", src);
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK, "%s", td_error_message());
    int column[8], n_columns = 0, seen[N_BUDGET_FIELDS] = {0}, rows = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *cell[16];
        if (strncmp(line, "| ", 2)) continue;
        int n = table_cells(line, cell, 16);
        if (n >= 3 && !strcmp(cell[0], "field") && !strcmp(cell[1], "meaning")) {
            /* the header names the budgets of the columns */
            n_columns = n - 2;
            for (int k = 0; k < n_columns; k++) {
                column[k] = -1;
                for (int b = 0; b < budget_count; b++)
                    if (!strcmp(budgets[b].name, cell[k + 2])) column[k] = b;
                cr_expect_geq(column[k], 0, "docs/budgets.md names a budget '%s' that does not exist", cell[k + 2]);
            }
            cr_expect_eq(n_columns, budget_count, "docs/budgets.md has %d budget columns, budget.c %d budgets",
                         n_columns, budget_count);
            continue;
        }
        if (!n_columns || n < 2 || cell[0][0] != '`') continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(cell[0] + 1, "`"), cell[0] + 1);
        int f = budget_field_index(name);
        cr_expect_geq(f, 0, "docs/budgets.md lists a field %s that budget.c does not have", name);
        cr_expect_eq(n, n_columns + 2, "docs/budgets.md, %s: %d cells", name, n);
        if (f < 0 || n != n_columns + 2) continue;
        seen[f]++;
        rows++;
        for (int k = 0; k < n_columns; k++) {
            if (column[k] < 0) continue;
            double doc = strtod(cell[k + 2], NULL), code = budget_fields[f].get(&budgets[column[k]]);
            cr_expect_eq(doc, code, "docs/budgets.md says %s = %s at %s; budget.c has %g", name, cell[k + 2],
                         budgets[column[k]].name, code);
        }
    }
    for (int f = 0; f < N_BUDGET_FIELDS; f++)
        cr_expect_eq(seen[f], 1, "docs/budgets.md lists %s %d times", budget_fields[f].name, seen[f]);
    cr_expect_eq(rows, N_BUDGET_FIELDS);
    free(text);
}
