/* Selection and summary statistics, docs/numerics.md s.5, for the audit. */
#include <math.h>

#include "tsedarts/verify.h"

int verify_select(const double *error, const int *have, int n)
{
    int best = -1;
    for (int k = 0; k < n; k++) {
        if (!have[k]) continue; /* a failed selection run cannot be chosen */
        /* strictly lower, so the first of equal errors stays chosen */
        if (best < 0 || error[k] < error[best]) best = k;
    }
    return best;
}

void verify_mean_std(const double *x, int n, double *mean, double *std)
{
    double sum = 0;
    for (int i = 0; i < n; i++) sum += x[i];
    double m = n > 0 ? sum / n : 0;
    /* second pass over deviations from the mean: no cancellation from
     * subtracting two large sums of squares */
    double dev2 = 0;
    for (int i = 0; i < n; i++) dev2 += (x[i] - m) * (x[i] - m);
    *mean = m;
    *std = n > 1 ? sqrt(dev2 / (n - 1)) : 0;
}
