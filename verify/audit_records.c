/* A finished run's metrics log against what it must hold: the number of
 * records its config implies, and a last epoch record whose weight (and
 * alpha) hashes are those of the files the run published. Together with
 * the hash chain, a log cut short, padded, or left behind by other weights
 * no longer passes. */
#include <stdlib.h>
#include <string.h>

#include "tsedarts/checkpoint.h"
#include "tsedarts/data.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"
#include "verify_internal.h"

/* Whether the run finished: result.json without failure.json. */
static int finished(const char *run_dir)
{
    char r[4400], f[4400];
    if (path_format(r, sizeof r, "%s/result.json", run_dir) != TD_OK ||
        path_format(f, sizeof f, "%s/failure.json", run_dir) != TD_OK)
        return 1; /* cannot tell: check it as finished */
    return file_exists(r) && !file_exists(f);
}

/* Whether the record is in its place: an epoch record carries the epoch
 * due next (*due, then advanced); any other record (a tse_gradient one,
 * inside an epoch) that names an epoch names the one in progress, and one
 * between epochs (a pdarts_stage one) names none. */
static int in_order(const char *line, size_t len, json_int_t *due)
{
    json_t *o = json_loadb(line, len, 0, NULL);
    json_t *e = json_object_get(o, "epoch");
    int epoch_record = json_is_object(o) && !json_object_get(o, "record");
    int ok = json_is_object(o) && (epoch_record || e ? json_is_integer(e) && json_integer_value(e) == *due : 1);
    if (o) json_decref(o);
    if (ok && epoch_record) ++*due;
    return ok;
}

/* Records (complete lines) of run_dir/metrics.jsonl; *last: the last one
 * (malloc'd, NULL when none); *misplaced: the first record (from 1) not in
 * epoch order, 0 when all are. A missing log holds none. */
static td_status read_log(const char *run_dir, long *records, char **last, long *misplaced)
{
    char path[4400], *text;
    size_t len;
    *records = 0;
    *last = NULL;
    *misplaced = 0;
    TD_CHECK(path_format(path, sizeof path, "%s/metrics.jsonl", run_dir));
    if (!file_exists(path)) return TD_OK;
    TD_CHECK(file_read_all(path, &text, &len));
    size_t start = 0, last_start = 0, last_len = 0;
    json_int_t due = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') {
            ++*records;
            if (!*misplaced && !in_order(text + start, i - start, &due)) *misplaced = *records;
            last_start = start;
            last_len = i - start;
            start = i + 1;
        }
    if (*records) {
        *last = malloc(last_len + 1);
        if (*last) {
            memcpy(*last, text + last_start, last_len);
            (*last)[last_len] = '\0';
        }
    }
    free(text);
    return !*records || *last ? TD_OK : TD_FAIL(TD_ERR_MEMORY, "out of memory");
}

/* The records a finished run of this config writes. */
static td_status expected_records(const char *run_dir, long *want, int *epochs)
{
    char *cfg;
    TD_CHECK(audit_read_config(run_dir, &cfg));
    td_status s;
    if (audit_config_is_search(cfg)) {
        search_config c;
        int n = 0;
        s = search_config_parse(cfg, &c);
        if (s == TD_OK) s = dataset_images(c.dataset, 1, &n);
        if (s == TD_OK) s = search_expected_records(&c, n, want);
        *epochs = s == TD_OK ? search_total_epochs(&c) : 0;
    } else {
        train_config c;
        s = train_config_parse(cfg, &c);
        if (s == TD_OK) *want = train_expected_records(&c);
        *epochs = c.epochs;
    }
    free(cfg);
    if (s != TD_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", td_error_message());
        return TD_FAIL(TD_ERR_CHECK, "%s/config.json: %s", run_dir, why);
    }
    return TD_OK;
}

td_status audit_run_record_count(const char *run_dir)
{
    if (!finished(run_dir)) return TD_OK;
    long want, have, misplaced;
    int epochs;
    char *last;
    TD_CHECK(expected_records(run_dir, &want, &epochs));
    TD_CHECK(read_log(run_dir, &have, &last, &misplaced));
    free(last);
    if (have != want)
        return TD_FAIL(TD_ERR_CHECK,
                       "%s/metrics.jsonl holds %ld record(s); a finished run of its config.json (%d epochs) writes %ld",
                       run_dir, have, epochs, want);
    if (misplaced)
        return TD_FAIL(TD_ERR_CHECK, "%s/metrics.jsonl: record %ld is not in epoch order (epochs 0, 1, ... each once)",
                       run_dir, misplaced);
    return TD_OK;
}

/* run_dir/name hashes to the value of key in the record rec. */
static td_status tie(const char *run_dir, json_t *rec, const char *key, const char *name)
{
    const char *want = json_string_value(json_object_get(rec, key));
    if (!want)
        return TD_FAIL(TD_ERR_CHECK, "%s/metrics.jsonl: the last epoch record has no \"%s\" to check %s against",
                       run_dir, key, name);
    char path[4400], hex[SHA256_HEX_LEN];
    TD_CHECK(path_format(path, sizeof path, "%s/%s", run_dir, name));
    if (!file_exists(path)) return TD_FAIL(TD_ERR_CHECK, "%s: missing; the run finished with it", path);
    TD_CHECK(sha256_file(path, hex));
    if (strcmp(hex, want))
        return TD_FAIL(TD_ERR_CHECK, "%s: SHA-256 %.16s... is not the %.16s... of the last epoch record in metrics.jsonl",
                       path, hex, want);
    return TD_OK;
}

td_status audit_run_final_files(const char *run_dir)
{
    if (!finished(run_dir)) return TD_OK;
    char *cfg, *last;
    long records, misplaced;
    TD_CHECK(audit_read_config(run_dir, &cfg));
    int search = audit_config_is_search(cfg);
    free(cfg);
    TD_CHECK(read_log(run_dir, &records, &last, &misplaced));
    if (!last) return TD_FAIL(TD_ERR_CHECK, "%s/metrics.jsonl: no records to tie the final files to", run_dir);
    json_t *rec = json_loads(last, 0, NULL);
    free(last);
    /* the epoch record closes every epoch (a tse_gradient record never
     * comes last) */
    td_status s = json_is_object(rec) && !json_object_get(rec, "record")
                      ? TD_OK
                      : TD_FAIL(TD_ERR_CHECK, "%s/metrics.jsonl: the last record is not an epoch record", run_dir);
    if (s == TD_OK) s = tie(run_dir, rec, "weights_sha256", "weights.safetensors");
    if (s == TD_OK && search) s = tie(run_dir, rec, "alphas_sha256", "alphas.safetensors");
    if (rec) json_decref(rec);
    return s;
}

/* What checkpoint.bin says of the log it was saved beside, against the
 * log: a prefix of metrics_bytes bytes, ending at a record's end, holding
 * metrics_records records, the last of which hashes to metrics_head. */
static td_status checkpoint_matches_log(const char *run_dir, json_t *meta)
{
    json_t *jb = json_object_get(meta, "metrics_bytes"), *jr = json_object_get(meta, "metrics_records"),
           *jh = json_object_get(meta, "metrics_head");
    if (!json_is_integer(jb) || json_integer_value(jb) < 0)
        return TD_FAIL(TD_ERR_CHECK, "%s/checkpoint.bin does not record the size of its log", run_dir);
    size_t bytes = (size_t)json_integer_value(jb), len = 0;
    char path[4400], *text = NULL;
    TD_CHECK(path_format(path, sizeof path, "%s/metrics.jsonl", run_dir));
    if (bytes) TD_CHECK(file_read_all(path, &text, &len));
    td_status s = TD_OK;
    if (bytes > len || (bytes && text[bytes - 1] != '\n'))
        s = TD_FAIL(TD_ERR_CHECK,
                    "%s/checkpoint.bin was saved when metrics.jsonl held %zu bytes of records; this log holds no "
                    "record ending there (a checkpoint of another run?)",
                    run_dir, bytes);
    long records = 0;
    size_t last = 0;
    for (size_t i = 0; s == TD_OK && i < bytes; i++)
        if (text[i] == '\n') {
            records++;
            if (i + 1 < bytes) last = i + 1;
        }
    char head[SHA256_HEX_LEN] = "0000000000000000000000000000000000000000000000000000000000000000";
    if (s == TD_OK && records) sha256_buffer(text + last, bytes - 1 - last, head);
    free(text);
    if (s == TD_OK && jr && json_integer_value(jr) != records)
        s = TD_FAIL(TD_ERR_CHECK, "%s/checkpoint.bin was saved after %lld records; its log has %ld in that place "
                    "(a checkpoint of another run?)", run_dir, (long long)json_integer_value(jr), records);
    if (s == TD_OK && jh && (!json_is_string(jh) || strcmp(json_string_value(jh), head)))
        s = TD_FAIL(TD_ERR_CHECK, "%s/checkpoint.bin was saved after another record than its log's record %ld "
                    "(a checkpoint of another run?)", run_dir, records);
    return s;
}

td_status audit_run_checkpoint(const char *run_dir)
{
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/checkpoint.bin", run_dir));
    if (!file_exists(path)) return TD_OK;
    ckpt_file f;
    TD_CHECK(checkpoint_read(path, &f));
    json_t *meta = json_loads(f.meta_json, 0, NULL);
    checkpoint_free(&f);
    char *cfg = NULL, hex[SHA256_HEX_LEN] = "";
    td_status s = audit_read_config(run_dir, &cfg);
    if (s == TD_OK) sha256_buffer(cfg, strlen(cfg), hex);
    free(cfg);
    const char *h = json_string_value(json_object_get(meta, "config_hash"));
    if (s == TD_OK && (!h || strcmp(h, hex)))
        s = TD_FAIL(TD_ERR_CHECK, "%s: saved by a run of config %.12s..., not of this run's config.json (%.12s...)",
                    path, h ? h : "(none)", hex);
    if (s == TD_OK) s = checkpoint_matches_log(run_dir, meta);
    if (meta) json_decref(meta);
    return s;
}
