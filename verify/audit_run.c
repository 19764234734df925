/* One run directory on its own: its name, and a search's genotype. */
#include <stdlib.h>
#include <string.h>

#include "tsedarts/darts.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"
#include "tsedarts/safetensors.h"
#include "verify_internal.h"

td_status audit_read_json(const char *run_dir, const char *name, json_t **out)
{
    *out = NULL;
    char path[4400], *text;
    TD_CHECK(path_format(path, sizeof path, "%s/%s", run_dir, name));
    if (!file_exists(path)) return TD_OK;
    TD_CHECK(file_read_all(path, &text, NULL));
    json_error_t err;
    *out = json_loads(text, 0, &err);
    free(text);
    if (!*out) return TD_FAIL(TD_ERR_CHECK, "%s: not JSON (line %d: %s)", path, err.line, err.text);
    return TD_OK;
}

td_status audit_run_name(const char *run_dir, const char *name)
{
    char path[4400], *text;
    TD_CHECK(path_format(path, sizeof path, "%s/config.json", run_dir));
    TD_CHECK(file_read_all(path, &text, NULL));
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n') n--;
    char hex[SHA256_HEX_LEN];
    sha256_buffer(text, n, hex);
    free(text);
    if (strcmp(hex, name)) return TD_FAIL(TD_ERR_CHECK, "runs/%s: name differs from the hash of its config.json", name);
    return TD_OK;
}

/* alphas_normal and alphas_reduce of a search, 14 x 8 F32 each. */
static td_status read_alphas(const char *path, double a[2][DARTS_EDGES * DOP_COUNT])
{
    st_file f;
    TD_CHECK(safetensors_open(path, &f));
    const char *names[2] = {"alphas_normal", "alphas_reduce"};
    td_status s = TD_OK;
    for (int k = 0; k < 2 && s == TD_OK; k++) {
        st_tensor t;
        s = safetensors_get(&f, names[k], &t);
        if (s == TD_OK && (strcmp(t.dtype, "F32") || t.bytes != sizeof(float) * DARTS_EDGES * DOP_COUNT))
            s = TD_FAIL(TD_ERR_CHECK, "%s: %s is not a 14 x 8 F32 tensor", path, names[k]);
        for (int i = 0; s == TD_OK && i < DARTS_EDGES * DOP_COUNT; i++) a[k][i] = ((const float *)t.data)[i];
    }
    safetensors_close(&f);
    return s;
}

td_status audit_run_genotype(const char *run_dir)
{
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/alphas.safetensors", run_dir));
    if (!file_exists(path)) return TD_OK; /* a retraining run */
    double a[2][DARTS_EDGES * DOP_COUNT];
    TD_CHECK(read_alphas(path, a));
    genotype derived, saved;
    genotype_derive(a[0], a[1], "searched", &derived);
    char line[1024], saved_line[1024];
    genotype_format(&derived, line, sizeof line);
    TD_CHECK(path_format(path, sizeof path, "%s/genotype.txt", run_dir));
    TD_CHECK(genotype_load(path, &saved));
    genotype_format(&saved, saved_line, sizeof saved_line);
    if (strcmp(line, saved_line))
        return TD_FAIL(TD_ERR_CHECK, "%s: genotype.txt does not re-derive from alphas.safetensors", run_dir);
    json_t *result;
    TD_CHECK(audit_read_json(run_dir, "result.json", &result));
    const char *found = json_string_value(json_object_get(result, "genotype"));
    td_status s = found && !strcmp(found, line)
                      ? TD_OK
                      : TD_FAIL(TD_ERR_CHECK, "%s: result.json genotype does not re-derive from the alphas", run_dir);
    if (result) json_decref(result);
    return s;
}
