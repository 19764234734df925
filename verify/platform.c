/* Whether this machine may re-execute a run: bits are promised only on the
 * platform, build and device that produced them, so replay and
 * reevaluation first compare the run's env.json with this machine. */
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/device.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/rundir.h"
#include "tsedarts/runtime.h"
#include "verify_internal.h"

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
                   "cannot re-execute here: the run's %s is '%s', here it is '%s'; runs are bit-identical only on the "
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
    td_status s = here && here_dev ? TD_OK : TD_FAIL(TD_ERR_BACKEND, "cannot describe this machine: %s", td_error_message());
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
     * audit_open_device has already chosen */
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

td_status audit_open_device(const char *run_dir, const char *asked, const backend **be)
{
    char *recorded;
    TD_CHECK(rundir_recorded_device(run_dir, &recorded));
    td_status s = device_open(asked ? asked : recorded, be);
    free(recorded);
    TD_CHECK(s);
    json_t *env;
    TD_CHECK(load_env(run_dir, &env));
    s = same_platform(env, *be);
    json_decref(env);
    return s;
}

td_status audit_read_config(const char *run_dir, char **text)
{
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/config.json", run_dir));
    TD_CHECK(file_read_all(path, text, NULL));
    size_t n = strlen(*text);
    while (n && (*text)[n - 1] == '\n') (*text)[--n] = '\0';
    return TD_OK;
}

int audit_config_is_search(const char *config_text)
{
    /* a search config names its algorithm; a training config has none */
    json_t *o = json_loads(config_text, 0, NULL);
    int search = json_object_get(o, "algo") != NULL;
    if (o) json_decref(o);
    return search;
}
