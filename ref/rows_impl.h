/* Row-wise ops on (rows, cols, 1, 1) tensors: matmul, softmax, log-softmax,
 * and the label gather/scatter of the cross-entropy. */

td_status FN(ref_matmul)(const kernel_args *a)
{
    shape4 as = a->in_shape[0], bs = a->in_shape[1];
    int ta = P->ta, tb = P->tb;
    int M = a->out_shape.n, N = a->out_shape.c, K = ta ? as.n : as.c;
    int lda = as.c, ldb = bs.c;
    const REAL *A = IN(0), *B = IN(1);
    REAL *C = OUT;
#pragma omp parallel for collapse(2) schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            REAL acc = 0;
            for (int k = 0; k < K; k++) {
                REAL av = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                REAL bv = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += av * bv;
            }
            C[(size_t)i * N + j] = acc;
        }
    return TD_OK;
}

td_status FN(ref_softmax_rows)(const kernel_args *a)
{
    shape4 s = a->out_shape;
    int R = s.n;
    size_t L = (size_t)s.c * s.h * s.w;
    const REAL *x = IN(0);
    REAL *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int r = 0; r < R; r++) {
        const REAL *xr = x + (size_t)r * L;
        REAL *yr = y + (size_t)r * L;
        REAL mx = xr[0];
        for (size_t i = 1; i < L; i++) mx = xr[i] > mx ? xr[i] : mx;
        REAL sum = 0;
        for (size_t i = 0; i < L; i++) {
            yr[i] = RX(exp)(xr[i] - mx);
            sum += yr[i];
        }
        for (size_t i = 0; i < L; i++) yr[i] /= sum;
    }
    return TD_OK;
}

td_status FN(ref_log_softmax_rows)(const kernel_args *a)
{
    shape4 s = a->out_shape;
    int R = s.n;
    size_t L = (size_t)s.c * s.h * s.w;
    const REAL *x = IN(0);
    REAL *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (int r = 0; r < R; r++) {
        const REAL *xr = x + (size_t)r * L;
        REAL *yr = y + (size_t)r * L;
        REAL mx = xr[0];
        for (size_t i = 1; i < L; i++) mx = xr[i] > mx ? xr[i] : mx;
        REAL sum = 0;
        for (size_t i = 0; i < L; i++) sum += RX(exp)(xr[i] - mx);
        REAL lse = mx + RX(log)(sum);
        for (size_t i = 0; i < L; i++) yr[i] = xr[i] - lse;
    }
    return TD_OK;
}

td_status FN(ref_pick_labels)(const kernel_args *a)
{
    shape4 z = a->in_shape[0];
    const REAL *x = IN(0);
    const int32_t *lab = a->in[1];
    REAL *y = OUT;
    for (int n = 0; n < z.n; n++) {
        if (lab[n] < 0 || lab[n] >= z.c)
            return TD_FAIL(TD_ERR_ARG, "label %d of sample %d is outside [0, %d)", lab[n], n, z.c);
        y[n] = x[(size_t)n * z.c + lab[n]];
    }
    return TD_OK;
}

td_status FN(ref_place_labels)(const kernel_args *a)
{
    shape4 o = a->out_shape;
    const REAL *v = IN(0);
    const int32_t *lab = a->in[1];
    REAL *y = OUT;
    memset(y, 0, shape_numel(o) * sizeof *y);
    for (int n = 0; n < o.n; n++) {
        if (lab[n] < 0 || lab[n] >= o.c)
            return TD_FAIL(TD_ERR_ARG, "label %d of sample %d is outside [0, %d)", lab[n], n, o.c);
        y[(size_t)n * o.c + lab[n]] = v[n];
    }
    return TD_OK;
}

/* Each row's sum of x*m in index order, then the row scaled by its inverse. */
td_status FN(ref_mask_renorm_rows)(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const REAL *x = IN(0), *m = IN(1);
    REAL *y = OUT;
    for (int r = 0; r < s.n; r++) {
        const REAL *xr = x + (size_t)r * s.c, *mr = m + (size_t)r * s.c;
        REAL *yr = y + (size_t)r * s.c;
        REAL sum = 0;
        for (int j = 0; j < s.c; j++) sum += xr[j] * mr[j];
        for (int j = 0; j < s.c; j++) yr[j] = xr[j] * mr[j] / sum;
    }
    return TD_OK;
}
