/* The paper's protocol on the DARTS space (docs/numerics.md s.5), reproducing
 * Table 2, with an audit trail: a plan declared before anything runs, one
 * directory per run named by the SHA-256 of its config, hash-chained logs,
 * sha256sum manifests and one root hash. */
#ifndef TSEDARTS_PROTOCOL_H
#define TSEDARTS_PROTOCOL_H

#include "tsedarts/hash.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"

#define PROTOCOL_SEARCHES 4   /* searches per method */
#define PROTOCOL_FINAL_SEEDS 3 /* extra seeds for the selected genotype */
#define PROTOCOL_MAX_METHODS 8

/* A row of Table 2. */
typedef struct method_def {
    const char *id;    /* command-line name */
    const char *label; /* as in the paper */
    int runnable;      /* this project implements it */
    int extra;         /* a comparison row outside Table 2: run and shown only when --methods names it */
    search_algo algo;
    int deep;          /* searched with the budget's deep_layers (20 cells instead of 8) */
    double paper8, paper8_std, paper20, paper20_std; /* test error %, (std) */
    /* DrNAS rows: `none` among the ops whatever the algorithm's default,
     * so that a row compares like for like with TSE-DrNAS */
    int drnas_none;
    /* said beside the row in the report when it runs (NULL: nothing) */
    const char *note;
} method_def;

extern const method_def protocol_methods[];
extern const int protocol_n_methods;
const method_def *protocol_method(const char *id);

typedef enum selection_rule { SELECT_VALID = 0, SELECT_TEST = 1 } selection_rule;

/* What `protocol plan` declares. */
typedef struct protocol_request {
    char budget[16];
    char dataset[1024];
    char data_dir[1024];
    int methods[PROTOCOL_MAX_METHODS]; /* indices into protocol_methods */
    int n_methods;
    selection_rule selection;
    int jobs;
} protocol_request;

/* Default request: every runnable method, validation selection, the
 * Fashion-MNIST default data. */
void protocol_request_defaults(protocol_request *r);
/* Parses "darts1,tse,..." into r->methods. */
td_status protocol_parse_methods(protocol_request *r, const char *list);

/* The plan: every search config, the retraining templates and seeds, as
 * JSON text (canonical, so equal requests give equal plans). */
td_status protocol_plan_json(const protocol_request *r, char **json);

struct protocol_estimate;

typedef struct protocol_options {
    const char *out_dir;
    int threads;
    /* a device or a list of them (device_list_parse: "cpu", "cuda:1",
     * "cuda:0,1,2,3", "cuda:all"); NULL: cpu. Runs are spread over the
     * list, each opened by the process that runs it. */
    const char *device;
    int quiet;
    long stop_after_runs; /* test hook: stop after this many runs completed (0: never) */
    int fail_run;         /* test hook: the n-th run this invocation starts (1-based) fails
                             as a full disk would, with a recorded failure (0: none) */
    /* test hooks of the device pool: the devices themselves, in place of
     * `device` when n_pool > 0 (several "cpu": the scheduler's assignment
     * and retry without a GPU); and a device error at the first run started
     * on pool device fail_device (1-based), after fail_device_units units
     * of training, its checkpoint kept, as a GPU that fails mid-run */
    const char *const *pool;
    int n_pool;
    int fail_device;
    long fail_device_units;
    /* test hook: told of every run the scheduler starts (its index in the
     * executor's order) and on which pool device (0-based) */
    void (*started)(void *ctx, int run, int device);
    void *started_ctx;
    /* what each run is expected to cost, for the time left on the progress
     * line (NULL: from the runs that finish) */
    const struct protocol_estimate *estimate;
} protocol_options;

/* Runs (or continues) the whole protocol in out_dir, then writes the
 * report, the manifests and prints the root hash. Runs that failed
 * earlier are tried again (their failed attempts kept in the run's
 * attempts/); TD_ERR_STATE, after the report, while any run failed. */
td_status protocol_run(const protocol_request *r, const protocol_options *o, char root_hash[SHA256_HEX_LEN]);
/* Prints how far a protocol directory has come. */
td_status protocol_status(const char *out_dir);
/* Rewrites report.md/report.json and the manifests from the run results. */
td_status protocol_report(const char *out_dir, char root_hash[SHA256_HEX_LEN]);

/* The stages an external executor submits, one job array per method
 * each: the searches, the selection retrainings, the final retrainings
 * (tasks 0..2 the deep seeds, 3..5 the shallow ones). */
typedef enum protocol_stage { STAGE_SEARCH = 0, STAGE_SELECT, STAGE_FINAL, PROTOCOL_STAGES } protocol_stage;
int protocol_stage_tasks(protocol_stage st);
const char *protocol_stage_name(protocol_stage st);

/* Runs (or resumes) task `task` of a stage of a method in the protocol
 * planned in o->out_dir; succeeds at once when it finished earlier or the
 * runs it needs failed, fails when they have not finished. */
td_status protocol_run_one(const protocol_options *o, const char *method_id, protocol_stage st, int task);

/* What the results tree says of every planned run. */
typedef struct protocol_run_info {
    char method[32];
    protocol_stage stage;
    int task;
    int done, failed, checkpointed;
    char hash[SHA256_HEX_LEN]; /* "" until its genotype is known */
} protocol_run_info;
/* Every run of the plan in out_dir, in dependency order (malloc'd). */
td_status protocol_tree_runs(const char *out_dir, protocol_run_info **runs, int *n);

/* Aggregation shared by the report and verify (protocol_aggregate.c). */
typedef struct method_result {
    int searches_done;                 /* searches with a genotype */
    char genotype[PROTOCOL_SEARCHES][1024];
    int depth[PROTOCOL_SEARCHES][2];   /* normal, reduce */
    int skips[PROTOCOL_SEARCHES][2];
    double select_valid[PROTOCOL_SEARCHES], select_test[PROTOCOL_SEARCHES];
    int select_done[PROTOCOL_SEARCHES];
    int selected;                      /* index of the best search, -1 if not yet */
    double final20[PROTOCOL_FINAL_SEEDS], final8[PROTOCOL_FINAL_SEEDS];
    int n20, n8;
    int failures;
} method_result;

/* Index of the best search by the rule (lowest error; ties: lower index),
 * or -1 if any selection run is missing. */
int protocol_select(const method_result *m, selection_rule rule);
/* Mean and sample standard deviation (n - 1); std is 0 for n < 2. */
void protocol_mean_std(const double *x, int n, double *mean, double *std);

/* Manifests (sha256sum-compatible, "<hex>  <relative path>" per line,
 * sorted) cover every file under a run directory, at any depth, dot files
 * and attempts/ included, in two lists: manifest.sha256 for what the run
 * computed, host.sha256 for the files that depend on the machine and the
 * moment (manifest_host_file). Writes both. */
td_status manifest_write(const char *dir);
/* manifest.sha256 of dir over the named files only (slurm/, whose logs
 * and locks change while jobs run; the auditor allows nothing else). */
td_status manifest_write_listed(const char *dir, char **names, int n);
/* MANIFEST.sha256 over every file of the tree outside the runs (plan,
 * reports, anything else) and every run's manifest.sha256; HOST.sha256
 * over the runs' host.sha256 files and the report's figures/ and
 * report.html (drawn by outside tools, whose versions change their bytes;
 * the page also states the root hash). slurm/ keeps its own
 * records. Returns the root hash: the SHA-256 of MANIFEST.sha256, so it
 * is the same for the same work on another machine. */
td_status manifest_write_root(const char *out_dir, char root_hash[SHA256_HEX_LEN]);

/* Checks the tree against MANIFEST.sha256 and HOST.sha256 as
 * manifest_write_root would write them (every run's manifest.sha256
 * included, not what it lists); *root_hash: the root hash. */
td_status manifest_check_root(const char *out_dir, char root_hash[SHA256_HEX_LEN]);

/* Checks a run directory against both its manifests: every listed file
 * present with its hash, no file unlisted. The message names the first
 * fault. */
td_status manifest_check(const char *dir);

/* env.json (machine, commit, flags) and timing.json (wall time), at any
 * depth: hashed in host.sha256, outside the root hash. */
int manifest_host_file(const char *relpath);

#endif
