/* The Slurm executor's records in <out>/slurm/ (slurm_records.c). */
#ifndef TSEDARTS_SLURM_RECORDS_H
#define TSEDARTS_SLURM_RECORDS_H

#include <jansson.h>

#include "tsedarts/protocol.h"

/* Makes <out>/slurm/logs and <out>/slurm/locks. */
td_status slurm_dirs(const char *out_dir);
/* An exclusive lock (file_lock.h) on <out>/slurm/locks/<name>.lock, or TD_ERR_STATE
 * at once when another process holds it. */
td_status slurm_lock(const char *out_dir, const char *name, int *fd);
void slurm_unlock(int fd);
/* TD_OK unless a process holds one of <out>/slurm/locks/ (a Slurm job
 * running a run, or a submission under way): then TD_ERR_STATE naming the
 * lock, for a local writer that must not share the tree with them. */
td_status slurm_locks_idle(const char *out_dir);
void slurm_utc_now(char buf[32]);
/* Appends rec's fields, after "prev" and "time", to submissions.jsonl and
 * rewrites the directory's manifest. */
td_status slurm_record(const char *out_dir, json_t *rec);

#endif
