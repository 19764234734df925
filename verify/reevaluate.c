/* verify --reevaluate: the test figures a retraining run reports follow
 * from the weights it published. The final evaluation of train_run is run
 * again on weights.safetensors (its weights are first tied to the metrics
 * log) and must give result.json's numbers exactly: evaluation is
 * deterministic on the platform that produced the run, and jansson writes
 * doubles with 17 significant digits, which read back to the same bits. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/train.h"
#include "tsedarts/verify.h"
#include "verify_internal.h"

/* result.json's value of key equals x bit for bit. */
static td_status same_number(const json_t *result, const char *key, double x, const char *run_dir)
{
    const json_t *v = json_object_get(result, key);
    if (!json_is_number(v)) return TD_FAIL(TD_ERR_CHECK, "%s/result.json: no %s", run_dir, key);
    double r = json_number_value(v);
    if (memcmp(&r, &x, sizeof r))
        return TD_FAIL(TD_ERR_CHECK, "%s/result.json: %s is %.17g; recomputed from weights.safetensors: %.17g", run_dir,
                       key, r, x);
    return TD_OK;
}

static td_status compare(const char *run_dir, const train_result *res, FILE *out)
{
    json_t *result;
    TD_CHECK(audit_read_json(run_dir, "result.json", &result));
    if (!result) return TD_FAIL(TD_ERR_CHECK, "%s: no result.json (the run did not finish)", run_dir);
    td_status s = same_number(result, "test_error", res->test_error, run_dir);
    if (s == TD_OK) s = same_number(result, "test_loss", res->test_loss, run_dir);
    const json_t *n = json_object_get(result, "test_images");
    if (s == TD_OK && (!json_is_integer(n) || json_integer_value(n) != res->test_count))
        s = TD_FAIL(TD_ERR_CHECK, "%s/result.json: test_images is not the %d its config scores", run_dir,
                    res->test_count);
    int held_out = res->valid_error >= 0;
    if (s == TD_OK && held_out) s = same_number(result, "valid_error", res->valid_error, run_dir);
    if (s == TD_OK && !held_out && json_object_get(result, "valid_error"))
        s = TD_FAIL(TD_ERR_CHECK, "%s/result.json: a valid_error, but its config holds no images out", run_dir);
    json_decref(result);
    if (s == TD_OK)
        fprintf(out,
                "ok    reevaluate: test error %.17g (accuracy %.17g) and loss on %d images%s, recomputed from "
                "weights.safetensors, equal result.json bit for bit\n",
                res->test_error, 1.0 - res->test_error, res->test_count, held_out ? " and the held-out error" : "");
    return s;
}

static td_status reevaluate(const char *run_dir, const char *device, FILE *out)
{
    char *cfg;
    TD_CHECK(audit_read_config(run_dir, &cfg));
    train_config c;
    td_status s = audit_config_is_search(cfg)
                      ? TD_FAIL(TD_ERR_ARG, "%s is a search; --reevaluate recomputes a retraining run's test error",
                                run_dir)
                      : train_config_parse(cfg, &c);
    free(cfg);
    TD_CHECK(s);
    if (c.dt != DT_F32)
        return TD_FAIL(TD_ERR_UNSUPPORTED,
                       "%s trained in f64; weights.safetensors holds its weights rounded to f32, whose evaluation "
                       "need not give the run's bits",
                       run_dir);
    const backend *be;
    TD_CHECK(audit_open_device(run_dir, device, &be));
    /* the weights evaluated must be the ones training ended with */
    TD_CHECK(audit_run_final_files(run_dir));
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/weights.safetensors", run_dir));
    train_result res;
    TD_CHECK(train_reevaluate(&c, be, path, &res));
    return compare(run_dir, &res, out);
}

td_status verify_reevaluate(const char *run_dir, const char *device, FILE *out)
{
    file_confine_reads(run_dir); /* the run's files only, never through a link */
    td_status s = reevaluate(run_dir, device, out);
    file_confine_reads(NULL);
    return s;
}
