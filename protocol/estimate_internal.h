/* The cost model behind `protocol plan` and the time left on the progress
 * line; not a public interface.
 *
 * A run's cost is measured by a probe: the same run (algorithm, network,
 * batch, data, device, threads) shrunk to a few steps per epoch and one
 * epoch per stage, timed step by step through the run's ticks. From it
 * come the seconds of a unit of training in each stage, the units per
 * step, the seconds per image evaluated, the seconds an epoch's record and
 * checkpoint take, and what a run costs once whatever its length (start,
 * setup, the first steps' graph building, the outputs). A whole run is
 * then those figures times its own counts. */
#ifndef TSEDARTS_ESTIMATE_INTERNAL_H
#define TSEDARTS_ESTIMATE_INTERNAL_H

#include <jansson.h>

#include "protocol_internal.h"

#define ESTIMATE_MAX_STAGES 3
#define PROBE_STEPS 4 /* training steps per epoch of a probe */

/* What a probe measured (seconds). */
typedef struct probe_result {
    int stages;
    double unit_s[ESTIMATE_MAX_STAGES];         /* one unit of training */
    double units_per_step[ESTIMATE_MAX_STAGES]; /* TSE: 2 (rollout and retraining pass) */
    double eval_s_per_image;                    /* an image scored by an evaluation */
    double epoch_s;                             /* an epoch's record and checkpoint */
    double fixed_s;                             /* once per run */
} probe_result;

/* What a run does, in the counts the model multiplies. */
typedef struct run_shape {
    int stages;
    int epochs[ESTIMATE_MAX_STAGES]; /* epochs of each stage */
    int steps_per_epoch;
    long eval_images_per_epoch; /* scored at the end of every epoch */
    long final_eval_images;     /* scored once at the end */
} run_shape;

/* The model: fixed + per stage, epochs x (steps x units per step x unit +
 * epoch + evaluation) + the final evaluation. */
double estimate_run_seconds(const probe_result *p, const run_shape *r);
/* Training steps (batches) of a run, over all its epochs. */
long run_shape_steps(const run_shape *r);

/* The shape of a run of this config (search or training JSON) on a
 * training set of n_train images and a test set of n_test. */
td_status run_shape_of(const char *config_json, int n_train, int n_test, run_shape *out);
/* The probe's config for a run's config (canonical JSON, malloc'd): the
 * same run with PROBE_STEPS steps per epoch (fewer if it has fewer), one
 * epoch per stage without warm-up, and at most two batches of held-out and
 * test images. */
td_status probe_config_of(const char *config_json, char **probe_json);

/* One tick of a probe: what, and when (now_seconds). */
typedef struct probe_tick {
    int what; /* run_tick */
    double t;
} probe_tick;
/* The figures of a probe from its ticks, between start and end, given the
 * probe's own shape: the median of the units after the first of each
 * epoch times a unit of its stage (the first pays for building graphs),
 * each evaluation its
 * images, and what the shape does not account for is fixed. */
td_status probe_result_from_ticks(const run_shape *probe_shape, const probe_tick *ticks, int n, double start, double end,
                                  probe_result *out);

json_t *probe_result_json(const probe_result *p);
td_status probe_result_parse(json_t *o, probe_result *out);

/* For the simulated wall time: a run's seconds and the runs it waits for. */
typedef struct sim_run {
    double seconds;
    int deps[PROTOCOL_SEARCHES];
    int n_deps;
    int done;    /* already finished: takes no time */
    int running; /* already under way: starts at once, seconds left */
} sim_run;
/* The dependencies of the runs in the executor's order (run.c
 * build_runs): the baseline (if any) first, then per method the searches,
 * the selection retrainings (each after its search) and the final ones
 * (after all four selections). */
void sim_plan_deps(sim_run *runs, int n_baseline, int n_methods);
/* The wall time of the runs on `slots` at once, each started as soon as
 * what it waits for has ended and a slot is free, in their order (as the
 * executor starts them). */
double sim_makespan(const sim_run *runs, int n, int slots);

/* The estimate of request r on o's devices, computed in this process: it
 * opens the first device and runs the probes the cache lacks
 * (estimate_probe.c; protocol_estimate_make calls it in a child). */
struct protocol_estimate;
td_status estimate_compute(const protocol_request *r, const protocol_options *o, int remeasure,
                           struct protocol_estimate *e);

/* The probe cache (estimate_cache.c): probe results per device model and
 * build, under $XDG_CACHE_HOME/tsedarts/estimates (~/.cache when unset).
 * key: the probe's config and threads. A cache that cannot be read or
 * written is no cache: lookups miss and stores are skipped. */
typedef struct probe_cache {
    char path[4400]; /* "" when there is no place for one */
    json_t *probes;  /* key -> probe_result JSON */
    int changed;
} probe_cache;
void probe_cache_open(probe_cache *c, const char *device_model);
int probe_cache_get(const probe_cache *c, const char *key, probe_result *out);
void probe_cache_put(probe_cache *c, const char *key, const probe_result *p);
/* Writes the cache if it changed (atomically) and frees it. */
void probe_cache_close(probe_cache *c);

#endif
