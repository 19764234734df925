/* A search or a retraining run quietly on a backend, as the tests start
 * them: resume and stop-after as the CLI's --resume and --stop-after. */
#ifndef TSEDARTS_TEST_QUIET_RUNS_H
#define TSEDARTS_TEST_QUIET_RUNS_H

#include "tsedarts/search.h"
#include "tsedarts/train.h"

td_status quiet_search(const backend *be, const search_config *c, const char *dir, int resume, long stop_units);
td_status quiet_train(const backend *be, const train_config *c, const char *dir, int resume, long stop_steps);

/* The smallest search the run tests use: C = 4, 3 cells, batch 8, 2
 * epochs of 5 steps on 36 synthetic images (the last batch holds 4), 16
 * evaluation images, TSE groups of 3 steps. */
void quiet_tiny_search_config(search_config *c, search_algo algo);

/* Expects each named file of directory a to equal b's byte for byte; a
 * difference is reported as "<name> differs between <between>". */
void expect_same_run_files(const char *a, const char *b, const char *const *names, const char *between);

#endif
