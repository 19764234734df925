/* Shared by the protocol's files; not a public interface. */
#ifndef TSEDARTS_PROTOCOL_INTERNAL_H
#define TSEDARTS_PROTOCOL_INTERNAL_H

#include <stdio.h>

#include "tsedarts/data.h"
#include "tsedarts/protocol.h"

extern const int protocol_search_seeds[PROTOCOL_SEARCHES];
extern const int protocol_select_seed;
extern const int protocol_final_seeds[PROTOCOL_FINAL_SEEDS];

/* Search and retraining configs of a method under the request's budget. */
td_status protocol_configs(const protocol_request *r, const method_def *m, search_config *sc, train_config *t20,
                           train_config *t8, int *select_valid_images);

/* The request's linear baseline (budget.h): its config as the plan
 * declares it. */
td_status protocol_baseline_config(const protocol_request *r, train_config *c);

/* Kinds of runs, in dependency order; the baseline needs nothing. */
typedef enum run_kind { RUN_SEARCH = 0, RUN_SELECT, RUN_FINAL_DEEP, RUN_FINAL_SHALLOW, RUN_BASELINE } run_kind;

/* The retraining config of a run from its plan template. */
td_status protocol_train_config(const char *template_json, const char *genotype_line, int seed, train_config *out);

/* Reads a run's result.json fields (missing fields are left untouched). */
td_status protocol_read_result(const char *run_dir, char *genotype, size_t glen, double *valid_error,
                               double *test_error, int *depth, int *skips);

/* The genotype a search found, renamed "<method>-s<k+1>". */
td_status protocol_rename_genotype(const char *method_id, int k, const char *found, char *line, size_t len);

/* Canonical config and run hash of a retraining run: a section ("select",
 * "final_deep", "final_shallow") of a plan method with a genotype and seed. */
td_status protocol_retrain_run(const void *method_json, const char *section, const char *genotype_line, int seed,
                               char *config, size_t clen, char hash[SHA256_HEX_LEN]);

/* Aggregates every method from the run directories, following the plan. */
td_status protocol_aggregate(const char *out_dir, const char *plan_json, method_result *res, int *n_methods);

/* The linear baseline's outcome (budget.h), and how the retrained
 * networks compare with it. */
typedef struct baseline_result {
    int planned;      /* the plan declares one (plans before version 2 did not) */
    int done, failed; /* result.json, failure.json */
    double test_error;
    int train_images, test_images; /* what its config reads */
} baseline_result;
td_status protocol_aggregate_baseline(const char *out_dir, const char *plan_json, baseline_result *b);
/* Retrained networks with a test error (selection runs and final ones),
 * and how many of them are below the baseline's. */
void protocol_count_below(const baseline_result *b, const method_result *res, int n, int *retrained, int *below);
/* What the report says of the baseline, as plain text. */
void protocol_baseline_text(const baseline_result *b, const method_result *res, int n, char *buf, size_t len);

/* Writes report.md and report.json from the plan and the aggregated
 * results (deterministic: no wall-clock figures, nothing of the plotting
 * tools, so the root hash does not depend on them). */
td_status protocol_write_report(const char *out_dir, const char *plan_json, const method_result *res, int n,
                                const baseline_result *base);
/* report.html: the same report with its figures embedded, and root_hash. */
td_status protocol_write_report_html(const char *out_dir, const char *plan_json, const method_result *res, int n,
                                     const baseline_result *base, const char *figures_missing,
                                     const char root_hash[SHA256_HEX_LEN]);
/* " At this budget the 8-layer and 20-layer columns are retrainings of
 * 4 and 5 cells ..." where the plan's evaluations are not 8 and 20 cells;
 * "" where they are. plan_json: the plan (a json_t). */
void protocol_depths_text(const void *plan_json, char *buf, size_t len);
/* The rows of Table 2 a plan leaves out, one sentence per reason, in
 * markdown ("**TSE-DrNAS** and **TSE-PDARTS** not run: ..."); "" when
 * none. plan_methods: the plan's "methods" array (a json_t). */
void protocol_not_run_text(const char *budget, const void *plan_methods, char *buf, size_t len);
/* What the report says beside the rows a plan runs (method_def.note), in
 * markdown ("**DrNAS**: searched over ..."); "" when no such row runs. */
void protocol_notes_text(const void *plan_methods, char *buf, size_t len);
/* A published figure: "mean (std)", or the mean alone where no std was
 * published (std < 0). */
void protocol_format_paper(char *buf, size_t len, double mean, double std);
/* "mean (std), n=N" of test errors (fractions) in percent, or "pending". */
void protocol_format_stats(char *buf, size_t len, const double *err, int n);

/* Writes the plan into out_dir (or checks that the one there is the same)
 * and makes runs/, as protocol_run does before its first run. */
/* Moves every recorded failure of the tree (a run's failure.json and the
 * rest of that attempt) into the run's attempts/<n>/, so the run is tried
 * again from the start (retry.c). */
td_status protocol_retry_failures(const char *out_dir, int quiet);
/* *finished: out_dir holds req's plan, finished, exactly as its last
 * report left it (finished.c); root_hash is then its root hash. */
td_status protocol_tree_finished(const protocol_request *req, const char *out_dir, char root_hash[SHA256_HEX_LEN],
                                 int *finished);
/* protocol_report for a caller that holds the tree's lock. */
td_status protocol_report_locked(const char *out_dir, char root_hash[SHA256_HEX_LEN]);

td_status protocol_prepare_tree(const protocol_request *req, const char *out_dir);

/* The progress line of a tree, as `protocol run` draws it (status_line.c):
 * running[i] says which of protocol_tree_runs' runs are under way (Slurm's
 * queue); NULL: those whose lock a process holds. */
td_status protocol_status_line(const char *out_dir, const int *running, FILE *f);

/* The device errors the tree's runs met and where each run went on, as a
 * sentence for the report page ("" when none; device_failures.c). */
void protocol_device_failures_text(const char *out_dir, char *buf, size_t len);

#endif
