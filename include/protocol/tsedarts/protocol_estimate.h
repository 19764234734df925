/* What a protocol will cost before it starts: per row of Table 2 and in
 * total, the runs, the training steps, the device-hours, and the wall time
 * on the devices given (or the jobs a Slurm submission makes). Each kind
 * of run is timed for a few steps on the device (a probe), and the probes
 * are kept per device model and build (estimate_internal.h has the model). */
#ifndef TSEDARTS_PROTOCOL_ESTIMATE_H
#define TSEDARTS_PROTOCOL_ESTIMATE_H

#include <stdio.h>

#include "tsedarts/protocol.h"

#define PROTOCOL_MAX_RUNS (PROTOCOL_MAX_METHODS * (2 * PROTOCOL_SEARCHES + 2 * PROTOCOL_FINAL_SEEDS) + 1)

typedef struct protocol_estimate_row {
    char label[64]; /* the row of Table 2, or "Linear baseline" */
    int runs;
    long steps;            /* training steps (batches) of all its runs */
    double device_seconds; /* the runs' time, one after another on one device */
} protocol_estimate_row;

typedef struct protocol_estimate {
    char device[256];       /* as given: "cpu", "cuda:all", ... */
    char device_model[256]; /* of the device timed: "NVIDIA H200", a CPU's name */
    char cache[4400];       /* where probes are kept ("": nowhere) */
    int devices;            /* in the list */
    int slots;              /* runs at once */
    int threads;            /* each run's threads */
    int probes_measured, probes_cached;
    int n_runs; /* in the executor's order: the baseline, then per row its searches, selections, finals */
    double run_seconds[PROTOCOL_MAX_RUNS];
    long run_steps[PROTOCOL_MAX_RUNS];
    int n_rows, n_baseline; /* the baseline's row, when the plan has one, comes first */
    protocol_estimate_row rows[PROTOCOL_MAX_METHODS + 1];
    /* each kind of run timed: what, its step (all of a step's passes, the
     * first stage's for a staged search), and what a run of it costs once */
    int n_kinds;
    struct {
        char what[96];
        double step_seconds, fixed_seconds;
    } kinds[2 * PROTOCOL_MAX_METHODS + 8];
    double device_seconds;   /* all runs, one after another */
    double wall_seconds;     /* on `slots` at once, each run after those it needs */
    double critical_seconds; /* with every run started as soon as it can: the longest chain */
} protocol_estimate;

/* Estimates what request r costs with options o (their devices, --jobs in
 * r, threads): times every kind of run the plan holds on the first device
 * of the list, in a child process (a parent that opens CUDA cannot fork
 * workers), taking what the cache holds unless remeasure (then what it
 * times replaces it: a probe timed while other work shared the device is
 * kept until then). Prints what it times on stderr unless o->quiet. */
td_status protocol_estimate_make(const protocol_request *r, const protocol_options *o, int remeasure,
                                 protocol_estimate *e);

/* The table `protocol plan` prints; with slurm, the jobs a submission makes
 * instead of the local wall time. */
void protocol_estimate_print(const protocol_estimate *e, const protocol_request *r, int slurm, FILE *f);

/* What `protocol run` says before it starts: the totals, and where they
 * exceed a day, how to run a subset of the rows and how to resume. */
void protocol_estimate_print_start(const protocol_estimate *e, const protocol_request *r, const char *out_dir, FILE *f);

/* "45 s", "12 min", "5.3 h", "3.2 days" */
void protocol_format_span(double seconds, char *buf, size_t len);

#endif
