#include "tsedarts/rundir.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"

size_t file_size_of(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n < 0 ? 0 : (size_t)n;
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

td_status rundir_prepare(const char *dir, const char *config_json, int resume, int threads, const backend *be,
                         char hash[SHA256_HEX_LEN])
{
    TD_CHECK(dir_create(dir));
    char path[4400], ck[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/config.json", dir));
    TD_CHECK(path_format(ck, sizeof ck, "%s/checkpoint.bin", dir));
    sha256_buffer(config_json, strlen(config_json), hash);
    if (!resume) {
        if (file_exists(path) || file_exists(ck))
            return TD_FAIL(TD_ERR_STATE, "%s already holds a run; resume it with --resume %s or choose another --out", dir,
                           dir);
        char *text = malloc(strlen(config_json) + 2);
        if (!text) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
        sprintf(text, "%s\n", config_json);
        td_status s = file_write_text_atomic(path, text);
        free(text);
        TD_CHECK(s);
        char *device = be->describe ? be->describe() : NULL;
        char *fp = fingerprint_json(threads, device);
        free(device);
        s = path_format(path, sizeof path, "%s/env.json", dir);
        if (s == TD_OK) s = file_write_text_atomic(path, fp);
        free(fp);
        return s;
    }
    /* an atomic write cut short leaves only its temporary file behind */
    dir_remove_stale_temps(dir);
    char *old = NULL;
    TD_CHECK(file_read_all(path, &old, NULL));
    size_t n = strlen(config_json);
    int same = strncmp(old, config_json, n) == 0 && (old[n] == '\n' || old[n] == '\0');
    free(old);
    if (!same) return TD_FAIL(TD_ERR_STATE, "%s: the run there has a different configuration; not resuming", path);
    if (!file_exists(ck)) return TD_FAIL(TD_ERR_STATE, "%s: no checkpoint to resume from", ck);
    /* a run continued on another device would mix two devices' bits */
    char *recorded;
    TD_CHECK(rundir_recorded_device(dir, &recorded));
    td_status s = TD_OK;
    if (strcmp(recorded, be->name) != 0)
        s = TD_FAIL(TD_ERR_STATE, "%s: the run was started on device %s; resume it there (--device %s), not on %s", dir,
                    recorded, recorded, be->name);
    free(recorded);
    return s;
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
    json_object_set_new(o, "metrics_bytes", json_integer((json_int_t)file_size_of(metrics_path)));
    char *meta = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    void *host[CHECKPOINT_MAX_SECTIONS] = {0};
    td_status r = TD_OK;
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
    if (r == TD_OK) {
        /* Log lines written after this checkpoint are dropped: the run
         * writes them again, identically. */
        size_t mb = (size_t)json_integer_value(json_object_get(o, "metrics_bytes"));
        if (file_exists(metrics_path) && file_size_of(metrics_path) > mb) r = file_truncate(metrics_path, mb);
    }
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
