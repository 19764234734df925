/* Gamma draws by Marsaglia and Tsang ("A simple method for generating gamma
 * variables", 2000), the method PyTorch's Dirichlet sampler uses too, on the
 * project's Philox streams. */
#include "tsedarts/gamma_draws.h"

#include <float.h>
#include <math.h>

#include "tsedarts/philox.h"

static double gamma_one(philox_stream *s, double beta)
{
    /* For beta < 1 the method's acceptance test fails; Gamma(beta) is
     * Gamma(beta + 1) U^(1/beta). */
    double scale = 1;
    if (beta < 1) {
        scale = pow(philox_next_uniform_f64(s), 1 / beta);
        beta += 1;
    }
    const double d = beta - 1.0 / 3.0, c = 1 / sqrt(9 * d);
    for (;;) {
        double z, y;
        do {
            z = philox_next_normal(s);
            y = 1 + c * z;
        } while (y <= 0);
        const double v = y * y * y;
        const double u = philox_next_uniform_f64(s);
        const double z2 = z * z;
        if (u < 1 - 0.0331 * z2 * z2 || log(u) < 0.5 * z2 + d * (1 - v + log(v))) {
            double r = scale * d * v;
            return r < FLT_MIN ? FLT_MIN : r;
        }
    }
}

int gamma_draws(uint64_t seed, uint64_t pass, const double *beta, size_t n, double *out)
{
    if (n > GAMMA_DRAWS_MAX_ENTRIES || pass > UINT64_MAX / GAMMA_DRAWS_MAX_ENTRIES) return -1;
    for (size_t i = 0; i < n; i++)
        if (!(beta[i] > 0) || !isfinite(beta[i])) return -1;
    for (size_t i = 0; i < n; i++) {
        philox_stream s;
        philox_stream_init(&s, seed, PURPOSE_DIRICHLET, pass * GAMMA_DRAWS_MAX_ENTRIES + i);
        out[i] = gamma_one(&s, beta[i]);
    }
    return 0;
}
