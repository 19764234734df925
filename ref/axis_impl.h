/* Reductions and broadcasts that keep one axis: AXIS_C keeps channels
 * (sums over N, H, W, as batch norm needs), AXIS_N keeps samples (sums over
 * C, H, W: row sums of matrices, per-sample drop-path scaling). Sums run
 * n-major, then over the plane, whatever the thread count. */

#ifndef AXIS_HELPERS_DEFINED
#define AXIS_HELPERS_DEFINED
/* Element e of a tensor shaped s belongs to kept index
 * (axis C) (e / hw) % C, or (axis N) e / (C hw). */
static inline size_t axis_index(shape4 s, int axis, size_t e)
{
    size_t hw = (size_t)s.h * s.w;
    return axis == AXIS_C ? (e / hw) % (size_t)s.c : e / (hw * (size_t)s.c);
}
#endif

/* acc = sum over the elements of kept index j of f(a, b) */
#define AXIS_REDUCE(s, axis, j, EXPR, acc)                                          \
    do {                                                                        \
        size_t hw_ = (size_t)(s).h * (s).w;                                      \
        if ((axis) == AXIS_C) {                                                  \
            for (int n_ = 0; n_ < (s).n; n_++) {                                 \
                size_t base_ = ((size_t)n_ * (s).c + (j)) * hw_;                 \
                for (size_t i_ = base_; i_ < base_ + hw_; i_++) acc += (EXPR);   \
            }                                                                    \
        } else {                                                                 \
            size_t base_ = (size_t)(j) * (s).c * hw_;                            \
            for (size_t i_ = base_; i_ < base_ + (size_t)(s).c * hw_; i_++)      \
                acc += (EXPR);                                                   \
        }                                                                        \
    } while (0)

td_status FN(ref_sum_axis)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (axis_f32_fast(a, &fast)) return fast;
#endif
    shape4 s = a->in_shape[0];
    const REAL *x = IN(0);
    REAL *y = OUT;
    int K = P->axis == AXIS_C ? s.c : s.n;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int j = 0; j < K; j++) {
        REAL acc = 0;
        AXIS_REDUCE(s, P->axis, j, x[i_], acc);
        y[j] = acc;
    }
    return TD_OK;
}

td_status FN(ref_dot_axis)(const kernel_args *a)
{
#if REAL_IS_F32
    td_status fast;
    if (axis_f32_fast(a, &fast)) return fast;
#endif
    shape4 s = a->in_shape[0];
    const REAL *x = IN(0), *z = IN(1);
    REAL *y = OUT;
    int K = P->axis == AXIS_C ? s.c : s.n;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int j = 0; j < K; j++) {
        REAL acc = 0;
        AXIS_REDUCE(s, P->axis, j, x[i_] * z[i_], acc);
        y[j] = acc;
    }
    return TD_OK;
}

td_status FN(ref_bn_running_update)(const kernel_args *a)
{
    const REAL *m = IN(0), *v = IN(1);
    REAL *rm = (REAL *)a->in[2], *rv = (REAL *)a->in[3];
    size_t n = shape_numel(a->in_shape[0]);
    REAL mom = (REAL)P->a;
    REAL unbias = (REAL)(P->b / (P->b - 1.0));
    for (size_t c = 0; c < n; c++) {
        rm[c] = (1 - mom) * rm[c] + mom * m[c];
        rv[c] = (1 - mom) * rv[c] + mom * (v[c] * unbias);
    }
    return TD_OK;
}

td_status FN(ref_bcast_axis)(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const REAL *v = IN(0);
    REAL *y = OUT;
    size_t n = shape_numel(s);
    int axis = P->axis;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t e = 0; e < n; e++) y[e] = v[axis_index(s, axis, e)];
    return TD_OK;
}

td_status FN(ref_scale_axis)(const kernel_args *a)
{
#if REAL_IS_F32
    if (a->normed) return ref_scale_axis_normed_f32(a);
#endif
    shape4 s = a->out_shape;
    const REAL *x = IN(0), *v = IN(1);
    REAL *y = OUT;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
    int axis = P->axis;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        REAL f = axis == AXIS_C ? v[pl % (size_t)s.c] : v[pl / (size_t)s.c];
        for (size_t i = pl * hw; i < (pl + 1) * hw; i++) y[i] = x[i] * f;
    }
    return TD_OK;
}

td_status FN(ref_lincomb_axis)(const kernel_args *a)
{
#if REAL_IS_F32
    if (a->normed) return ref_lincomb_axis_normed_f32(a);
#endif
    shape4 s = a->out_shape;
    const REAL *u = IN(0), *v = IN(1), *ca = IN(2), *cb = IN(3), *ce = IN(4);
    REAL *y = OUT;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
    int axis = P->axis;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        size_t j = axis == AXIS_C ? pl % (size_t)s.c : pl / (size_t)s.c;
        REAL fa = ca[j], fb = cb[j], fe = ce[j];
        for (size_t i = pl * hw; i < (pl + 1) * hw; i++) y[i] = (fa * u[i] + fb * v[i]) + fe;
    }
    return TD_OK;
}

td_status FN(ref_affine_axis)(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const REAL *x = IN(0), *sc = IN(1), *b = a->nin > 2 ? IN(2) : NULL;
    REAL *y = OUT;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
    int axis = P->axis;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        size_t j = axis == AXIS_C ? pl % (size_t)s.c : pl / (size_t)s.c;
        REAL f = sc[j];
        if (b) {
            REAL o = b[j];
            for (size_t i = pl * hw; i < (pl + 1) * hw; i++) y[i] = x[i] * f + o;
        } else {
            for (size_t i = pl * hw; i < (pl + 1) * hw; i++) y[i] = x[i] * f;
        }
    }
    return TD_OK;
}
