/* The progress line of `protocol run`, for a tree read from outside
 * (`protocol status`, local or Slurm): runs done of total, runs under way
 * on each device (a run's lock, or the queue's word for Slurm; its device
 * from its env.json), the time since the plan was written, and the time
 * left from what the finished runs took (each run's timing.json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "board.h"
#include "estimate_internal.h"
#include "run_internal.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

static json_t *read_json(const char *dir, const char *name)
{
    char path[4600], *text = NULL;
    if (path_format(path, sizeof path, "%s/%s", dir, name) != TD_OK || !file_exists(path) ||
        file_read_all(path, &text, NULL) != TD_OK)
        return NULL;
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    return o;
}

/* How far a run under way has come: its epoch records against its epochs
 * (0 when that cannot be told). */
static double fraction_done(const char *dir)
{
    json_t *cfg = read_json(dir, "config.json");
    json_t *epochs = json_object_get(cfg, "epochs");
    long total = json_integer_value(epochs);
    /* a staged search runs its epochs in each of three stages */
    const char *algo = json_string_value(json_object_get(cfg, "algo"));
    if (algo && strstr(algo, "pdarts")) total *= 3;
    if (cfg) json_decref(cfg);
    char path[4600], *text = NULL;
    long lines = 0;
    if (total > 0 && path_format(path, sizeof path, "%s/metrics.jsonl", dir) == TD_OK && file_exists(path) &&
        file_read_all(path, &text, NULL) == TD_OK)
        for (const char *p = text; *p; p++) lines += *p == '\n';
    free(text);
    double f = total > 0 ? (double)lines / (double)total : 0;
    return f > 0.95 ? 0.95 : f;
}

td_status protocol_status_line(const char *out_dir, const int *running, FILE *f)
{
    protocol_run_info *info;
    int n;
    TD_CHECK(protocol_tree_runs(out_dir, &info, &n));
    sim_run *sim = calloc((size_t)n + 1, sizeof *sim);
    board_run *u = calloc((size_t)n + 1, sizeof *u);
    char (*devices)[64] = calloc((size_t)n + 1, sizeof *devices);
    double *frac = calloc((size_t)n + 1, sizeof *frac);
    if (!sim || !u || !devices || !frac) {
        free(info);
        free(sim);
        free(u);
        free(devices);
        free(frac);
        return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    }
    int done = 0, n_u = 0, n_baseline = 0;
    double sum[2] = {0}, cnt[2] = {0}, last = 0;
    for (int i = 0; i < n; i++) {
        const protocol_run_info *r = &info[i];
        n_baseline += !strcmp(r->method, "baseline");
        sim[i].done = r->done || r->failed;
        done += sim[i].done;
        char dir[4400];
        if (!r->hash[0] || path_format(dir, sizeof dir, "%s/runs/%s", out_dir, r->hash) != TD_OK) continue;
        int klass = r->stage != STAGE_SEARCH;
        if (sim[i].done) {
            json_t *t = read_json(dir, "timing.json");
            json_t *w = json_object_get(t, "wall_seconds");
            if (json_is_number(w)) {
                sum[klass] += json_number_value(w);
                cnt[klass]++;
            }
            if (t) json_decref(t);
            char path[4600];
            struct stat st;
            if (path_format(path, sizeof path, "%s/manifest.sha256", dir) == TD_OK && stat(path, &st) == 0 &&
                st.st_mtime > last)
                last = (double)st.st_mtime;
            continue;
        }
        if (running ? !running[i] : !run_lock_held(dir)) continue;
        sim[i].running = 1;
        frac[i] = fraction_done(dir);
        json_t *env = read_json(dir, "env.json");
        const char *dev = json_string_value(json_object_get(json_object_get(env, "device"), "name"));
        snprintf(devices[i], sizeof devices[i], "%s", dev ? dev : running ? "slurm" : "cpu");
        if (env) json_decref(env);
        u[n_u].device = devices[i];
        if (!strcmp(r->method, "baseline"))
            snprintf(u[n_u].what, sizeof u[n_u].what, "baseline");
        else
            snprintf(u[n_u].what, sizeof u[n_u].what, "%s %s %d", r->method, protocol_stage_name(r->stage),
                     r->task + 1);
        n_u++;
    }
    /* the time left: each run as long as the finished ones of its kind took */
    double left = -1;
    if (cnt[0] + cnt[1] > 0) {
        double all = (sum[0] + sum[1]) / (cnt[0] + cnt[1]);
        for (int i = 0; i < n; i++) {
            int klass = info[i].stage != STAGE_SEARCH;
            double mean = cnt[klass] ? sum[klass] / cnt[klass] : all;
            sim[i].seconds = sim[i].running ? mean * (1 - frac[i]) : mean;
        }
        int per = 2 * PROTOCOL_SEARCHES + 2 * PROTOCOL_FINAL_SEEDS;
        sim_plan_deps(sim, n_baseline, (n - n_baseline) / per);
        left = done == n ? 0 : sim_makespan(sim, n, n_u > 0 ? n_u : 1);
    }
    char path[4400];
    struct stat st;
    double elapsed = 0;
    if (path_format(path, sizeof path, "%s/plan.json", out_dir) == TD_OK && stat(path, &st) == 0)
        elapsed = (done == n && last > 0 ? last : (double)time(NULL)) - (double)st.st_mtime;
    char line[2048];
    board_format(line, sizeof line, done, n, u, n_u, elapsed, left);
    fprintf(f, "%s\n", line);
    if (done < n && !n_u && !running) fprintf(f, "  (nothing under way: run the same `protocol run` command to go on)\n");
    free(info);
    free(sim);
    free(u);
    free(devices);
    free(frac);
    return TD_OK;
}
