/* From run directories to the numbers of Table 2: selection, means and
 * standard deviations, for the report and for `protocol status`. verify
 * does not use this file: it recomputes all of it on its own (verify/). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol_internal.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"

int protocol_select(const method_result *m, selection_rule rule)
{
    int best = -1;
    for (int k = 0; k < PROTOCOL_SEARCHES; k++) {
        if (!m->select_done[k]) continue;
        double e = rule == SELECT_VALID ? m->select_valid[k] : m->select_test[k];
        double b = best < 0 ? 0 : (rule == SELECT_VALID ? m->select_valid[best] : m->select_test[best]);
        if (best < 0 || e < b) best = k; /* strictly lower: ties keep the lower index */
    }
    return best;
}

void protocol_mean_std(const double *x, int n, double *mean, double *std)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = n ? s / n : 0;
    double v = 0;
    for (int i = 0; i < n; i++) v += (x[i] - *mean) * (x[i] - *mean);
    *std = n > 1 ? sqrt(v / (n - 1)) : 0;
}

td_status protocol_rename_genotype(const char *method_id, int k, const char *found, char *line, size_t len)
{
    genotype g;
    TD_CHECK(genotype_parse(found, "search result", &g));
    snprintf(g.name, sizeof g.name, "%s-s%d", method_id, k + 1);
    genotype_format(&g, line, len);
    return TD_OK;
}

td_status protocol_retrain_run(const void *method_json, const char *section, const char *genotype_line, int seed,
                               char *config, size_t clen, char hash[SHA256_HEX_LEN])
{
    json_t *tmpl = json_object_get(json_object_get((const json_t *)method_json, section), "template");
    if (!tmpl) return TD_FAIL(TD_ERR_FORMAT, "plan: method has no %s template", section);
    char *text = json_dumps(tmpl, JSON_COMPACT | JSON_SORT_KEYS);
    train_config tc;
    td_status s = protocol_train_config(text, genotype_line, seed, &tc);
    free(text);
    TD_CHECK(s);
    char *cj = NULL;
    TD_CHECK(train_config_json(&tc, &cj));
    size_t len = strlen(cj);
    if (len >= clen) {
        free(cj);
        return TD_FAIL(TD_ERR_FORMAT, "plan: a %s config of %zu bytes exceeds the %zu a run holds", section, len, clen - 1);
    }
    memcpy(config, cj, len + 1);
    sha256_buffer(cj, len, hash);
    free(cj);
    return TD_OK;
}

/* *got = 1 when the run finished with a result; a recorded failure
 * counts in *failed. */
static td_status read_run(const char *out_dir, const char *hash, char *genotype, size_t glen, double *valid,
                          double *test, int *depth, int *skips, int *failed, int *got)
{
    *got = 0;
    char dir[4400], path[4600];
    TD_CHECK(path_format(dir, sizeof dir, "%s/runs/%s", out_dir, hash));
    TD_CHECK(path_format(path, sizeof path, "%s/failure.json", dir));
    if (file_exists(path)) {
        (*failed)++;
        return TD_OK;
    }
    TD_CHECK(path_format(path, sizeof path, "%s/result.json", dir));
    if (file_exists(path)) *got = protocol_read_result(dir, genotype, glen, valid, test, depth, skips) == TD_OK;
    return TD_OK;
}

td_status protocol_aggregate(const char *out_dir, const char *plan_json, method_result *res, int *n_methods)
{
    json_error_t err;
    json_t *plan = json_loads(plan_json, 0, &err);
    if (!plan) return TD_FAIL(TD_ERR_FORMAT, "plan: %s", err.text);
    selection_rule rule = strcmp(json_string_value(json_object_get(plan, "selection")), "test") ? SELECT_VALID : SELECT_TEST;
    json_t *methods = json_object_get(plan, "methods");
    int nm = (int)json_array_size(methods);
    td_status s = TD_OK;
    for (int m = 0; m < nm && s == TD_OK; m++) {
        method_result *r = &res[m];
        memset(r, 0, sizeof *r);
        r->selected = -1;
        json_t *mo = json_array_get(methods, (size_t)m);
        const char *id = json_string_value(json_object_get(mo, "id"));
        json_t *searches = json_object_get(mo, "searches");
        char renamed[PROTOCOL_SEARCHES][1024];
        int have[PROTOCOL_SEARCHES] = {0};
        for (int k = 0; k < PROTOCOL_SEARCHES; k++) {
            const char *hash = json_string_value(json_object_get(json_array_get(searches, (size_t)k), "run"));
            if (!hash) {
                s = TD_FAIL(TD_ERR_FORMAT, "plan: method %s search %d has no run hash", id, k + 1);
                break;
            }
            int got;
            s = read_run(out_dir, hash, r->genotype[k], sizeof r->genotype[k], NULL, NULL, r->depth[k], r->skips[k],
                         &r->failures, &got);
            if (s != TD_OK) break;
            if (!got) continue;
            r->searches_done++;
            if (protocol_rename_genotype(id, k, r->genotype[k], renamed[k], sizeof renamed[k]) != TD_OK) continue;
            have[k] = 1;
            char cfg[8192], hash2[SHA256_HEX_LEN];
            s = protocol_retrain_run(mo, "select", renamed[k], (int)json_integer_value(json_object_get(
                                                                  json_object_get(mo, "select"), "seed")),
                                     cfg, sizeof cfg, hash2);
            if (s != TD_OK) break;
            s = read_run(out_dir, hash2, NULL, 0, &r->select_valid[k], &r->select_test[k], NULL, NULL, &r->failures,
                         &r->select_done[k]);
            if (s != TD_OK) break;
        }
        if (s != TD_OK) break;
        /* finals only once every search has been retrained (or failed) */
        int all = 1;
        for (int k = 0; k < PROTOCOL_SEARCHES; k++) all &= r->select_done[k] || !have[k];
        r->selected = all ? protocol_select(r, rule) : -1;
        if (r->selected < 0) continue;
        const char *sections[2] = {"final_deep", "final_shallow"};
        for (int f = 0; f < 2 && s == TD_OK; f++) {
            json_t *seeds = json_object_get(json_object_get(mo, sections[f]), "seeds");
            for (int i = 0; i < (int)json_array_size(seeds) && i < PROTOCOL_FINAL_SEEDS; i++) {
                char cfg[8192], hash2[SHA256_HEX_LEN];
                s = protocol_retrain_run(mo, sections[f], renamed[r->selected],
                                         (int)json_integer_value(json_array_get(seeds, (size_t)i)), cfg, sizeof cfg, hash2);
                if (s != TD_OK) break;
                double te = 0;
                int got;
                s = read_run(out_dir, hash2, NULL, 0, NULL, &te, NULL, NULL, &r->failures, &got);
                if (s != TD_OK) break;
                if (!got) continue;
                if (f == 0)
                    r->final20[r->n20++] = te;
                else
                    r->final8[r->n8++] = te;
            }
        }
    }
    *n_methods = nm;
    json_decref(plan);
    return s;
}

td_status protocol_aggregate_baseline(const char *out_dir, const char *plan_json, baseline_result *b)
{
    memset(b, 0, sizeof *b);
    json_error_t err;
    json_t *plan = json_loads(plan_json, 0, &err);
    if (!plan) return TD_FAIL(TD_ERR_FORMAT, "plan: %s", err.text);
    const json_t *base = json_object_get(plan, "baseline");
    const char *hash = json_string_value(json_object_get(base, "run"));
    td_status s = TD_OK;
    if (base && !hash) s = TD_FAIL(TD_ERR_FORMAT, "plan: the baseline has no run hash");
    if (s == TD_OK && hash) {
        b->planned = 1;
        const json_t *c = json_object_get(base, "config");
        const char *dataset = json_string_value(json_object_get(c, "dataset"));
        int subset = (int)json_integer_value(json_object_get(c, "subset"));
        int test = (int)json_integer_value(json_object_get(c, "test_images"));
        int n_train = 0, n_test = 0;
        if (dataset && dataset_images(dataset, 1, &n_train) == TD_OK && dataset_images(dataset, 0, &n_test) == TD_OK) {
            b->train_images = subset > 0 && subset < n_train ? subset : n_train;
            b->test_images = test >= 0 && test < n_test ? test : n_test;
        }
        int failed = 0;
        s = read_run(out_dir, hash, NULL, 0, NULL, &b->test_error, NULL, NULL, &failed, &b->done);
        b->failed = failed > 0;
    }
    json_decref(plan);
    return s;
}

void protocol_count_below(const baseline_result *b, const method_result *res, int n, int *retrained, int *below)
{
    *retrained = *below = 0;
    for (int m = 0; m < n; m++) {
        const method_result *r = &res[m];
        double e[PROTOCOL_SEARCHES + 2 * PROTOCOL_FINAL_SEEDS];
        int k = 0;
        for (int i = 0; i < PROTOCOL_SEARCHES; i++)
            if (r->select_done[i]) e[k++] = r->select_test[i];
        for (int i = 0; i < r->n20; i++) e[k++] = r->final20[i];
        for (int i = 0; i < r->n8; i++) e[k++] = r->final8[i];
        *retrained += k;
        if (b->done)
            for (int i = 0; i < k; i++) *below += e[i] < b->test_error;
    }
}

void protocol_baseline_text(const baseline_result *b, const method_result *res, int n, char *buf, size_t len)
{
    if (!b->planned) {
        snprintf(buf, len, "No linear baseline: this plan predates it.");
        return;
    }
    int at = snprintf(buf, len,
                      "Linear baseline: a linear classifier trained on the final retrainings' %d images (each "
                      "selection run sees as many) and scored on the same %d test images: ",
                      b->train_images, b->test_images);
    if (at < 0 || (size_t)at >= len) return;
    if (b->failed) {
        snprintf(buf + at, len - (size_t)at, "failed (see its failure.json).");
        return;
    }
    if (!b->done) {
        snprintf(buf + at, len - (size_t)at, "pending.");
        return;
    }
    int retrained, below;
    protocol_count_below(b, res, n, &retrained, &below);
    snprintf(buf + at, len - (size_t)at, "%.2f%% test error. Retrained networks below it: %d of %d%s.",
             100.0 * b->test_error, below, retrained,
             retrained && below == retrained ? " (all)" : "");
}
