/* What is drawn where: a run's curves and cells into its directory, a
 * genotype through dot, and a protocol's figures/ for its report. */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "figures_internal.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

#define WHY_LEN 600
#define INSTALL_HINT "install them with scripts/install-deps.sh (python3-matplotlib, graphviz)"

/* The script's exit status for "matplotlib cannot be imported". */
#define SCRIPT_NO_MATPLOTLIB 3

static int did_not_start(int rc) { return rc < 0 || rc == 127; }

static td_status python_figures(const char *mode, const char *a, const char *b)
{
    const char *argv[] = {figures_python(), "-E", "-s", "-B", figures_script(), mode, a, b, NULL};
    char why[WHY_LEN];
    int rc = figures_spawn(argv, NULL, why, sizeof why);
    if (rc == 0) return TD_OK;
    if (did_not_start(rc) || rc == SCRIPT_NO_MATPLOTLIB)
        return TD_FAIL(TD_ERR_UNSUPPORTED, "%s (set TSEDARTS_PYTHON to a Python with matplotlib, or %s)", why,
                       INSTALL_HINT);
    return TD_FAIL(TD_ERR_STATE, "%s %s failed (exit %d): %s", figures_script(), mode, rc, why);
}

td_status figures_draw_run(const char *run_dir) { return python_figures("run", run_dir, NULL); }

/* dot with the genotype's DOT text on its standard input and the given
 * -T/-o arguments; outputs go to temporary names renamed into place. */
static td_status run_dot(const genotype *g, int n, const char *const *formats, const char *const *paths)
{
    char dot[8192];
    genotype_format_dot(g, dot, sizeof dot);
    const char *argv[16];
    char targ[4][16], *tmp[4] = {NULL};
    int a = 0;
    argv[a++] = figures_dot();
    td_status s = TD_OK;
    for (int i = 0; i < n && s == TD_OK; i++) {
        snprintf(targ[i], sizeof targ[i], "-T%s", formats[i]);
        argv[a++] = targ[i];
        if (!paths[i]) continue;
        size_t l = strlen(paths[i]) + 32;
        tmp[i] = malloc(l);
        if (!tmp[i]) {
            s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
            break;
        }
        snprintf(tmp[i], l, "%s.tmp.%ld", paths[i], (long)getpid());
        argv[a++] = "-o";
        argv[a++] = tmp[i];
    }
    argv[a] = NULL;
    if (s == TD_OK) {
        char why[WHY_LEN];
        fflush(stdout);
        int rc = figures_spawn(argv, dot, why, sizeof why);
        if (did_not_start(rc))
            s = TD_FAIL(TD_ERR_UNSUPPORTED, "%s (set TSEDARTS_DOT to Graphviz's dot, or %s)", why, INSTALL_HINT);
        else if (rc != 0)
            s = TD_FAIL(TD_ERR_STATE, "dot failed (exit %d) on genotype %s: %s", rc, g->name, why);
    }
    for (int i = 0; i < n; i++) {
        if (!tmp[i]) continue;
        if (s == TD_OK && rename(tmp[i], paths[i]) != 0)
            s = TD_FAIL(TD_ERR_IO, "%s: cannot rename into place", paths[i]);
        if (s != TD_OK) unlink(tmp[i]);
        free(tmp[i]);
    }
    return s;
}

td_status figures_draw_genotype(const genotype *g, const char *format, const char *out_path)
{
    if (strcmp(format, "svg") && strcmp(format, "png"))
        return TD_FAIL(TD_ERR_ARG, "drawing format '%s': expected svg or png", format);
    const char *formats[1] = {format}, *paths[1] = {out_path};
    return run_dot(g, 1, formats, paths);
}

td_status figures_draw_genotype_files(const genotype *g, const char *base)
{
    char svg[4400], png[4400];
    TD_CHECK(path_format(svg, sizeof svg, "%s.svg", base));
    TD_CHECK(path_format(png, sizeof png, "%s.png", base));
    const char *formats[2] = {"svg", "png"}, *paths[2] = {svg, png};
    return run_dot(g, 2, formats, paths);
}

int figures_for_run(const char *run_dir, const genotype *g, FILE *warn)
{
    char curves[700] = "", cells[700] = "";
    if (figures_draw_run(run_dir) != TD_OK) snprintf(curves, sizeof curves, "curves: %s", td_error_message());
    if (g) {
        char base[4400];
        td_status s = path_format(base, sizeof base, "%s/genotype", run_dir);
        if (s == TD_OK) s = figures_draw_genotype_files(g, base);
        if (s != TD_OK) snprintf(cells, sizeof cells, "cells: %s", td_error_message());
    }
    if (!curves[0] && !cells[0]) return 1;
    fprintf(warn, "tsedarts: warning: figures not drawn (the run itself is complete): %s%s%s\n", curves,
            curves[0] && cells[0] ? "; " : "", cells);
    return 0;
}

void figures_search_name(char *buf, size_t len, const char *kind, const char *method_id, int k)
{
    snprintf(buf, len, "%s-%s-%d", kind, method_id, k + 1);
}

/* {"methods": [{"id", "label", "search": [dirs], "select", "final8", "final20"}], "baseline": dir} of the
 * finished runs. */
static td_status protocol_spec(const char *out_dir, const char *plan_json, char **spec)
{
    json_error_t err;
    json_t *plan = json_loads(plan_json, 0, &err);
    if (!plan) return TD_FAIL(TD_ERR_FORMAT, "plan: %s", err.text);
    protocol_run_info *runs = NULL;
    int nr = 0;
    td_status s = protocol_tree_runs(out_dir, &runs, &nr);
    json_t *methods = json_array(), *pm = json_object_get(plan, "methods");
    for (size_t m = 0; s == TD_OK && m < json_array_size(pm); m++) {
        json_t *mo = json_array_get(pm, m), *o = json_object();
        const char *id = json_string_value(json_object_get(mo, "id"));
        json_object_set(o, "id", json_object_get(mo, "id"));
        json_object_set(o, "label", json_object_get(mo, "label"));
        const char *groups[] = {"search", "select", "final20", "final8"};
        for (int gi = 0; gi < 4; gi++) json_object_set_new(o, groups[gi], json_array());
        json_t *tasks = json_array();
        json_object_set_new(o, "search_tasks", tasks);
        for (int i = 0; i < nr; i++) {
            const protocol_run_info *r = &runs[i];
            if (!id || strcmp(r->method, id) || !r->done || !r->hash[0]) continue;
            int gi = r->stage == STAGE_SEARCH ? 0 : r->stage == STAGE_SELECT ? 1 : r->task < PROTOCOL_FINAL_SEEDS ? 2 : 3;
            char dir[4400];
            s = path_format(dir, sizeof dir, "%s/runs/%s", out_dir, r->hash);
            if (s != TD_OK) break;
            json_array_append_new(json_object_get(o, groups[gi]), json_string(dir));
            if (gi == 0) json_array_append_new(tasks, json_integer(r->task));
        }
        json_array_append_new(methods, o);
    }
    json_t *root = json_object();
    json_object_set_new(root, "methods", methods);
    /* the linear baseline: a line the retraining errors are read against */
    for (int i = 0; s == TD_OK && i < nr; i++) {
        char dir[4400];
        if (strcmp(runs[i].method, "baseline") || !runs[i].done || !runs[i].hash[0]) continue;
        s = path_format(dir, sizeof dir, "%s/runs/%s", out_dir, runs[i].hash);
        if (s == TD_OK) json_object_set_new(root, "baseline", json_string(dir));
    }
    *spec = s == TD_OK ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s == TD_OK && !*spec) s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
    json_decref(root);
    json_decref(plan);
    free(runs);
    return s;
}

static void add_missing(char *missing, size_t len, const char *what)
{
    size_t at = strlen(missing);
    snprintf(missing + at, len - at, "%s%s: %s", at ? "; " : "", what, td_error_message());
}

static td_status draw_into(const char *dir, const char *out_dir, const char *plan_json, const method_result *res,
                           int n, char *missing, size_t missing_len);

/* Moves into fresh/ each file of old/ that a tool which failed this time
 * drew earlier (cells: dot's, the rest: the script's); returns how many. */
static int keep_earlier(const char *old, const char *fresh, int keep_script, int keep_cells)
{
    DIR *d = opendir(old);
    int kept = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        int cell = !strncmp(e->d_name, "cell-", 5);
        if (!(cell ? keep_cells : keep_script)) continue;
        char *from = path_join(old, e->d_name), *to = path_join(fresh, e->d_name);
        if (from && to && !file_exists(to) && rename(from, to) == 0) kept++;
        free(from);
        free(to);
    }
    if (d) closedir(d);
    return kept;
}

/* Drawn afresh into figures.new/, which then replaces figures/: a figure
 * from an earlier report must not outlive its data, but a plotting tool
 * that is missing (or fails) never deletes what it drew before: those
 * figures are kept, and the note in `missing` says so. */
td_status figures_draw_protocol(const char *out_dir, const char *plan_json, const method_result *res, int n,
                                char *missing, size_t missing_len)
{
    char fresh[4400], final[4400];
    TD_CHECK(path_format(final, sizeof final, "%s/figures", out_dir));
    TD_CHECK(path_format(fresh, sizeof fresh, "%s/figures.new", out_dir));
    TD_CHECK(dir_remove_tree(fresh)); /* left by a report that was killed */
    TD_CHECK(dir_create(fresh));
    TD_CHECK(draw_into(fresh, out_dir, plan_json, res, n, missing, missing_len));
    int script_failed = strstr(missing, "search and retraining figures") != NULL;
    int cells_failed = strstr(missing, "cell drawings") != NULL;
    int kept = file_exists(final) ? keep_earlier(final, fresh, script_failed, cells_failed) : 0;
    if (kept) {
        size_t at = strlen(missing);
        snprintf(missing + at, missing_len - at, " (the %d figure files drawn earlier are kept)", kept);
    }
    TD_CHECK(dir_remove_tree(final));
    if (rename(fresh, final) != 0) return TD_FAIL(TD_ERR_IO, "%s: cannot rename into place", final);
    rmdir(final); /* only when nothing was drawn into it */
    return TD_OK;
}

/* Draws the protocol's figures and cells into dir. */
static td_status draw_into(const char *dir, const char *out_dir, const char *plan_json, const method_result *res,
                           int n, char *missing, size_t missing_len)
{
    missing[0] = '\0';
    char *spec = NULL;
    td_status s = protocol_spec(out_dir, plan_json, &spec);
    if (s == TD_OK) s = python_figures("protocol", dir, spec);
    free(spec);
    if (s != TD_OK) add_missing(missing, missing_len, "search and retraining figures");
    json_t *plan = json_loads(plan_json, 0, NULL);
    json_t *pm = json_object_get(plan, "methods");
    int dot_ok = 1;
    for (int m = 0; m < n && dot_ok; m++) {
        const char *id = json_string_value(json_object_get(json_array_get(pm, (size_t)m), "id"));
        for (int k = 0; k < PROTOCOL_SEARCHES && dot_ok && id; k++) {
            if (!res[m].genotype[k][0]) continue;
            genotype g;
            char name[96], base[4600];
            s = genotype_parse(res[m].genotype[k], "report", &g);
            if (s == TD_OK) {
                snprintf(g.name, sizeof g.name, "%s search %d", id, k + 1);
                figures_search_name(name, sizeof name, "cell", id, k);
                s = path_format(base, sizeof base, "%s/%s", dir, name);
            }
            if (s == TD_OK) s = figures_draw_genotype_files(&g, base);
            if (s != TD_OK) {
                add_missing(missing, missing_len, "cell drawings");
                dot_ok = 0;
            }
        }
    }
    if (plan) json_decref(plan);
    return TD_OK;
}
