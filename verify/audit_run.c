/* One run directory on its own: its name, and a search's genotype (the
 * DARTS rule, or PDARTS' on its last stage's op lists). */
#include <stdlib.h>
#include <string.h>

#include "tsedarts/darts.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"
#include "tsedarts/drnas_search.h"
#include "tsedarts/pdarts.h"
#include "tsedarts/safetensors.h"
#include "tsedarts/search.h"
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

/* alphas_normal and alphas_reduce of a search, 14 x n_ops F32 each. */
static td_status read_alphas(const char *path, int n_ops, double a[2][DARTS_EDGES * DOP_COUNT])
{
    st_file f;
    TD_CHECK(safetensors_open(path, &f));
    const char *names[2] = {"alphas_normal", "alphas_reduce"};
    td_status s = TD_OK;
    for (int k = 0; k < 2 && s == TD_OK; k++) {
        st_tensor t;
        s = safetensors_get(&f, names[k], &t);
        if (s == TD_OK && (strcmp(t.dtype, "F32") || t.bytes != sizeof(float) * DARTS_EDGES * (size_t)n_ops))
            s = TD_FAIL(TD_ERR_CHECK, "%s: %s is not a 14 x %d F32 tensor", path, names[k], n_ops);
        for (int i = 0; s == TD_OK && i < DARTS_EDGES * n_ops; i++) a[k][i] = ((const float *)t.data)[i];
    }
    safetensors_close(&f);
    return s;
}

/* PDARTS: the last stage's op lists (result.json) and the skip limit
 * (config.json) with the saved alphas. */
static td_status pdarts_rederive(const char *run_dir, const char *alphas_path, json_t *result, genotype *out)
{
    json_t *stages = json_object_get(result, "stages");
    size_t n = json_is_array(stages) ? json_array_size(stages) : 0;
    if (n != PDARTS_STAGES)
        return TD_FAIL(TD_ERR_CHECK, "%s: result.json lacks the %d PDARTS stages", run_dir, PDARTS_STAGES);
    supernet_edge_ops edges = {0};
    TD_CHECK(pdarts_edges_parse(json_array_get(stages, n - 1), &edges));
    char path[4400], *text;
    TD_CHECK(path_format(path, sizeof path, "%s/config.json", run_dir));
    TD_CHECK(file_read_all(path, &text, NULL));
    search_config c;
    td_status s = search_config_parse(text, &c);
    free(text);
    double a[2][DARTS_EDGES * DOP_COUNT], flat[2 * DARTS_EDGES * DOP_COUNT];
    if (s == TD_OK) s = read_alphas(alphas_path, edges.n_ops, a);
    if (s != TD_OK) return s;
    size_t row = (size_t)DARTS_EDGES * edges.n_ops;
    memcpy(flat, a[0], row * sizeof *flat);
    memcpy(flat + row, a[1], row * sizeof *flat);
    int removed;
    return pdarts_derive(&edges, flat, c.max_skip, "searched", out, &removed);
}

/* DrNAS (docs/numerics.md s.6.5): the softmax over the kept columns that
 * result.json lists (after the pruning), with or without `none`. */
static td_status drnas_rederive(const char *alphas_path, json_t *result, genotype *out)
{
    int with_none = json_is_true(json_object_get(result, "drnas_with_none"));
    int n_ops = drnas_ops(with_none);
    json_t *kept = json_object_get(result, "drnas_kept_columns");
    unsigned char keep[DRNAS_ROWS][DOP_COUNT];
    memset(keep, 0, sizeof keep);
    if (kept && json_array_size(kept) != DRNAS_ROWS)
        return TD_FAIL(TD_ERR_CHECK, "result.json: drnas_kept_columns has %zu rows, not %d", json_array_size(kept),
                       DRNAS_ROWS);
    for (int r = 0; kept && r < DRNAS_ROWS; r++) {
        json_t *row = json_array_get(kept, (size_t)r);
        for (size_t i = 0; i < json_array_size(row); i++) {
            json_int_t j = json_integer_value(json_array_get(row, i));
            if (!json_is_integer(json_array_get(row, i)) || j < 0 || j >= n_ops)
                return TD_FAIL(TD_ERR_CHECK, "result.json: drnas_kept_columns row %d names no column of %d", r, n_ops);
            keep[r][j] = 1;
        }
    }
    double a[2][DARTS_EDGES * DOP_COUNT], flat[DRNAS_ROWS * DOP_COUNT];
    TD_CHECK(read_alphas(alphas_path, n_ops, a));
    size_t row = (size_t)DARTS_EDGES * n_ops;
    memcpy(flat, a[0], row * sizeof *flat);
    memcpy(flat + row, a[1], row * sizeof *flat);
    drnas_derive(flat, with_none, kept != NULL, keep[0], out);
    return TD_OK;
}

td_status audit_run_genotype(const char *run_dir)
{
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/alphas.safetensors", run_dir));
    if (!file_exists(path)) return TD_OK; /* a retraining run */
    json_t *result;
    TD_CHECK(audit_read_json(run_dir, "result.json", &result));
    const char *rule = json_string_value(json_object_get(result, "derivation"));
    double a[2][DARTS_EDGES * DOP_COUNT];
    genotype derived, saved;
    td_status s;
    if (rule && !strcmp(rule, "pdarts"))
        s = pdarts_rederive(run_dir, path, result, &derived);
    else if (rule && !strcmp(rule, "drnas"))
        s = drnas_rederive(path, result, &derived);
    else if ((s = read_alphas(path, DOP_COUNT, a)) == TD_OK)
        genotype_derive(a[0], a[1], "searched", &derived);
    if (s != TD_OK) {
        if (result) json_decref(result);
        return s;
    }
    char line[1024], saved_line[1024];
    genotype_format(&derived, line, sizeof line);
    s = path_format(path, sizeof path, "%s/genotype.txt", run_dir);
    if (s == TD_OK) s = genotype_load(path, &saved);
    if (s == TD_OK) {
        genotype_format(&saved, saved_line, sizeof saved_line);
        if (strcmp(line, saved_line))
            s = TD_FAIL(TD_ERR_CHECK, "%s: genotype.txt does not re-derive from alphas.safetensors", run_dir);
    }
    const char *found = json_string_value(json_object_get(result, "genotype"));
    if (s == TD_OK && !(found && !strcmp(found, line)))
        s = TD_FAIL(TD_ERR_CHECK, "%s: result.json genotype does not re-derive from the alphas", run_dir);
    if (result) json_decref(result);
    return s;
}
