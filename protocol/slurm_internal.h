/* Shared by the Slurm executor's files; not a public interface. */
#ifndef TSEDARTS_SLURM_INTERNAL_H
#define TSEDARTS_SLURM_INTERNAL_H

#include "tsedarts/protocol_slurm.h"

/* Runs argv (argv[0] looked up in PATH) without a shell; its stdout is
 * returned in *out (malloc'd, NUL-terminated; NULL: discarded), its stderr
 * goes to ours. *code is its exit status (-1: did not start or exit). */
td_status slurm_program(const char *const *argv, char **out, int *code);

/* A job of this protocol that squeue lists. */
typedef struct slurm_job {
    long id;                  /* the array's job ID */
    char method[32];          /* "" for the report job */
    int kind;                 /* a protocol_stage, or PROTOCOL_STAGES for the report */
    unsigned tasks;           /* bit k: task k is listed */
    unsigned running;         /* bit k: task k is running */
    int stuck;                /* pending on a dependency that can never be met */
    int on_dependency;        /* pending on a dependency (met later, or never) */
} slurm_job;

/* The name every job of the protocol in out_dir carries as a prefix:
 * "tsedarts-" and 12 hex digits of the SHA-256 of the directory's real
 * path, so two submissions of the same plan there see each other's jobs. */
td_status slurm_tag(const char *out_dir, char tag[32]);

/* The jobs squeue lists under tag; *n may be 0. Rows of a running task
 * and its array's pending rest are merged into one job. */
td_status slurm_queue(const char *tag, slurm_job **jobs, int *n);

#endif
