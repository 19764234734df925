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

/* The checks verify_tree makes on each run, on one run directory (a
 * protocol's, or a search's or training's --out; a run outside a protocol
 * tree has no manifest to check, and its directory is not named by its
 * config hash): hash chain, record count, final files against the log,
 * genotype against the alphas. */
td_status verify_run(const char *run_dir, FILE *out, verify_summary *sum);

/* Re-executes run_dir (a search or training run) from its config in a
 * private scratch directory, removed on every way out, for `epochs` epochs
 * (VERIFY_REPLAY_ALL: the whole run), and compares every metrics record
 * written, weight and alpha hashes included, bit for bit with the run's
 * log; the whole run also compares the log's length and the final files
 * (weights, alphas, genotype, result.json). On device (NULL: the device the
 * run's env.json records). Refuses (TD_ERR_UNSUPPORTED, saying why) when
 * the build, the machine or the device's description differs from the
 * run's, since bits are promised only on the same ones; devices of one
 * kind that differ only in their index ("cuda:1" for "cuda:0") are the
 * same. A stop request (SIGINT, SIGTERM) ends it with TD_ERR_INTERRUPTED. */
#define VERIFY_REPLAY_ALL (-1)
td_status verify_replay_epochs(const char *run_dir, const char *device, int epochs, FILE *out);
/* The first epoch: verify_replay_epochs(run_dir, device, 1, out). */
td_status verify_replay(const char *run_dir, const char *device, FILE *out);

/* Recomputes a finished retraining run's final evaluation (test error and
 * loss, and the held-out error when its config holds images out) from its
 * weights.safetensors, on the recorded device (or device, as for replay),
 * and compares it with result.json bit for bit; the weights must first be
 * those its metrics log ends with. Refuses (TD_ERR_UNSUPPORTED) where a
 * replay would, and for f64 runs, whose file holds f32 roundings. */
td_status verify_reevaluate(const char *run_dir, const char *device, FILE *out);

/* The protocol's arithmetic, written again for the audit (verify_stats.c)
 * and public so that tests can hold it to hand-computed cases. */

/* Index of the lowest error[k] among k with have[k] (k < n); a tie keeps
 * the lower index; -1 when no k has a value. */
int verify_select(const double *error, const int *have, int n);
/* Mean and sample standard deviation (divisor n - 1; 0 when n < 2). */
void verify_mean_std(const double *x, int n, double *mean, double *std);

#endif
