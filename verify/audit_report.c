/* The report against the ledger: every figure report.json and report.md
 * state about a method is recomputed here from the runs' own results. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"
#include "verify_internal.h"

/* Test errors of one depth in percent, in seed order, failed runs left
 * out; returns how many. */
static int final_percent(const audit_method *m, int depth, double pct[AUDIT_SEEDS])
{
    int n = 0;
    for (int i = 0; i < AUDIT_SEEDS; i++)
        if (m->final[depth][i].ok) pct[n++] = 100.0 * m->final[depth][i].test_error;
    return n;
}

/* Depth and skip count of a search's genotype: normal, then reduce. */
static td_status cell_figures(const audit_run *search, int depth[2], int skips[2])
{
    genotype g;
    TD_CHECK(genotype_parse(search->genotype, "search result", &g));
    depth[0] = genotype_depth(&g.normal);
    depth[1] = genotype_depth(&g.reduce);
    skips[0] = genotype_skip_count(&g.normal);
    skips[1] = genotype_skip_count(&g.reduce);
    return TD_OK;
}

/* Retrained networks with a test error (selection runs and final ones)
 * and how many of them are below the baseline's. */
static void below_baseline(const audit_ledger *l, int *retrained, int *below)
{
    *retrained = *below = 0;
    for (int i = 0; i < l->n; i++) {
        const audit_method *m = &l->m[i];
        const audit_run *runs[AUDIT_SEARCHES + 2 * AUDIT_SEEDS];
        int k = 0;
        for (int j = 0; j < AUDIT_SEARCHES; j++) runs[k++] = &m->select[j];
        for (int f = 0; f < 2; f++)
            for (int j = 0; j < AUDIT_SEEDS; j++) runs[k++] = &m->final[f][j];
        for (int j = 0; j < k; j++) {
            if (!runs[j]->ok) continue;
            (*retrained)++;
            *below += l->baseline.ok && runs[j]->test_error < l->baseline.test_error;
        }
    }
}

/* ------------------------------------------------------ report.json */

static td_status json_near(const json_t *v, double want, const char *label, const char *what)
{
    if (!json_is_number(v)) return TD_FAIL(TD_ERR_CHECK, "report.json: %s: %s is missing", label, what);
    double got = json_number_value(v);
    if (!(fabs(got - want) <= AUDIT_TOL))
        return TD_FAIL(TD_ERR_CHECK, "report.json: %s: %s is %.10g; recomputed from the runs: %.10g", label, what, got,
                       want);
    return TD_OK;
}

static td_status json_int_is(const json_t *v, json_int_t want, const char *label, const char *what)
{
    if (!json_is_integer(v))
        return TD_FAIL(TD_ERR_CHECK, "report.json: %s: %s is missing; recomputed from the runs: %lld", label, what,
                       (long long)want);
    if (json_integer_value(v) != want)
        return TD_FAIL(TD_ERR_CHECK, "report.json: %s: %s is %lld; recomputed from the runs: %lld", label, what,
                       (long long)json_integer_value(v), (long long)want);
    return TD_OK;
}

static td_status json_stats(const json_t *o, const audit_method *m, int depth, const char *key)
{
    double pct[AUDIT_SEEDS], mean, std;
    int n = final_percent(m, depth, pct);
    verify_mean_std(pct, n, &mean, &std);
    char what[64];
    snprintf(what, sizeof what, "%s n", key);
    TD_CHECK(json_int_is(json_object_get(o, "n"), n, m->label, what));
    const json_t *list = json_object_get(o, "test_error_percent");
    if (json_array_size(list) != (size_t)n)
        return TD_FAIL(TD_ERR_CHECK, "report.json: %s: %s lists %zu test errors; the runs hold %d", m->label, key,
                       json_array_size(list), n);
    for (int i = 0; i < n; i++) {
        snprintf(what, sizeof what, "%s test error %d", key, i + 1);
        TD_CHECK(json_near(json_array_get(list, (size_t)i), pct[i], m->label, what));
    }
    if (!n) {
        if (json_object_get(o, "mean") || json_object_get(o, "std"))
            return TD_FAIL(TD_ERR_CHECK, "report.json: %s: %s states a mean without test errors", m->label, key);
        return TD_OK;
    }
    snprintf(what, sizeof what, "%s mean", key);
    TD_CHECK(json_near(json_object_get(o, "mean"), mean, m->label, what));
    snprintf(what, sizeof what, "%s std (n - 1)", key);
    return json_near(json_object_get(o, "std"), std, m->label, what);
}

static td_status json_search(const json_t *so, const audit_method *m, int k)
{
    char what[64];
    snprintf(what, sizeof what, "search %d", k + 1);
    TD_CHECK(json_int_is(json_object_get(so, "search"), k + 1, m->label, what));
    const audit_run *x = &m->search[k], *sel = &m->select[k];
    const char *g = json_string_value(json_object_get(so, "genotype"));
    if (!x->ok != !g || (g && strcmp(g, x->genotype)))
        return TD_FAIL(TD_ERR_CHECK, "report.json: %s: search %d genotype differs from runs/%.12s", m->label, k + 1,
                       x->name);
    if (x->ok) {
        int depth[2], skips[2];
        TD_CHECK(cell_figures(x, depth, skips));
        const char *keys[4] = {"normal_depth", "reduce_depth", "normal_skip", "reduce_skip"};
        int want[4] = {depth[0], depth[1], skips[0], skips[1]};
        for (int i = 0; i < 4; i++) {
            snprintf(what, sizeof what, "search %d %s", k + 1, keys[i]);
            TD_CHECK(json_int_is(json_object_get(so, keys[i]), want[i], m->label, what));
        }
    }
    const json_t *v = json_object_get(so, "selection_valid_error"), *t = json_object_get(so, "selection_test_error");
    if (!sel->ok) {
        if (v || t)
            return TD_FAIL(TD_ERR_CHECK, "report.json: %s: search %d has selection errors but no selection result",
                           m->label, k + 1);
        return TD_OK;
    }
    snprintf(what, sizeof what, "search %d selection valid error", k + 1);
    TD_CHECK(json_near(v, sel->valid_error, m->label, what));
    snprintf(what, sizeof what, "search %d selection test error", k + 1);
    return json_near(t, sel->test_error, m->label, what);
}

static td_status json_row(const json_t *row, const audit_method *m)
{
    if (!json_is_true(json_object_get(row, "run")))
        return TD_FAIL(TD_ERR_CHECK, "report.json: %s: the plan runs it, the report says it did not run", m->label);
    TD_CHECK(json_int_is(json_object_get(row, "selected_search"), m->selected + 1, m->label, "selected_search"));
    TD_CHECK(json_int_is(json_object_get(row, "failures"), m->failures, m->label, "failures"));
    const json_t *searches = json_object_get(row, "searches");
    if (json_array_size(searches) != AUDIT_SEARCHES)
        return TD_FAIL(TD_ERR_CHECK, "report.json: %s: %zu searches, not %d", m->label, json_array_size(searches),
                       AUDIT_SEARCHES);
    for (int k = 0; k < AUDIT_SEARCHES; k++) TD_CHECK(json_search(json_array_get(searches, (size_t)k), m, k));
    TD_CHECK(json_stats(json_object_get(row, "eval20"), m, AUDIT_DEEP, "eval20"));
    return json_stats(json_object_get(row, "eval8"), m, AUDIT_SHALLOW, "eval8");
}

static const json_t *row_labelled(const json_t *rows, const char *label)
{
    for (size_t i = 0; i < json_array_size(rows); i++) {
        const char *l = json_string_value(json_object_get(json_array_get(rows, i), "label"));
        if (l && !strcmp(l, label)) return json_array_get(rows, i);
    }
    return NULL;
}

static td_status json_baseline(const json_t *b, const audit_ledger *l)
{
    if (!json_is_object(b)) return TD_FAIL(TD_ERR_CHECK, "report.json: the plan's baseline is not reported");
    const char *status = json_string_value(json_object_get(b, "status"));
    const char *want = l->baseline.failed ? "failed" : "done";
    if (!status || strcmp(status, want))
        return TD_FAIL(TD_ERR_CHECK, "report.json: the baseline's status is \"%s\"; its run says \"%s\"",
                       status ? status : "", want);
    if (!l->baseline.ok) return TD_OK;
    int retrained, below;
    below_baseline(l, &retrained, &below);
    TD_CHECK(json_near(json_object_get(b, "test_error_percent"), 100.0 * l->baseline.test_error, "baseline",
                       "test_error_percent"));
    TD_CHECK(json_int_is(json_object_get(b, "retrained"), retrained, "baseline", "retrained"));
    return json_int_is(json_object_get(b, "retrained_below_baseline"), below, "baseline", "retrained_below_baseline");
}

static td_status check_json(const json_t *rep, const audit_ledger *l)
{
    const json_t *plan = l->plan;
    const char *sel = json_string_value(json_object_get(rep, "selection"));
    if (!sel || strcmp(sel, l->select_by_test ? "test" : "valid") ||
        json_is_true(json_object_get(rep, "test_set_selection")) != l->select_by_test)
        return TD_FAIL(TD_ERR_CHECK, "report.json: the selection rule is not the plan's (%s)",
                       l->select_by_test ? "test" : "valid");
    const char *budget = json_string_value(json_object_get(rep, "budget"));
    if (!budget || !json_equal(json_object_get(rep, "budget"), json_object_get(plan, "budget")) ||
        !json_equal(json_object_get(rep, "comparable_to_paper"), json_object_get(plan, "comparable_to_paper")))
        return TD_FAIL(TD_ERR_CHECK, "report.json: budget or comparable_to_paper differ from plan.json");
    const json_t *rows = json_object_get(rep, "rows");
    int ran = 0;
    for (size_t i = 0; i < json_array_size(rows); i++)
        ran += json_is_true(json_object_get(json_array_get(rows, i), "run"));
    if (ran != l->n)
        return TD_FAIL(TD_ERR_CHECK, "report.json: %d rows say they ran; the plan runs %d methods", ran, l->n);
    for (int i = 0; i < l->n; i++) {
        const json_t *row = row_labelled(rows, l->m[i].label);
        if (!row) return TD_FAIL(TD_ERR_CHECK, "report.json: no row for %s", l->m[i].label);
        TD_CHECK(json_row(row, &l->m[i]));
    }
    return l->has_baseline ? json_baseline(json_object_get(rep, "baseline"), l) : TD_OK;
}

/* -------------------------------------------------------- report.md */


/* Splits "| a | b | c |" into trimmed cells, in place; returns how many. */
static int md_cells(char *line, char **cell, int max)
{
    if (line[0] != '|') return 0;
    int n = 0;
    for (char *p = line + 1; *p && n < max;) {
        char *bar = strchr(p, '|');
        if (!bar) break;
        *bar = '\0';
        while (isspace((unsigned char)*p)) p++;
        for (char *e = bar - 1; e >= p && isspace((unsigned char)*e); e--) *e = '\0';
        cell[n++] = p;
        p = bar + 1;
    }
    return n;
}

/* The cells of the table row whose first cell is `first` and that has
 * ncells cells, searched in lines [from, to); 0 when there is none. */
static int md_row(const report_doc *d, int from, int to, const char *first, int ncells, char *buf, size_t len, char **cell)
{
    for (int i = from; i < to; i++) {
        if ((size_t)snprintf(buf, len, "%s", d->line[i]) >= len) continue;
        if (md_cells(buf, cell, 16) == ncells && !strcmp(cell[0], first)) return 1;
    }
    return 0;
}

/* A figure printed with `decimals` places shows value. */
static int md_shows(const char *cell, double value, int decimals)
{
    char *end;
    double printed = strtod(cell, &end);
    return end != cell && !*end && fabs(printed - value) <= 0.5 * pow(10, -decimals) + AUDIT_TOL;
}

/* A Table 2 cell: "pending", or "MEAN (STD), n=N" to two places. */
static td_status md_stats(const char *file, const char *cell, const audit_method *m, int depth, const char *column)
{
    double pct[AUDIT_SEEDS], mean, std;
    int n = final_percent(m, depth, pct);
    verify_mean_std(pct, n, &mean, &std);
    double pm, ps;
    int pn, used = 0;
    int ok = n ? sscanf(cell, "%lf (%lf), n=%d%n", &pm, &ps, &pn, &used) == 3 && !cell[used] && pn == n &&
                     fabs(pm - mean) <= 0.005 + AUDIT_TOL && fabs(ps - std) <= 0.005 + AUDIT_TOL
               : !strcmp(cell, "pending");
    if (!ok)
        return TD_FAIL(TD_ERR_CHECK, "%s: %s, %s: '%s'; recomputed from the runs: %.2f (%.2f), n=%d", file, m->label,
                       column, cell, mean, std, n);
    return TD_OK;
}

static td_status md_table2(const report_doc *d, const audit_ledger *l)
{
    char buf[2048], *c[16];
    for (int i = 0; i < l->n; i++) {
        const audit_method *m = &l->m[i];
        if (!md_row(d, 0, d->n, m->label, 5, buf, sizeof buf, c))
            return TD_FAIL(TD_ERR_CHECK, "%s: Table 2 has no row for %s", d->file, m->label);
        TD_CHECK(md_stats(d->file, c[2], m, AUDIT_SHALLOW, "8-layer eval"));
        TD_CHECK(md_stats(d->file, c[4], m, AUDIT_DEEP, "20-layer eval"));
    }
    const json_t *not_run = json_object_get(l->plan, "not_run");
    for (size_t i = 0; i < json_array_size(not_run); i++) {
        const char *label = json_string_value(json_array_get(not_run, i));
        if (!label || !md_row(d, 0, d->n, label, 5, buf, sizeof buf, c) || strcmp(c[2], "not run") ||
            strcmp(c[4], "not run"))
            return TD_FAIL(TD_ERR_CHECK, "%s: Table 2 does not show %s as not run", d->file, label ? label : "?");
    }
    return TD_OK;
}

static int md_find(const report_doc *d, int from, int to, const char *text)
{
    for (int i = from; i < to; i++)
        if (strstr(d->line[i], text)) return i;
    return -1;
}

/* The line that is text exactly, or -1. */
static int md_find_line(const report_doc *d, int from, int to, const char *text)
{
    for (int i = from; i < to; i++)
        if (!strcmp(d->line[i], text)) return i;
    return -1;
}

/* A method's section: the search table, the selected mark (report.md:
 * the selected genotype's heading; the page: each search's caption with
 * its genotype), the failures. */
static td_status md_section(const report_doc *d, const audit_method *m)
{
    char head[300];
    snprintf(head, sizeof head, "## %s", m->label);
    int from = -1, to = d->n;
    for (int i = 0; i < d->n && from < 0; i++)
        if (!strcmp(d->line[i], head)) from = i + 1;
    if (from < 0) return TD_FAIL(TD_ERR_CHECK, "%s: no section for %s", d->file, m->label);
    for (int i = from; i < d->n; i++)
        if (!strncmp(d->line[i], "## ", 3)) {
            to = i;
            break;
        }
    for (int k = 0; k < AUDIT_SEARCHES; k++) {
        char first[32], buf[2048], *c[16];
        snprintf(first, sizeof first, "%d%s", k + 1, k == m->selected ? " (selected)" : "");
        if (!md_row(d, from, to, first, 8, buf, sizeof buf, c))
            return TD_FAIL(TD_ERR_CHECK, "%s: %s: no row '%s' (verify selects search %d)", d->file, m->label, first,
                           m->selected + 1);
        int ok = atoi(c[1]) == m->search_seed[k];
        const audit_run *x = &m->search[k], *sel = &m->select[k];
        if (ok && x->ok) {
            int depth[2], skips[2];
            TD_CHECK(cell_figures(x, depth, skips));
            ok = atoi(c[2]) == depth[0] && atoi(c[3]) == skips[0] && atoi(c[4]) == depth[1] && atoi(c[5]) == skips[1];
        }
        if (ok)
            ok = sel->ok ? md_shows(c[6], sel->valid_error, 4) && md_shows(c[7], sel->test_error, 4)
                         : !c[6][0] && !c[7][0];
        if (!ok)
            return TD_FAIL(
                TD_ERR_CHECK,
                "%s: %s: search %d's row differs from its runs (seed, depth, skips or selection errors)",
                d->file, m->label, k + 1);
    }
    if (d->page) {
        for (int k = 0; k < AUDIT_SEARCHES; k++) {
            if (!m->search[k].ok) continue;
            char caption[1200];
            snprintf(caption, sizeof caption, "search %d%s: %s", k + 1, k == m->selected ? " (selected)" : "",
                     m->search[k].genotype);
            if (md_find_line(d, from, to, caption) < 0)
                return TD_FAIL(TD_ERR_CHECK, "%s: %s: no caption says '%.80s...' (the search's genotype, as verify "
                               "selects)", d->file, m->label, caption);
        }
    } else {
        char sel_line[64];
        snprintf(sel_line, sizeof sel_line, "Selected genotype (search %d):", m->selected + 1);
        if (md_find(d, from, to, sel_line) < 0)
            return TD_FAIL(TD_ERR_CHECK, "%s: %s: does not say '%s'", d->file, m->label, sel_line);
    }
    char fail_line[64];
    snprintf(fail_line, sizeof fail_line, d->page ? "%d run(s) failed;" : "**%d run(s) failed**", m->failures);
    if ((md_find(d, from, to, "run(s) failed") >= 0) != (m->failures > 0) ||
        (m->failures && md_find(d, from, to, fail_line) < 0))
        return TD_FAIL(TD_ERR_CHECK, "%s: %s: the failed-run count is not %d", d->file, m->label, m->failures);
    return TD_OK;
}

td_status audit_report_doc(const report_doc *d, const audit_ledger *l)
{
    int comparable = json_is_true(json_object_get(l->plan, "comparable_to_paper"));
    if ((md_find(d, 0, d->n, "not comparable to the paper") >= 0) == comparable)
        return TD_FAIL(TD_ERR_CHECK, "%s: the banner on comparability with the paper does not match the budget", d->file);
    if ((md_find(d, 0, d->n, d->page ? "Test-set selection:" : "**Test-set selection:**") >= 0) != l->select_by_test)
        return TD_FAIL(TD_ERR_CHECK, "%s: the test-set selection banner does not match the plan's rule", d->file);
    TD_CHECK(md_table2(d, l));
    for (int i = 0; i < l->n; i++) TD_CHECK(md_section(d, &l->m[i]));
    if (l->has_baseline && l->baseline.ok) {
        int retrained, below;
        below_baseline(l, &retrained, &below);
        char line[160];
        snprintf(line, sizeof line, ": %.2f%% test error. Retrained networks below it: %d of %d",
                 100.0 * l->baseline.test_error, below, retrained);
        if (md_find(d, 0, d->n, line) < 0)
            return TD_FAIL(TD_ERR_CHECK, "%s: no line says of the baseline \"%s\"", d->file, line + 2);
    }
    return TD_OK;
}

td_status audit_report(const char *dir, const audit_ledger *l)
{
    char path[4400], *md;
    json_t *rep;
    TD_CHECK(audit_read_json(dir, "report.json", &rep));
    if (!rep) return TD_FAIL(TD_ERR_CHECK, "report.json: missing");
    td_status s = check_json(rep, l);
    json_decref(rep);
    TD_CHECK(s);
    TD_CHECK(path_format(path, sizeof path, "%s/report.md", dir));
    TD_CHECK(file_read_all(path, &md, NULL));
    report_doc d = {"report.md", 0, 0, NULL};
    for (char *p = md; *p;) { /* lines, in place */
        char *nl = strchr(p, '\n');
        char **grown = realloc(d.line, (size_t)(d.n + 1) * sizeof *grown);
        if (!grown) {
            s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
            break;
        }
        d.line = grown;
        d.line[d.n++] = p;
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    if (s == TD_OK) s = audit_report_doc(&d, l);
    free(d.line);
    free(md);
    return s;
}
