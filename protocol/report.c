/* report.md and report.json: Table 2 as the paper has it, ours beside it,
 * and the searched genotypes. Deterministic (no wall-clock figures), so the
 * root hash of a resumed protocol equals an uninterrupted one's. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figures_internal.h"
#include "protocol_internal.h"
#include "tsedarts/budget.h"
#include "tsedarts/dir_lock.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"

static json_t *stats_json(const double *err, int n)
{
    json_t *o = json_object(), *a = json_array();
    double pct[PROTOCOL_FINAL_SEEDS], mean, std;
    for (int i = 0; i < n; i++) {
        pct[i] = 100.0 * err[i];
        json_array_append_new(a, json_real(pct[i]));
    }
    protocol_mean_std(pct, n, &mean, &std);
    json_object_set_new(o, "n", json_integer(n));
    json_object_set_new(o, "test_error_percent", a);
    if (n) {
        json_object_set_new(o, "mean", json_real(mean));
        json_object_set_new(o, "std", json_real(std));
    }
    return o;
}

void protocol_format_stats(char *buf, size_t len, const double *err, int n)
{
    if (!n) {
        snprintf(buf, len, "pending");
        return;
    }
    double pct[PROTOCOL_FINAL_SEEDS], mean, std;
    for (int i = 0; i < n; i++) pct[i] = 100.0 * err[i];
    protocol_mean_std(pct, n, &mean, &std);
    snprintf(buf, len, "%.2f (%.2f), n=%d", mean, std, n);
}

/* Whether a comma list of method ids names id. */
static int method_listed(const char *list, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, id, n) && (p[n] == ',' || !p[n])) return 1;
    return 0;
}

void protocol_depths_text(const void *plan_json, char *buf, size_t len)
{
    const json_t *mo = json_array_get(json_object_get((const json_t *)plan_json, "methods"), 0);
    const json_t *deep = json_object_get(json_object_get(mo, "final_deep"), "template");
    const json_t *shallow = json_object_get(json_object_get(mo, "final_shallow"), "template");
    json_int_t ld = json_integer_value(json_object_get(deep, "layers"));
    json_int_t ls = json_integer_value(json_object_get(shallow, "layers"));
    json_int_t c = json_integer_value(json_object_get(deep, "channels"));
    buf[0] = '\0';
    if (mo && (ld != 20 || ls != 8))
        snprintf(buf, len, " At this budget the 8-layer and 20-layer columns are retrainings of %lld and %lld cells "
                 "with %lld channels.", (long long)ls, (long long)ld, (long long)c);
}

/* Why a row of Table 2 did not run under this budget (bud may be NULL). */
static const char *why_not_run(const struct budget *bud, const method_def *d)
{
    if (!d->runnable) return "not implemented";
    if (bud && bud->methods && !method_listed(bud->methods, d->id)) return bud->methods_why;
    return "not in --methods";
}

void protocol_not_run_text(const char *budget_name, const void *plan_methods, char *buf, size_t len)
{
    const json_t *methods = plan_methods;
    const struct budget *bud = NULL;
    if (!budget_name || budget_find(budget_name, &bud) != TD_OK) bud = NULL;
    const method_def *skipped[16];
    const char *why[16];
    int n = 0;
    for (int i = 0; i < protocol_n_methods && n < 16; i++) {
        const method_def *d = &protocol_methods[i];
        int ran = 0;
        for (size_t m = 0; m < json_array_size(methods); m++)
            ran |= !strcmp(json_string_value(json_object_get(json_array_get(methods, m), "id")), d->id);
        if (ran || d->extra) continue; /* a comparison row nobody asked for is not missing */
        skipped[n] = d;
        why[n++] = why_not_run(bud, d);
    }
    /* one sentence per reason, naming every row it keeps out */
    size_t at = 0;
    buf[0] = '\0';
#define PUT(...) (at += at < len ? (size_t)snprintf(buf + at, len - at, __VA_ARGS__) : 0)
    int said[16] = {0}, sentences = 0;
    for (int i = 0; i < n; i++) {
        if (said[i]) continue;
        int count = 0, total = 0;
        for (int j = i; j < n; j++) total += !said[j] && !strcmp(why[j], why[i]);
        PUT("%s", sentences++ ? " " : "");
        for (int j = i; j < n; j++) {
            if (said[j] || strcmp(why[j], why[i])) continue;
            said[j] = 1;
            count++;
            PUT("%s**%s**", count == 1 ? "" : count == total ? " and " : ", ", skipped[j]->label);
        }
        PUT(" not run: %s.", why[i]);
    }
#undef PUT
}

void protocol_notes_text(const void *plan_methods, char *buf, size_t len)
{
    const json_t *methods = plan_methods;
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < protocol_n_methods; i++) {
        const method_def *d = &protocol_methods[i];
        int ran = 0;
        for (size_t m = 0; m < json_array_size(methods); m++)
            ran |= !strcmp(json_string_value(json_object_get(json_array_get(methods, m), "id")), d->id);
        if (ran && d->note && at < len)
            at += (size_t)snprintf(buf + at, len - at, "%s**%s**: %s.", at ? " " : "", d->label, d->note);
    }
}

/* A published figure: mean (std), or the mean alone where no std was
 * published (std < 0). */
void protocol_format_paper(char *buf, size_t len, double mean, double std)
{
    if (std < 0) snprintf(buf, len, "%.2f", mean);
    else snprintf(buf, len, "%.2f (%.2f)", mean, std);
}

static json_t *baseline_json(const baseline_result *b, const method_result *res, int n, const json_t *plan)
{
    json_t *o = json_object();
    json_object_set_new(o, "label", json_string("linear classifier"));
    json_object_set(o, "run", json_object_get(json_object_get(plan, "baseline"), "run"));
    json_object_set_new(o, "train_images", json_integer(b->train_images));
    json_object_set_new(o, "test_images", json_integer(b->test_images));
    json_object_set_new(o, "status", json_string(b->failed ? "failed" : b->done ? "done" : "pending"));
    if (b->done) {
        int retrained, below;
        protocol_count_below(b, res, n, &retrained, &below);
        json_object_set_new(o, "test_error_percent", json_real(100.0 * b->test_error));
        json_object_set_new(o, "retrained", json_integer(retrained));
        json_object_set_new(o, "retrained_below_baseline", json_integer(below));
    }
    return o;
}

td_status protocol_write_report(const char *out_dir, const char *plan_json, const method_result *res, int n,
                                const baseline_result *base)
{
    json_error_t err;
    json_t *plan = json_loads(plan_json, 0, &err);
    if (!plan) return TD_FAIL(TD_ERR_FORMAT, "plan: %s", err.text);
    const char *budget = json_string_value(json_object_get(plan, "budget"));
    const char *selection = json_string_value(json_object_get(plan, "selection"));
    int comparable = json_is_true(json_object_get(plan, "comparable_to_paper"));
    json_t *methods = json_object_get(plan, "methods");
    size_t cap = 1 << 16, len = 0;
    char *md = malloc(cap);
#define MD(...) (len += (size_t)snprintf(md + len, cap - len, __VA_ARGS__))
    const struct budget *bud = NULL; /* the string `budget` hides the type name */
    if (budget_find(budget, &bud) != TD_OK) bud = NULL;
    MD("# Table 2 on the DARTS space: paper and reproduction\n\n");
    if (!comparable && bud && bud->scope)
        MD("> **Budget `%s`: scaled-down settings. These numbers are not comparable to the paper's.** %s\n\n", budget,
           bud->scope);
    else if (!comparable)
        MD("> **Budget `%s`: scaled-down settings. These numbers are not comparable to the paper's;** they show that "
           "the protocol runs end to end. Use `--budget paper` (the paper's settings) for a reproduction.\n\n",
           budget);
    if (!strcmp(selection, "test"))
        MD("> **Test-set selection:** the best of the four searches was chosen by its *test* error, which biases the "
           "reported test error downwards.\n\n");
    char depths[256];
    protocol_depths_text(plan, depths, sizeof depths);
    MD("Dataset: `%s`. Test error in %%, mean (standard deviation) over the selected genotype's %d extra seeds "
       "(the selection run excluded; sample standard deviation, n - 1). Selection: %s.%s\n\n",
       json_string_value(json_object_get(plan, "dataset")), PROTOCOL_FINAL_SEEDS,
       !strcmp(selection, "test") ? "lowest test error of the selection retraining"
                                  : "lowest error on a held-out validation split of the training set",
       depths);
    MD("| Method | 8-layer eval, paper | 8-layer eval, ours | 20-layer eval, paper | 20-layer eval, ours |\n");
    MD("|---|---|---|---|---|\n");
    json_t *rows = json_array();
    int n_skipped = 0;
    for (int i = 0; i < protocol_n_methods; i++) {
        const method_def *d = &protocol_methods[i];
        int slot = -1;
        for (int m = 0; m < n; m++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(methods, (size_t)m), "id")), d->id)) slot = m;
        if (d->extra && slot < 0) continue; /* a comparison row nobody asked for */
        json_t *row = json_object();
        json_object_set_new(row, "label", json_string(d->label));
        if (d->note && slot >= 0) json_object_set_new(row, "note", json_string(d->note));
        json_t *paper = json_object(), *p8 = json_array(), *p20 = json_array();
        json_array_append_new(p8, json_real(d->paper8));
        json_array_append_new(p8, d->paper8_std < 0 ? json_null() : json_real(d->paper8_std));
        json_array_append_new(p20, json_real(d->paper20));
        json_array_append_new(p20, d->paper20_std < 0 ? json_null() : json_real(d->paper20_std));
        json_object_set_new(paper, "eval8", p8);
        json_object_set_new(paper, "eval20", p20);
        json_object_set_new(row, "paper", paper);
        char c8[64] = "not run", c20[64] = "not run";
        if (slot < 0) {
            json_object_set_new(row, "run", json_false());
            json_object_set_new(row, "why_not_run", json_string(why_not_run(bud, d)));
            n_skipped++;
        } else {
            const method_result *r = &res[slot];
            json_object_set_new(row, "run", json_true());
            json_object_set_new(row, "eval8", stats_json(r->final8, r->n8));
            json_object_set_new(row, "eval20", stats_json(r->final20, r->n20));
            protocol_format_stats(c8, sizeof c8, r->final8, r->n8);
            protocol_format_stats(c20, sizeof c20, r->final20, r->n20);
            json_object_set_new(row, "selected_search", r->selected >= 0 ? json_integer(r->selected + 1) : json_null());
            json_object_set_new(row, "failures", json_integer(r->failures));
            json_t *searched = json_array();
            for (int k = 0; k < PROTOCOL_SEARCHES; k++) {
                json_t *so = json_object();
                json_object_set_new(so, "search", json_integer(k + 1));
                if (r->genotype[k][0]) {
                    json_object_set_new(so, "genotype", json_string(r->genotype[k]));
                    json_object_set_new(so, "normal_depth", json_integer(r->depth[k][0]));
                    json_object_set_new(so, "reduce_depth", json_integer(r->depth[k][1]));
                    json_object_set_new(so, "normal_skip", json_integer(r->skips[k][0]));
                    json_object_set_new(so, "reduce_skip", json_integer(r->skips[k][1]));
                }
                if (r->select_done[k]) {
                    json_object_set_new(so, "selection_valid_error", json_real(r->select_valid[k]));
                    json_object_set_new(so, "selection_test_error", json_real(r->select_test[k]));
                }
                json_array_append_new(searched, so);
            }
            json_object_set_new(row, "searches", searched);
        }
        json_array_append_new(rows, row);
        char p8s[32], p20s[32];
        protocol_format_paper(p8s, sizeof p8s, d->paper8, d->paper8_std);
        protocol_format_paper(p20s, sizeof p20s, d->paper20, d->paper20_std);
        MD("| %s | %s | %s | %s | %s |\n", d->label, p8s, c8, p20s, c20);
    }
    char notes[2048];
    protocol_notes_text(methods, notes, sizeof notes);
    if (notes[0]) MD("\n%s\n", notes);
    if (n_skipped) {
        char not_run[2048];
        protocol_not_run_text(budget, methods, not_run, sizeof not_run);
        MD("\n%s\n", not_run);
    }
    char base_text[512];
    protocol_baseline_text(base, res, n, base_text, sizeof base_text);
    MD("\n%s\n", base_text);
    MD("\nReprinted baselines the paper did not run: DrNAS 4.47/2.46, PC-DARTS 4.31/2.57, PDARTS 4.47/2.50, iDARTS "
       "4.35/2.37 (8-layer/20-layer); DrNAS and PDARTS run here as extra rows with `--methods drnas,pdarts`.\n");
    for (int m = 0; m < n; m++) {
        json_t *mo = json_array_get(methods, (size_t)m);
        const method_result *r = &res[m];
        MD("\n## %s\n\n", json_string_value(json_object_get(mo, "label")));
        MD("| search | seed | normal depth | normal skips | reduce depth | reduce skips | selection valid error | "
           "selection test error |\n|---|---|---|---|---|---|---|---|\n");
        for (int k = 0; k < PROTOCOL_SEARCHES; k++) {
            int seed = (int)json_integer_value(json_object_get(json_array_get(json_object_get(mo, "searches"), (size_t)k), "seed"));
            if (!r->genotype[k][0]) {
                MD("| %d | %d | | | | | | |\n", k + 1, seed);
                continue;
            }
            char v[32] = "", t[32] = "";
            if (r->select_done[k]) {
                snprintf(v, sizeof v, "%.4f", r->select_valid[k]);
                snprintf(t, sizeof t, "%.4f", r->select_test[k]);
            }
            MD("| %d%s | %d | %d | %d | %d | %d | %s | %s |\n", k + 1, r->selected == k ? " (selected)" : "", seed,
               r->depth[k][0], r->skips[k][0], r->depth[k][1], r->skips[k][1], v, t);
        }
        if (r->selected >= 0) {
            genotype g;
            char py[2048];
            if (genotype_parse(r->genotype[r->selected], "report", &g) == TD_OK) {
                genotype_format_python(&g, py, sizeof py);
                MD("\nSelected genotype (search %d):\n\n```python\n%s\n```\n", r->selected + 1, py);
            }
        }
        if (r->failures) MD("\n**%d run(s) failed**; see failure.json in their run directories.\n", r->failures);
    }
    MD("\nCompute: every run's wall time is in its `timing.json`, outside the hashed record (it differs between "
       "identical runs); `tsedarts protocol status` sums it per method.\n");
#undef MD
    json_t *rep = json_object();
    json_object_set_new(rep, "budget", json_string(budget));
    json_object_set_new(rep, "comparable_to_paper", json_boolean(comparable));
    json_object_set_new(rep, "selection", json_string(selection));
    json_object_set_new(rep, "test_set_selection", json_boolean(!strcmp(selection, "test")));
    json_object_set_new(rep, "final_statistics", json_string("mean and sample standard deviation (n - 1) of test error "
                                                             "in percent over the extra seeds"));
    json_object_set_new(rep, "rows", rows);
    if (base->planned) json_object_set_new(rep, "baseline", baseline_json(base, res, n, plan));
    char *rj = json_dumps(rep, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(rep);
    char path[4400];
    td_status s = path_format(path, sizeof path, "%s/report.json", out_dir);
    if (s == TD_OK) s = file_write_text_atomic(path, rj);
    if (s == TD_OK) s = path_format(path, sizeof path, "%s/report.md", out_dir);
    if (s == TD_OK) s = file_write_text_atomic(path, md);
    free(rj);
    free(md);
    json_decref(plan);
    return s;
}

td_status protocol_report(const char *out_dir, char root_hash[SHA256_HEX_LEN])
{
    dir_lock lock;
    TD_CHECK(dir_lock_take(out_dir, "tsedarts protocol report", &lock));
    td_status s = protocol_report_locked(out_dir, root_hash);
    dir_lock_release(&lock);
    return s;
}

td_status protocol_report_locked(const char *out_dir, char root_hash[SHA256_HEX_LEN])
{
    char path[4400], *plan;
    TD_CHECK(path_format(path, sizeof path, "%s/plan.json", out_dir));
    TD_CHECK(file_read_all(path, &plan, NULL));
    method_result res[PROTOCOL_MAX_METHODS];
    baseline_result base;
    int n = 0;
    td_status s = protocol_aggregate(out_dir, plan, res, &n);
    if (s == TD_OK) s = protocol_aggregate_baseline(out_dir, plan, &base);
    dir_remove_stale_temps(out_dir);
    char missing[2048] = "";
    if (s == TD_OK) s = figures_draw_protocol(out_dir, plan, res, n, missing, sizeof missing);
    if (s == TD_OK && missing[0]) fprintf(stderr, "tsedarts: warning: report figures missing: %s\n", missing);
    if (s == TD_OK) s = protocol_write_report(out_dir, plan, res, n, &base);
    if (s == TD_OK) s = manifest_write_root(out_dir, root_hash);
    /* the page states the root hash, so it comes after it, and HOST.sha256
     * is written again to cover it (MANIFEST.sha256 does not change) */
    if (s == TD_OK) s = protocol_write_report_html(out_dir, plan, res, n, &base, missing, root_hash);
    if (s == TD_OK) s = manifest_write_root(out_dir, root_hash);
    free(plan);
    return s;
}

td_status protocol_status(const char *out_dir)
{
    char path[4400], *plan;
    TD_CHECK(path_format(path, sizeof path, "%s/plan.json", out_dir));
    TD_CHECK(file_read_all(path, &plan, NULL));
    method_result res[PROTOCOL_MAX_METHODS];
    int n = 0;
    td_status s = protocol_aggregate(out_dir, plan, res, &n);
    json_error_t err;
    json_t *p = json_loads(plan, 0, &err);
    if (s == TD_OK && p) {
        printf("protocol in %s: budget %s, selection %s\n", out_dir, json_string_value(json_object_get(p, "budget")),
               json_string_value(json_object_get(p, "selection")));
        json_t *methods = json_object_get(p, "methods");
        for (int m = 0; m < n; m++) {
            const method_result *r = &res[m];
            int sel = 0;
            for (int k = 0; k < PROTOCOL_SEARCHES; k++) sel += r->select_done[k];
            printf("  %-16s searches %d/%d, selection runs %d/%d, %s, final runs %d/%d (20) %d/%d (8)%s\n",
                   json_string_value(json_object_get(json_array_get(methods, (size_t)m), "label")), r->searches_done,
                   PROTOCOL_SEARCHES, sel, PROTOCOL_SEARCHES,
                   r->selected >= 0 ? "selected" : "not selected yet", r->n20, PROTOCOL_FINAL_SEEDS, r->n8,
                   PROTOCOL_FINAL_SEEDS, r->failures ? " (failures recorded)" : "");
        }
    }
    if (p) json_decref(p);
    free(plan);
    /* a Slurm tree's line comes after its queue (slurm_status.c) */
    char slurm_dir[4400];
    if (s == TD_OK && path_format(slurm_dir, sizeof slurm_dir, "%s/slurm", out_dir) == TD_OK && !file_exists(slurm_dir))
        s = protocol_status_line(out_dir, NULL, stdout);
    return s;
}
