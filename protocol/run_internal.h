/* The executor's state, shared by run.c (the plan's runs, executing one)
 * and schedule.c (which runs go where, and when); not a public interface. */
#ifndef TSEDARTS_RUN_INTERNAL_H
#define TSEDARTS_RUN_INTERNAL_H

#include <jansson.h>

#include "protocol_internal.h"
#include "tsedarts/device.h"
#include "tsedarts/runtime.h"

typedef struct run_entry {
    run_kind kind;
    int method, index, seed; /* method slot in the plan (-1: the baseline), search index, seed */
    char config[8192];       /* canonical config JSON ("" until known) */
    char hash[SHA256_HEX_LEN];
    int done, failed;
} run_entry;

typedef struct protocol_state {
    const protocol_request *req; /* NULL when the plan is read from the tree (run-one, status) */
    selection_rule selection;
    const protocol_options *opt;
    json_t *plan;
    run_entry *runs;
    int n_runs;
    int n_baseline; /* 1 when the plan declares a baseline: runs[0] */
    dataset train[2], test[2]; /* the sets both runs of a kind borrow, by pad32 */
    int have_sets[2];
    int completed; /* runs finished in this invocation */
    int started;   /* runs started in this invocation (fail_run hook) */
    int look_only; /* status: jobs may be writing; touch nothing */
    device_list devices; /* where runs go (schedule.c) */
} protocol_state;

/* How one run is executed: where, and what it is told. */
typedef struct run_exec {
    const char *device; /* the device name it opens */
    int threads;
    int fail_disk;          /* fail_run hook: fails as a full disk would, recorded */
    long device_fail_units; /* fail_device hook: a device error after this many units (0: none) */
    int pool;               /* a device error is the pool's: returned, not recorded as the run's failure */
    json_t *device_failures; /* the device errors this run met before (timing.json; NULL: none) */
    run_tick_fn tick;       /* progress of an in-process run (NULL: none) */
    void *tick_ctx;
} run_exec;

td_status run_dir_of(const protocol_state *ps, const run_entry *r, char *buf, size_t len);
/* The method id a run belongs to: "baseline" for the linear baseline. */
const char *run_method_id(const protocol_state *ps, const run_entry *r);
/* "search", "selection retraining", ... */
const char *run_kind_name(run_kind k);
int run_deps_done(const protocol_state *ps, const run_entry *r);
int run_deps_failed(const protocol_state *ps, const run_entry *r);
/* Fills the config (and hash) of a retraining run once its genotype is known. */
td_status run_resolve_config(protocol_state *ps, run_entry *r);
/* A run that finished earlier: its manifest must still match. */
td_status run_check_finished(protocol_state *ps, run_entry *r, int *finished);
/* Runs one entry in its directory (fresh or resumed) on x->device;
 * records failures in failure.json, except a device error (TD_ERR_BACKEND)
 * under x->pool, which is returned for the pool to move the run. */
td_status run_execute(protocol_state *ps, run_entry *r, const run_exec *x);
/* Records a run's failure in its failure.json, as run_execute does. */
td_status run_record_failure(protocol_state *ps, run_entry *r, td_status s, const char *message);
/* The same, and the run ends there: timing.json (x's device failures),
 * manifests, done. */
td_status run_finish_failed(protocol_state *ps, run_entry *r, const run_exec *x, td_status st, const char *message);

/* The lock a process executing a run holds on its directory, and whether
 * some process holds it: the run is under way (run_lock.c). */
td_status run_lock_take(const char *dir, int *fd);
void run_lock_release(int fd);
int run_lock_held(const char *dir);

/* The devices of the options (o->pool, else o->device) (devices.c). */
td_status pool_devices(const protocol_options *o, device_list *out);
/* Runs at once in all (one per device unless jobs asks for more), at most
 * per device, and each run's threads out of `threads` (0: all cores). */
void pool_slots(const device_list *d, int jobs, int threads, int *slots, int *per_device, int *per_run_threads);
/* Whether the protocol runs one run at a time in its own process. */
int pool_in_process(const protocol_state *ps);
/* Every device can be opened (in child processes unless in_process: a
 * GPU's context does not survive the workers' fork). */
td_status pool_check(const device_list *d, int in_process);

/* Runs every entry not done, in dependency order, on ps->devices, moving a
 * run off a device that fails (schedule.c); only >= 0: that run alone. */
td_status protocol_schedule(protocol_state *ps, int only);

#endif
