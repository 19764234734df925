#include "tsedarts/params.h"

#include <math.h>

#include "tsedarts/philox.h"

static void store(dtype dt, void *base, size_t i, double v)
{
    if (dt == DT_F64)
        ((double *)base)[i] = v;
    else
        ((float *)base)[i] = (float)v;
}

void params_init(const graph *g, uint64_t seed, dtype dt, void *weights, void *alphas, void *bnstats)
{
    for (int p = 0; p < g->n_params; p++) {
        const param *pr = &g->params[p];
        void *base = pr->role == ROLE_WEIGHT ? weights : pr->role == ROLE_ALPHA ? alphas : bnstats;
        if (!base) continue;
        size_t n = shape_numel(pr->shape);
        philox_stream s;
        philox_stream_init(&s, seed, pr->init == INIT_ALPHA ? PURPOSE_ALPHA_INIT : PURPOSE_INIT, (uint64_t)p);
        double bound = pr->fan_in > 0 ? 1.0 / sqrt((double)pr->fan_in) : 0.0;
        for (size_t i = 0; i < n; i++) {
            double v = 0.0;
            switch (pr->init) {
            case INIT_UNIFORM_FAN_IN: v = bound * (2.0 * philox_next_uniform_f64(&s) - 1.0); break;
            case INIT_ONES: v = 1.0; break;
            case INIT_ZEROS: v = 0.0; break;
            case INIT_ALPHA: v = 1e-3 * philox_next_normal(&s); break;
            }
            store(dt, base, pr->offset + i, v);
        }
    }
}
