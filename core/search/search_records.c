/* How long a finished search's metrics log must be, from its config alone
 * (and the size of its training set): an audit can then tell a log that
 * was cut short or padded from a complete one. */
#include "tsedarts/search_internal.h"

td_status search_expected_records(const search_config *c, int train_images, long *records)
{
    int split, n_w, n_a;
    TD_CHECK(search_half_sizes(c, train_images, &split, &n_w, &n_a));
    if (c->batch < 1 || c->epochs < 0) return TD_FAIL(TD_ERR_ARG, "search config: batch %d, epochs %d", c->batch, c->epochs);
    long steps = (n_w + c->batch - 1) / c->batch;
    /* with tse_analysis, each group of tse_steps steps logs its gradient
     * comparison (search_tse.c); the last group of an epoch may be short */
    int analysed = c->tse_analysis && (c->algo == ALGO_TSE || c->algo == ALGO_TSE_EXACT);
    if (analysed && c->tse_steps < 1) return TD_FAIL(TD_ERR_ARG, "search config: tse_steps %d", c->tse_steps);
    long groups = analysed ? (steps + c->tse_steps - 1) / c->tse_steps : 0;
    *records = (long)c->epochs * (1 + groups);
    /* PDARTS: every stage's epochs, and one record per stage end but the last */
    if (search_algo_staged(c->algo)) *records = (long)search_total_epochs(c) + PDARTS_STAGES - 1;
    return TD_OK;
}

td_status search_epoch_sizes(const search_config *c, int train_images, int *steps, int *eval_images)
{
    int split, n_w, n_a;
    TD_CHECK(search_half_sizes(c, train_images, &split, &n_w, &n_a));
    if (c->batch < 1) return TD_FAIL(TD_ERR_ARG, "search config: batch %d", c->batch);
    *steps = (n_w + c->batch - 1) / c->batch;
    /* evaluate() scores the first eval_images of the validation half */
    *eval_images = c->eval_images < 0 || c->eval_images > n_a ? n_a : c->eval_images;
    return TD_OK;
}
