/* DrNAS configurations: the reference's defaults, budgets that fit the
 * partial channels, and the checks a run makes before it starts. */
#include <string.h>

#include "tsedarts/drnas_search.h"
#include "tsedarts/space.h"

/* docs/numerics.md s.6.4 (DrNAS) and s.8.1 (TSE-DrNAS: the same, plus
 * `none` in the space). */
void drnas_config_defaults(search_config *c)
{
    c->net.C = 36;
    c->net.layers = 20;
    c->batch = 64;
    c->epochs = 50;
    c->lr_max = 0.1;
    c->lr_min = 0;
    c->momentum = 0.9;
    c->weight_decay = 3e-4;
    c->grad_clip = 5;
    c->arch_lr = 6e-4;
    c->arch_beta1 = 0.5;
    c->arch_beta2 = 0.999;
    c->arch_eps = 1e-8;
    c->arch_weight_decay = 1e-3;
    c->drnas_with_none = c->algo == ALGO_TSE_DRNAS;
    /* the intended TSE-DrNAS form restores everything after the rollout,
     * momentum included (the fork's functional copy never touches it) */
    c->tse_restore_momentum = c->algo == ALGO_TSE_DRNAS;
}

void drnas_config_budget(search_config *c, const budget *b)
{
    /* DrNAS searches at the evaluation depth (s.6.1: no depth gap) */
    c->net.layers = b->search.deep_layers;
    if (b->spec) {
        c->net.C = 36; /* docs/numerics.md s.6.1: the evaluation width */
    } else {
        int C = c->net.C < 12 ? 12 : c->net.C;
        c->net.C = (C + 11) / 12 * 12;
    }
    if (c->epochs < 2) c->epochs = 2;
    /* 10 of every 25 epochs, rounded down: none at the small budgets,
     * where a stage is an epoch or two and would otherwise never search */
    c->drnas_warmup = (c->epochs / 2) * 10 / 25;
}

td_status drnas_config_check(const search_config *c)
{
    if (c->drnas_reg == DRNAS_REG_KL && c->algo != ALGO_DRNAS)
        return TD_FAIL(TD_ERR_UNSUPPORTED,
                       "search: --drnas-reg kl is for drnas only (the TSE-DrNAS alpha gradient has no architecture loss)");
    if (c->net.space != SPACE_DARTS)
        return TD_FAIL(TD_ERR_ARG, "search: %s searches the DARTS space only", search_algo_name(c->algo));
    if (c->epochs < 2)
        return TD_FAIL(TD_ERR_ARG, "search: %s needs at least 2 epochs (one per stage)", search_algo_name(c->algo));
    for (int i = 0; i < 2; i++) {
        int kk = i ? c->drnas_k2 : c->drnas_k1;
        if (c->net.C % kk || (2 * c->net.C / kk) % 2)
            return TD_FAIL(TD_ERR_ARG,
                           "search: --channels %d does not split by --drnas-k%d %d (C must be a multiple of k, and "
                           "2C/k even); multiples of 12 work for 6 and 4",
                           c->net.C, i + 1, kk);
    }
    if (c->drnas_k2 > c->drnas_k1)
        return TD_FAIL(TD_ERR_ARG, "search: --drnas-k2 %d must not exceed --drnas-k1 %d (stage 2 widens the ops)",
                       c->drnas_k2, c->drnas_k1);
    int n_ops = c->drnas_with_none ? 8 : 7;
    if (c->drnas_keep > n_ops)
        return TD_FAIL(TD_ERR_ARG, "search: --drnas-keep %d exceeds the %d ops per edge", c->drnas_keep, n_ops);
    if (c->hessian_every)
        return TD_FAIL(TD_ERR_UNSUPPORTED,
                       "search: --hessian-every is not available for %s (the Dirichlet gradient has no derivative here)",
                       search_algo_name(c->algo));
    if (c->tse_analysis) return TD_FAIL(TD_ERR_UNSUPPORTED, "search: --tse-analysis is for tse and tse-exact only");
    if (c->tse_all_data) return TD_FAIL(TD_ERR_UNSUPPORTED, "search: --tse-data all is for tse and tse-exact only");
    return TD_OK;
}
