/* verify --replay: the first epoch of a recorded run, executed again from
 * its config, must give the same first metrics record, bit for bit. Only
 * meaningful on the platform that produced the run. */
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"
#include "tsedarts/verify.h"
#include "tsedarts/backend_cpu.h"

/* Fields of the environment fingerprint that can change results. */
static td_status same_platform(const char *run_dir)
{
    char path[4400], *text;
    TD_CHECK(path_format(path, sizeof path, "%s/env.json", run_dir));
    TD_CHECK(file_read_all(path, &text, NULL));
    char *mine = fingerprint_json(omp_get_max_threads(), NULL);
    json_error_t err;
    json_t *a = json_loads(text, 0, &err), *b = json_loads(mine, 0, &err);
    free(text);
    free(mine);
    const char *fields[] = {"tsedarts_commit", "compiler", "c_flags", "cpu"};
    td_status s = a && b ? TD_OK : TD_FAIL(TD_ERR_FORMAT, "%s: unreadable fingerprint", path);
    for (int i = 0; s == TD_OK && i < 4; i++) {
        const char *x = json_string_value(json_object_get(a, fields[i]));
        const char *y = json_string_value(json_object_get(b, fields[i]));
        if (!x || !y || strcmp(x, y))
            s = TD_FAIL(TD_ERR_UNSUPPORTED,
                        "cannot replay here: the run's %s is '%s', this machine's is '%s'; runs are bit-identical only on "
                        "the same platform, build and code",
                        fields[i], x ? x : "?", y ? y : "?");
    }
    if (a) json_decref(a);
    if (b) json_decref(b);
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
static td_status replay_first_epoch(const char *cfg, const char *scratch)
{
    td_status s;
    if (strstr(cfg, "\"algo\"")) {
        search_config c;
        s = search_config_parse(cfg, &c);
        search_options o;
        memset(&o, 0, sizeof o);
        o.be = backend_cpu();
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
        o.be = backend_cpu();
        o.out_dir = scratch;
        o.quiet = 1;
        o.stop_after_epochs = 1;
        train_result r;
        if (s == TD_OK) s = train_run(&c, &o, &r);
    }
    return s == TD_ERR_INTERRUPTED ? TD_OK : s; /* stopped after the first epoch, as asked */
}

td_status verify_replay(const char *run_dir, FILE *out)
{
    TD_CHECK(same_platform(run_dir));
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
    s = replay_first_epoch(cfg, scratch);
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
