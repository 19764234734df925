/* Flat-buffer operations of the CPU backend (optimisers, norms, copies). */
#include <stdlib.h>

#include "ref_template.h"

#define REAL float
#define FN(name) name##_f32
#define RX(fn) fn##f
#include "flat_impl.h"
#undef REAL
#undef FN
#undef RX

#define REAL double
#define FN(name) name##_f64
#define RX(fn) fn
#include "flat_impl.h"
#undef REAL
#undef FN
#undef RX

#define DISPATCH(call32, call64) \
    do {                         \
        if (dt == DT_F64)        \
            call64;              \
        else                     \
            call32;              \
    } while (0)

td_status ref_flat_copy(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
    return TD_OK;
}

td_status ref_flat_axpy(void *y, const void *x, size_t n, dtype dt, double a)
{
    DISPATCH(flat_axpy_f32(y, x, n, a), flat_axpy_f64(y, x, n, a));
    return TD_OK;
}

td_status ref_flat_scale(void *x, size_t n, dtype dt, double s)
{
    DISPATCH(flat_scale_f32(x, n, s), flat_scale_f64(x, n, s));
    return TD_OK;
}

td_status ref_flat_sum_squares(const void *x, size_t n, dtype dt, double *out)
{
    DISPATCH(*out = flat_sum_squares_f32(x, n), *out = flat_sum_squares_f64(x, n));
    return TD_OK;
}

td_status ref_sgd_step(void *w, const void *g, void *buf, size_t n, dtype dt, double lr, double momentum, double wd,
                       int nesterov)
{
    DISPATCH(sgd_step_f32(w, g, buf, n, lr, momentum, wd, nesterov),
             sgd_step_f64(w, g, buf, n, lr, momentum, wd, nesterov));
    return TD_OK;
}

td_status ref_adam_step(void *p, const void *g, void *m, void *v, size_t n, dtype dt, double lr, double beta1,
                        double beta2, double eps, double wd, long step)
{
    DISPATCH(adam_step_f32(p, g, m, v, n, lr, beta1, beta2, eps, wd, step),
             adam_step_f64(p, g, m, v, n, lr, beta1, beta2, eps, wd, step));
    return TD_OK;
}
