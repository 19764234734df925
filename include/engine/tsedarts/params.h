/* Parameter initialisation and per-role host buffers. */
#ifndef TSEDARTS_PARAMS_H
#define TSEDARTS_PARAMS_H

#include <stdint.h>

#include "tsedarts/graph.h"

/* Fills the weight, alpha and BN-stat buffers (host memory, element type
 * dt) as docs/numerics.md s.1.4 prescribes; parameter p draws from the Philox stream
 * (seed, init purpose, p), so the values do not depend on the backend. */
void params_init(const graph *g, uint64_t seed, dtype dt, void *weights, void *alphas, void *bnstats);

#endif
