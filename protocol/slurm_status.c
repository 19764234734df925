/* protocol status for a protocol submitted to Slurm: each run's state from
 * the results tree first (done, failed), then from squeue (running,
 * queued), then from the records (submitted, but its job ended without a
 * result: failed, cancelled or preempted; its log and checkpoint are kept). */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol_internal.h"
#include "slurm_internal.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

/* The last job the records say was submitted for a run (0: none). */
static long last_submission(json_t *records, const protocol_run_info *r)
{
    long id = 0;
    for (size_t i = 0; i < json_array_size(records); i++) {
        json_t *rec = json_array_get(records, i);
        const char *m = json_string_value(json_object_get(rec, "method"));
        const char *st = json_string_value(json_object_get(rec, "stage"));
        if (!m || !st || strcmp(m, r->method) || strcmp(st, protocol_stage_name(r->stage))) continue;
        json_t *tasks = json_object_get(rec, "tasks");
        for (size_t k = 0; k < json_array_size(tasks); k++)
            if (json_integer_value(json_array_get(tasks, k)) == r->task)
                id = (long)json_integer_value(json_object_get(rec, "job_id"));
    }
    return id;
}

static json_t *read_records(const char *out_dir)
{
    json_t *all = json_array();
    char path[4400], *text;
    if (path_format(path, sizeof path, "%s/slurm/submissions.jsonl", out_dir) != TD_OK || !file_exists(path) ||
        file_read_all(path, &text, NULL) != TD_OK)
        return all;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *rec = json_loads(l, 0, NULL);
        if (rec) json_array_append_new(all, rec);
    }
    free(text);
    return all;
}

td_status slurm_status(const char *out_dir)
{
    TD_CHECK(protocol_status(out_dir));
    protocol_run_info *runs;
    int n;
    TD_CHECK(protocol_tree_runs(out_dir, &runs, &n));
    char tag[32];
    slurm_job *q = NULL;
    int nq = 0;
    td_status s = slurm_tag(out_dir, tag);
    if (s == TD_OK && slurm_queue(tag, &q, &nq) != TD_OK) {
        printf("  (squeue did not answer: %s; states below are from the results tree only)\n", td_error_message());
        nq = 0;
    }
    json_t *records = read_records(out_dir);
    if (s == TD_OK) printf("runs (jobs named %s-*):\n", tag);
    for (int i = 0; s == TD_OK && i < n; i++) {
        const protocol_run_info *r = &runs[i];
        char state[256] = "planned";
        const slurm_job *live = NULL;
        for (int k = 0; k < nq; k++)
            if (q[k].kind == (int)r->stage && !strcmp(q[k].method, r->method) && (q[k].tasks & (1u << r->task)))
                live = &q[k];
        long last = last_submission(records, r);
        if (r->failed)
            snprintf(state, sizeof state, "failed (recorded in the run's failure.json, or what it needs failed)");
        else if (r->done)
            snprintf(state, sizeof state, "done");
        else if (live && (live->running & (1u << r->task)))
            snprintf(state, sizeof state, "running (job %ld_%d)", live->id, r->task);
        else if (live && live->stuck)
            snprintf(state, sizeof state, "queued (job %ld), but waits on a failed job: run again to resubmit", live->id);
        else if (live)
            snprintf(state, sizeof state, "queued (job %ld_%d)", live->id, r->task);
        else if (last)
            snprintf(state, sizeof state, "failed (job %ld_%d ended without a result; log in slurm/logs/, %s)", last,
                     r->task, r->checkpointed ? "resumes from its checkpoint" : "no checkpoint yet");
        printf("  %-10s %-6s %d  %-12.12s %s\n", r->method, protocol_stage_name(r->stage), r->task,
               r->hash[0] ? r->hash : "-", state);
    }
    /* the progress line, with the queue's word on what runs */
    int *running = s == TD_OK ? calloc((size_t)n + 1, sizeof *running) : NULL;
    for (int i = 0; running && i < n; i++)
        for (int k = 0; k < nq; k++)
            if (q[k].kind == (int)runs[i].stage && !strcmp(q[k].method, runs[i].method) &&
                (q[k].running & (1u << runs[i].task)) && !runs[i].done && !runs[i].failed)
                running[i] = 1;
    if (running) s = protocol_status_line(out_dir, running, stdout);
    free(running);
    json_decref(records);
    free(q);
    free(runs);
    return s;
}
