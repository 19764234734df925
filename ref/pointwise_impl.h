/* Elementwise primitives: independent per element, so any split is exact. */

td_status FN(ref_relu)(const kernel_args *a)
{
#if REAL_IS_F32
    if (a->normed) return ref_relu_normed_f32(a);
#endif
    const REAL *x = IN(0);
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
    return TD_OK;
}

td_status FN(ref_relu_bwd)(const kernel_args *a)
{
#if REAL_IS_F32
    if (a->normed) return ref_relu_bwd_normed_f32(a);
#endif
    const REAL *x = IN(0), *g = IN(1);
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? g[i] : 0;
    return TD_OK;
}

td_status FN(ref_softplus)(const kernel_args *a)
{
    const REAL *x = IN(0);
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
    /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|. */
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        REAL v = x[i];
        y[i] = (v > 0 ? v : 0) + RX(log1p)(RX(exp)(-RX(fabs)(v)));
    }
    return TD_OK;
}

td_status FN(ref_sigmoid)(const kernel_args *a)
{
    const REAL *x = IN(0);
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        REAL v = x[i];
        if (v >= 0) {
            y[i] = 1 / (1 + RX(exp)(-v));
        } else {
            REAL e = RX(exp)(v);
            y[i] = e / (1 + e);
        }
    }
    return TD_OK;
}

td_status FN(ref_exp)(const kernel_args *a)
{
    const REAL *x = IN(0);
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = RX(exp)(x[i]);
    return TD_OK;
}

td_status FN(ref_powadd)(const kernel_args *a)
{
    const REAL *x = IN(0);
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
    REAL eps = (REAL)P->a, pw = (REAL)P->b;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = RX(pow)(x[i] + eps, pw);
    return TD_OK;
}

td_status FN(ref_axpby)(const kernel_args *a)
{
    const REAL *x = IN(0);
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
    REAL s = (REAL)P->a, t = (REAL)P->b;
    if (a->nin == 1) {
        if (s == 1) {
            memcpy(y, x, n * sizeof *y);
            return TD_OK;
        }
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) y[i] = s * x[i];
        return TD_OK;
    }
    const REAL *z = IN(1);
    if (s == 1 && t == 1) {
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) y[i] = x[i] + z[i];
    } else {
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
        for (size_t i = 0; i < n; i++) y[i] = s * x[i] + t * z[i];
    }
    return TD_OK;
}

td_status FN(ref_mul)(const kernel_args *a)
{
    const REAL *x = IN(0), *z = IN(1);
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] * z[i];
    return TD_OK;
}

td_status FN(ref_fill)(const kernel_args *a)
{
    REAL v = IN(0)[0];
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
    for (size_t i = 0; i < n; i++) y[i] = v;
    return TD_OK;
}

td_status FN(ref_const)(const kernel_args *a)
{
    REAL v = (REAL)P->a;
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
    if (v == 0) {
        memset(y, 0, n * sizeof *y);
        return TD_OK;
    }
    for (size_t i = 0; i < n; i++) y[i] = v;
    return TD_OK;
}

td_status FN(ref_elu)(const kernel_args *a)
{
    const REAL *x = IN(0);
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
    /* expm1: e^x - 1 without cancellation near 0 */
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : RX(expm1)(x[i]);
    return TD_OK;
}

td_status FN(ref_dropout)(const kernel_args *a)
{
    const REAL *x = IN(0), *m = IN(1);
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
    const REAL keep_scale = (REAL)(1.0 / (1.0 - P->a));
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] * m[i] * keep_scale;
    return TD_OK;
}
