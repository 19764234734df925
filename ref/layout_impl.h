/* Data movement: channel concat/slice, spatial crop and its adjoint. */

td_status FN(ref_concat_channels)(const kernel_args *a)
{
    shape4 o = a->out_shape;
    size_t hw = (size_t)o.h * o.w;
    REAL *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int n = 0; n < o.n; n++) {
        size_t off = 0;
        for (int k = 0; k < a->nin; k++) {
            size_t len = (size_t)a->in_shape[k].c * hw;
            memcpy(y + (size_t)n * o.c * hw + off, IN(k) + (size_t)n * len, len * sizeof *y);
            off += len;
        }
    }
    return TD_OK;
}

td_status FN(ref_slice_channels)(const kernel_args *a)
{
    shape4 x = a->in_shape[0], o = a->out_shape;
    size_t hw = (size_t)o.h * o.w;
    REAL *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int n = 0; n < o.n; n++)
        memcpy(y + (size_t)n * o.c * hw, IN(0) + ((size_t)n * x.c + P->c0) * hw, (size_t)o.c * hw * sizeof *y);
    return TD_OK;
}

td_status FN(ref_crop)(const kernel_args *a)
{
    shape4 x = a->in_shape[0], o = a->out_shape;
    const REAL *src = IN(0);
    REAL *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < o.n * o.c; pl++)
        for (int h = 0; h < o.h; h++)
            memcpy(y + ((size_t)pl * o.h + h) * o.w, src + ((size_t)pl * x.h + h + P->top) * x.w + P->left,
                   (size_t)o.w * sizeof *y);
    return TD_OK;
}

td_status FN(ref_uncrop)(const kernel_args *a)
{
    shape4 gs = a->in_shape[0], o = a->out_shape;
    const REAL *src = IN(0);
    REAL *y = OUT;
    /* each plane written once, in the parallel loop: the zero border
     * around the copied rows, instead of a memset of the whole output on
     * one thread before the copy */
    int top = P->top, left = P->left, right = o.w - left - gs.w;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < o.n * o.c; pl++) {
        REAL *yp = y + (size_t)pl * o.h * o.w;
        memset(yp, 0, (size_t)top * o.w * sizeof *y);
        for (int h = 0; h < gs.h; h++) {
            REAL *row = yp + (size_t)(h + top) * o.w;
            memset(row, 0, (size_t)left * sizeof *y);
            memcpy(row + left, src + ((size_t)pl * gs.h + h) * gs.w, (size_t)gs.w * sizeof *y);
            memset(row + left + gs.w, 0, (size_t)right * sizeof *y);
        }
        memset(yp + (size_t)(top + gs.h) * o.w, 0, (size_t)(o.h - top - gs.h) * o.w * sizeof *y);
    }
    return TD_OK;
}

/* Output channel j*k + g copies input channel g*(C/k) + j, a plane at a time. */
td_status FN(ref_channel_shuffle)(const kernel_args *a)
{
    shape4 o = a->out_shape;
    size_t hw = (size_t)o.h * o.w;
    int k = P->groups, per_group = o.c / k;
    const REAL *x = IN(0);
    REAL *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int pl = 0; pl < o.n * o.c; pl++) {
        int n = pl / o.c, c = pl % o.c;
        int src = (c % k) * per_group + c / k;
        memcpy(y + (size_t)pl * hw, x + ((size_t)n * o.c + src) * hw, hw * sizeof *y);
    }
    return TD_OK;
}
