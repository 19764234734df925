/* report.html: the report as one page a reviewer can open anywhere and
 * keep, with nothing outside it: Table 2 paper beside ours, the figures
 * and the searched cells embedded as data: URIs, and the root hash with
 * the command that checks it. The page states the root hash, so it cannot
 * be under it; it is hashed in HOST.sha256 with its figures. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figures_internal.h"
#include "protocol_internal.h"
#include "tsedarts/budget.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

typedef struct page {
    char *text;
    size_t len, cap;
    int oom;
} page;

static void grow(page *p, size_t more)
{
    if (p->oom || p->len + more + 1 <= p->cap) return;
    size_t cap = p->cap ? p->cap : 1 << 16;
    while (p->len + more + 1 > cap) cap *= 2;
    char *t = realloc(p->text, cap);
    if (!t) {
        p->oom = 1;
        return;
    }
    p->text = t;
    p->cap = cap;
}

static void put(page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(page *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    grow(p, (size_t)n);
    if (p->oom) return;
    va_start(ap, fmt);
    vsnprintf(p->text + p->len, p->cap - p->len, fmt, ap);
    va_end(ap);
    p->len += (size_t)n;
}

/* Text as HTML character data or an attribute value. */
static void put_escaped(page *p, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': put(p, "&lt;"); break;
        case '>': put(p, "&gt;"); break;
        case '&': put(p, "&amp;"); break;
        case '"': put(p, "&quot;"); break;
        default: put(p, "%c", *s);
        }
    }
}

/* Text written for report.md, where `x` is code and **x** bold: escaped,
 * each backquoted span in <code>, each starred one in <b>. */
static void put_md_text(page *p, const char *s)
{
    int in_code = 0, in_bold = 0;
    char one[2] = {0, 0};
    for (; s && *s; s++) {
        if (*s == '`') {
            put(p, in_code ? "</code>" : "<code>");
            in_code = !in_code;
            continue;
        }
        if (!in_code && s[0] == '*' && s[1] == '*') {
            put(p, in_bold ? "</b>" : "<b>");
            in_bold = !in_bold;
            s++;
            continue;
        }
        one[0] = *s;
        put_escaped(p, one);
    }
    if (in_code) put(p, "</code>");
    if (in_bold) put(p, "</b>");
}

static void put_base64(page *p, const unsigned char *d, size_t n)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    grow(p, (n + 2) / 3 * 4);
    if (p->oom) return;
    char *o = p->text + p->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        *o++ = b64[v >> 18 & 63], *o++ = b64[v >> 12 & 63], *o++ = b64[v >> 6 & 63], *o++ = b64[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0);
        *o++ = b64[v >> 18 & 63], *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    p->len = (size_t)(o - p->text);
    p->text[p->len] = '\0';
}

/* <img> of figures/<name>.svg as a data: URI; 0 when the file is absent. */
static int put_image(page *p, const char *out_dir, const char *name, const char *alt, const char *cls)
{
    char path[4600], *data;
    size_t n;
    if (path_format(path, sizeof path, "%s/figures/%s.svg", out_dir, name) != TD_OK || !file_exists(path) ||
        file_read_all(path, &data, &n) != TD_OK)
        return 0;
    put(p, "<img class=\"%s\" alt=\"", cls);
    put_escaped(p, alt);
    put(p, "\" src=\"data:image/svg+xml;base64,");
    put_base64(p, (const unsigned char *)data, n);
    put(p, "\">");
    free(data);
    return 1;
}

static const char style[] =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1180px;margin:24px auto;padding:0 16px;"
    "color:#222;line-height:1.45}"
    "h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ccc;padding-bottom:.2em}"
    "table{border-collapse:collapse;margin:.8em 0;font-size:.92em}"
    "th,td{border:1px solid #ccc;padding:4px 9px;text-align:left}th{background:#f2f2f2}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}tr.notrun td{color:#888}"
    ".banner{background:#fff4d6;border-left:5px solid #e0a800;padding:8px 12px}"
    ".baseline{background:#eef5fb;border-left:5px solid #3b7dd8;padding:8px 12px}"
    ".missing{background:#fde2e2;border-left:5px solid #c0392b;padding:8px 12px}"
    "figure{margin:1em 0}figure img.plot{max-width:100%;height:auto}"
    "figcaption{font-size:.9em;color:#555;max-width:900px}"
    ".cells{display:grid;grid-template-columns:1fr;gap:14px}"
    ".cells figure{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:10px;align-items:center;"
    "border:1px solid #ddd;border-radius:6px;padding:10px;margin:0;background:#fff}"
    ".cells figure.selected{border:3px solid #2e8b57;background:#f3fbf6}"
    ".cells img{width:100%;height:auto}.cells figcaption{grid-column:1/3;max-width:none}"
    ".tag{font-weight:bold;color:#2e8b57}"
    "code,pre{background:#f5f5f5;border-radius:3px}code{padding:1px 4px}pre{padding:8px 12px;overflow-x:auto}";

static void put_table2(page *p, const method_result *res, int n, json_t *methods)
{
    put(p, "<table><tr><th>Method</th><th>8-layer eval, paper</th><th>8-layer eval, ours</th>"
           "<th>20-layer eval, paper</th><th>20-layer eval, ours</th></tr>\n");
    for (int i = 0; i < protocol_n_methods; i++) {
        const method_def *d = &protocol_methods[i];
        int slot = -1;
        for (int m = 0; m < n; m++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(methods, (size_t)m), "id")), d->id)) slot = m;
        if (d->extra && slot < 0) continue; /* a comparison row nobody asked for, as in report.md */
        char c8[64] = "not run", c20[64] = "not run";
        if (slot >= 0) {
            protocol_format_stats(c8, sizeof c8, res[slot].final8, res[slot].n8);
            protocol_format_stats(c20, sizeof c20, res[slot].final20, res[slot].n20);
        }
        char p8[64], p20[64];
        protocol_format_paper(p8, sizeof p8, d->paper8, d->paper8_std);
        protocol_format_paper(p20, sizeof p20, d->paper20, d->paper20_std);
        put(p, "<tr%s><td>", slot < 0 ? " class=\"notrun\"" : "");
        put_escaped(p, d->label);
        put(p, "</td><td class=\"num\">%s</td><td class=\"num\">%s</td><td class=\"num\">%s</td>"
               "<td class=\"num\">%s</td></tr>\n", p8, c8, p20, c20);
    }
    put(p, "</table>\n");
}

static void put_figures(page *p, const char *out_dir, const char *group)
{
    char path[4600], *text;
    if (path_format(path, sizeof path, "%s/figures/index.json", out_dir) != TD_OK || !file_exists(path) ||
        file_read_all(path, &text, NULL) != TD_OK) {
        put(p, "<p>No figures (see above).</p>\n");
        return;
    }
    json_t *index = json_loads(text, 0, NULL);
    free(text);
    json_t *figs = json_object_get(index, "figures");
    int shown = 0;
    for (size_t i = 0; i < json_array_size(figs); i++) {
        json_t *f = json_array_get(figs, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *in_group = json_string_value(json_object_get(f, "group"));
        if (!name || !in_group || strcmp(group, in_group)) continue;
        put(p, "<figure id=\"fig-%s\">", name);
        if (!put_image(p, out_dir, name, json_string_value(json_object_get(f, "title")), "plot")) {
            put(p, "<p class=\"missing\">figures/%s.svg is missing</p>", name);
        }
        put(p, "<figcaption>");
        put_escaped(p, json_string_value(json_object_get(f, "caption")));
        put(p, " (figures/%s.svg, .png)</figcaption></figure>\n", name);
        shown++;
    }
    if (!shown) put(p, "<p>No run of this kind has logged anything to draw yet.</p>\n");
    if (index) json_decref(index);
}

static void put_cells(page *p, const char *out_dir, json_t *mo, const method_result *r)
{
    const char *id = json_string_value(json_object_get(mo, "id"));
    put(p, "<table><tr><th>search</th><th>seed</th><th>normal depth</th><th>normal skips</th><th>reduce depth</th>"
           "<th>reduce skips</th><th>selection valid error</th><th>selection test error</th></tr>\n");
    for (int k = 0; k < PROTOCOL_SEARCHES; k++) {
        int seed = (int)json_integer_value(json_object_get(json_array_get(json_object_get(mo, "searches"), (size_t)k), "seed"));
        put(p, "<tr><td>%d%s</td><td class=\"num\">%d</td>", k + 1, r->selected == k ? " <span class=\"tag\">selected</span>" : "", seed);
        if (!r->genotype[k][0]) {
            put(p, "<td colspan=\"6\">pending</td></tr>\n");
            continue;
        }
        put(p, "<td class=\"num\">%d</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td class=\"num\">%d</td>",
            r->depth[k][0], r->skips[k][0], r->depth[k][1], r->skips[k][1]);
        if (r->select_done[k])
            put(p, "<td class=\"num\">%.4f</td><td class=\"num\">%.4f</td></tr>\n", r->select_valid[k], r->select_test[k]);
        else
            put(p, "<td></td><td></td></tr>\n");
    }
    put(p, "</table>\n<div class=\"cells\">\n");
    for (int k = 0; k < PROTOCOL_SEARCHES; k++) {
        if (!r->genotype[k][0]) continue;
        char name[96], alt[128];
        figures_search_name(name, sizeof name, "cell", id, k);
        snprintf(alt, sizeof alt, "cells found by search %d", k + 1);
        put(p, "<figure%s>", r->selected == k ? " class=\"selected\"" : "");
        if (!put_image(p, out_dir, name, alt, "cell")) put(p, "<p>(no drawing)</p>");
        figures_search_name(name, sizeof name, "curves", id, k);
        snprintf(alt, sizeof alt, "search %d per epoch", k + 1);
        put_image(p, out_dir, name, alt, "cell");
        put(p, "<figcaption>search %d%s: <code>", k + 1, r->selected == k ? " <span class=\"tag\">selected</span>" : "");
        put_escaped(p, r->genotype[k]);
        put(p, "</code></figcaption></figure>\n");
    }
    put(p, "</div>\n");
}

td_status protocol_write_report_html(const char *out_dir, const char *plan_json, const method_result *res, int n,
                                     const baseline_result *base, const char *figures_missing,
                                     const char root_hash[SHA256_HEX_LEN])
{
    json_error_t err;
    json_t *plan = json_loads(plan_json, 0, &err);
    if (!plan) return TD_FAIL(TD_ERR_FORMAT, "plan: %s", err.text);
    const char *budget = json_string_value(json_object_get(plan, "budget"));
    const char *selection = json_string_value(json_object_get(plan, "selection"));
    json_t *methods = json_object_get(plan, "methods");
    page pg = {0}, *p = &pg;
    put(p, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
           "<title>Table 2 on the DARTS space: paper and reproduction</title>\n<style>%s</style></head><body>\n", style);
    put(p, "<h1>Table 2 on the DARTS space: paper and reproduction</h1>\n");
    const struct budget *bud = NULL;
    if (!budget || budget_find(budget, &bud) != TD_OK) bud = NULL;
    if (!json_is_true(json_object_get(plan, "comparable_to_paper")) && bud && bud->scope) {
        put(p, "<p class=\"banner\"><b>Budget <code>");
        put_escaped(p, budget);
        put(p, "</code>: scaled-down settings. These numbers are not comparable to the paper's.</b> ");
        put_md_text(p, bud->scope);
        put(p, "</p>\n");
    } else if (!json_is_true(json_object_get(plan, "comparable_to_paper"))) {
        put(p, "<p class=\"banner\"><b>Budget <code>");
        put_escaped(p, budget);
        put(p, "</code>: scaled-down settings. These numbers are not comparable to the paper's;</b> they show that "
               "the protocol runs end to end. Use <code>--budget paper</code> (the paper's settings) for a "
               "reproduction.</p>\n");
    }
    if (selection && !strcmp(selection, "test"))
        put(p, "<p class=\"banner\"><b>Test-set selection:</b> the best of the four searches was chosen by its "
               "<i>test</i> error, which biases the reported test error downwards.</p>\n");
    if (figures_missing && figures_missing[0]) {
        put(p, "<p class=\"missing\"><b>Figures missing:</b> ");
        put_escaped(p, figures_missing);
        put(p, "</p>\n");
    }
    put(p, "<p>Dataset <code>");
    put_escaped(p, json_string_value(json_object_get(plan, "dataset")));
    char depths[256];
    protocol_depths_text(plan, depths, sizeof depths);
    put(p, "</code>. Test error in %%, mean (standard deviation) over the selected genotype's %d extra seeds (the "
           "selection run excluded; sample standard deviation, n - 1). Selection: %s.%s</p>\n",
        PROTOCOL_FINAL_SEEDS,
        selection && !strcmp(selection, "test") ? "lowest test error of the selection retraining"
                                                : "lowest error on a held-out validation split of the training set",
        depths);
    put(p, "<h2 id=\"table2\">Table 2</h2>\n");
    put_table2(p, res, n, methods);
    char notes[2048];
    protocol_notes_text(methods, notes, sizeof notes);
    if (notes[0]) {
        put(p, "<p>");
        put_md_text(p, notes);
        put(p, "</p>\n");
    }
    char not_run[2048];
    protocol_not_run_text(budget, methods, not_run, sizeof not_run);
    if (not_run[0]) {
        put(p, "<p>");
        put_md_text(p, not_run);
        put(p, "</p>\n");
    }
    char base_text[512];
    protocol_baseline_text(base, res, n, base_text, sizeof base_text);
    put(p, "<p class=\"baseline\">");
    put_escaped(p, base_text);
    put(p, "</p>\n");
    put(p, "<p>Reprinted baselines the paper did not run: DrNAS 4.47/2.46, PC-DARTS 4.31/2.57, PDARTS 4.47/2.50, "
           "iDARTS 4.35/2.37 (8-layer/20-layer).</p>\n");
    put(p, "<h2 id=\"search\">The searches</h2>\n");
    put_figures(p, out_dir, "search");
    put(p, "<h2 id=\"retrain\">The retrainings</h2>\n");
    put_figures(p, out_dir, "retrain");
    put(p, "<h2 id=\"cells\">Searched cells</h2>\n<p>Each search's derived normal and reduction cells "
           "(inputs c_{k-2}, c_{k-1}, intermediate nodes 0 to 3, output c_{k}, the concatenation of the four), "
           "and beside them how the search reached them, epoch by epoch; the one chosen for the extra seeds is framed "
           "in green.</p>\n");
    for (int m = 0; m < n; m++) {
        json_t *mo = json_array_get(methods, (size_t)m);
        put(p, "<h3>");
        put_escaped(p, json_string_value(json_object_get(mo, "label")));
        put(p, "</h3>\n");
        put_cells(p, out_dir, mo, &res[m]);
        if (res[m].failures)
            put(p, "<p class=\"missing\">%d run(s) failed; see failure.json in their run directories.</p>\n",
                res[m].failures);
    }
    char lost[8192];
    protocol_device_failures_text(out_dir, lost, sizeof lost);
    if (lost[0]) {
        put(p, "<h2 id=\"devices\">Devices that failed</h2>\n<p class=\"missing\">");
        put_escaped(p, lost);
        put(p, "</p>\n");
    }
    put(p, "<h2 id=\"audit\">Checking these numbers</h2>\n<p>Root hash (SHA-256 of <code>MANIFEST.sha256</code>, "
           "which covers the plan, report.md, report.json and every run's manifest, so every result):</p>\n"
           "<pre>%s</pre>\n<p>In the results directory, run</p>\n<pre>tsedarts verify . --root-hash %s</pre>\n"
           "<p>It checks every file against its manifest, every metrics log's hash chain, that each run directory "
           "is named by its config's hash, that each searched genotype re-derives from the saved alphas, that the "
           "plan was followed, and recomputes the selection and this table from the runs. Its last line must say "
           "0 failed and print the hash above. This page and its figures (the files under figures/) are drawn by "
           "matplotlib and Graphviz, whose versions change their bytes, so they are hashed in "
           "<code>HOST.sha256</code> with the other machine-dependent files, outside the root hash; verify checks "
           "them against it, and that this page states the root hash of the tree it is in.</p>\n"
           "<p>Compute: every run's wall time is in its <code>timing.json</code>, outside the root hash (in its "
           "<code>host.sha256</code>); "
           "<code>tsedarts protocol status</code> sums it per method.</p>\n</body></html>\n",
        root_hash, root_hash);
    json_decref(plan);
    if (p->oom) {
        free(p->text);
        return TD_FAIL(TD_ERR_MEMORY, "out of memory writing report.html");
    }
    char path[4400];
    td_status s = path_format(path, sizeof path, "%s/report.html", out_dir);
    if (s == TD_OK) s = file_write_text_atomic(path, p->text);
    free(p->text);
    return s;
}
