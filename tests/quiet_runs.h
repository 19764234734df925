/* A search or a retraining run quietly on a backend, as the tests start
 * them: resume and stop-after as the CLI's --resume and --stop-after. */
#ifndef TSEDARTS_TEST_QUIET_RUNS_H
#define TSEDARTS_TEST_QUIET_RUNS_H

#include "tsedarts/search.h"
#include "tsedarts/train.h"

td_status quiet_search(const backend *be, const search_config *c, const char *dir, int resume, long stop_units);
td_status quiet_train(const backend *be, const train_config *c, const char *dir, int resume, long stop_steps);

#endif
