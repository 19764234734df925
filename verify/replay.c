/* verify --replay: the first epoch of a recorded run, executed again from
 * its config, must give the same first metrics record, bit for bit. Only
 * meaningful on the platform that produced the run. */
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/device.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/rundir.h"
#include "tsedarts/runtime.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"
#include "tsedarts/verify.h"

/* The run's env.json as JSON. */
static td_status load_env(const char *run_dir, json_t **env)
{
    char path[4400], *text;
    TD_CHECK(path_format(path, sizeof path, "%s/env.json", run_dir));
    TD_CHECK(file_read_all(path, &text, NULL));
    json_error_t err;
    *env = json_loads(text, 0, &err);
    free(text);
    if (!json_is_object(*env)) {
        if (*env) json_decref(*env);
        return TD_FAIL(TD_ERR_FORMAT, "%s: unreadable fingerprint (line %d: %s)", path, err.line, err.text);
    }
    return TD_OK;
}

static td_status differs(const char *what, const char *recorded, const char *here)
{
    return TD_FAIL(TD_ERR_UNSUPPORTED,
                   "cannot replay here: the run's %s is '%s', here it is '%s'; runs are bit-identical only on the "
                   "same platform, build, code and device",
                   what, recorded ? recorded : "?", here ? here : "?");
}

/* Whether two device names differ at most in their index ("cuda:0", "cuda:1"). */
static int same_kind(const char *a, const char *b)
{
    if (!a || !b) return 0;
    size_t la = strcspn(a, ":"), lb = strcspn(b, ":");
    return la == lb && !strncmp(a, b, la);
}

/* The fingerprint fields that can change results: the build and the CPU,
 * then every field of the device's description but its thread count (the
 * kernels' reductions do not depend on it) and which of several devices of
 * one kind it was (the name's ":N"). */
static td_status same_platform(json_t *env, const backend *be)
{
    char *mine = fingerprint_json(omp_get_max_threads(), NULL);
    char *dev = be->describe ? be->describe() : NULL;
    json_error_t err;
    json_t *here = mine ? json_loads(mine, 0, &err) : NULL, *here_dev = dev ? json_loads(dev, 0, &err) : NULL;
    free(mine);
    free(dev);
    td_status s = here && here_dev ? TD_OK : TD_FAIL(TD_ERR_MEMORY, "cannot describe this machine");
    const char *fields[] = {"tsedarts_commit", "compiler", "c_flags", "cpu"};
    for (int i = 0; s == TD_OK && i < 4; i++) {
        const char *x = json_string_value(json_object_get(env, fields[i]));
        const char *y = json_string_value(json_object_get(here, fields[i]));
        if (!x || !y || strcmp(x, y)) s = differs(fields[i], x, y);
    }
    json_t *rec_dev = json_object_get(env, "device");
    const char *key;
    json_t *v;
    /* runs from before devices were described ran on the CPU, which
     * replay_device has already chosen */
    if (s == TD_OK && json_is_object(rec_dev)) json_object_foreach(here_dev, key, v)
        {
            if (!strcmp(key, "threads")) continue;
            json_t *r = json_object_get(rec_dev, key);
            if (r && json_equal(r, v)) continue;
            if (!strcmp(key, "name") && same_kind(json_string_value(r), json_string_value(v))) continue;
            char *x = r ? json_dumps(r, JSON_ENCODE_ANY) : NULL, *y = json_dumps(v, JSON_ENCODE_ANY);
            char what[256];
            snprintf(what, sizeof what, "device %s", key);
            s = differs(what, x, y);
            free(x);
            free(y);
            break;
        }
    if (here) json_decref(here);
    if (here_dev) json_decref(here_dev);
    return s;
}

/* The device the run was recorded on, or the one asked for: another
 * device of the same kind (cuda:1 for cuda:0 on a machine of identical
 * GPUs) replays the same bits, and same_platform refuses any other. */
static td_status replay_device(const char *run_dir, const char *asked, const backend **be)
{
    char *recorded;
    TD_CHECK(rundir_recorded_device(run_dir, &recorded));
    td_status s = device_open(asked ? asked : recorded, be);
    free(recorded);
    return s;
}

static td_status first_line(const char *path, char **line)
{
    char *text;
    TD_CHECK(file_read_all(path, &text, NULL));
    char *nl = strchr(text, '\n');
    if (!nl) {
        free(text);
        return TD_FAIL(TD_ERR_CHECK, "%s: no complete first record", path);
    }
    *nl = '\0';
    *line = text;
    return TD_OK;
}

/* Runs the first epoch of cfg (a search or training config) into scratch. */
static td_status replay_first_epoch(const char *cfg, const backend *be, const char *scratch)
{
    td_status s;
    if (strstr(cfg, "\"algo\"")) {
        search_config c;
        s = search_config_parse(cfg, &c);
        search_options o;
        memset(&o, 0, sizeof o);
        o.be = be;
        o.out_dir = scratch;
        o.quiet = 1;
        o.stop_after_epochs = 1;
        search_result r;
        if (s == TD_OK) s = search_run(&c, &o, &r);
    } else {
        train_config c;
        s = train_config_parse(cfg, &c);
        train_options o;
        memset(&o, 0, sizeof o);
        o.be = be;
        o.out_dir = scratch;
        o.quiet = 1;
        o.stop_after_epochs = 1;
        train_result r;
        if (s == TD_OK) s = train_run(&c, &o, &r);
    }
    return s == TD_ERR_INTERRUPTED ? TD_OK : s; /* stopped after the first epoch, as asked */
}

td_status verify_replay(const char *run_dir, const char *device, FILE *out)
{
    const backend *be;
    json_t *env;
    TD_CHECK(replay_device(run_dir, device, &be));
    TD_CHECK(load_env(run_dir, &env));
    td_status ps = same_platform(env, be);
    json_decref(env);
    if (ps != TD_OK) return ps;
    char path[4400], *cfg;
    TD_CHECK(path_format(path, sizeof path, "%s/config.json", run_dir));
    TD_CHECK(file_read_all(path, &cfg, NULL));
    size_t n = strlen(cfg);
    while (n && cfg[n - 1] == '\n') cfg[--n] = '\0';
    char *scratch;
    td_status s = dir_make_temp("replay", &scratch);
    if (s != TD_OK) {
        free(cfg);
        return s;
    }
    /* from here every path out goes through the removal below */
    s = replay_first_epoch(cfg, be, scratch);
    free(cfg);
    char *want = NULL, *got = NULL;
    if (s == TD_OK) s = path_format(path, sizeof path, "%s/metrics.jsonl", run_dir);
    if (s == TD_OK) s = first_line(path, &want);
    if (s == TD_OK) s = path_format(path, sizeof path, "%s/metrics.jsonl", scratch);
    if (s == TD_OK) s = first_line(path, &got);
    if (s == TD_OK && strcmp(want, got))
        s = TD_FAIL(TD_ERR_CHECK, "replayed first epoch differs from the record:\n  recorded %s\n  replayed %s", want,
                    got);
    if (s == TD_OK) fprintf(out, "ok    replay: the first epoch of %s is bit-identical to its record\n", run_dir);
    free(want);
    free(got);
    char why[1024] = "";
    if (s != TD_OK) snprintf(why, sizeof why, "%s", td_error_message());
    td_status r = dir_remove_tree(scratch);
    free(scratch);
    if (s == TD_OK || r == TD_OK) return s != TD_OK ? s : r;
    /* both failed: the replay's fault first, the removal's after it */
    char also[1024];
    snprintf(also, sizeof also, "%s", td_error_message());
    return TD_FAIL(s, "%s; also %s", why, also);
}
