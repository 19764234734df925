/* Figures from the logs: a run's curves drawn from a committed log are
 * not blank and are the same bytes twice; a protocol's figures overlay the
 * methods and list themselves; a genotype's cells have the nodes and edges
 * of a DARTS cell, in the DOT text and in what dot draws; the genotype
 * command draws them; a missing tool is a one-line warning, not a failed
 * run. Where matplotlib or dot is missing the tests are not run, unless
 * TSEDARTS_REQUIRE_PLOTS=1 (CI). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "png_check.h"
#include "sandbox.h"
#include "tsedarts/figures.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

static char *fixture(const char *rel)
{
    const char *src = getenv("TSEDARTS_SOURCE_DIR");
    cr_assert_not_null(src, "TSEDARTS_SOURCE_DIR not set");
    char *p = malloc(strlen(src) + strlen(rel) + 32);
    sprintf(p, "%s/tests/fixtures/figures/%s", src, rel);
    return p;
}

/* A scratch run directory holding the fixture run `kind` (search, train). */
static char *fixture_run(const char *kind)
{
    char *src = fixture(kind), *dir = sandbox_dir("figures"), *run = path_join(dir, kind);
    cr_assert_eq(sandbox_copy_tree(src, run), TD_OK, "%s", td_error_message());
    free(src);
    free(dir);
    return run;
}

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char *path = path_join(dir, name), *text;
    cr_assert_eq(file_read_all(path, &text, len), TD_OK, "%s", td_error_message());
    free(path);
    return text;
}

static void expect_drawn_png(const char *path)
{
    png_summary s;
    cr_assert_eq(png_summarise(path, &s), TD_OK, "%s", td_error_message());
    cr_expect(s.width >= 200 && s.height >= 150, "%s: %dx%d", path, s.width, s.height);
    cr_expect(png_is_drawn(&s), "%s looks blank: %.4f of the pixels inked, grey variance %.1f", path, s.inked,
              s.variance);
}

static void expect_svg(const char *dir, const char *name)
{
    size_t len;
    char *svg = read_file(dir, name, &len);
    cr_expect(len > 2000 && strstr(svg, "<svg") != NULL, "%s/%s is not an SVG drawing", dir, name);
    free(svg);
}

Test(figures, run_curves_from_the_fixture_logs_are_drawn)
{
    sandbox_require_plots();
    const char *kinds[] = {"search", "train"};
    for (int k = 0; k < 2; k++) {
        char *run = fixture_run(kinds[k]);
        cr_assert_eq(figures_draw_run(run), TD_OK, "%s: %s", kinds[k], td_error_message());
        char *png = path_join(run, "curves.png");
        expect_drawn_png(png);
        expect_svg(run, "curves.svg");
        free(png);
        free(run);
    }
}

Test(figures, the_blank_check_can_fail)
{
    sandbox_require_plots();
    char *dir = sandbox_dir("blank"), *png = path_join(dir, "blank.png");
    const char *argv[] = {figures_python(), "-c",
                          "import sys, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; "
                          "plt.figure(figsize=(6, 4)).savefig(sys.argv[1])",
                          png, NULL};
    cr_assert_eq(sandbox_run(argv, NULL), 0);
    png_summary s;
    cr_assert_eq(png_summarise(png, &s), TD_OK, "%s", td_error_message());
    cr_expect_not(png_is_drawn(&s), "an empty figure passed as drawn (%.4f inked, variance %.1f)", s.inked, s.variance);
    free(png);
    free(dir);
}

static int same_file(const char *a_dir, const char *b_dir, const char *name)
{
    size_t la, lb;
    char *a = read_file(a_dir, name, &la), *b = read_file(b_dir, name, &lb);
    int same = la == lb && !memcmp(a, b, la);
    free(a);
    free(b);
    return same;
}

Test(figures, the_same_log_gives_the_same_bytes)
{
    sandbox_require_plots();
    char *a = fixture_run("search"), *b = fixture_run("search"), *c = fixture_run("search");
    /* c's log lacks its last record: its figure must differ, or the
     * comparison below could not fail */
    size_t len;
    char *log = read_file(c, "metrics.jsonl", &len);
    char *end = log + len - 1;
    while (end > log && end[-1] != '\n') end--;
    *end = '\0';
    char *path = path_join(c, "metrics.jsonl");
    cr_assert_eq(file_write_text_atomic(path, log), TD_OK);
    free(path);
    free(log);
    for (int i = 0; i < 3; i++) cr_assert_eq(figures_draw_run(i == 0 ? a : i == 1 ? b : c), TD_OK, "%s", td_error_message());
    cr_expect(same_file(a, b, "curves.svg"), "two drawings of one log differ (SVG)");
    cr_expect(same_file(a, b, "curves.png"), "two drawings of one log differ (PNG)");
    cr_expect_not(same_file(a, c, "curves.svg"), "a shorter log drew the same SVG");
    cr_expect_not(same_file(a, c, "curves.png"), "a shorter log drew the same PNG");
    free(a);
    free(b);
    free(c);
}

Test(figures, protocol_figures_overlay_the_methods_and_list_themselves)
{
    sandbox_require_plots();
    char *s1 = fixture_run("search"), *s2 = fixture_run("search"), *t = fixture_run("train");
    char *out = sandbox_dir("protocol-figures"), spec[4096];
    snprintf(spec, sizeof spec,
             "{\"methods\": [{\"id\": \"darts1\", \"label\": \"DARTS (1st)\", \"search\": [\"%s\", \"%s\"], "
             "\"select\": [\"%s\"], \"final8\": [], \"final20\": [\"%s\"]}, {\"id\": \"tse\", \"label\": \"TSE-DARTS\", "
             "\"search\": [\"%s\"]}]}",
             s1, s2, t, t, s1);
    const char *argv[] = {figures_python(), "-E", "-s", "-B", figures_script(), "protocol", out, spec, NULL};
    cr_assert_eq(sandbox_run(argv, NULL), 0);
    size_t len;
    char *index = read_file(out, "index.json", &len);
    /* the fixture search logged the Hessian and the TSE gradients */
    const char *names[] = {"search_skips", "search_depth", "search_hessian", "search_tse_gradient",
                           "retrain_loss_train", "retrain_accuracy", "retrain_error"};
    for (int i = 0; i < 7; i++) {
        char quoted[64], file[64];
        snprintf(quoted, sizeof quoted, "\"%s\"", names[i]);
        cr_expect(strstr(index, quoted) != NULL, "index.json lacks %s: %s", names[i], index);
        snprintf(file, sizeof file, "%s.svg", names[i]);
        expect_svg(out, file);
        snprintf(file, sizeof file, "%s/%s.png", out, names[i]);
        expect_drawn_png(file);
    }
    free(index);
    /* a spec that is not JSON is refused, by name */
    const char *bad[] = {figures_python(), "-E", "-s", "-B", figures_script(), "protocol", out, "{methods", NULL};
    cr_expect_eq(sandbox_run(bad, NULL), 2);
    free(s1);
    free(s2);
    free(t);
    free(out);
}

/* Lines of the DOT text inside `subgraph cluster_<cell>` that contain needle. */
static int count_in_cluster(const char *dot, const char *cell, const char *needle)
{
    char open[64];
    snprintf(open, sizeof open, "subgraph cluster_%s {", cell);
    const char *at = strstr(dot, open), *end = at ? strstr(at, "\n  }") : NULL;
    cr_assert(at && end, "no cluster %s in:\n%s", cell, dot);
    int n = 0;
    for (const char *p = strstr(at, needle); p && p < end; p = strstr(p + 1, needle)) n++;
    return n;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

Test(figures, a_genotype_draws_as_two_darts_cells)
{
    genotype g;
    cr_assert_eq(genotype_load("DARTS_V2", &g), TD_OK, "%s", td_error_message());
    char dot[8192];
    genotype_format_dot(&g, dot, sizeof dot);
    const char *cells[2] = {"normal", "reduce"};
    const int skips[2] = {2, 3}; /* DARTS_V2: two skip_connect in the normal cell, three in the reduction cell */
    for (int c = 0; c < 2; c++) {
        /* c_{k-2}, c_{k-1}, nodes 0..3, c_{k}: 7 nodes; 8 op edges and 4 into the concatenation */
        cr_expect_eq(count_in_cluster(dot, cells[c], "\" [label=\""), 7 + 8, "%s cell: nodes and labelled edges", cells[c]);
        cr_expect_eq(count_in_cluster(dot, cells[c], " -> "), 12, "%s cell: edges", cells[c]);
        cr_expect_eq(count_in_cluster(dot, cells[c], "_c_k\";\n"), 4, "%s cell: edges into c_{k}", cells[c]);
        cr_expect_eq(count_in_cluster(dot, cells[c], "[label=\"skip_connect\"]"), skips[c], "%s cell", cells[c]);
    }
    sandbox_require_plots();
    char *dir = sandbox_dir("cells"), *svg_path = path_join(dir, "cells.svg");
    cr_assert_eq(figures_draw_genotype(&g, "svg", svg_path), TD_OK, "%s", td_error_message());
    size_t len;
    char *svg = read_file(dir, "cells.svg", &len);
    cr_expect_eq(count(svg, "class=\"node\""), 14, "dot drew another number of nodes");
    cr_expect_eq(count(svg, "class=\"edge\""), 24, "dot drew another number of edges");
    cr_expect_eq(count(svg, "class=\"cluster\""), 2);
    cr_expect_eq(count(svg, ">skip_connect<"), 5);
    free(svg);
    cr_expect_eq(figures_draw_genotype(&g, "jpg", svg_path), TD_ERR_ARG);
    free(svg_path);
    free(dir);
}

static const char *tsedarts_bin(void)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    return bin;
}

Test(figures, genotype_show_draws_svg_and_png)
{
    sandbox_require_plots();
    const char *bin = tsedarts_bin();
    char *dir = sandbox_dir("genotype-show"), *a = path_join(dir, "a.png"), *b = path_join(dir, "b.png"),
         *svg = path_join(dir, "stdout.svg");
    const char *png_a[] = {bin, "genotype", "show", "DARTS_V2", "--format", "png", "--out", a, NULL};
    const char *png_b[] = {bin, "genotype", "show", "DARTS_V2", "--format", "png", "--out", b, NULL};
    const char *to_stdout[] = {bin, "genotype", "show", "DARTS_V1", "--format", "svg", NULL};
    cr_assert_eq(sandbox_run(png_a, NULL), 0);
    cr_assert_eq(sandbox_run(png_b, NULL), 0);
    cr_assert_eq(sandbox_run(to_stdout, svg), 0);
    expect_drawn_png(a);
    size_t la, lb;
    char *ta = read_file(dir, "a.png", &la), *tb = read_file(dir, "b.png", &lb);
    cr_expect(la == lb && !memcmp(ta, tb, la), "two drawings of DARTS_V2 differ");
    free(ta);
    free(tb);
    char *text = read_file(dir, "stdout.svg", &la);
    cr_expect(strstr(text, "<svg") && count(text, "class=\"node\"") == 14, "no drawing of DARTS_V1 on stdout");
    free(text);
    const char *bad[] = {bin, "genotype", "show", "DARTS_V2", "--format", "jpg", NULL};
    cr_expect_eq(sandbox_run(bad, NULL), 2);
    setenv("TSEDARTS_DOT", "/nonexistent/dot", 1);
    cr_expect_eq(sandbox_run(png_a, svg), 3, "a missing dot is not 'cannot here' (3)");
    unsetenv("TSEDARTS_DOT");
    text = read_file(dir, "stdout.svg", &la);
    cr_expect(strstr(text, "/nonexistent/dot") != NULL, "the message does not name the missing program: %s", text);
    free(text);
    free(a);
    free(b);
    free(svg);
    free(dir);
}

Test(figures, a_missing_tool_is_one_warning_line_not_a_failure)
{
    char *run = fixture_run("search");
    genotype g;
    cr_assert_eq(genotype_load("DARTS_V2", &g), TD_OK);
    setenv("TSEDARTS_PYTHON", "/nonexistent/python3", 1);
    setenv("TSEDARTS_DOT", "/nonexistent/dot", 1);
    char *warned = NULL;
    size_t wlen = 0;
    FILE *w = open_memstream(&warned, &wlen);
    cr_expect_eq(figures_for_run(run, &g, w), 0);
    fclose(w);
    unsetenv("TSEDARTS_PYTHON");
    unsetenv("TSEDARTS_DOT");
    cr_expect_eq(count(warned, "\n"), 1, "not one line: %s", warned);
    cr_expect(strstr(warned, "warning") && strstr(warned, "/nonexistent/python3") && strstr(warned, "/nonexistent/dot"),
              "the warning does not name what is missing: %s", warned);
    char *curves = path_join(run, "curves.svg");
    cr_expect_not(file_exists(curves));
    free(curves);
    free(warned);
    /* the train command finishes, says so once, and exits 0 */
    const char *bin = tsedarts_bin();
    char *dir = sandbox_dir("no-plots"), *out = path_join(dir, "run"), *log = path_join(dir, "log");
    const char *argv[] = {bin, "train", "--net", "linear", "--dataset", "synthetic", "--epochs", "1", "--subset", "32",
                          "--test-images", "32", "--quiet", "--out", out, NULL};
    setenv("TSEDARTS_PYTHON", "/nonexistent/python3", 1);
    int rc = sandbox_run(argv, log);
    unsetenv("TSEDARTS_PYTHON");
    cr_expect_eq(rc, 0);
    size_t len;
    char *text = read_file(dir, "log", &len);
    cr_expect_eq(count(text, "warning"), 1, "%s", text);
    cr_expect(strstr(text, "test error") != NULL, "%s", text);
    free(text);
    free(out);
    free(log);
    free(dir);
    free(run);
}
