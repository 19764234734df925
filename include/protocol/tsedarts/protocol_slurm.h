/* The protocol on a Slurm cluster: the plan submitted as job arrays whose
 * dependencies follow its stages, each task running one planned run
 * (`protocol run-one`) in a results directory every node shares. What was
 * submitted, when and with which sbatch line is kept in <out>/slurm/. */
#ifndef TSEDARTS_PROTOCOL_SLURM_H
#define TSEDARTS_PROTOCOL_SLURM_H

#include "tsedarts/protocol.h"

/* Resources of one kind of job; "" or 0: left to the site's defaults. */
typedef struct slurm_resources {
    int cpus;       /* --cpus-per-task, and the threads of the run */
    char mem[32];   /* --mem, e.g. 4G */
    char time[32];  /* --time, e.g. 2:00:00 */
    int gpus;       /* --gres=gpu:N; with --device cuda at least 1 */
} slurm_resources;

#define SLURM_KINDS (PROTOCOL_STAGES + 1) /* the stages, then the report job */

typedef struct slurm_config {
    char partition[128];
    char account[128];
    char extra[1024];   /* more sbatch options, split at spaces */
    char binary[4096];  /* the tsedarts every node runs; default: this one */
    slurm_resources res[SLURM_KINDS];
} slurm_config;

/* Defaults: one CPU per job, nothing else asked of the site. */
void slurm_config_defaults(slurm_config *c);
/* Reads "key = value" lines ('#' starts a comment): partition, account,
 * extra, binary, and cpus, mem, time, gpus, each alone (every kind) or
 * after "search.", "select.", "final." or "report.". */
td_status slurm_config_read(slurm_config *c, const char *path);
/* One key as in the file (flags use the same names). */
td_status slurm_config_set(slurm_config *c, const char *key, const char *value);

/* Submits what is neither done nor queued; with nothing left, writes the
 * report and sets root_hash (else it is ""). With `wait`, returns when no
 * job of the protocol is queued or running, root_hash set if it finished. */
td_status slurm_submit(const protocol_request *r, const protocol_options *o, const slurm_config *c, int wait,
                       char root_hash[SHA256_HEX_LEN]);
/* Each run: planned, queued, running (job ID), done or failed. */
td_status slurm_status(const char *out_dir);
/* Cancels every job of the protocol in out_dir (one scancel). */
td_status slurm_cancel(const char *out_dir);

#endif
