/* Executing the plan: runs in dependency order (searches, selection
 * retraining, the selected genotype's extra seeds), each in runs/<sha256 of
 * its config>/; finished runs are checked against their manifests and kept,
 * interrupted ones resume from their checkpoints, failures are recorded. */
#include <errno.h>
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run_internal.h"
#include "slurm_records.h"
#include "tsedarts/device.h"
#include "tsedarts/dir_lock.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"

td_status protocol_train_config(const char *template_json, const char *genotype_line, int seed, train_config *out)
{
    json_error_t err;
    json_t *o = json_loads(template_json, 0, &err);
    if (!o) return TD_FAIL(TD_ERR_FORMAT, "plan: bad retraining template: %s", err.text);
    json_object_set_new(o, "genotype", json_string(genotype_line));
    json_object_set_new(o, "seed", json_integer(seed));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    td_status s = train_config_parse(text, out);
    free(text);
    return s;
}

td_status protocol_read_result(const char *run_dir, char *genotype, size_t glen, double *valid_error,
                               double *test_error, int *depth, int *skips)
{
    char path[4400], *text;
    TD_CHECK(path_format(path, sizeof path, "%s/result.json", run_dir));
    TD_CHECK(file_read_all(path, &text, NULL));
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    free(text);
    if (!o) return TD_FAIL(TD_ERR_FORMAT, "%s: not JSON: %s", path, err.text);
    const char *g = json_string_value(json_object_get(o, "genotype"));
    if (genotype && g) snprintf(genotype, glen, "%s", g);
    json_t *v;
    if (valid_error && (v = json_object_get(o, "valid_error"))) *valid_error = json_number_value(v);
    if (test_error && (v = json_object_get(o, "test_error"))) *test_error = json_number_value(v);
    if (depth) {
        depth[0] = (int)json_integer_value(json_object_get(o, "normal_depth"));
        depth[1] = (int)json_integer_value(json_object_get(o, "reduce_depth"));
    }
    if (skips) {
        skips[0] = (int)json_integer_value(json_object_get(o, "normal_skip"));
        skips[1] = (int)json_integer_value(json_object_get(o, "reduce_skip"));
    }
    json_decref(o);
    return TD_OK;
}

td_status run_dir_of(const protocol_state *ps, const run_entry *r, char *buf, size_t len)
{
    return path_format(buf, len, "%s/runs/%s", ps->opt->out_dir, r->hash);
}

static json_t *plan_method(const protocol_state *ps, int m)
{
    return json_array_get(json_object_get(ps->plan, "methods"), (size_t)m);
}

const char *run_method_id(const protocol_state *ps, const run_entry *r)
{
    if (r->kind == RUN_BASELINE) return "baseline";
    return json_string_value(json_object_get(plan_method(ps, r->method), "id"));
}

/* The genotype a search found, renamed after its method and search. */
static td_status searched_genotype(const protocol_state *ps, int m, int k, char *line, size_t len)
{
    run_entry *s = NULL;
    for (int i = 0; i < ps->n_runs; i++)
        if (ps->runs[i].kind == RUN_SEARCH && ps->runs[i].method == m && ps->runs[i].index == k) s = &ps->runs[i];
    if (!s || !s->done || s->failed) return TD_FAIL(TD_ERR_STATE, "search not finished");
    char dir[4400], found[1024] = "";
    TD_CHECK(run_dir_of(ps, s, dir, sizeof dir));
    TD_CHECK(protocol_read_result(dir, found, sizeof found, NULL, NULL, NULL, NULL));
    return protocol_rename_genotype(json_string_value(json_object_get(plan_method(ps, m), "id")), k, found, line, len);
}

td_status run_resolve_config(protocol_state *ps, run_entry *r)
{
    if (r->kind == RUN_SEARCH || r->config[0]) return TD_OK;
    int k = r->index;
    if (r->kind != RUN_SELECT) {
        /* the selected search, by the same rule the report uses */
        method_result mr;
        memset(&mr, 0, sizeof mr);
        for (int j = 0; j < ps->n_runs; j++) {
            run_entry *sel = &ps->runs[j];
            if (sel->kind != RUN_SELECT || sel->method != r->method || !sel->done || sel->failed) continue;
            char dir[4400];
            TD_CHECK(run_dir_of(ps, sel, dir, sizeof dir));
            TD_CHECK(protocol_read_result(dir, NULL, 0, &mr.select_valid[sel->index], &mr.select_test[sel->index], NULL,
                                          NULL));
            mr.select_done[sel->index] = 1;
        }
        k = protocol_select(&mr, ps->selection);
        if (k < 0) return TD_FAIL(TD_ERR_STATE, "no selection run succeeded");
    }
    char line[1024];
    TD_CHECK(searched_genotype(ps, r->method, k, line, sizeof line));
    const char *section = r->kind == RUN_SELECT ? "select" : r->kind == RUN_FINAL_DEEP ? "final_deep" : "final_shallow";
    return protocol_retrain_run(plan_method(ps, r->method), section, line, r->seed, r->config, sizeof r->config, r->hash);
}

int run_deps_done(const protocol_state *ps, const run_entry *r)
{
    for (int i = 0; i < ps->n_runs; i++) {
        const run_entry *d = &ps->runs[i];
        if (d->method != r->method) continue;
        if (r->kind == RUN_SELECT && d->kind == RUN_SEARCH && d->index == r->index && !d->done) return 0;
        if ((r->kind == RUN_FINAL_DEEP || r->kind == RUN_FINAL_SHALLOW) && d->kind <= RUN_SELECT && !d->done) return 0;
    }
    return 1;
}

/* A run whose dependency failed cannot run: recorded as failed. The final
 * retrainings need all four selections: chosen among fewer, they could
 * retrain a genotype that a retried search later beats, and the tree
 * would hold finals the plan does not call for. */
int run_deps_failed(const protocol_state *ps, const run_entry *r)
{
    for (int i = 0; i < ps->n_runs; i++) {
        const run_entry *d = &ps->runs[i];
        if (d->method != r->method || !d->failed) continue;
        if (r->kind == RUN_SELECT && d->kind == RUN_SEARCH && d->index == r->index) return 1;
        if (r->kind >= RUN_FINAL_DEEP && d->kind == RUN_SELECT) return 1;
    }
    return 0;
}

/* Loads the sets once for every run that reads them with this pad32
 * (searches pad Fashion-MNIST to 32; a plain retraining keeps 28). */
static td_status ensure_sets(protocol_state *ps, const char *name, const char *data_dir, int pad32)
{
    int p = pad32 != 0;
    if (ps->have_sets[p]) return TD_OK;
    TD_CHECK(dataset_load_named(name, data_dir, pad32, 1, &ps->train[p]));
    TD_CHECK(dataset_load_named(name, data_dir, pad32, 0, &ps->test[p]));
    memcpy(ps->test[p].mean, ps->train[p].mean, sizeof ps->test[p].mean);
    memcpy(ps->test[p].std, ps->train[p].std, sizeof ps->test[p].std);
    ps->have_sets[p] = 1;
    return TD_OK;
}

static void free_sets(protocol_state *ps)
{
    for (int p = 0; p < 2; p++)
        if (ps->have_sets[p]) {
            dataset_free(&ps->train[p]);
            dataset_free(&ps->test[p]);
            ps->have_sets[p] = 0;
        }
}

/* The sets of the first search and of the baseline (whose pad32 every
 * retraining shares), loaded before any worker forks. */
static td_status preload_sets(protocol_state *ps)
{
    for (int i = 0; i < ps->n_runs; i++) {
        const run_entry *r = &ps->runs[i];
        if (r->kind == RUN_SEARCH) {
            search_config sc;
            TD_CHECK(search_config_parse(r->config, &sc));
            TD_CHECK(ensure_sets(ps, sc.dataset, sc.data_dir, sc.pad32));
            break;
        }
    }
    if (ps->n_baseline) {
        train_config tc;
        TD_CHECK(train_config_parse(ps->runs[0].config, &tc));
        TD_CHECK(ensure_sets(ps, tc.dataset, tc.data_dir, tc.pad32));
    }
    return TD_OK;
}

td_status run_record_failure(protocol_state *ps, run_entry *r, td_status st, const char *message)
{
    char dir[4400], path[4600];
    TD_CHECK(run_dir_of(ps, r, dir, sizeof dir));
    /* recorded, not hidden: the report lists it */
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(message));
    json_object_set_new(o, "status", json_string(td_status_name(st)));
    char *txt = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    TD_CHECK(dir_create(dir));
    td_status w = path_format(path, sizeof path, "%s/failure.json", dir);
    if (w == TD_OK) w = file_write_text_atomic(path, txt);
    free(txt);
    TD_CHECK(w);
    r->failed = 1;
    return TD_OK;
}

/* timing.json: the wall time of this attempt, the device it ended on, and
 * the device errors it met on others before (schedule.c). Outside the root
 * hash, like env.json: which GPU ran a run changes none of its bits. */
static void write_timing(const char *dir, double seconds, int resumed, const run_exec *x)
{
    char path[4600];
    if (path_format(path, sizeof path, "%s/timing.json", dir) != TD_OK) return;
    json_t *t = json_object();
    json_object_set_new(t, "wall_seconds", json_real(seconds));
    json_object_set_new(t, "resumed", json_boolean(resumed));
    json_object_set_new(t, "device", json_string(x->device));
    if (json_array_size(x->device_failures)) json_object_set(t, "device_failures", x->device_failures);
    char *tt = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(t);
    if (tt) file_write_text_atomic(path, tt);
    free(tt);
}

td_status run_finish_failed(protocol_state *ps, run_entry *r, const run_exec *x, td_status st, const char *message)
{
    char dir[4400];
    TD_CHECK(run_dir_of(ps, r, dir, sizeof dir));
    TD_CHECK(run_record_failure(ps, r, st, message));
    write_timing(dir, 0, 0, x);
    r->done = 1;
    return manifest_write(dir);
}

td_status run_execute(protocol_state *ps, run_entry *r, const run_exec *x)
{
    char dir[4400], path[4600];
    TD_CHECK(run_dir_of(ps, r, dir, sizeof dir));
    dir_remove_stale_temps(dir);
    int resume = 0;
    TD_CHECK(path_format(path, sizeof path, "%s/checkpoint.bin", dir));
    if (file_exists(path)) {
        resume = 1;
    } else {
        /* killed before its first checkpoint: nothing computed is lost */
        const char *stale[] = {"config.json", "env.json", "metrics.jsonl"};
        for (int i = 0; i < 3; i++) {
            TD_CHECK(path_format(path, sizeof path, "%s/%s", dir, stale[i]));
            unlink(path);
        }
    }
    double t0 = now_seconds();
    /* opened here, in the process that runs it: a CUDA context does not
     * survive fork. A device that cannot be opened is a device error. */
    const backend *be;
    td_status s = device_open(x->device, &be);
    if (s != TD_OK && x->pool) return TD_FAIL(TD_ERR_BACKEND, "%s", td_error_message());
    TD_CHECK(s);
    /* protocol status tells a run under way by this lock */
    int lock = -1;
    TD_CHECK(dir_create(dir));
    TD_CHECK(run_lock_take(dir, &lock));
    if (x->fail_disk) {
        s = TD_FAIL(TD_ERR_IO, "%s: No space left on device (injected by the fail_run test hook)", dir);
    } else if (r->kind == RUN_SEARCH) {
        search_config sc;
        s = search_config_parse(r->config, &sc);
        search_options so;
        memset(&so, 0, sizeof so);
        so.out_dir = dir;
        so.resume = resume;
        so.threads = x->threads;
        so.be = be;
        so.quiet = 1;
        so.stop_after_units = x->device_fail_units;
        so.tick = x->tick;
        so.tick_ctx = x->tick_ctx;
        so.train_set = ps->have_sets[sc.pad32 != 0] ? &ps->train[sc.pad32 != 0] : NULL;
        search_result res;
        if (s == TD_OK) s = search_run(&sc, &so, &res);
    } else {
        train_config tc;
        s = train_config_parse(r->config, &tc);
        train_options to;
        memset(&to, 0, sizeof to);
        to.out_dir = dir;
        to.resume = resume;
        to.threads = x->threads;
        to.be = be;
        to.quiet = 1;
        to.stop_after_steps = x->device_fail_units;
        to.tick = x->tick;
        to.tick_ctx = x->tick_ctx;
        int p = tc.pad32 != 0;
        to.train_set = ps->have_sets[p] ? &ps->train[p] : NULL;
        to.test_set = ps->have_sets[p] ? &ps->test[p] : NULL;
        train_result res;
        if (s == TD_OK) s = train_run(&tc, &to, &res);
    }
    /* the fail_device hook: the run stopped at its checkpoint, as a GPU that
     * fails leaves it at its last one */
    if (x->device_fail_units && s == TD_ERR_INTERRUPTED && !stop_requested())
        s = TD_FAIL(TD_ERR_BACKEND, "%s: device lost (injected by the fail_device test hook)", x->device);
    if (s == TD_ERR_INTERRUPTED || (s == TD_ERR_BACKEND && x->pool)) {
        run_lock_release(lock);
        return s;
    }
    if (s != TD_OK) {
        char why[1024]; /* the message buffer is rewritten by what follows */
        snprintf(why, sizeof why, "%s", td_error_message());
        td_status w = run_record_failure(ps, r, s, why);
        if (w != TD_OK) {
            run_lock_release(lock);
            return w;
        }
    }
    write_timing(dir, now_seconds() - t0, resume, x);
    r->done = 1;
    s = manifest_write(dir);
    run_lock_release(lock);
    return s;
}

td_status run_check_finished(protocol_state *ps, run_entry *r, int *finished)
{
    char dir[4400], path[4600];
    TD_CHECK(run_dir_of(ps, r, dir, sizeof dir));
    TD_CHECK(path_format(path, sizeof path, "%s/manifest.sha256", dir));
    char rpath[4600], fpath[4600];
    TD_CHECK(path_format(rpath, sizeof rpath, "%s/result.json", dir));
    TD_CHECK(path_format(fpath, sizeof fpath, "%s/failure.json", dir));
    *finished = 0;
    if (!file_exists(rpath) && !file_exists(fpath)) return TD_OK;
    if (ps->look_only) {
        r->done = 1;
        r->failed = file_exists(fpath);
        *finished = 1;
        return TD_OK;
    }
    dir_remove_stale_temps(dir);
    if (!file_exists(path)) {
        /* killed between its last result and its manifest */
        TD_CHECK(manifest_write(dir));
    } else {
        TD_CHECK(manifest_check(dir));
    }
    r->done = 1;
    r->failed = file_exists(fpath);
    *finished = 1;
    return TD_OK;
}

static td_status build_runs(protocol_state *ps)
{
    json_t *methods = json_object_get(ps->plan, "methods");
    int nm = (int)json_array_size(methods);
    ps->runs = calloc((size_t)nm * (PROTOCOL_SEARCHES * 2 + 2 * PROTOCOL_FINAL_SEEDS) + 1, sizeof *ps->runs);
    if (!ps->runs) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    /* the baseline first: it needs nothing and takes seconds */
    const json_t *base = json_object_get(ps->plan, "baseline");
    if (base) {
        run_entry *r = &ps->runs[ps->n_runs++];
        r->kind = RUN_BASELINE;
        r->method = -1;
        char *cj = json_dumps(json_object_get(base, "config"), JSON_COMPACT | JSON_SORT_KEYS);
        size_t n = cj ? strlen(cj) : 0;
        if (!cj || n >= sizeof r->config) {
            free(cj);
            return TD_FAIL(TD_ERR_FORMAT, "plan: the baseline has no config, or one over %zu bytes", sizeof r->config - 1);
        }
        memcpy(r->config, cj, n + 1);
        free(cj);
        sha256_buffer(r->config, n, r->hash);
        train_config tc;
        TD_CHECK(train_config_parse(r->config, &tc));
        r->seed = (int)tc.seed;
        ps->n_baseline = 1;
    }
    for (int m = 0; m < nm; m++) {
        json_t *mo = json_array_get(methods, (size_t)m), *searches = json_object_get(mo, "searches");
        for (int k = 0; k < PROTOCOL_SEARCHES; k++) {
            run_entry *r = &ps->runs[ps->n_runs++];
            json_t *so = json_array_get(searches, (size_t)k);
            r->kind = RUN_SEARCH;
            r->method = m;
            r->index = k;
            r->seed = (int)json_integer_value(json_object_get(so, "seed"));
            char *cj = json_dumps(json_object_get(so, "config"), JSON_COMPACT | JSON_SORT_KEYS);
            size_t n = cj ? strlen(cj) : 0;
            if (!cj || n >= sizeof r->config) {
                free(cj);
                return TD_FAIL(TD_ERR_FORMAT, "plan: search %d of method %d has no config, or one over %zu bytes",
                               k + 1, m + 1, sizeof r->config - 1);
            }
            memcpy(r->config, cj, n + 1);
            free(cj);
            sha256_buffer(r->config, n, r->hash);
        }
        for (int k = 0; k < PROTOCOL_SEARCHES; k++) {
            run_entry *r = &ps->runs[ps->n_runs++];
            r->kind = RUN_SELECT;
            r->method = m;
            r->index = k;
            r->seed = protocol_select_seed;
        }
        for (int kind = RUN_FINAL_DEEP; kind <= RUN_FINAL_SHALLOW; kind++)
            for (int k = 0; k < PROTOCOL_FINAL_SEEDS; k++) {
                run_entry *r = &ps->runs[ps->n_runs++];
                r->kind = (run_kind)kind;
                r->method = m;
                r->index = k;
                r->seed = protocol_final_seeds[k];
            }
    }
    return TD_OK;
}

const char *run_kind_name(run_kind k)
{
    static const char *const n[] = {"search", "selection retraining", "deep retraining", "shallow retraining",
                                    "linear baseline"};
    return n[k];
}

/* The report is written either way; the exit status says whether the
 * protocol is complete. */
static td_status unfinished_runs(const protocol_state *ps)
{
    int failed = 0, pending = 0;
    for (int i = 0; i < ps->n_runs; i++) {
        failed += ps->runs[i].done && ps->runs[i].failed;
        pending += !ps->runs[i].done;
    }
    if (!failed && !pending) return TD_OK;
    return TD_FAIL(TD_ERR_STATE,
                   "protocol incomplete: %d run(s) failed or wait on one that failed, %d pending; the report shows "
                   "what finished and each failure.json says why; run the same command again to try them again",
                   failed, pending);
}

static td_status open_plan(protocol_state *ps, const protocol_request *req, const char *out_dir, int create)
{
    char *plan_text;
    TD_CHECK(protocol_plan_json(req, &plan_text));
    char path[4400];
    td_status s = path_format(path, sizeof path, "%s/plan.json", out_dir);
    if (s != TD_OK) {
        free(plan_text);
        return s;
    }
    if (file_exists(path)) {
        char *old;
        s = file_read_all(path, &old, NULL);
        if (s == TD_OK && strcmp(old, plan_text) != 0)
            s = TD_FAIL(TD_ERR_STATE,
                        "%s holds a different plan (budget, dataset, methods or selection differ); nothing was "
                        "changed: use another --out, or the same options as before",
                        out_dir);
        if (s == TD_OK) {
            free(plan_text);
            plan_text = old;
        } else {
            free(old);
        }
    } else if (create) {
        s = dir_create(out_dir);
        if (s == TD_OK) s = file_write_text_atomic(path, plan_text);
    } else {
        s = TD_FAIL(TD_ERR_STATE, "%s has no plan.json", out_dir);
    }
    if (s == TD_OK) {
        json_error_t err;
        ps->plan = json_loads(plan_text, 0, &err);
        if (!ps->plan) s = TD_FAIL(TD_ERR_FORMAT, "%s: bad plan: %s", path, err.text);
    }
    free(plan_text);
    return s;
}

td_status protocol_run(const protocol_request *req, const protocol_options *o, char root_hash[SHA256_HEX_LEN])
{
    protocol_state ps;
    memset(&ps, 0, sizeof ps);
    ps.req = req;
    ps.selection = req->selection;
    ps.opt = o;
    char runs_dir[4400];
    td_status s = path_format(runs_dir, sizeof runs_dir, "%s/runs", o->out_dir);
    /* a device that cannot be used stops the protocol before it writes
     * anything; workers open their own, after fork */
    if (s == TD_OK) s = pool_devices(o, &ps.devices);
    if (s == TD_OK) s = pool_check(&ps.devices, pool_in_process(&ps));
    /* a finished tree is left as it is: `protocol report` rewrites it */
    int finished = 0;
    if (s == TD_OK) s = protocol_tree_finished(req, o->out_dir, root_hash, &finished);
    if (s == TD_OK && finished) {
        if (!o->quiet)
            printf("%s: finished earlier; left as it is (tsedarts protocol report writes its report again)\n",
                   o->out_dir);
        return TD_OK;
    }
    /* one writer per tree: a second protocol run is refused, naming this */
    dir_lock lock = {.fd = -1};
    if (s == TD_OK) s = dir_lock_take(o->out_dir, "tsedarts protocol run", &lock);
    /* nor while Slurm jobs write it: they share the tree with each other
     * (a lock per run), not with a local run, which would run their runs
     * a second time beside them (run-one checks the other way round) */
    if (s == TD_OK) s = slurm_locks_idle(o->out_dir);
    if (s == TD_OK) s = open_plan(&ps, req, o->out_dir, 1);
    if (s == TD_OK) s = dir_create(runs_dir);
    if (s == TD_OK) s = protocol_retry_failures(o->out_dir, o->quiet);
    if (s == TD_OK) s = build_runs(&ps);
    if (s == TD_OK) s = preload_sets(&ps);
    if (s == TD_OK) s = protocol_schedule(&ps, -1);
    if (s == TD_OK) s = protocol_report_locked(o->out_dir, root_hash);
    if (s == TD_OK) s = unfinished_runs(&ps);
    dir_lock_release(&lock);
    if (ps.plan) json_decref(ps.plan);
    free(ps.runs);
    free_sets(&ps);
    return s;
}

/* The plan as the tree holds it, for commands that run or report on a
 * protocol already planned there. */
static td_status open_tree(protocol_state *ps, const protocol_options *o)
{
    memset(ps, 0, sizeof *ps);
    ps->opt = o;
    char path[4400], *text;
    TD_CHECK(path_format(path, sizeof path, "%s/plan.json", o->out_dir));
    TD_CHECK(file_read_all(path, &text, NULL));
    json_error_t err;
    ps->plan = json_loads(text, 0, &err);
    free(text);
    if (!ps->plan) return TD_FAIL(TD_ERR_FORMAT, "%s: bad plan: %s", path, err.text);
    const char *sel = json_string_value(json_object_get(ps->plan, "selection"));
    ps->selection = sel && !strcmp(sel, "test") ? SELECT_TEST : SELECT_VALID;
    return build_runs(ps);
}

static void close_tree(protocol_state *ps)
{
    if (ps->plan) json_decref(ps->plan);
    free(ps->runs);
}

/* One pass in dependency order marks what the tree says is finished, and
 * what can never run because what it needs failed. */
static td_status scan_tree(protocol_state *ps)
{
    for (int i = 0; i < ps->n_runs; i++) {
        run_entry *r = &ps->runs[i];
        if (!run_deps_done(ps, r)) continue;
        if (run_deps_failed(ps, r)) {
            r->done = r->failed = 1;
            continue;
        }
        TD_CHECK(run_resolve_config(ps, r));
        int finished;
        TD_CHECK(run_check_finished(ps, r, &finished));
    }
    return TD_OK;
}

static const char *const stage_names[] = {"search", "select", "final"};

int protocol_stage_tasks(protocol_stage st)
{
    return st == STAGE_FINAL ? 2 * PROTOCOL_FINAL_SEEDS : PROTOCOL_SEARCHES;
}

const char *protocol_stage_name(protocol_stage st) { return stage_names[st]; }

/* Runs in build_runs' order: the baseline (method -1, the final stage's
 * task 0), then per method searches, selections, deep then shallow
 * finals; a stage's task k is the k-th of its runs. */
static int run_index(const protocol_state *ps, int method, protocol_stage st, int task)
{
    if (method < 0) return 0;
    int per_method = 2 * PROTOCOL_SEARCHES + 2 * PROTOCOL_FINAL_SEEDS;
    return ps->n_baseline + method * per_method + (st == STAGE_SEARCH ? 0 : PROTOCOL_SEARCHES) +
           (st == STAGE_FINAL ? PROTOCOL_SEARCHES : 0) + task;
}

td_status protocol_tree_runs(const char *out_dir, protocol_run_info **out, int *n)
{
    protocol_options o;
    memset(&o, 0, sizeof o);
    o.out_dir = out_dir;
    protocol_state ps;
    td_status s = open_tree(&ps, &o);
    ps.look_only = 1;
    if (s == TD_OK) s = scan_tree(&ps);
    protocol_run_info *info = s == TD_OK ? calloc((size_t)ps.n_runs + 1, sizeof *info) : NULL;
    if (s == TD_OK && !info) s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
    for (int i = 0; s == TD_OK && i < ps.n_runs; i++) {
        const run_entry *r = &ps.runs[i];
        protocol_run_info *p = &info[i];
        snprintf(p->method, sizeof p->method, "%s", run_method_id(&ps, r));
        p->stage = r->kind == RUN_SEARCH ? STAGE_SEARCH : r->kind == RUN_SELECT ? STAGE_SELECT : STAGE_FINAL;
        p->task = r->kind == RUN_FINAL_SHALLOW ? PROTOCOL_FINAL_SEEDS + r->index : r->index;
        p->done = r->done && !r->failed;
        p->failed = r->failed;
        memcpy(p->hash, r->hash, sizeof p->hash);
        char path[4600];
        if (r->hash[0] && !r->done && path_format(path, sizeof path, "%s/runs/%s/checkpoint.bin", out_dir, r->hash) == TD_OK)
            p->checkpointed = file_exists(path);
    }
    if (s == TD_OK) {
        *out = info;
        *n = ps.n_runs;
    } else {
        free(info);
    }
    close_tree(&ps);
    return s;
}

td_status protocol_run_one(const protocol_options *o, const char *method_id, protocol_stage st, int task)
{
    if (task < 0 || task >= protocol_stage_tasks(st))
        return TD_FAIL(TD_ERR_ARG, "%s stage has tasks 0..%d, not %d", stage_names[st], protocol_stage_tasks(st) - 1, task);
    protocol_state ps;
    td_status s = open_tree(&ps, o);
    int m = -2;
    json_t *methods = json_object_get(ps.plan, "methods");
    for (size_t i = 0; s == TD_OK && i < json_array_size(methods); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(methods, i), "id")), method_id)) m = (int)i;
    /* the baseline is one run: the final stage's task 0 */
    if (s == TD_OK && ps.n_baseline && !strcmp(method_id, "baseline")) {
        m = -1;
        if (st != STAGE_FINAL || task != 0)
            s = TD_FAIL(TD_ERR_ARG, "the baseline is one run: baseline/final/0, not %s/%d", stage_names[st], task);
    }
    if (s == TD_OK && m < -1) s = TD_FAIL(TD_ERR_ARG, "%s/plan.json has no method %s", o->out_dir, method_id);
    if (s == TD_OK) s = scan_tree(&ps);
    run_entry *r = s == TD_OK ? &ps.runs[run_index(&ps, m, st, task)] : NULL;
    if (s == TD_OK && !r->done && !run_deps_done(&ps, r))
        s = TD_FAIL(TD_ERR_STATE, "%s %s %d: the runs it needs have not finished", method_id, stage_names[st], task);
    if (s == TD_OK && r->done) {
        /* finished earlier, or its inputs failed: nothing to do, and the
         * stages after it may go on */
        if (!o->quiet)
            printf("%s %s %d: %s\n", method_id, stage_names[st], task,
                   r->failed ? "failed (recorded)" : "already done");
    } else if (s == TD_OK) {
        /* two jobs for one run (two submissions that raced, a requeue
         * beside a resubmission) must not write one directory at once */
        int lock = -1;
        s = dir_lock_check_free(o->out_dir, "a Slurm job (tsedarts protocol run-one)");
        if (s == TD_OK) s = slurm_dirs(o->out_dir);
        if (s == TD_OK) s = slurm_lock(o->out_dir, r->hash, &lock);
        if (s == TD_OK && !o->quiet) printf("%s %s %d: run %s\n", method_id, stage_names[st], task, r->hash);
        fflush(NULL);
        /* one device: the run executes here; several (a node's GPUs): on
         * the first, moving on to the next if one fails */
        if (s == TD_OK) s = pool_devices(o, &ps.devices);
        if (s == TD_OK && ps.devices.n == 1) {
            run_exec x;
            memset(&x, 0, sizeof x);
            x.device = ps.devices.names[0];
            x.threads = o->threads > 0 ? o->threads : omp_get_max_threads();
            s = run_execute(&ps, r, &x);
        } else if (s == TD_OK) {
            s = protocol_schedule(&ps, run_index(&ps, m, st, task));
        }
        slurm_unlock(lock);
    }
    close_tree(&ps);
    return s;
}

td_status protocol_prepare_tree(const protocol_request *req, const char *out_dir)
{
    protocol_state ps;
    memset(&ps, 0, sizeof ps);
    char runs_dir[4400];
    td_status s = open_plan(&ps, req, out_dir, 1);
    if (s == TD_OK) s = path_format(runs_dir, sizeof runs_dir, "%s/runs", out_dir);
    if (s == TD_OK) s = dir_create(runs_dir);
    if (ps.plan) json_decref(ps.plan);
    return s;
}
