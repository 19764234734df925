/* Node-by-node comparison of one graph run on two backends or element
 * types: both runs start from the same inputs, and after every node the
 * outputs are compared; the first node beyond tolerance is named. */
#ifndef TSEDARTS_COMPARE_H
#define TSEDARTS_COMPARE_H

#include "tsedarts/backend.h"

typedef struct compare_side {
    const backend *be;
    dtype dt;
} compare_side;

typedef struct compare_result {
    int first_bad_node;    /* -1 when every node agreed */
    int nodes_compared;
    double worst_ratio;    /* max over nodes of err / (atol + rtol |ref|) */
    int worst_node;
    double max_abs_err;    /* max over compared elements of |a - b| */
    long values_differing; /* elements whose bits differ (as f64: -0 and +0 differ) */
    char message[512];     /* describes the first bad node */
} compare_result;

/* host[r] holds the initial contents of role r as f64 (NULL = zeros);
 * side b is the reference for the relative tolerance. Elements fail when
 * either side is NaN/Inf while the other is not, or when
 * |a - b| > atol + rtol * |b|. */
td_status compare_run(const graph *g, compare_side a, compare_side b, double *const host[ROLE_COUNT],
                      double rtol, double atol, compare_result *res);

#endif
