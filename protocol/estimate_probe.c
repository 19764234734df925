/* Timing every kind of run a plan holds on a device, and the estimate that
 * follows (estimate_internal.h). It opens the device, so it runs in a
 * child process of protocol_estimate_make. A probe is a real run of the
 * probe config in a scratch directory, removed afterwards; runs of one
 * kind (the four searches of a row, seeds of one retraining) share it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estimate_internal.h"
#include "run_internal.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/protocol_estimate.h"

typedef struct tick_log {
    probe_tick *t;
    int n, cap;
} tick_log;

static void on_tick(void *ctx, run_tick what)
{
    tick_log *l = ctx;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        probe_tick *t = realloc(l->t, (size_t)cap * sizeof *t);
        if (!t) return; /* the probe then fails its count of epochs */
        l->t = t;
        l->cap = cap;
    }
    l->t[l->n++] = (probe_tick){what, now_seconds()};
}

/* The data sets, loaded once per padding as the protocol does. */
typedef struct sets {
    dataset train[2], test[2];
    int have[2];
} sets;

static td_status sets_get(sets *ss, const char *config_json, dataset **train, dataset **test)
{
    json_t *o = json_loads(config_json, 0, NULL);
    const char *name = json_string_value(json_object_get(o, "dataset"));
    const char *dir = json_string_value(json_object_get(o, "data_dir"));
    int p = json_is_true(json_object_get(o, "pad32")) || json_integer_value(json_object_get(o, "pad32")) != 0;
    td_status s = name ? TD_OK : TD_FAIL(TD_ERR_FORMAT, "probe: a config without a dataset");
    if (s == TD_OK && !ss->have[p]) {
        s = dataset_load_named(name, dir ? dir : "", p, 1, &ss->train[p]);
        if (s == TD_OK) s = dataset_load_named(name, dir ? dir : "", p, 0, &ss->test[p]);
        if (s == TD_OK) {
            memcpy(ss->test[p].mean, ss->train[p].mean, sizeof ss->test[p].mean);
            memcpy(ss->test[p].std, ss->train[p].std, sizeof ss->test[p].std);
            ss->have[p] = 1;
        }
    }
    if (o) json_decref(o);
    *train = &ss->train[p];
    *test = &ss->test[p];
    return s;
}

static void sets_free(sets *ss)
{
    for (int p = 0; p < 2; p++)
        if (ss->have[p]) {
            dataset_free(&ss->train[p]);
            dataset_free(&ss->test[p]);
        }
}

/* "a darts1 search (8 cells, C=16, batch 64)", "a retraining (20 cells,
 * C=36, batch 96)", "the linear baseline" */
static void describe_run(const char *config_json, char *buf, size_t len)
{
    search_config sc;
    train_config tc;
    if (search_config_parse(config_json, &sc) == TD_OK)
        snprintf(buf, len, "a %s search (%d cells, C=%d, batch %d)", search_algo_name(sc.algo), sc.net.layers, sc.net.C,
                 sc.batch);
    else if (train_config_parse(config_json, &tc) == TD_OK && tc.net.linear)
        snprintf(buf, len, "the linear baseline (batch %d)", tc.batch);
    else if (train_config_parse(config_json, &tc) == TD_OK && tc.valid_images > 0)
        snprintf(buf, len, "a selection retraining (%d cells, C=%d, batch %d)", tc.net.layers, tc.net.C, tc.batch);
    else if (train_config_parse(config_json, &tc) == TD_OK)
        snprintf(buf, len, "a retraining (%d cells, C=%d, batch %d)", tc.net.layers, tc.net.C, tc.batch);
    else
        snprintf(buf, len, "a run");
}

/* One probe: the probe config run for real in a scratch directory. */
static td_status run_probe(const char *probe_json, const backend *be, int threads, sets *ss, probe_result *out)
{
    dataset *train, *test;
    TD_CHECK(sets_get(ss, probe_json, &train, &test));
    run_shape shape;
    TD_CHECK(run_shape_of(probe_json, train->n, test->n, &shape));
    char *dir;
    TD_CHECK(dir_make_temp("probe", &dir));
    tick_log log = {0};
    td_status s;
    double start = now_seconds();
    search_config sc;
    if (search_config_parse(probe_json, &sc) == TD_OK) {
        search_options so;
        memset(&so, 0, sizeof so);
        so.out_dir = dir;
        so.threads = threads;
        so.be = be;
        so.quiet = 1;
        so.train_set = train;
        so.tick = on_tick;
        so.tick_ctx = &log;
        search_result res;
        s = search_run(&sc, &so, &res);
    } else {
        train_config tc;
        s = train_config_parse(probe_json, &tc);
        train_options to;
        memset(&to, 0, sizeof to);
        to.out_dir = dir;
        to.threads = threads;
        to.be = be;
        to.quiet = 1;
        to.train_set = train;
        to.test_set = test;
        to.tick = on_tick;
        to.tick_ctx = &log;
        train_result res;
        if (s == TD_OK) s = train_run(&tc, &to, &res);
    }
    double end = now_seconds();
    (void)dir_remove_tree(dir);
    free(dir);
    if (s == TD_OK) s = probe_result_from_ticks(&shape, log.t, log.n, start, end, out);
    free(log.t);
    return s;
}

/* The device's model and what else changes its speed: the timings hold
 * for every device of this description. */
static void device_key(const backend *be, char *key, size_t klen, char *model, size_t mlen)
{
    char *desc = be->describe ? be->describe() : NULL, *fp = fingerprint_json(1, NULL);
    json_t *d = desc ? json_loads(desc, 0, NULL) : NULL, *f = fp ? json_loads(fp, 0, NULL) : NULL;
    free(desc);
    free(fp);
    if (!json_is_object(d)) {
        if (d) json_decref(d);
        d = json_object();
    }
    const char *gpu = json_string_value(json_object_get(d, "model"));
    const char *cpu = json_string_value(json_object_get(f, "cpu"));
    snprintf(model, mlen, "%s", gpu ? gpu : cpu ? cpu : "unknown");
    json_object_del(d, "name");
    json_object_del(d, "threads");
    json_t *k = json_object();
    json_object_set(k, "device", d);
    json_object_set(k, "cpu", json_object_get(f, "cpu"));
    json_object_set(k, "switches", json_object_get(f, "switches"));
    char *text = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(key, klen, "%s", text ? text : model);
    free(text);
    json_decref(k);
    json_decref(d);
    if (f) json_decref(f);
}

/* Every run's config in the executor's order; retrainings of DARTS_V2's
 * cells, since the searched ones are not known yet. */
static td_status plan_configs(json_t *plan, char ***configs, int *n, int *n_baseline)
{
    json_t *methods = json_object_get(plan, "methods"), *base = json_object_get(plan, "baseline");
    int per = 2 * PROTOCOL_SEARCHES + 2 * PROTOCOL_FINAL_SEEDS;
    int total = (int)json_array_size(methods) * per + (base != NULL);
    char **c = calloc((size_t)total + 1, sizeof *c);
    if (!c) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    *configs = c;
    *n = 0;
    *n_baseline = base != NULL;
    if (base) c[(*n)++] = json_dumps(json_object_get(base, "config"), JSON_COMPACT | JSON_SORT_KEYS);
    genotype g;
    TD_CHECK(genotype_load("DARTS_V2", &g));
    char line[1024];
    genotype_format(&g, line, sizeof line);
    static const char *const sections[] = {"select", "final_deep", "final_shallow"};
    for (size_t m = 0; m < json_array_size(methods); m++) {
        json_t *mo = json_array_get(methods, m), *searches = json_object_get(mo, "searches");
        for (int k = 0; k < PROTOCOL_SEARCHES; k++)
            c[(*n)++] = json_dumps(json_object_get(json_array_get(searches, (size_t)k), "config"),
                                   JSON_COMPACT | JSON_SORT_KEYS);
        for (int sec = 0; sec < 3; sec++)
            for (int k = 0; k < (sec ? PROTOCOL_FINAL_SEEDS : PROTOCOL_SEARCHES); k++) {
                char cfg[8192], hash[SHA256_HEX_LEN];
                int seed = sec ? protocol_final_seeds[k] : protocol_select_seed;
                TD_CHECK(protocol_retrain_run(mo, sections[sec], line, seed, cfg, sizeof cfg, hash));
                c[(*n)++] = strdup(cfg);
            }
    }
    for (int i = 0; i < *n; i++)
        if (!c[i]) return TD_FAIL(TD_ERR_FORMAT, "plan: a run without a config");
    return TD_OK;
}

typedef struct probe_ctx {
    const backend *be;
    int threads, quiet, remeasure;
    const char *device;
    sets ss;
    probe_cache cache;
    json_t *seen; /* key -> probe result, this estimate's */
    protocol_estimate *e;
} probe_ctx;

/* The probe result for a run's config: this estimate's, the cache's, or
 * measured now. */
static td_status probe_for(probe_ctx *c, const char *config, probe_result *out)
{
    char *probe_json;
    TD_CHECK(probe_config_of(config, &probe_json));
    char text[10000], key[SHA256_HEX_LEN];
    snprintf(text, sizeof text, "%s threads=%d", probe_json, c->threads);
    sha256_buffer(text, strlen(text), key);
    td_status s = TD_OK;
    json_t *have = json_object_get(c->seen, key);
    if (have) {
        s = probe_result_parse(have, out);
    } else if (!c->remeasure && probe_cache_get(&c->cache, key, out)) {
        c->e->probes_cached++;
    } else {
        char what[160];
        describe_run(config, what, sizeof what);
        if (!c->quiet) fprintf(stderr, "estimate: timing %s on %s ...", what, c->device), fflush(stderr);
        double t0 = now_seconds();
        s = run_probe(probe_json, c->be, c->threads, &c->ss, out);
        if (!c->quiet) fprintf(stderr, s == TD_OK ? " %.1f s\n" : " failed\n", now_seconds() - t0);
        if (s == TD_OK) {
            probe_cache_put(&c->cache, key, out);
            c->e->probes_measured++;
        }
    }
    if (s == TD_OK && !have) {
        json_object_set_new(c->seen, key, probe_result_json(out));
        protocol_estimate *e = c->e;
        if (e->n_kinds < (int)(sizeof e->kinds / sizeof e->kinds[0])) {
            describe_run(config, e->kinds[e->n_kinds].what, sizeof e->kinds[0].what);
            e->kinds[e->n_kinds].step_seconds = out->unit_s[0] * out->units_per_step[0];
            e->kinds[e->n_kinds].fixed_seconds = out->fixed_s;
            e->n_kinds++;
        }
    }
    free(probe_json);
    return s;
}

static td_status estimate_runs(probe_ctx *c, json_t *plan)
{
    protocol_estimate *e = c->e;
    char **configs = NULL;
    int n = 0, n_baseline = 0;
    td_status s = plan_configs(plan, &configs, &n, &n_baseline);
    if (s == TD_OK && n > PROTOCOL_MAX_RUNS) s = TD_FAIL(TD_ERR_STATE, "plan of %d runs", n);
    json_t *methods = json_object_get(plan, "methods");
    int per = 2 * PROTOCOL_SEARCHES + 2 * PROTOCOL_FINAL_SEEDS;
    for (int i = 0; s == TD_OK && i < n; i++) {
        probe_result p;
        s = probe_for(c, configs[i], &p);
        dataset *train = NULL, *test = NULL;
        if (s == TD_OK) s = sets_get(&c->ss, configs[i], &train, &test);
        run_shape shape;
        if (s == TD_OK) s = run_shape_of(configs[i], train->n, test->n, &shape);
        if (s != TD_OK) break;
        e->run_seconds[i] = estimate_run_seconds(&p, &shape);
        e->run_steps[i] = run_shape_steps(&shape);
        /* the row: the baseline's own, then one per method */
        int row = i < n_baseline ? 0 : n_baseline + (i - n_baseline) / per;
        protocol_estimate_row *r = &e->rows[row];
        if (!r->label[0]) {
            const char *label = i < n_baseline ? "Linear baseline"
                                               : json_string_value(json_object_get(
                                                     json_array_get(methods, (size_t)(row - n_baseline)), "label"));
            snprintf(r->label, sizeof r->label, "%s", label ? label : "?");
        }
        r->runs++;
        r->steps += e->run_steps[i];
        r->device_seconds += e->run_seconds[i];
        e->device_seconds += e->run_seconds[i];
        if (row + 1 > e->n_rows) e->n_rows = row + 1;
    }
    e->n_runs = s == TD_OK ? n : 0;
    e->n_baseline = n_baseline;
    if (s == TD_OK) {
        sim_run *sim = calloc((size_t)n + 1, sizeof *sim);
        if (!sim) s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
        for (int i = 0; s == TD_OK && i < n; i++) sim[i].seconds = e->run_seconds[i];
        if (s == TD_OK) {
            sim_plan_deps(sim, n_baseline, (n - n_baseline) / per);
            e->wall_seconds = sim_makespan(sim, n, e->slots);
            e->critical_seconds = sim_makespan(sim, n, n);
        }
        free(sim);
    }
    for (int i = 0; i < n; i++) free(configs[i]);
    free(configs);
    return s;
}

td_status estimate_compute(const protocol_request *r, const protocol_options *o, int remeasure, protocol_estimate *e)
{
    memset(e, 0, sizeof *e);
    device_list list;
    TD_CHECK(pool_devices(o, &list));
    int per_device;
    pool_slots(&list, r->jobs, o->threads, &e->slots, &per_device, &e->threads);
    e->devices = list.n;
    snprintf(e->device, sizeof e->device, "%s", o->n_pool ? list.names[0] : o->device ? o->device : "cpu");
    probe_ctx c;
    memset(&c, 0, sizeof c);
    c.threads = e->threads;
    c.remeasure = remeasure;
    c.quiet = o->quiet;
    c.device = list.names[0];
    c.e = e;
    TD_CHECK(device_open(list.names[0], &c.be));
    char key[4096];
    device_key(c.be, key, sizeof key, e->device_model, sizeof e->device_model);
    probe_cache_open(&c.cache, key);
    snprintf(e->cache, sizeof e->cache, "%s", c.cache.path);
    c.seen = json_object();
    char *plan_text;
    td_status s = protocol_plan_json(r, &plan_text);
    json_t *plan = s == TD_OK ? json_loads(plan_text, 0, NULL) : NULL;
    if (s == TD_OK) free(plan_text);
    if (s == TD_OK && !plan) s = TD_FAIL(TD_ERR_FORMAT, "plan: not JSON");
    if (s == TD_OK) s = estimate_runs(&c, plan);
    if (plan) json_decref(plan);
    json_decref(c.seen);
    probe_cache_close(&c.cache);
    sets_free(&c.ss);
    return s;
}
