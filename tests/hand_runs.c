#include "hand_runs.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/darts.h"
#include "tsedarts/data.h"
#include "tsedarts/fileio.h"
#include "tsedarts/hash.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"
#include "tsedarts/safetensors.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"

static void cell_alphas(const genotype_cell *c, double *a)
{
    for (int i = 0; i < DARTS_EDGES * DOP_COUNT; i++) a[i] = 0;
    for (int node = 0; node < DARTS_NODES; node++) {
        int first_edge = 2 * node + node * (node - 1) / 2; /* node i has i + 2 inputs */
        for (int j = 0; j < 2; j++) {
            int k = 2 * node + j;
            a[(first_edge + c->input[k]) * DOP_COUNT + c->op[k]] = j ? 5 : 6;
        }
    }
}

void hand_alphas(const genotype *g, double normal[], double reduce[])
{
    cell_alphas(&g->normal, normal);
    cell_alphas(&g->reduce, reduce);
}

static td_status write_alphas(const char *path, const genotype *g)
{
    double a[2][DARTS_EDGES * DOP_COUNT];
    float f[2][DARTS_EDGES * DOP_COUNT];
    hand_alphas(g, a[0], a[1]);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < DARTS_EDGES * DOP_COUNT; i++) f[k][i] = (float)a[k][i];
    st_tensor t[2] = {
        {.name = "alphas_normal", .dtype = "F32", .ndim = 2, .dims = {DARTS_EDGES, DOP_COUNT}, .data = f[0], .bytes = sizeof f[0]},
        {.name = "alphas_reduce", .dtype = "F32", .ndim = 2, .dims = {DARTS_EDGES, DOP_COUNT}, .data = f[1], .bytes = sizeof f[1]},
    };
    return safetensors_write(path, t, 2, NULL);
}

static td_status expected_records(const char *config_json, int search, long *n)
{
    if (search) {
        search_config c;
        int images;
        TD_CHECK(search_config_parse(config_json, &c));
        TD_CHECK(dataset_images(c.dataset, 1, &images));
        return search_expected_records(&c, images, n);
    }
    train_config c;
    TD_CHECK(train_config_parse(config_json, &c));
    *n = train_expected_records(&c);
    return TD_OK;
}

td_status hand_run_files(const char *run_dir, const char *config_json, const genotype *searched)
{
    char path[4400], weights[SHA256_HEX_LEN], alphas[SHA256_HEX_LEN] = "";
    long n;
    TD_CHECK(expected_records(config_json, searched != NULL, &n));
    TD_CHECK(path_format(path, sizeof path, "%s/weights.safetensors", run_dir));
    TD_CHECK(file_write_text_atomic(path, "hand-made: no weights\n"));
    TD_CHECK(sha256_file(path, weights));
    if (searched) {
        TD_CHECK(path_format(path, sizeof path, "%s/alphas.safetensors", run_dir));
        TD_CHECK(write_alphas(path, searched));
        TD_CHECK(sha256_file(path, alphas));
        char line[1024], text[1100];
        genotype_format(searched, line, sizeof line);
        snprintf(text, sizeof text, "%s\n", line);
        TD_CHECK(path_format(path, sizeof path, "%s/genotype.txt", run_dir));
        TD_CHECK(file_write_text_atomic(path, text));
    }
    chain_log log;
    TD_CHECK(path_format(path, sizeof path, "%s/metrics.jsonl", run_dir));
    TD_CHECK(chain_log_open(&log, path));
    for (long e = 0; e < n; e++) {
        json_t *o = json_object();
        json_object_set_new(o, "epoch", json_integer(e));
        /* stand-in figures, so that the report's plots have a curve to draw */
        json_object_set_new(o, "lr", json_real(0.025));
        json_object_set_new(o, "train_loss", json_real(2.3 - 0.1 * (double)e));
        json_object_set_new(o, "train_acc", json_real(0.1 + 0.01 * (double)e));
        if (searched) { /* what a search's epoch record says of its cells */
            char line[1024];
            genotype_format(searched, line, sizeof line);
            json_object_set_new(o, "genotype", json_string(line));
            json_object_set_new(o, "normal_depth", json_integer(genotype_depth(&searched->normal)));
            json_object_set_new(o, "reduce_depth", json_integer(genotype_depth(&searched->reduce)));
            json_object_set_new(o, "normal_skip", json_integer(genotype_skip_count(&searched->normal)));
            json_object_set_new(o, "reduce_skip", json_integer(genotype_skip_count(&searched->reduce)));
        }
        json_object_set_new(o, "weights_sha256", json_string(weights));
        if (searched) json_object_set_new(o, "alphas_sha256", json_string(alphas));
        char *rec = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        td_status s = chain_log_append(&log, rec);
        free(rec);
        TD_CHECK(s);
    }
    return TD_OK;
}
