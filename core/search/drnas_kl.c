/* DrNAS's optional regulariser (docs/numerics.md s.6.2, s.9.3): the sum
 * over rows of KL(Dir(beta) || Dir(1, ..., 1)), beta = ELU(alpha) + 1,
 * added to the architecture loss only. It depends on the alphas alone, so
 * its value and gradient are formed here on the host and the gradient is
 * added to the network's; no graph op is needed. */
#include <math.h>

#include "tsedarts/dirichlet_grad.h"
#include "tsedarts/drnas_search.h"

/* psi'(x) for x > 0: the recurrence up to x >= 6, then the asymptotic
 * series 1/x + 1/(2x^2) + sum B_2k / x^(2k+1) (error below 1e-13 there). */
static double trigamma(double x)
{
    double shift = 0;
    while (x < 6) {
        shift += 1 / (x * x);
        x += 1;
    }
    const double z = 1 / (x * x);
    return shift + 1 / x + z / 2 + (1.0 / 6 - (1.0 / 30 - (1.0 / 42 - z / 30) * z) * z) * z / x;
}

static double beta_of(double a) { return a > 0 ? a + 1 : exp(a); }

/* KL(Dir(b) || Dir(1)) = lnG(S) - sum lnG(b_i) - lnG(K) + sum (b_i - 1)(psi(b_i) - psi(S)) */
double drnas_kl(const double *alpha, int rows, int n_ops)
{
    double total = 0;
    for (int r = 0; r < rows; r++) {
        const double *a = alpha + (size_t)r * n_ops;
        double S = 0, sum = 0;
        for (int i = 0; i < n_ops; i++) S += beta_of(a[i]);
        const double psi_S = dirichlet_digamma(S);
        for (int i = 0; i < n_ops; i++) {
            double b = beta_of(a[i]);
            sum += -lgamma(b) + (b - 1) * (dirichlet_digamma(b) - psi_S);
        }
        total += lgamma(S) - lgamma((double)n_ops) + sum;
    }
    return total;
}

/* d KL / d b_j = (b_j - 1) psi'(b_j) - psi'(S) sum_i (b_i - 1), times
 * d b_j / d alpha_j = 1 or exp(alpha_j). */
void drnas_kl_add_grad(const double *alpha, int rows, int n_ops, double scale, double *grad)
{
    for (int r = 0; r < rows; r++) {
        const double *a = alpha + (size_t)r * n_ops;
        double S = 0, excess = 0;
        for (int i = 0; i < n_ops; i++) {
            double b = beta_of(a[i]);
            S += b;
            excess += b - 1;
        }
        const double t_S = trigamma(S);
        for (int j = 0; j < n_ops; j++) {
            double b = beta_of(a[j]);
            double d_beta = (b - 1) * trigamma(b) - t_S * excess;
            grad[(size_t)r * n_ops + j] += scale * d_beta * (a[j] > 0 ? 1 : exp(a[j]));
        }
    }
}
