/* verify: every file against its manifest, nothing missing or extra, the
 * root hash, every metrics chain, directory names against config hashes,
 * genotypes against the saved alphas, the plan against what ran, the
 * selection and the report's figures recomputed. One line per check, then
 * a summary. Nothing here calls the protocol runner's code. */
#include "tsedarts/verify.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "verify_internal.h"

static void report(FILE *out, verify_summary *sum, td_status s, const char *what)
{
    sum->checks++;
    if (s == TD_OK) {
        fprintf(out, "ok    %s\n", what);
    } else {
        sum->failed++;
        fprintf(out, "FAIL  %s: %s\n", what, td_error_message());
    }
}

/* The checks made on every run directory on its own. */
enum { RUN_MANIFEST, RUN_CHAIN, RUN_NAME, RUN_GENOTYPE, RUN_COUNT, RUN_FILES, RUN_CHECKS };

static td_status run_check(int which, const char *run_dir, const char *name)
{
    char path[4400];
    switch (which) {
    case RUN_MANIFEST: return audit_run_manifest(run_dir);
    case RUN_CHAIN:
        TD_CHECK(path_format(path, sizeof path, "%s/metrics.jsonl", run_dir));
        return file_exists(path) ? audit_chain(path) : TD_OK;
    case RUN_NAME: return audit_run_name(run_dir, name);
    case RUN_COUNT: return audit_run_record_count(run_dir);
    case RUN_FILES: {
        td_status s = audit_run_final_files(run_dir);
        return s == TD_OK ? audit_run_checkpoint(run_dir) : s;
    }
    default: return audit_run_genotype(run_dir);
    }
}

static const char *const run_what[RUN_CHECKS] = {
    [RUN_MANIFEST] = "run manifests: every file of every run matches, none missing or extra",
    [RUN_CHAIN] = "metrics logs: every hash chain intact",
    [RUN_NAME] = "run directories are named by their config hash",
    [RUN_GENOTYPE] = "searched genotypes re-derive from the saved alphas",
    [RUN_COUNT] = "metrics logs: each finished run holds the records its config implies, in epoch order",
    [RUN_FILES] = "final weights and alphas hash to the last epoch record of their run's log, and each checkpoint "
                  "was saved by its run (its config hash, and its log a prefix of the run's)",
};

static void check_runs(const char *dir, FILE *out, verify_summary *sum)
{
    const char *const *what = run_what;
    int bad[RUN_CHECKS] = {0}, nruns = 0;
    char first[RUN_CHECKS][700] = {""};
    char runs[4400];
    td_status s = path_format(runs, sizeof runs, "%s/runs", dir);
    DIR *d = s == TD_OK ? dir_open(runs) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]))) continue;
        nruns++;
        char rdir[4400];
        td_status p = path_format(rdir, sizeof rdir, "%s/%s", runs, e->d_name);
        for (int k = 0; k < RUN_CHECKS; k++) {
            td_status a = p == TD_OK ? run_check(k, rdir, e->d_name) : p;
            if (a != TD_OK && !bad[k]++) snprintf(first[k], sizeof first[k], "%s", td_error_message());
        }
    }
    if (d) closedir(d);
    for (int k = 0; k < RUN_CHECKS; k++) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s (%d runs)", what[k], nruns);
        td_status a = TD_OK;
        if (!d)
            a = s != TD_OK ? s : TD_FAIL(TD_ERR_CHECK, "%s: cannot list the run directories", runs);
        else if (bad[k])
            a = TD_FAIL(TD_ERR_CHECK, "%d run(s); first: %s", bad[k], first[k]);
        report(out, sum, a, msg);
    }
}

static td_status audit_tree(const char *dir, const char *expect_root, FILE *out, verify_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    td_status s = audit_root_manifest(dir, sum->root_hash);
    report(out, sum, s, "root manifest: every listed file matches its hash; no extra files or unlisted runs");
    if (expect_root) {
        /* hex digits in either case name the same hash */
        s = strcasecmp(expect_root, sum->root_hash)
                ? TD_FAIL(TD_ERR_CHECK, "root hash %s, expected %s", sum->root_hash, expect_root)
                : TD_OK;
        report(out, sum, s, "root hash matches the published one");
    }
    char records[4400];
    if (path_format(records, sizeof records, "%s/slurm", dir) == TD_OK && file_exists(records))
        report(out, sum, audit_executor_records(dir),
               "executor records (slurm/): submissions match slurm/manifest.sha256, their hash chain holds, "
               "nothing unlisted but logs/ and locks/");
    check_runs(dir, out, sum);
    audit_ledger l;
    s = audit_ledger_build(dir, &l);
    int ledger_ok = s == TD_OK;
    report(out, sum, s,
           l.has_baseline ? "plan followed: 4 declared searches per method, each retrained, the best by the plan's "
                            "rule (selected here) retrained with 3 more seeds at both depths, the linear baseline on "
                            "the final retrainings' images, no undeclared runs"
                          : "plan followed: 4 declared searches per method, each retrained, the best by the plan's "
                            "rule (selected here) retrained with 3 more seeds at both depths, no undeclared runs");
    if (s == TD_OK)
        s = audit_report(dir, &l);
    else
        s = TD_FAIL(TD_ERR_CHECK, "not checked: the runs do not follow the plan (above)");
    report(out, sum, s,
           "report: selection, test errors, mean and sample std (n - 1), and the networks below the linear "
           "baseline, recomputed here from the run results, match report.json and report.md");
    /* the page states what report.md does; where the runs do not follow
     * the plan (above) only its root hash is checked */
    char page[4400];
    if (path_format(page, sizeof page, "%s/report.html", dir) == TD_OK && file_exists(page))
        report(out, sum, audit_report_page(dir, sum->root_hash, ledger_ok ? &l : NULL),
               "report.html states this tree's root hash, and the figures it states are the runs' (as report.md's)");
    audit_ledger_free(&l);
    fprintf(out, "\n%d checks, %d failed; root hash %s\n", sum->checks, sum->failed, sum->root_hash);
    return sum->failed ? TD_FAIL(TD_ERR_CHECK, "%d of %d checks failed", sum->failed, sum->checks) : TD_OK;
}

static td_status audit_one_run(const char *run_dir, FILE *out, verify_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    char path[4400];
    td_status s = path_format(path, sizeof path, "%s/manifest.sha256", run_dir);
    for (int k = 0; s == TD_OK && k < RUN_CHECKS; k++) {
        /* outside a protocol tree a run is named by its --out, and only a
         * protocol writes manifests */
        if (k == RUN_NAME) continue;
        if (k == RUN_MANIFEST && !file_exists(path)) {
            /* nothing lists its files, but none may be a link or a FIFO */
            char **names;
            int n;
            td_status l = dir_list_files(run_dir, &names, &n);
            if (l == TD_OK) {
                dir_list_free(names, n);
                fprintf(out, "--    %s: no manifest.sha256 (a run outside a protocol tree)\n", run_what[k]);
            } else {
                report(out, sum, l, "run files: regular files only (no manifest.sha256: a run outside a protocol tree)");
            }
            continue;
        }
        report(out, sum, run_check(k, run_dir, NULL), run_what[k]);
    }
    if (s != TD_OK) report(out, sum, s, run_dir);
    fprintf(out, "\n%d checks, %d failed\n", sum->checks, sum->failed);
    return sum->failed ? TD_FAIL(TD_ERR_CHECK, "%d of %d checks failed", sum->failed, sum->checks) : TD_OK;
}

/* The audit reads only the tree: a symbolic link anywhere below it is
 * refused before anything is read through it (file_confine_reads). */
td_status verify_tree(const char *dir, const char *expect_root, FILE *out, verify_summary *sum)
{
    file_confine_reads(dir);
    td_status s = audit_tree(dir, expect_root, out, sum);
    file_confine_reads(NULL);
    return s;
}

td_status verify_run(const char *run_dir, FILE *out, verify_summary *sum)
{
    file_confine_reads(run_dir);
    td_status s = audit_one_run(run_dir, out, sum);
    file_confine_reads(NULL);
    return s;
}
