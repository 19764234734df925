#include "tsedarts/rundir.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"

size_t file_size_of(const char *path)
{
    /* stat, not open: a FIFO in the run directory must not block here */
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
}

td_status rundir_recorded_device(const char *dir, char **name)
{
    *name = NULL;
    char *path = path_join(dir, "env.json");
    if (!path) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    char *text;
    td_status s = file_read_all(path, &text, NULL);
    if (s != TD_OK) {
        free(path);
        return s;
    }
    json_error_t err;
    json_t *env = json_loads(text, 0, &err);
    free(text);
    if (!json_is_object(env)) {
        if (env) json_decref(env);
        s = TD_FAIL(TD_ERR_FORMAT, "%s: not a JSON object (line %d: %s)", path, err.line, err.text);
        free(path);
        return s;
    }
    free(path);
    const char *recorded = json_string_value(json_object_get(json_object_get(env, "device"), "name"));
    *name = strdup(recorded ? recorded : "cpu");
    json_decref(env);
    return *name ? TD_OK : TD_FAIL(TD_ERR_MEMORY, "out of memory");
}

/* Whether the device env.json in dir records differs from be only in its
 * number ("cuda:1" against "cuda:0") and thread count: every other field
 * of its description (model, SMs, memory, driver, libraries, pinned
 * algorithms) equal. */
static int same_description(const char *dir, const backend *be)
{
    char path[4400], *text = NULL, *mine = be->describe ? be->describe() : NULL;
    json_t *env = NULL, *here = mine ? json_loads(mine, 0, NULL) : NULL;
    free(mine);
    if (path_format(path, sizeof path, "%s/env.json", dir) == TD_OK && file_read_all(path, &text, NULL) == TD_OK)
        env = json_loads(text, 0, NULL);
    free(text);
    json_t *rec = json_object_get(env, "device");
    const char *a = json_string_value(json_object_get(rec, "name")), *b = be->name;
    size_t ka = a ? strcspn(a, ":") : 0;
    int same = json_is_object(rec) && json_is_object(here) && a && ka == strcspn(b, ":") && !strncmp(a, b, ka) &&
               json_object_size(rec) == json_object_size(here);
    const char *key;
    json_t *v;
    if (same) json_object_foreach(here, key, v)
        {
            if (!strcmp(key, "name") || !strcmp(key, "threads")) continue;
            if (!json_equal(json_object_get(rec, key), v)) same = 0;
        }
    if (env) json_decref(env);
    if (here) json_decref(here);
    return same;
}

/* config.json holds config_json plus a newline. */
static td_status config_matches(const char *path, const char *config_json, int *same)
{
    char *old = NULL;
    TD_CHECK(file_read_all(path, &old, NULL));
    size_t n = strlen(config_json);
    *same = strncmp(old, config_json, n) == 0 && (old[n] == '\n' || old[n] == '\0');
    free(old);
    return TD_OK;
}

/* Whether a directory's run wrote nothing but its start files: no
 * record, no result, no weights. */
static int never_recorded(const char *dir)
{
    static const char *const made[] = {"result.json", "weights.safetensors", "failure.json"};
    char path[4400];
    for (int i = 0; i < 3; i++)
        if (path_format(path, sizeof path, "%s/%s", dir, made[i]) != TD_OK || file_exists(path)) return 0;
    return path_format(path, sizeof path, "%s/metrics.jsonl", dir) == TD_OK && file_size_of(path) == 0;
}

/* Removes the start files of a run that never recorded anything. */
static td_status forget_start(const char *dir)
{
    static const char *const start[] = {"config.json", "env.json", "metrics.jsonl"};
    char path[4400];
    for (int i = 0; i < 3; i++) {
        TD_CHECK(path_format(path, sizeof path, "%s/%s", dir, start[i]));
        if (unlink(path) != 0 && errno != ENOENT)
            return TD_FAIL(TD_ERR_IO, "%s: cannot remove the start of a run that never ran: %s", path, strerror(errno));
    }
    return TD_OK;
}

/* env.json goes first: a directory with a config.json then always has the
 * device it was started on. */
static td_status write_start_files(const char *dir, const char *config_json, int threads, const backend *be)
{
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/env.json", dir));
    char *device = be->describe ? be->describe() : NULL;
    /* a device that cannot say what it is (its versions) records nothing */
    if (be->describe && !device) return TD_FAIL(TD_ERR_BACKEND, "env.json: %s", td_error_message());
    char *fp = fingerprint_json(threads, device);
    free(device);
    td_status s = fp ? file_write_text_atomic(path, fp) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
    free(fp);
    TD_CHECK(s);
    char *text = malloc(strlen(config_json) + 2);
    if (!text) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    sprintf(text, "%s\n", config_json);
    s = path_format(path, sizeof path, "%s/config.json", dir);
    if (s == TD_OK) s = file_write_text_atomic(path, text);
    free(text);
    return s;
}

td_status rundir_prepare(const char *dir, const char *config_json, int resume, int threads, const backend *be,
                         char hash[SHA256_HEX_LEN], int *from_checkpoint)
{
    *from_checkpoint = 0;
    TD_CHECK(dir_create(dir));
    char cfg[4400], ck[4400], metrics[4400];
    TD_CHECK(path_format(cfg, sizeof cfg, "%s/config.json", dir));
    TD_CHECK(path_format(ck, sizeof ck, "%s/checkpoint.bin", dir));
    TD_CHECK(path_format(metrics, sizeof metrics, "%s/metrics.jsonl", dir));
    sha256_buffer(config_json, strlen(config_json), hash);
    /* an atomic write cut short leaves only its temporary file behind */
    dir_remove_stale_temps(dir);
    int have_config = file_exists(cfg), have_checkpoint = file_exists(ck);
    if (!resume && have_checkpoint)
        return TD_FAIL(TD_ERR_STATE, "%s already holds a run; resume it with --resume %s or choose another --out", dir,
                       dir);
    if (have_config) {
        int same;
        TD_CHECK(config_matches(cfg, config_json, &same));
        if (!same && resume)
            return TD_FAIL(TD_ERR_STATE, "%s: the run there has a different configuration; not resuming", cfg);
        if (!same && !have_checkpoint && never_recorded(dir))
            /* a start that failed before its first record (sizes that
             * could not be allocated, say) left a config and nothing
             * computed: not a run; this one takes the directory */
            TD_CHECK(forget_start(dir));
        else if (!same)
            return TD_FAIL(TD_ERR_STATE,
                           "%s already holds a run of another configuration (it has records); choose another --out, "
                           "or remove the directory if that run is not wanted",
                           dir);
    } else if (resume) {
        return TD_FAIL(TD_ERR_STATE, "%s: no config.json, so no run to resume; start it afresh without --resume", dir);
    } else if (file_exists(metrics)) {
        /* appending to it would chain our records onto someone else's */
        return TD_FAIL(TD_ERR_STATE,
                       "%s holds a metrics.jsonl but no run's config.json; not appending to a log of unknown origin "
                       "(remove it or choose another --out)",
                       dir);
    }
    if (have_checkpoint) {
        /* a run continued on another kind or model of device would mix two
         * devices' bits; another GPU of the same description gives the
         * same ones (the protocol moves a run off a GPU that failed) */
        char *recorded;
        TD_CHECK(rundir_recorded_device(dir, &recorded));
        td_status s = TD_OK;
        if (strcmp(recorded, be->name) != 0 && !same_description(dir, be))
            s = TD_FAIL(TD_ERR_STATE, "%s: the run was started on device %s; resume it there (--device %s) or on another of the same "
                          "description, not on %s",
                        dir, recorded, recorded, be->name);
        free(recorded);
        if (s == TD_OK) *from_checkpoint = 1;
        return s;
    }
    /* No checkpoint yet (a first run, or one killed before its first
     * checkpoint): nothing computed survives, so the run starts from the
     * beginning. Log lines already there are this configuration's own and
     * are written again, identically. */
    if (file_exists(metrics) && unlink(metrics) != 0)
        return TD_FAIL(TD_ERR_IO, "%s: cannot remove the log of the unfinished start: %s", metrics, strerror(errno));
    return write_start_files(dir, config_json, threads, be);
}

/* Records and last hash of the first `bytes` bytes of a metrics log; a
 * missing log is an empty one. */
static td_status metrics_summary(const char *path, size_t bytes, int *records, char head[SHA256_HEX_LEN])
{
    if (!file_exists(path) || bytes == 0) {
        *records = 0;
        memcpy(head, CHAIN_LOG_FIRST_PREV, SHA256_HEX_LEN);
        return TD_OK;
    }
    return chain_log_verify_prefix(path, bytes, records, head);
}

/* The log must still hold, unchanged, what it held at the checkpoint: a
 * log that was emptied, cut or replaced would otherwise be continued as if
 * its missing records had been written. Lines written after the checkpoint
 * are dropped (the run writes them again, identically), and only once the
 * rest is known to be the checkpoint's. */
static td_status metrics_match_checkpoint(const char *metrics_path, json_t *meta, const char *ckpt_path)
{
    json_t *jb = json_object_get(meta, "metrics_bytes");
    if (!json_is_integer(jb) || json_integer_value(jb) < 0)
        return TD_FAIL(TD_ERR_FORMAT, "%s: checkpoint does not record the size of its metrics log", ckpt_path);
    size_t bytes = (size_t)json_integer_value(jb), have = file_exists(metrics_path) ? file_size_of(metrics_path) : 0;
    if (have < bytes)
        return TD_FAIL(TD_ERR_STATE,
                       "%s holds %zu bytes, but %zu had been written when %s was saved; the log was cut or replaced, "
                       "not resuming",
                       metrics_path, have, bytes, ckpt_path);
    int records;
    char head[SHA256_HEX_LEN];
    td_status s = metrics_summary(metrics_path, bytes, &records, head);
    if (s != TD_OK) {
        char why[1024]; /* the message buffer is about to be rewritten */
        snprintf(why, sizeof why, "%s", td_error_message());
        return TD_FAIL(TD_ERR_STATE, "%s; not resuming from %s", why, ckpt_path);
    }
    /* checkpoints written before the count and head were recorded have
     * only the size to go by */
    json_t *jr = json_object_get(meta, "metrics_records"), *jh = json_object_get(meta, "metrics_head");
    if (jr && json_integer_value(jr) != records)
        return TD_FAIL(TD_ERR_STATE, "%s holds %d records where %s expects %lld; not resuming", metrics_path, records,
                       ckpt_path, (long long)json_integer_value(jr));
    if (jh && (!json_is_string(jh) || strcmp(json_string_value(jh), head) != 0))
        return TD_FAIL(TD_ERR_STATE, "%s: its last record is not the one %s was saved after; not resuming",
                       metrics_path, ckpt_path);
    if (have > bytes) return file_truncate(metrics_path, bytes);
    return TD_OK;
}

td_status run_checkpoint_save(const char *path, const backend *be, const char *config_hash, const char *meta_json,
                              const char *metrics_path, ckpt_section *s, int n)
{
    TD_CHECK(be->sync());
    json_error_t err;
    json_t *o = json_loads(meta_json, 0, &err);
    if (!json_is_object(o)) {
        if (o) json_decref(o);
        return TD_FAIL(TD_ERR_ARG, "checkpoint meta is not a JSON object");
    }
    json_object_set_new(o, "config_hash", json_string(config_hash));
    /* What the log held at this point, so a resume can tell it is still
     * the same log: its size, its record count and its last record's hash. */
    int records = 0;
    char head[SHA256_HEX_LEN];
    td_status r = metrics_summary(metrics_path, CHAIN_LOG_WHOLE, &records, head);
    if (r != TD_OK) {
        json_decref(o);
        return r;
    }
    json_object_set_new(o, "metrics_bytes", json_integer((json_int_t)file_size_of(metrics_path)));
    json_object_set_new(o, "metrics_records", json_integer(records));
    json_object_set_new(o, "metrics_head", json_string(head));
    char *meta = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    void *host[CHECKPOINT_MAX_SECTIONS] = {0};
    if (be->device_memory)
        for (int i = 0; i < n && r == TD_OK; i++) {
            host[i] = malloc(s[i].bytes + 1);
            r = host[i] ? be->download(host[i], s[i].data, s[i].bytes) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
            s[i].data = host[i];
        }
    if (r == TD_OK) r = checkpoint_write(path, meta, s, n);
    free(meta);
    for (int i = 0; i < n; i++) free(host[i]);
    return r;
}

td_status run_checkpoint_load(const char *path, const backend *be, const char *config_hash, const char *metrics_path,
                              ckpt_section *s, int n, struct json_t **meta)
{
    ckpt_file f;
    TD_CHECK(checkpoint_read(path, &f));
    json_error_t err;
    json_t *o = json_loads(f.meta_json, 0, &err);
    const char *h = o ? json_string_value(json_object_get(o, "config_hash")) : NULL;
    td_status r = TD_OK;
    if (!h || strcmp(h, config_hash) != 0) r = TD_FAIL(TD_ERR_STATE, "%s: checkpoint belongs to another configuration", path);
    if (r == TD_OK) r = metrics_match_checkpoint(metrics_path, o, path);
    for (int i = 0; r == TD_OK && i < n; i++) {
        void *tmp = malloc(s[i].bytes + 1);
        r = tmp ? checkpoint_section(&f, s[i].name, tmp, s[i].bytes) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
        if (r == TD_OK) r = be->upload((void *)s[i].data, tmp, s[i].bytes);
        free(tmp);
    }
    if (r == TD_OK && meta) *meta = json_incref(o);
    if (o) json_decref(o);
    checkpoint_free(&f);
    return r;
}
