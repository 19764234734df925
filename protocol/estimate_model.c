/* The arithmetic of the cost model (estimate_internal.h): shapes of runs,
 * probes' configs, the figures a probe's ticks give, and the wall time of
 * runs that wait on each other. No clock and no device here, so the tests
 * check it with figures of their own. */
#include <stdlib.h>
#include <string.h>

#include "estimate_internal.h"
#include "tsedarts/pdarts.h"
#include "tsedarts/runtime.h"

static int is_search(const char *config_json)
{
    json_t *o = json_loads(config_json, 0, NULL);
    int yes = json_object_get(o, "algo") != NULL; /* a training config names no algorithm */
    if (o) json_decref(o);
    return yes;
}

static void search_stages(const search_config *c, run_shape *r)
{
    if (search_algo_staged(c->algo)) {
        r->stages = PDARTS_STAGES;
        for (int s = 0; s < PDARTS_STAGES; s++) r->epochs[s] = c->epochs;
    } else if (search_algo_is_drnas(c->algo)) {
        /* drnas_stages.c: E - E/2 epochs, then E/2 */
        r->stages = 2;
        r->epochs[0] = c->epochs - c->epochs / 2;
        r->epochs[1] = c->epochs / 2;
    } else {
        r->stages = 1;
        r->epochs[0] = c->epochs;
    }
}

td_status run_shape_of(const char *config_json, int n_train, int n_test, run_shape *out)
{
    memset(out, 0, sizeof *out);
    if (is_search(config_json)) {
        search_config c;
        TD_CHECK(search_config_parse(config_json, &c));
        search_stages(&c, out);
        int steps, eval;
        TD_CHECK(search_epoch_sizes(&c, n_train, &steps, &eval));
        out->steps_per_epoch = steps;
        out->eval_images_per_epoch = eval;
        return TD_OK;
    }
    train_config c;
    TD_CHECK(train_config_parse(config_json, &c));
    /* train.c load_data: the held-out images come off the training set,
     * the subset caps the rest */
    int n_t = n_train - (c.valid_images > 0 ? c.valid_images : 0);
    if (c.subset > 0 && n_t > c.subset) n_t = c.subset;
    if (n_t < 1 || c.batch < 1) return TD_FAIL(TD_ERR_ARG, "training config leaves no images to train on");
    out->stages = 1;
    out->epochs[0] = c.epochs;
    out->steps_per_epoch = (n_t + c.batch - 1) / c.batch;
    out->eval_images_per_epoch = c.valid_images > 0 ? c.valid_images : 0;
    long test = c.test_images < 0 || c.test_images > n_test ? n_test : c.test_images;
    out->final_eval_images = test + out->eval_images_per_epoch;
    return TD_OK;
}

td_status probe_config_of(const char *config_json, char **probe_json)
{
    if (is_search(config_json)) {
        search_config c;
        TD_CHECK(search_config_parse(config_json, &c));
        int cap = PROBE_STEPS * c.batch;
        if (c.subset == 0 || c.subset > cap) c.subset = cap;
        c.seed = 1; /* runs that differ in their seed alone cost the same */
        /* one epoch of each stage, each with architecture steps: a warm-up
         * epoch trains the weights alone and costs less, so stages with
         * one are estimated a little high */
        if (search_algo_is_drnas(c.algo)) {
            c.epochs = 2;
            c.drnas_warmup = 0;
        } else {
            c.epochs = 1;
            c.warmup_epochs = 0;
        }
        return search_config_json(&c, probe_json);
    }
    train_config c;
    TD_CHECK(train_config_parse(config_json, &c));
    int cap = PROBE_STEPS * c.batch, scored = 2 * c.batch;
    if (c.subset == 0 || c.subset > cap) c.subset = cap;
    if (c.valid_images > scored) c.valid_images = scored;
    if (c.test_images < 0 || c.test_images > scored) c.test_images = scored;
    c.epochs = 1;
    c.seed = 1;
    return train_config_json(&c, probe_json);
}

double estimate_run_seconds(const probe_result *p, const run_shape *r)
{
    double t = p->fixed_s + r->final_eval_images * p->eval_s_per_image;
    for (int s = 0; s < r->stages && s < ESTIMATE_MAX_STAGES; s++) {
        /* a run with more stages than its probe measured (none in the
         * protocol) costs its last measured stage's rate */
        int q = s < p->stages ? s : p->stages - 1;
        if (q < 0) break;
        double epoch = (double)r->steps_per_epoch * p->units_per_step[q] * p->unit_s[q] + p->epoch_s +
                       (double)r->eval_images_per_epoch * p->eval_s_per_image;
        t += r->epochs[s] * epoch;
    }
    return t;
}

long run_shape_steps(const run_shape *r)
{
    long e = 0;
    for (int s = 0; s < r->stages; s++) e += r->epochs[s];
    return e * r->steps_per_epoch;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

td_status probe_result_from_ticks(const run_shape *shape, const probe_tick *ticks, int n, double start, double end,
                                  probe_result *out)
{
    memset(out, 0, sizeof *out);
    out->stages = shape->stages;
    /* each stage's units after the first of an epoch, in tick order */
    double *units = malloc(((size_t)n + 1) * sizeof *units);
    if (!units) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    int unit_at[ESTIMATE_MAX_STAGES + 1] = {0};
    double first_sum[ESTIMATE_MAX_STAGES] = {0};
    long all_n[ESTIMATE_MAX_STAGES] = {0};
    double eval_t = 0, epoch_t = 0;
    int epochs_done = 0;
    for (int pass = 0; pass < shape->stages; pass++) {
        /* one pass per stage keeps each stage's units together */
        double prev = start;
        int epoch = 0, in_epoch = 0;
        int count = 0;
        for (int i = 0; i < n; i++) {
            int stage = 0, e = epoch;
            while (stage < shape->stages - 1 && e >= shape->epochs[stage]) e -= shape->epochs[stage++];
            double dt = ticks[i].t - prev;
            prev = ticks[i].t;
            if (ticks[i].what == RUN_TICK_UNIT) {
                /* the first unit of an epoch also built its stage's graphs */
                if (stage == pass) {
                    if (in_epoch) units[unit_at[pass] + count++] = dt;
                    else first_sum[stage] += dt;
                    all_n[stage]++;
                }
                in_epoch++;
            } else if (ticks[i].what == RUN_TICK_EVAL) {
                if (!pass) eval_t += dt;
            } else {
                if (!pass) {
                    epoch_t += dt;
                    epochs_done++;
                }
                epoch++;
                in_epoch = 0;
            }
        }
        unit_at[pass + 1] = unit_at[pass] + count;
    }
    int expect = 0;
    for (int s = 0; s < shape->stages; s++) expect += shape->epochs[s];
    if (epochs_done != expect || shape->steps_per_epoch < 1) {
        free(units);
        return TD_FAIL(TD_ERR_STATE, "probe: %d epochs ended, %d expected", epochs_done, expect);
    }
    double accounted = eval_t + epoch_t;
    for (int s = 0; s < shape->stages; s++) {
        /* the median: a burst of other work on a shared machine moves one
         * unit, not the figure; an epoch of one unit has only its first */
        int k = unit_at[s + 1] - unit_at[s];
        double *u = units + unit_at[s];
        qsort(u, (size_t)k, sizeof *u, cmp_double);
        out->unit_s[s] = k ? (k % 2 ? u[k / 2] : 0.5 * (u[k / 2 - 1] + u[k / 2])) : all_n[s] ? first_sum[s] / all_n[s] : 0;
        out->units_per_step[s] = (double)all_n[s] / ((double)shape->epochs[s] * shape->steps_per_epoch);
        accounted += all_n[s] * out->unit_s[s];
    }
    free(units);
    long images = (long)expect * shape->eval_images_per_epoch + shape->final_eval_images;
    out->eval_s_per_image = images ? eval_t / images : 0;
    out->epoch_s = epochs_done ? epoch_t / epochs_done : 0;
    out->fixed_s = end - start - accounted;
    if (out->fixed_s < 0) out->fixed_s = 0;
    return TD_OK;
}

json_t *probe_result_json(const probe_result *p)
{
    json_t *o = json_object(), *u = json_array(), *k = json_array();
    for (int s = 0; s < p->stages; s++) {
        json_array_append_new(u, json_real(p->unit_s[s]));
        json_array_append_new(k, json_real(p->units_per_step[s]));
    }
    json_object_set_new(o, "unit_s", u);
    json_object_set_new(o, "units_per_step", k);
    json_object_set_new(o, "eval_s_per_image", json_real(p->eval_s_per_image));
    json_object_set_new(o, "epoch_s", json_real(p->epoch_s));
    json_object_set_new(o, "fixed_s", json_real(p->fixed_s));
    return o;
}

td_status probe_result_parse(json_t *o, probe_result *out)
{
    memset(out, 0, sizeof *out);
    json_t *u = json_object_get(o, "unit_s"), *k = json_object_get(o, "units_per_step");
    size_t n = json_array_size(u);
    if (!n || n > ESTIMATE_MAX_STAGES || json_array_size(k) != n) return TD_FAIL(TD_ERR_FORMAT, "probe: bad stages");
    out->stages = (int)n;
    for (size_t s = 0; s < n; s++) {
        out->unit_s[s] = json_number_value(json_array_get(u, s));
        out->units_per_step[s] = json_number_value(json_array_get(k, s));
    }
    out->eval_s_per_image = json_number_value(json_object_get(o, "eval_s_per_image"));
    out->epoch_s = json_number_value(json_object_get(o, "epoch_s"));
    out->fixed_s = json_number_value(json_object_get(o, "fixed_s"));
    return TD_OK;
}

void sim_plan_deps(sim_run *runs, int n_baseline, int n_methods)
{
    int per = 2 * PROTOCOL_SEARCHES + 2 * PROTOCOL_FINAL_SEEDS;
    for (int m = 0; m < n_methods; m++) {
        int base = n_baseline + m * per;
        for (int i = 0; i < per; i++) {
            sim_run *r = &runs[base + i];
            r->n_deps = 0;
            if (i >= PROTOCOL_SEARCHES && i < 2 * PROTOCOL_SEARCHES) {
                r->deps[r->n_deps++] = base + i - PROTOCOL_SEARCHES;
            } else if (i >= 2 * PROTOCOL_SEARCHES) {
                for (int k = 0; k < PROTOCOL_SEARCHES; k++) r->deps[r->n_deps++] = base + PROTOCOL_SEARCHES + k;
            }
        }
    }
    for (int i = 0; i < n_baseline; i++) runs[i].n_deps = 0;
}

double sim_makespan(const sim_run *runs, int n, int slots)
{
    if (n <= 0) return 0;
    double *end = malloc((size_t)n * sizeof *end);
    if (!end) return 0;
    int busy = 0, left = 0;
    for (int i = 0; i < n; i++) {
        end[i] = -1;
        if (runs[i].done) {
            end[i] = 0;
        } else if (runs[i].running) {
            end[i] = runs[i].seconds;
            busy++;
        } else {
            left++;
        }
    }
    double t = 0, last = 0;
    for (int i = 0; i < n; i++)
        if (end[i] > last) last = end[i];
    while (left > 0) {
        /* start, in order, whatever is ready while a slot is free */
        for (int i = 0; i < n && busy < slots; i++) {
            if (end[i] >= 0) continue;
            int ready = 1;
            for (int d = 0; d < runs[i].n_deps && ready; d++) {
                int j = runs[i].deps[d];
                ready = j < 0 || j >= n || (end[j] >= 0 && end[j] <= t);
            }
            if (!ready) continue;
            end[i] = t + runs[i].seconds;
            if (end[i] > last) last = end[i];
            busy++;
            left--;
        }
        /* then on to the next run that ends */
        double next = -1;
        for (int i = 0; i < n; i++)
            if (end[i] > t && (next < 0 || end[i] < next)) next = end[i];
        if (next < 0) break; /* what is left waits on nothing that ends */
        t = next;
        busy = 0;
        for (int i = 0; i < n; i++) busy += end[i] > t;
    }
    free(end);
    return last;
}
