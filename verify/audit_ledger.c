/* What the plan declared, matched with what the run directories hold. A
 * run is found by its config.json: the plan's search config, or a
 * retraining template with the genotype and seed filled in. The genotype
 * that earns the extra seeds is the one verify selects itself. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/genotype.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "verify_internal.h"

typedef struct run_dir {
    char *name;
    json_t *config; /* config.json; NULL when absent or unreadable */
    int claimed;    /* some planned run is this one */
} run_dir;

typedef struct run_dirs {
    const char *root; /* the tree */
    int n;
    run_dir *d;
} run_dirs;

static void runs_free(run_dirs *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->d[i].name);
        if (r->d[i].config) json_decref(r->d[i].config);
    }
    free(r->d);
}

static td_status runs_list(const char *root, run_dirs *r)
{
    memset(r, 0, sizeof *r);
    r->root = root;
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/runs", root));
    DIR *d = dir_open(path);
    if (!d) return TD_FAIL(TD_ERR_CHECK, "%s: no runs directory", path);
    td_status s = TD_OK;
    struct dirent *e;
    while (s == TD_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        run_dir *nd = realloc(r->d, (size_t)(r->n + 1) * sizeof *nd);
        if (!nd) {
            s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
            break;
        }
        r->d = nd;
        run_dir *x = &r->d[r->n++];
        memset(x, 0, sizeof *x);
        x->name = strdup(e->d_name);
        char rdir[4400];
        s = path_format(rdir, sizeof rdir, "%s/%s", path, e->d_name);
        /* an unreadable config shows in the name check; here it just
         * matches no planned run */
        if (s == TD_OK && audit_read_json(rdir, "config.json", &x->config) != TD_OK) x->config = NULL;
    }
    closedir(d);
    return s;
}

/* What a run's own files say: failure.json, or result.json's figures. */
static td_status read_outcome(const run_dirs *r, const char *name, audit_run *out)
{
    char rdir[4400], path[4400];
    TD_CHECK(path_format(rdir, sizeof rdir, "%s/runs/%s", r->root, name));
    TD_CHECK(path_format(path, sizeof path, "%s/failure.json", rdir));
    out->failed = file_exists(path);
    json_t *res;
    TD_CHECK(audit_read_json(rdir, "result.json", &res));
    out->ok = res != NULL && !out->failed;
    json_t *v;
    out->valid_error = (v = json_object_get(res, "valid_error")) && json_is_number(v) ? json_number_value(v) : NAN;
    out->test_error = (v = json_object_get(res, "test_error")) && json_is_number(v) ? json_number_value(v) : NAN;
    const char *g = json_string_value(json_object_get(res, "genotype"));
    td_status s = TD_OK;
    if (g && (size_t)snprintf(out->genotype, sizeof out->genotype, "%s", g) >= sizeof out->genotype)
        s = TD_FAIL(TD_ERR_CHECK, "%s/result.json: genotype longer than %zu bytes", rdir, sizeof out->genotype - 1);
    if (res) json_decref(res);
    return s;
}

/* Finds the run whose config.json equals want; out->name stays "" when
 * no directory holds it. */
static td_status runs_claim(run_dirs *r, const json_t *want, audit_run *out)
{
    memset(out, 0, sizeof *out);
    out->valid_error = out->test_error = NAN;
    for (int i = 0; i < r->n; i++) {
        if (!r->d[i].config || !json_equal(r->d[i].config, (json_t *)want)) continue;
        r->d[i].claimed = 1;
        if ((size_t)snprintf(out->name, sizeof out->name, "%s", r->d[i].name) >= sizeof out->name)
            return TD_FAIL(TD_ERR_CHECK, "runs/%s: not a config hash", r->d[i].name);
        return read_outcome(r, r->d[i].name, out);
    }
    return TD_OK;
}

/* The config a retraining run must have: the plan's template for section
 * with the genotype that search k found, renamed "<method>-s<k+1>". */
static td_status retrain_config(const json_t *method, const char *section, const audit_method *m, int k,
                                json_int_t seed, json_t **out)
{
    const json_t *tmpl = json_object_get(json_object_get(method, section), "template");
    if (!json_is_object(tmpl)) return TD_FAIL(TD_ERR_CHECK, "plan: method %s has no %s template", m->id, section);
    genotype g;
    TD_CHECK(genotype_parse(m->search[k].genotype, "search result", &g));
    if ((size_t)snprintf(g.name, sizeof g.name, "%s-s%d", m->id, k + 1) >= sizeof g.name)
        return TD_FAIL(TD_ERR_CHECK, "plan: method id %s is too long for a genotype name", m->id);
    char line[1024];
    genotype_format(&g, line, sizeof line);
    *out = json_deep_copy(tmpl);
    json_object_set_new(*out, "genotype", json_string(line));
    json_object_set_new(*out, "seed", json_integer(seed));
    return TD_OK;
}

static td_status claim_retraining(run_dirs *r, const json_t *method, const char *section, const audit_method *m, int k,
                                  json_int_t seed, audit_run *out)
{
    json_t *want;
    TD_CHECK(retrain_config(method, section, m, k, seed, &want));
    td_status s = runs_claim(r, want, out);
    json_decref(want);
    return s;
}

static td_status unfinished(const audit_method *m, const audit_run *x, const char *what)
{
    return TD_FAIL(TD_ERR_CHECK, "method %s: %s (runs/%.12s) has neither result.json nor failure.json", m->id, what,
                   x->name);
}

static td_status ledger_searches(run_dirs *r, const json_t *mo, audit_method *m)
{
    const json_t *searches = json_object_get(mo, "searches");
    if (json_array_size(searches) != AUDIT_SEARCHES)
        return TD_FAIL(TD_ERR_CHECK, "plan: method %s declares %zu searches, not %d", m->id, json_array_size(searches),
                       AUDIT_SEARCHES);
    for (int k = 0; k < AUDIT_SEARCHES; k++) {
        const json_t *so = json_array_get(searches, (size_t)k), *config = json_object_get(so, "config");
        const char *run = json_string_value(json_object_get(so, "run"));
        m->search_seed[k] = (int)json_integer_value(json_object_get(so, "seed"));
        char *text = json_is_object(config) ? json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        char hex[SHA256_HEX_LEN] = "";
        if (text) sha256_buffer(text, strlen(text), hex);
        free(text);
        if (!run || strcmp(run, hex))
            return TD_FAIL(TD_ERR_CHECK, "plan: method %s search %d: run hash does not match its config", m->id, k + 1);
        TD_CHECK(runs_claim(r, config, &m->search[k]));
        if (strcmp(m->search[k].name, run))
            return TD_FAIL(TD_ERR_CHECK, "method %s: declared search %d (runs/%.12s) never ran", m->id, k + 1, run);
        if (!m->search[k].ok && !m->search[k].failed) return unfinished(m, &m->search[k], "a search");
        if (m->search[k].ok && !m->search[k].genotype[0])
            return TD_FAIL(TD_ERR_CHECK, "runs/%s/result.json: a search result without a genotype", run);
    }
    return TD_OK;
}

static td_status ledger_selection(run_dirs *r, const json_t *mo, int by_test, audit_method *m)
{
    json_int_t seed = json_integer_value(json_object_get(json_object_get(mo, "select"), "seed"));
    double err[AUDIT_SEARCHES] = {0};
    int have[AUDIT_SEARCHES] = {0};
    for (int k = 0; k < AUDIT_SEARCHES; k++) {
        if (!m->search[k].ok) continue; /* a failed search has nothing to retrain */
        audit_run *x = &m->select[k];
        TD_CHECK(claim_retraining(r, mo, "select", m, k, seed, x));
        if (!x->name[0])
            return TD_FAIL(TD_ERR_CHECK, "method %s: the genotype of search %d was never retrained", m->id, k + 1);
        if (!x->ok && !x->failed) return unfinished(m, x, "a selection run");
        err[k] = by_test ? x->test_error : x->valid_error;
        if (x->ok && isnan(err[k]))
            return TD_FAIL(TD_ERR_CHECK, "runs/%s/result.json: no %s_error to select by", x->name,
                           by_test ? "test" : "valid");
        have[k] = x->ok;
    }
    m->selected = verify_select(err, have, AUDIT_SEARCHES);
    if (m->selected < 0)
        return TD_FAIL(TD_ERR_CHECK, "method %s: no selection run succeeded: nothing was selected", m->id);
    return TD_OK;
}

static td_status ledger_finals(run_dirs *r, const json_t *mo, audit_method *m)
{
    const char *sections[2] = {[AUDIT_DEEP] = "final_deep", [AUDIT_SHALLOW] = "final_shallow"};
    for (int f = 0; f < 2; f++) {
        const json_t *seeds = json_object_get(json_object_get(mo, sections[f]), "seeds");
        if (json_array_size(seeds) != AUDIT_SEEDS)
            return TD_FAIL(TD_ERR_CHECK, "plan: method %s: %s declares %zu seeds, not %d", m->id, sections[f],
                           json_array_size(seeds), AUDIT_SEEDS);
        for (int i = 0; i < AUDIT_SEEDS; i++) {
            json_int_t seed = json_integer_value(json_array_get(seeds, (size_t)i));
            m->final_seed[f][i] = (int)seed;
            audit_run *x = &m->final[f][i];
            TD_CHECK(claim_retraining(r, mo, sections[f], m, m->selected, seed, x));
            if (!x->name[0])
                return TD_FAIL(TD_ERR_CHECK, "method %s: the selected genotype (search %d) lacks its %s seed %d run",
                               m->id, m->selected + 1, sections[f], (int)seed);
            if (!x->ok && !x->failed) return unfinished(m, x, sections[f]);
            if (x->ok && isnan(x->test_error))
                return TD_FAIL(TD_ERR_CHECK, "runs/%s/result.json: no test_error", x->name);
        }
    }
    return TD_OK;
}

/* The baseline must be a linear classifier measured on the data the final
 * retrainings read: the same images and the same test images. */
static td_status baseline_same_data(const json_t *config, const json_t *methods)
{
    static const char *const same[] = {"dataset", "data_dir", "pad32", "subset", "test_images", "valid_images",
                                       "split_seed"};
    const char *net = json_string_value(json_object_get(config, "net"));
    if (!net || strcmp(net, "linear"))
        return TD_FAIL(TD_ERR_CHECK, "plan.json: the baseline is not a linear classifier (net \"%s\")", net ? net : "");
    for (size_t i = 0; i < json_array_size(methods); i++) {
        const json_t *mo = json_array_get(methods, i);
        const json_t *t = json_object_get(json_object_get(mo, "final_deep"), "template");
        for (size_t k = 0; k < sizeof same / sizeof same[0]; k++)
            if (!json_equal(json_object_get(config, same[k]), json_object_get(t, same[k])))
                return TD_FAIL(TD_ERR_CHECK, "plan.json: the baseline's %s is not that of %s's final retrainings",
                               same[k], json_string_value(json_object_get(mo, "id")));
    }
    return TD_OK;
}

static td_status ledger_baseline(run_dirs *r, const json_t *plan, audit_ledger *l)
{
    const json_t *base = json_object_get(plan, "baseline");
    json_int_t version = json_integer_value(json_object_get(plan, "plan_version"));
    if (!base) {
        if (version >= 2) return TD_FAIL(TD_ERR_CHECK, "plan.json: version %lld declares no baseline", (long long)version);
        return TD_OK;
    }
    l->has_baseline = 1;
    const json_t *config = json_object_get(base, "config");
    const char *run = json_string_value(json_object_get(base, "run"));
    char *text = json_is_object(config) ? json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char hex[SHA256_HEX_LEN] = "";
    if (text) sha256_buffer(text, strlen(text), hex);
    free(text);
    if (!run || strcmp(run, hex)) return TD_FAIL(TD_ERR_CHECK, "plan.json: the baseline's run hash does not match its config");
    TD_CHECK(baseline_same_data(config, json_object_get(plan, "methods")));
    TD_CHECK(runs_claim(r, config, &l->baseline));
    if (strcmp(l->baseline.name, run))
        return TD_FAIL(TD_ERR_CHECK, "the declared baseline (runs/%.12s) never ran", run);
    if (!l->baseline.ok && !l->baseline.failed)
        return TD_FAIL(TD_ERR_CHECK, "the baseline (runs/%.12s) has neither result.json nor failure.json", run);
    if (l->baseline.ok && isnan(l->baseline.test_error))
        return TD_FAIL(TD_ERR_CHECK, "runs/%s/result.json: the baseline has no test_error", run);
    return TD_OK;
}

static void count_failures(audit_method *m)
{
    m->failures = 0;
    for (int k = 0; k < AUDIT_SEARCHES; k++) m->failures += m->search[k].failed + m->select[k].failed;
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < AUDIT_SEEDS; i++) m->failures += m->final[f][i].failed;
}

td_status audit_ledger_build(const char *dir, audit_ledger *l)
{
    memset(l, 0, sizeof *l);
    char path[4400], *text;
    TD_CHECK(path_format(path, sizeof path, "%s/plan.json", dir));
    TD_CHECK(file_read_all(path, &text, NULL));
    json_error_t err;
    l->plan = json_loads(text, 0, &err);
    free(text);
    if (!l->plan) return TD_FAIL(TD_ERR_CHECK, "plan.json: not JSON (line %d: %s)", err.line, err.text);
    const char *rule = json_string_value(json_object_get(l->plan, "selection"));
    if (!rule || (strcmp(rule, "valid") && strcmp(rule, "test")))
        return TD_FAIL(TD_ERR_CHECK, "plan.json: \"selection\" is neither \"valid\" nor \"test\"");
    l->select_by_test = !strcmp(rule, "test");
    const json_t *methods = json_object_get(l->plan, "methods");
    l->n = (int)json_array_size(methods);
    l->m = calloc((size_t)l->n + 1, sizeof *l->m);
    if (!l->m) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    run_dirs r;
    td_status s = runs_list(dir, &r);
    if (s == TD_OK) s = ledger_baseline(&r, l->plan, l);
    for (int i = 0; s == TD_OK && i < l->n; i++) {
        const json_t *mo = json_array_get(methods, (size_t)i);
        audit_method *m = &l->m[i];
        m->selected = -1;
        m->id = json_string_value(json_object_get(mo, "id"));
        m->label = json_string_value(json_object_get(mo, "label"));
        if (!m->id || !m->label) s = TD_FAIL(TD_ERR_CHECK, "plan.json: method %d has no id or label", i + 1);
        if (s == TD_OK) s = ledger_searches(&r, mo, m);
        if (s == TD_OK) s = ledger_selection(&r, mo, l->select_by_test, m);
        if (s == TD_OK) s = ledger_finals(&r, mo, m);
        count_failures(m);
    }
    for (int i = 0; s == TD_OK && i < r.n; i++)
        if (!r.d[i].claimed) s = TD_FAIL(TD_ERR_CHECK, "runs/%s: a run the plan does not declare", r.d[i].name);
    runs_free(&r);
    return s;
}

void audit_ledger_free(audit_ledger *l)
{
    if (l->plan) json_decref(l->plan);
    free(l->m);
    memset(l, 0, sizeof *l);
}
