/* Probe results kept between commands, per device model and build: a probe
 * costs a minute at the paper budget and gives the same figures on every
 * device of one model with one build. Outside any results tree (nothing
 * here is a result), under $XDG_CACHE_HOME/tsedarts/estimates/ or
 * ~/.cache/tsedarts/estimates/, one file per model and build. Without a
 * home, or where it cannot be written, there is no cache: every estimate
 * probes afresh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estimate_internal.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"

/* The build as env.json records it: commit, compiler and flags. */
static void build_id(char *buf, size_t len)
{
    char *fp = fingerprint_json(1, NULL);
    json_t *o = fp ? json_loads(fp, 0, NULL) : NULL;
    free(fp);
    snprintf(buf, len, "%s | %s | %s", json_string_value(json_object_get(o, "tsedarts_commit")),
             json_string_value(json_object_get(o, "compiler")), json_string_value(json_object_get(o, "c_flags")));
    if (o) json_decref(o);
}

static json_t *read_probes(const char *path)
{
    char *text = NULL;
    json_t *o = file_exists(path) && file_read_all(path, &text, NULL) == TD_OK ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_t *p = json_object_get(o, "probes");
    json_t *out = json_is_object(p) ? json_incref(p) : json_object();
    if (o) json_decref(o);
    return out;
}

void probe_cache_open(probe_cache *c, const char *device_model)
{
    memset(c, 0, sizeof *c);
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[4000] = "", build[2048], key[4096], hash[SHA256_HEX_LEN];
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/tsedarts/estimates", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/tsedarts/estimates", home);
    build_id(build, sizeof build);
    snprintf(key, sizeof key, "%s\n%s", device_model, build);
    sha256_buffer(key, strlen(key), hash);
    if (dir[0] && path_format(c->path, sizeof c->path, "%s/%.16s.json", dir, hash) != TD_OK) c->path[0] = '\0';
    c->probes = c->path[0] ? read_probes(c->path) : json_object();
}

int probe_cache_get(const probe_cache *c, const char *key, probe_result *out)
{
    json_t *p = json_object_get(c->probes, key);
    return p && probe_result_parse(p, out) == TD_OK;
}

void probe_cache_put(probe_cache *c, const char *key, const probe_result *p)
{
    json_object_set_new(c->probes, key, probe_result_json(p));
    c->changed = 1;
}

void probe_cache_close(probe_cache *c)
{
    if (c->changed && c->path[0]) {
        /* what another command stored meanwhile is kept beside ours */
        json_t *all = read_probes(c->path);
        json_object_update(all, c->probes);
        json_t *o = json_object();
        char build[2048];
        build_id(build, sizeof build);
        json_object_set_new(o, "build", json_string(build));
        json_object_set_new(o, "probes", all);
        char *text = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
        json_decref(o);
        char dir[4400];
        snprintf(dir, sizeof dir, "%s", c->path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        /* best effort: a cache that cannot be written is no cache */
        if (text && dir_create(dir) == TD_OK) (void)file_write_text_atomic(c->path, text);
        free(text);
    }
    if (c->probes) json_decref(c->probes);
    c->probes = NULL;
}
