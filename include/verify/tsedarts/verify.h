/* Audit of a protocol results tree (`tsedarts verify`). */
#ifndef TSEDARTS_VERIFY_H
#define TSEDARTS_VERIFY_H

#include <stdio.h>

#include "tsedarts/hash.h"

typedef struct verify_summary {
    int checks, failed;
    char root_hash[SHA256_HEX_LEN];
} verify_summary;

/* Runs every check on dir, printing one line per check to out; expect_root
 * (or NULL) is the published root hash to compare with. Returns TD_OK only
 * when all pass. */
td_status verify_tree(const char *dir, const char *expect_root, FILE *out, verify_summary *sum);

/* Re-executes the first epoch of run_dir (a search or training run) from its
 * config in a scratch directory and compares the first metrics record bit
 * for bit, on device (NULL: the device the run's env.json records).
 * Refuses (TD_ERR_UNSUPPORTED, saying why) when the build, the machine or
 * the device's description differs from the run's, since bits are promised
 * only on the same ones; devices of one kind that differ only in their
 * index ("cuda:1" for "cuda:0") are the same. */
td_status verify_replay(const char *run_dir, const char *device, FILE *out);

/* The protocol's arithmetic, written again for the audit (verify_stats.c)
 * and public so that tests can hold it to hand-computed cases. */

/* Index of the lowest error[k] among k with have[k] (k < n); a tie keeps
 * the lower index; -1 when no k has a value. */
int verify_select(const double *error, const int *have, int n);
/* Mean and sample standard deviation (divisor n - 1; 0 when n < 2). */
void verify_mean_std(const double *x, int n, double *mean, double *std);

#endif
