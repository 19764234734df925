/* The Slurm executor: per method, the searches as one job array, the
 * selection retrainings as a second (afterok on the first), the final
 * retrainings as a third (afterok on the second; each task makes the
 * choice of the best itself, from the tree), and one report job after all.
 * Only what is neither done in the tree nor queued is submitted, so the
 * same command resumes a protocol; a lock keeps two submissions apart. */
/* realpath */
#define _DEFAULT_SOURCE
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol_internal.h"
#include "slurm_internal.h"
#include "slurm_records.h"
#include "tsedarts/device.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

/* The argv of one sbatch, grown as options are added (owned strings). */
typedef struct sbatch_line {
    char *argv[48];
    int n;
} sbatch_line;

/* Measured before it is written: a long path is never cut. */
static void line_add(sbatch_line *l, const char *fmt, const char *a, const char *b)
{
    int len = snprintf(NULL, 0, fmt, a, b);
    char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (!buf || l->n >= 46) {
        free(buf);
        return;
    }
    snprintf(buf, (size_t)len + 1, fmt, a, b);
    l->argv[l->n++] = buf;
}

static void line_free(sbatch_line *l)
{
    for (int i = 0; i < l->n; i++) free(l->argv[i]);
    l->n = 0;
}

/* "0-3" style list of the set bits. */
static void task_list(unsigned bits, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int k = 0; k < 32; k++)
        if (bits & (1u << k)) {
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, "%s%d", used ? "," : "", k);
        }
}

typedef struct submitter {
    const protocol_options *o;
    const slurm_config *c;
    char out[PATH_MAX]; /* absolute: jobs start in another directory */
    char tag[32];
    slurm_job *queue;
    int n_queue;
} submitter;

/* Options every job shares, and the resources of its kind. */
static void common_options(const submitter *sb, sbatch_line *l, int kind, const char *name, const char *log_name)
{
    const slurm_resources *r = &sb->c->res[kind];
    char num[16];
    line_add(l, "%s", "sbatch", "");
    line_add(l, "%s", "--parsable", "");
    line_add(l, "--job-name=%s%s", name, "");
    line_add(l, "--output=%s/slurm/logs/%s", sb->out, log_name);
    snprintf(num, sizeof num, "%d", r->cpus);
    line_add(l, "--cpus-per-task=%s%s", num, "");
    if (r->mem[0]) line_add(l, "--mem=%s%s", r->mem, "");
    if (r->time[0]) line_add(l, "--time=%s%s", r->time, "");
    int gpus = r->gpus;
    if (!gpus && kind != PROTOCOL_STAGES && !strncmp(sb->o->device ? sb->o->device : "cpu", "cuda", 4)) gpus = 1;
    snprintf(num, sizeof num, "%d", gpus);
    if (gpus) line_add(l, "--gres=gpu:%s%s", num, "");
    if (sb->c->partition[0]) line_add(l, "--partition=%s%s", sb->c->partition, "");
    if (sb->c->account[0]) line_add(l, "--account=%s%s", sb->c->account, "");
    char extra[1024];
    snprintf(extra, sizeof extra, "%s", sb->c->extra);
    for (char *save = NULL, *t = strtok_r(extra, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
        line_add(l, "%s%s", t, "");
}

static void dependency(sbatch_line *l, const long *deps, int n)
{
    if (!n) return;
    char buf[1024] = "--dependency=afterok";
    for (int i = 0; i < n; i++) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ":%ld", deps[i]);
    line_add(l, "%s%s", buf, "");
}

/* Runs sbatch, records it, returns the job ID. */
static td_status submit(submitter *sb, sbatch_line *l, const char *method, const char *stage, unsigned tasks, long *id)
{
    l->argv[l->n] = NULL;
    char *text;
    int code;
    TD_CHECK(slurm_program((const char *const *)l->argv, &text, &code));
    *id = strtol(text, NULL, 10);
    free(text);
    if (code != 0 || *id <= 0) return TD_FAIL(TD_ERR_IO, "sbatch failed (exit %d) for %s %s", code, method, stage);
    json_t *rec = json_object(), *argv = json_array(), *ts = json_array();
    for (int i = 0; i < l->n; i++) json_array_append_new(argv, json_string(l->argv[i]));
    for (int k = 0; k < 32; k++)
        if (tasks & (1u << k)) json_array_append_new(ts, json_integer(k));
    json_object_set_new(rec, "event", json_string("submitted"));
    json_object_set_new(rec, "job_id", json_integer(*id));
    json_object_set_new(rec, "method", json_string(method));
    json_object_set_new(rec, "stage", json_string(stage));
    json_object_set_new(rec, "tasks", ts);
    json_object_set_new(rec, "sbatch", argv);
    td_status s = slurm_record(sb->out, rec);
    json_decref(rec);
    if (!sb->o->quiet) {
        char list[128];
        task_list(tasks, list, sizeof list);
        printf("submitted job %ld: %s%s%s%s%s\n", *id, method, *method ? " " : "", stage, tasks ? ", tasks " : "",
               tasks ? list : "");
    }
    return s;
}

static td_status cancel_ids(const char *out, const long *ids, int n, const char *why)
{
    if (!n) return TD_OK;
    char *argv[70];
    char num[64][24];
    int k = 0;
    argv[k++] = "scancel";
    json_t *rec = json_object(), *arr = json_array();
    for (int i = 0; i < n && i < 64; i++) {
        snprintf(num[i], sizeof num[i], "%ld", ids[i]);
        argv[k++] = num[i];
        json_array_append_new(arr, json_integer(ids[i]));
    }
    argv[k] = NULL;
    int code;
    td_status s = slurm_program((const char *const *)argv, NULL, &code);
    if (s == TD_OK && code != 0) s = TD_FAIL(TD_ERR_IO, "scancel failed (exit %d)", code);
    json_object_set_new(rec, "event", json_string("cancelled"));
    json_object_set_new(rec, "job_ids", arr);
    json_object_set_new(rec, "why", json_string(why));
    if (s == TD_OK) s = slurm_record(out, rec);
    json_decref(rec);
    return s;
}

/* Jobs that can never start (what they wait on failed), the later stages
 * of their method and the report (which wait on them) are cancelled and
 * forgotten, so that what they would have run is submitted anew. */
static td_status drop_stuck(submitter *sb)
{
    long ids[64];
    int n = 0, kept = 0;
    for (int i = 0; i < sb->n_queue; i++) {
        const slurm_job *j = &sb->queue[i];
        int drop = 0;
        for (int k = 0; k < sb->n_queue && !drop; k++) {
            const slurm_job *st = &sb->queue[k];
            drop = st->stuck && (j->kind == PROTOCOL_STAGES || (!strcmp(st->method, j->method) && j->kind >= st->kind));
        }
        if (drop && n < 64)
            ids[n++] = j->id;
        else
            sb->queue[kept++] = *j;
    }
    sb->n_queue = kept;
    return cancel_ids(sb->out, ids, n, "waiting on a job that failed");
}

/* Live jobs of a method's stage (the report: method NULL). */
static int live_ids(const submitter *sb, const char *method, int kind, long *ids, unsigned *tasks)
{
    int n = 0;
    if (tasks) *tasks = 0;
    for (int i = 0; i < sb->n_queue; i++) {
        const slurm_job *j = &sb->queue[i];
        if (j->kind != kind || (method && strcmp(j->method, method))) continue;
        if (n < 16) ids[n++] = j->id;
        if (tasks) *tasks |= j->tasks;
    }
    return n;
}

static td_status submit_all(submitter *sb, const protocol_run_info *runs, int n_runs, int *submitted_any)
{
    const slurm_config *c = sb->c;
    long all_final[256];
    int n_final = 0;
    *submitted_any = 0;
    for (int i = 0; i < n_runs;) {
        const char *method = runs[i].method;
        long prev[32];
        int n_prev = 0;
        for (int st = 0; st < PROTOCOL_STAGES; st++) {
            unsigned need = 0, live;
            for (int j = i; j < n_runs && !strcmp(runs[j].method, method); j++)
                if ((int)runs[j].stage == st && !runs[j].done && !runs[j].failed) need |= 1u << runs[j].task;
            long ids[32];
            int n = live_ids(sb, method, st, ids, &live);
            need &= ~live;
            if (need) {
                char name[128], list[128], wrap[2 * PATH_MAX + 512], threads[16];
                snprintf(name, sizeof name, "%s-%s-%s", sb->tag, method, protocol_stage_name((protocol_stage)st));
                task_list(need, list, sizeof list);
                snprintf(threads, sizeof threads, "%d", c->res[st].cpus);
                sbatch_line l = {.n = 0};
                common_options(sb, &l, st, name, "%x-%A_%a.log");
                line_add(&l, "--array=%s%s", list, "");
                dependency(&l, prev, n_prev);
                /* the one line sh reads: paths single-quoted (refused
                 * below if they hold a quote) */
                snprintf(wrap, sizeof wrap,
                         "--wrap=exec '%s' protocol run-one darts_space --out '%s' --slot %s/%s --threads %s --device %s "
                         "--quiet",
                         c->binary, sb->out, method, protocol_stage_name((protocol_stage)st), threads,
                         sb->o->device ? sb->o->device : "cpu");
                line_add(&l, "%s%s", wrap, "");
                long id;
                td_status s = submit(sb, &l, method, protocol_stage_name((protocol_stage)st), need, &id);
                line_free(&l);
                TD_CHECK(s);
                ids[n++] = id;
                *submitted_any = 1;
            }
            memcpy(prev, ids, (size_t)n * sizeof *ids);
            n_prev = n;
        }
        for (int k = 0; k < n_prev && n_final < 256; k++) all_final[n_final++] = prev[k];
        while (i < n_runs && !strcmp(runs[i].method, method)) i++;
    }
    long report[16];
    int n_report = live_ids(sb, NULL, PROTOCOL_STAGES, report, NULL);
    /* a report job queued earlier does not wait for what was just added */
    if (*submitted_any) TD_CHECK(cancel_ids(sb->out, report, n_report, "replaced by a report after the new jobs"));
    if (n_final && (*submitted_any || !n_report)) {
        char name[64];
        snprintf(name, sizeof name, "%s-report", sb->tag);
        sbatch_line l = {.n = 0};
        common_options(sb, &l, PROTOCOL_STAGES, name, "%x-%j.log");
        dependency(&l, all_final, n_final);
        char wrap[2 * PATH_MAX + 512];
        snprintf(wrap, sizeof wrap, "--wrap=exec '%s' protocol report darts_space --out '%s'", c->binary, sb->out);
        line_add(&l, "%s%s", wrap, "");
        long id;
        td_status s = submit(sb, &l, "", "report", 0, &id);
        line_free(&l);
        TD_CHECK(s);
    }
    return TD_OK;
}

static int all_finished(const protocol_run_info *runs, int n)
{
    for (int i = 0; i < n; i++)
        if (!runs[i].done && !runs[i].failed) return 0;
    return 1;
}

/* Until squeue lists no job of the protocol, or nothing runs, some job
 * can never start (what it waits on failed) and every other waits on a
 * dependency too. Seen twice in a row: just after a job ends, those that
 * wait on it show "Dependency" until the scheduler looks again. */
static td_status wait_for_jobs(const char *tag, int quiet)
{
    for (int stalled = 0;;) {
        slurm_job *q;
        int n, waiting = 0, stuck = 0;
        TD_CHECK(slurm_queue(tag, &q, &n));
        for (int i = 0; i < n; i++) {
            waiting += q[i].on_dependency && !q[i].running;
            stuck += q[i].stuck;
        }
        free(q);
        if (!n) return TD_OK;
        stalled = n == waiting && stuck ? stalled + 1 : 0;
        if (stalled == 2) {
            if (!quiet) printf("%d job(s) wait on ones that failed; run the same command again to resubmit\n", n);
            return TD_OK;
        }
        sleep(2);
    }
}

td_status slurm_submit(const protocol_request *r, const protocol_options *o, const slurm_config *c, int wait,
                       char root_hash[SHA256_HEX_LEN])
{
    root_hash[0] = '\0';
    /* each task opens the devices itself: cuda:all there means the GPUs
     * its job was given, which this node need not have */
    const char *dev = o->device ? o->device : "cpu";
    device_list devices;
    if (strcmp(dev, "cuda:all")) TD_CHECK(device_list_parse(dev, &devices));
    if (strchr(c->binary, '\'') || !c->binary[0])
        return TD_FAIL(TD_ERR_ARG, "slurm: the tsedarts binary path '%s' is empty or holds a quote", c->binary);
    TD_CHECK(protocol_prepare_tree(r, o->out_dir));
    TD_CHECK(slurm_dirs(o->out_dir));
    submitter sb;
    memset(&sb, 0, sizeof sb);
    sb.o = o;
    sb.c = c;
    if (!realpath(o->out_dir, sb.out)) return TD_FAIL(TD_ERR_IO, "%s: cannot resolve the path", o->out_dir);
    if (strchr(sb.out, '\'')) return TD_FAIL(TD_ERR_ARG, "slurm: the results path '%s' holds a quote", sb.out);
    TD_CHECK(slurm_tag(sb.out, sb.tag));
    int lock;
    TD_CHECK(slurm_lock(sb.out, "submit", &lock));
    protocol_run_info *runs = NULL;
    int n_runs = 0, any = 0;
    /* under the submission lock: no job of this tree starts meanwhile */
    td_status s = protocol_retry_failures(sb.out, o->quiet);
    if (s == TD_OK) s = protocol_tree_runs(sb.out, &runs, &n_runs);
    if (s == TD_OK) s = slurm_queue(sb.tag, &sb.queue, &sb.n_queue);
    if (s == TD_OK) s = drop_stuck(&sb);
    if (s == TD_OK && !all_finished(runs, n_runs)) s = submit_all(&sb, runs, n_runs, &any);
    slurm_unlock(lock);
    free(sb.queue);
    if (s == TD_OK && !any && !o->quiet && !all_finished(runs, n_runs))
        printf("nothing to submit: every unfinished run is queued or running (protocol status)\n");
    free(runs);
    runs = NULL;
    if (s == TD_OK && wait) s = wait_for_jobs(sb.tag, o->quiet);
    if (s == TD_OK) s = protocol_tree_runs(sb.out, &runs, &n_runs);
    if (s == TD_OK && all_finished(runs, n_runs)) s = protocol_report(o->out_dir, root_hash);
    int failed = 0;
    for (int i = 0; s == TD_OK && i < n_runs; i++) failed += runs[i].failed;
    if (s == TD_OK && failed)
        s = TD_FAIL(TD_ERR_STATE,
                    "protocol incomplete: %d run(s) failed or wait on one that failed (each failure.json says why); "
                    "run the same command again to try them again",
                    failed);
    free(runs);
    return s;
}

td_status slurm_cancel(const char *out_dir)
{
    /* a tree that ran here has no jobs to cancel: asking Slurm would only
     * print its errors about a controller this tree never used */
    char records[4400];
    TD_CHECK(path_format(records, sizeof records, "%s/slurm/submissions.jsonl", out_dir));
    if (!file_exists(records))
        return TD_FAIL(TD_ERR_STATE,
                       "%s holds no Slurm submissions (slurm/submissions.jsonl): its runs were not submitted with "
                       "--executor slurm, so there is no job to cancel; a `protocol run` executing here stops on "
                       "Ctrl-C or SIGTERM, at its next checkpoint",
                       out_dir);
    char tag[32];
    TD_CHECK(slurm_tag(out_dir, tag));
    slurm_job *q;
    int n;
    TD_CHECK(slurm_queue(tag, &q, &n));
    long ids[64];
    int k = 0;
    for (int i = 0; i < n && k < 64; i++) ids[k++] = q[i].id;
    free(q);
    printf("%d job(s) of %s cancelled\n", k, tag);
    return cancel_ids(out_dir, ids, k, "protocol cancel");
}
