/* Shared by verify's files; not a public interface. verify uses no code
 * of the protocol runner: it reads the tree's files itself and states the
 * protocol's rules (docs/numerics.md s.5) again here, so that a fault in the
 * runner's aggregation cannot hide behind the same fault in its audit. */
#ifndef TSEDARTS_VERIFY_INTERNAL_H
#define TSEDARTS_VERIFY_INTERNAL_H

#include <jansson.h>

#include "tsedarts/hash.h"
#include "tsedarts/verify.h"

/* The protocol's shape, from docs/numerics.md s.5: 4 searches per method; the best
 * one's genotype retrained with 3 more seeds at each of two depths. */
#define AUDIT_SEARCHES 4
#define AUDIT_SEEDS 3

/* Figures the report states at full precision may differ from verify's in
 * the last bits (another summation is allowed); any edit that matters
 * differs by far more. */
#define AUDIT_TOL 1e-9

/* ----------------------------------------------- files (audit_files.c) */

/* dir/MANIFEST.sha256 lists plan.json, report.json, report.md, every
 * other file of the tree outside the runs and slurm/, and every
 * runs/<name>/manifest.sha256; HOST.sha256 lists env.json and timing.json
 * files outside the runs and every runs/<name>/host.sha256; each with its
 * hash, nothing found unlisted. *root_hash: SHA-256 of MANIFEST.sha256. */
td_status audit_root_manifest(const char *dir, char root_hash[SHA256_HEX_LEN]);
/* run_dir/manifest.sha256 lists every file of the run at any depth, dot
 * files included, except env.json and timing.json, which host.sha256
 * lists; each with its hash, nothing found unlisted. */
td_status audit_run_manifest(const char *run_dir);
/* Every line of a metrics log holds "prev": the SHA-256 of the line
 * before it (64 zeros for the first); every line ends in a newline. */
td_status audit_chain(const char *path);
/* slurm/ (an executor's records, outside the root hash): its manifest
 * matches, it holds nothing else but logs/ and locks/, and
 * submissions.jsonl's hash chain holds. */
td_status audit_executor_records(const char *dir);
/* report.html (optional) states root_hash, and, where l is not NULL (the
 * runs follow the plan), every figure it states is the runs' as
 * audit_report_doc recomputes them, and its paper columns report.json's
 * (audit_page.c). */
struct audit_ledger;
td_status audit_report_page(const char *dir, const char *root_hash, const struct audit_ledger *l);

/* ------------------------------------------------- runs (audit_run.c) */

/* The directory's name is the SHA-256 of its config.json (newline cut). */
td_status audit_run_name(const char *run_dir, const char *name);
/* A search's genotype.txt and result.json follow from alphas.safetensors. */
td_status audit_run_genotype(const char *run_dir);
/* Reads run_dir/name as JSON; *out is NULL (and TD_OK) when it is absent. */
td_status audit_read_json(const char *run_dir, const char *name, json_t **out);

/* ------------------------------------- records (audit_records.c) */

/* A finished run's metrics.jsonl holds exactly the records its config
 * implies (search_expected_records, train_expected_records), in epoch
 * order; runs that failed or have not finished are left to the ledger. */
td_status audit_run_record_count(const char *run_dir);
/* A finished run's weights.safetensors (and a search's alphas.safetensors)
 * hash to the weights_sha256 (alphas_sha256) of its last epoch record. */
td_status audit_run_final_files(const char *run_dir);

/* A run's checkpoint.bin (where there is one) was saved by this run: its
 * config hash is this config.json's, and the log it was saved beside is a
 * prefix of metrics.jsonl, record for record. */
td_status audit_run_checkpoint(const char *run_dir);

/* ------------------------------- re-execution (platform.c, replay.c) */

/* Opens the device the run records (or the one asked for) and refuses
 * (TD_ERR_UNSUPPORTED, saying why) when this machine, build or device
 * differs from the run's env.json in anything that can change bits. */
struct backend;
td_status audit_open_device(const char *run_dir, const char *asked, const struct backend **be);
/* run_dir/config.json without its trailing newline (malloc'd). */
td_status audit_read_config(const char *run_dir, char **text);
/* Whether a config.json's text is a search's (it names an algorithm). */
int audit_config_is_search(const char *config_text);

/* --------------------------------------- the ledger (audit_ledger.c) */

/* One planned run as its directory records it. */
typedef struct audit_run {
    char name[SHA256_HEX_LEN];      /* directory name; "" when no directory holds it */
    int failed;                     /* failure.json is there */
    int ok;                         /* result.json is there */
    double valid_error, test_error; /* from result.json; NAN when absent */
    char genotype[1024];            /* a search's result; "" otherwise */
} audit_run;

enum { AUDIT_DEEP = 0, AUDIT_SHALLOW = 1 }; /* 20-layer (eval20), 8-layer (eval8) */

typedef struct audit_method {
    const char *id, *label; /* owned by the plan */
    int search_seed[AUDIT_SEARCHES];
    audit_run search[AUDIT_SEARCHES], select[AUDIT_SEARCHES];
    int selected; /* recomputed here; -1: no selection run succeeded */
    int final_seed[2][AUDIT_SEEDS];
    audit_run final[2][AUDIT_SEEDS];
    int failures; /* runs of this method that recorded failure.json */
} audit_method;

typedef struct audit_ledger {
    json_t *plan;
    int select_by_test; /* the plan's "selection" is "test" */
    int n;
    audit_method *m;
    int has_baseline;      /* the plan declares a linear baseline (plan version 2 on) */
    audit_run baseline;
} audit_ledger;

/* Reads plan.json and the run directories into l, checking that the runs
 * are exactly those the plan implies: its searches, a selection run for
 * each found genotype, 3 seeds at both depths for the genotype that
 * verify itself selects, and the linear baseline, whose config must read
 * the final retrainings' images. l is usable (and must be freed) even on
 * failure. */
td_status audit_ledger_build(const char *dir, audit_ledger *l);
void audit_ledger_free(audit_ledger *l);

/* ------------------------------------------ the report (audit_report.c) */

/* report.json and report.md state the ledger's numbers: selection, the
 * selection runs' errors, each test error and its mean and sample
 * standard deviation, as recomputed by verify_select / verify_mean_std. */
td_status audit_report(const char *dir, const audit_ledger *l);

/* A report as lines of text, its tables as "| a | b |" rows and its
 * method sections under "## <label>": report.md as it is, report.html
 * as audit_page.c renders it (page: 1). */
typedef struct report_doc {
    const char *file;
    int page;
    int n;
    char **line;
} report_doc;
/* The figures a report states against the ledger: banners, Table 2, each
 * method's search table, selected mark and failures, the baseline. */
td_status audit_report_doc(const report_doc *d, const audit_ledger *l);

#endif
