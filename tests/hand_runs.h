/* The files a finished run leaves beside config.json and result.json, for
 * run directories made by hand (results chosen, not computed), so that a
 * hand-made tree passes verify's per-run checks as a computed one does. */
#ifndef TSEDARTS_TEST_HAND_RUNS_H
#define TSEDARTS_TEST_HAND_RUNS_H

#include "tsedarts/genotype.h"

/* Raw alphas (14 x 8 per cell, row-major) from which genotype_derive
 * gives g back: each chosen edge's op well above the rest, the first of a
 * node's pair stronger than the second. */
void hand_alphas(const genotype *g, double normal[], double reduce[]);

/* In run_dir: metrics.jsonl with the records config_json implies (with
 * made-up lr, train_loss and train_acc, and a search's cells, for the
 * report's plots), the last
 * carrying the hashes of weights.safetensors (a stand-in: plain
 * verify hashes it, never reads it) and, for a search (searched not NULL),
 * of alphas.safetensors holding hand_alphas(searched); a search also gets
 * its genotype.txt. */
td_status hand_run_files(const char *run_dir, const char *config_json, const genotype *searched);

#endif
