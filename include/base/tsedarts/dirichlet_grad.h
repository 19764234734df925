/* The Dirichlet pathwise gradient as PyTorch's Dirichlet.rsample defines
 * it (docs/numerics.md s.9.2), for the CPU and the CUDA kernels alike:
 * header-only, every function callable on the host and on the device.
 *
 * For a sample x of Dirichlet(beta) with S = sum(beta), component j is
 * Beta(beta_j, S - beta_j) distributed, and the gradient PyTorch uses is
 *   D_j = -(d/d beta_j) F_Beta(x_j; beta_j, S - beta_j) / f_Beta(x_j; ...) / (1 - x_j)
 * with S - beta_j held fixed; then dx/dbeta_j = D_j (e_j - x). D has no
 * closed form: four approximations cover the plane, chosen by the same
 * tests and built from the same coefficients as PyTorch's, so the gradient
 * is the one DrNAS trained with. Everything here runs in double whatever
 * the tensors' element type: the approximations' own error (1e-3 relative
 * and below, see test_dirichlet) dominates any rounding. */
#ifndef TSEDARTS_DIRICHLET_GRAD_H
#define TSEDARTS_DIRICHLET_GRAD_H

#include <math.h>

#if defined(__CUDACC__)
#define TD_HOSTDEV __host__ __device__
#else
#define TD_HOSTDEV
#endif

/* The approximation regimes, in the order they are tried. */
enum dirichlet_regime {
    DIRICHLET_SMALL_X = 0, /* x <= 1/2 and S x (1-x) < 2.5: series in x */
    DIRICHLET_LARGE_X = 1, /* x >= 1/2 and S x (1-x) < 0.75: series in 1 - x */
    DIRICHLET_MID = 2,     /* beta_j > 6 and S - beta_j > 6: saddle point */
    DIRICHLET_RATIONAL = 3 /* otherwise: rational correction of a digamma form */
};
#define DIRICHLET_REGIMES 4

/* Digamma for x > 0 (the only arguments used here): the recurrence up to
 * x >= 10, then the asymptotic series in 1/x^2 (Cephes' coefficients). */
static TD_HOSTDEV inline double dirichlet_digamma(double x)
{
    if (x == 0) return INFINITY;
    double shift = 0;
    while (x < 10) {
        shift -= 1 / x;
        x += 1;
    }
    if (x == 10) return shift + 2.25175258906672110764; /* psi(10) */
    double tail = 0;
    if (x < 1e17) {
        const double z = 1 / (x * x);
        /* Bernoulli-number coefficients, highest power first */
        tail = ((((((8.33333333333333333333E-2 * z - 2.10927960927960927961E-2) * z + 7.57575757575757575758E-3) * z -
                   4.16666666666666666667E-3) * z + 3.96825396825396825397E-3) * z - 8.33333333333333333333E-3) * z +
                8.33333333333333333333E-2) * z;
    }
    return shift + log(x) - 0.5 / x - tail;
}

static TD_HOSTDEV inline int dirichlet_grad_regime(double x, double a, double total)
{
    double b = total - a, boundary = total * x * (1 - x);
    if (x <= 0.5 && boundary < 2.5) return DIRICHLET_SMALL_X;
    if (x >= 0.5 && boundary < 0.75) return DIRICHLET_LARGE_X;
    if (a > 6 && b > 6) return DIRICHLET_MID;
    return DIRICHLET_RATIONAL;
}

/* d/da of the Beta(a, b) CDF at x near 0, scaled: the CDF's power series
 * in x differentiated term by term (ten terms). A NaN (an overflowed
 * power) counts as no gradient, as in PyTorch. */
static TD_HOSTDEV inline double dirichlet_grad_small_x(double x, double a, double b)
{
    const double factor = dirichlet_digamma(a) - dirichlet_digamma(a + b) - log(x);
    double coef = 1, sum = (factor + 1 / a) / a;
    for (int i = 1; i <= 10; i++) {
        coef *= (i - b) * x / i;
        const double d = a + i;
        sum += coef / d * (factor + 1 / d);
    }
    const double r = x * pow(1 - x, -b) * sum;
    return isnan(r) ? 0.0 : r;
}

/* The mirror image for x near 1: with y = 1 - x, the gradient with
 * respect to the second parameter of Beta(b, a) at y (eight terms),
 * negated. */
static TD_HOSTDEV inline double dirichlet_grad_large_x(double x, double a, double b)
{
    const double y = 1 - x; /* Beta(b, a) at y; the series differentiates in a */
    const double factor = dirichlet_digamma(a + b) - dirichlet_digamma(a);
    double coef = 1, prod = 1, dprod = 0, sum = factor / b;
    for (int i = 1; i <= 8; i++) {
        coef *= -y / i;
        dprod = dprod * (a - i) + prod; /* d/da of prod_{k<=i} (a - k) */
        prod *= a - i;
        sum += coef / (b + i) * (dprod + factor * prod);
    }
    const double r = -pow(1 - y, 1 - a) * sum;
    return isnan(r) ? 0.0 : -r;
}

/* Both parameters large: Rice's saddle-point expansion, and a polynomial
 * within a tenth of a standard deviation of the mean, where the expansion
 * is singular. */
static TD_HOSTDEV inline double dirichlet_grad_mid(double x, double a, double b)
{
    const double total = a + b, mean = a / total;
    const double sd = sqrt(a * b / (total + 1)) / total;
    if (mean - 0.1 * sd <= x && x <= mean + 0.1 * sd) {
        const double b2 = b * b;
        const double poly =
            47 * x * b2 * b2 +
            a * ((43 + 20 * (16 + 27 * b) * x) * b2 * b +
                 a * (3 * (59 + 180 * b - 90 * x) * b2 +
                      a * ((453 + 1620 * b * (1 - x) - 455 * x) * b + a * (8 * (1 - x) * (135 * b - 11)))));
        const double num = (1 + 12 * a) * (1 + 12 * b) / (total * total);
        const double den = 12960 * a * a * a * b2 * (1 + 12 * total);
        return num / (1 - x) * poly / den;
    }
    const double stirling = (1 + 1 / (12 * a) + 1 / (288 * a * a)) * (1 + 1 / (12 * b) + 1 / (288 * b * b)) /
                            (1 + 1 / (12 * total) + 1 / (288 * total * total));
    const double axbx = a * (x - 1) + b * x;
    const double t1 = (2 * a * a * (x - 1) + a * b * (x - 1) - x * b * b) /
                      (sqrt(2 * a / b) * pow(total, 1.5) * axbx * axbx);
    const double t2 = 0.5 * log(a / (total * x));
    const double t3 = sqrt(8 * a * b / total) / axbx;
    const double t4 = pow(b * log(b / (total * (1 - x))) + a * log(a / (total * x)), -1.5);
    const double prefactor = -x / sqrt(2 * a * b / total);
    return stirling * prefactor * (t1 + t2 * (t3 + (x < mean ? t4 : -t4)));
}

/* Elsewhere: x (psi(S) - psi(a)) / b, the gradient's form for small
 * concentrations, times a fitted rational function p/q of u = log x,
 * v = log a - u and w = log S - v, each cubic in w with coefficients
 * quadratic in u and v. */
static TD_HOSTDEV inline double dirichlet_grad_rational(double x, double a, double total)
{
    /* [p or q][power of u][power of v][power of w] */
    const double c[2][3][3][4] = {
        {{{1.003668233, -0.01061107488, -0.0657888334, 0.01201642863},
          {0.6336835991, -0.3557432599, 0.05486251648, -0.001465281033},
          {-0.03276231906, 0.004474107445, 0.002429354597, -0.0001557569013}},
         {{0.221950385, -0.3187676331, 0.01799915743, 0.01074823814},
          {-0.2951249643, 0.06219954479, 0.01535556598, 0.001550077057},
          {0.02155310298, 0.004170831599, 0.001292462449, 6.976601077e-05}},
         {{-0.05980841433, 0.008441916499, 0.01085618172, 0.002319392565},
          {0.02911413504, 0.01400243777, -0.002721828457, 0.000751041181},
          {0.005900514878, -0.001936558688, -9.495446725e-06, 5.385558597e-05}}},
        {{{1, -0.02924021934, -0.04438342661, 0.007285809825},
          {0.6357567472, -0.3473456711, 0.05454656494, -0.002407477521},
          {-0.03301322327, 0.004845219414, 0.00231480583, -0.0002307248149}},
         {{0.5925320577, -0.1757678135, 0.01505928619, 0.000564515273},
          {0.1014815858, -0.06589186703, 0.01272886114, -0.0007316646956},
          {-0.007258481865, 0.001096195486, 0.0003934994223, -4.12701925e-05}},
         {{0.06469649321, -0.0236701437, 0.002902096474, -5.896963079e-05},
          {0.001925008108, -0.002869809258, 0.0008000589141, -6.063713228e-05},
          {-0.0003477407336, 6.959756487e-05, 1.097287507e-05, -1.650964693e-06}}},
    };
    const double u = log(x), v = log(a) - u, w = log(total) - v;
    const double pu[3] = {1, u, u * u}, pv[3] = {1, v, v * v};
    double pq[2] = {0, 0};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                const double *cc = c[k][i][j];
                pq[k] += pu[i] * pv[j] * (cc[0] + w * (cc[1] + w * (cc[2] + w * cc[3])));
            }
    const double base = x * (dirichlet_digamma(total) - dirichlet_digamma(a)) / (total - a);
    return pq[0] / pq[1] * base;
}

/* D for one component: sample x, its concentration a, the row's total S. */
static TD_HOSTDEV inline double dirichlet_grad_one(double x, double a, double total)
{
    const double b = total - a;
    switch (dirichlet_grad_regime(x, a, total)) {
    case DIRICHLET_SMALL_X: return dirichlet_grad_small_x(x, a, b);
    case DIRICHLET_LARGE_X: return dirichlet_grad_large_x(x, a, b);
    case DIRICHLET_MID: return dirichlet_grad_mid(x, a, b);
    default: return dirichlet_grad_rational(x, a, total);
    }
}

#endif
