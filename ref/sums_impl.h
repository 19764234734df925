/* Weighted sums (mixed ops), their weight gradients (dots), full sums. */

#if REAL_IS_F32
/* Terms a weighted sum may have to take the vector path (a mixed op has
 * one per candidate; a cotangent one per reader). */
#define WEIGHTED_SUM_VECTOR_TERMS 64

/* Elements [lo, hi) of an f32 weighted sum with the k terms at x (weights
 * f, or none): each vector of outputs is built in registers, term after
 * term, y = f0 x0, then y + f_j x_j, with the roundings of the loop below,
 * and stored once, instead of being read and written back for every term. */
static size_t weighted_sum_vectors_f32(const float *const *x, const float *f, int k, size_t lo, size_t hi, float *y)
{
    size_t i = lo;
#define WEIGHTED_SUM_VECTORS(VEC, W)                                                                                   \
    for (; i + W <= hi; i += W) {                                                                                      \
        VEC acc = f ? VEC##_mul(VEC##_set1(f[0]), VEC##_load(x[0] + i)) : VEC##_load(x[0] + i);                        \
        for (int j = 1; j < k; j++) {                                                                                  \
            VEC t = VEC##_load(x[j] + i);                                                                              \
            acc = VEC##_add(acc, f ? VEC##_mul(VEC##_set1(f[j]), t) : t);                                              \
        }                                                                                                              \
        VEC##_store(y + i, acc);                                                                                       \
    }
#ifdef SIMD_HAVE_VF16
    WEIGHTED_SUM_VECTORS(vf16, 16)
#endif
    WEIGHTED_SUM_VECTORS(vf8, 8)
#undef WEIGHTED_SUM_VECTORS
    return i;
}
#endif

td_status FN(ref_weighted_sum)(const kernel_args *a)
{
#if REAL_IS_F32
    if (a->normed) return ref_weighted_sum_normed_f32(a);
#endif
    int has_w = a->nd->p.wlen > 0, k = a->nd->p.idx_len;
    const int *idx = graph_node_index(a->g, a->nd);
    const REAL *w = has_w ? IN(0) : NULL;
    REAL *y = OUT;
    size_t n = shape_numel(a->out_shape);
    /* Blocks of elements in parallel; inside a block the terms are added in
     * list order, so each element sees the same order on any thread. */
    size_t nb = (n + REF_REDUCE_CHUNK - 1) / REF_REDUCE_CHUNK;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * REF_REDUCE_CHUNK, hi = lo + REF_REDUCE_CHUNK < n ? lo + REF_REDUCE_CHUNK : n;
#if REAL_IS_F32
        if (k <= WEIGHTED_SUM_VECTOR_TERMS) {
            const float *xs[WEIGHTED_SUM_VECTOR_TERMS];
            float fs[WEIGHTED_SUM_VECTOR_TERMS];
            for (int j = 0; j < k; j++) {
                xs[j] = IN(has_w + j);
                fs[j] = has_w ? w[idx[j]] : 1;
            }
            lo = weighted_sum_vectors_f32(xs, has_w ? fs : NULL, k, lo, hi, y);
        }
#endif
        const REAL *x0 = IN(has_w);
        REAL f0 = has_w ? w[idx[0]] : 1;
        if (has_w)
            for (size_t i = lo; i < hi; i++) y[i] = f0 * x0[i];
        else
            for (size_t i = lo; i < hi; i++) y[i] = x0[i];
        for (int j = 1; j < k; j++) {
            const REAL *xj = IN(has_w + j);
            if (has_w) {
                REAL f = w[idx[j]];
                for (size_t i = lo; i < hi; i++) y[i] += f * xj[i];
            } else {
                for (size_t i = lo; i < hi; i++) y[i] += xj[i];
            }
        }
    }
    return TD_OK;
}

/* Dot product of two long vectors by fixed chunks. */
#define DOT_LANES 16
/* One chunk [lo, hi): DOT_LANES independent partial sums (position i goes
 * to lane i mod DOT_LANES): one chain would wait on every add; the lanes
 * vectorise and are combined pairwise in a fixed order. */
static inline REAL FN(chunk_dot)(const REAL *x, const REAL *z, size_t lo, size_t hi)
{
    REAL lane[DOT_LANES] = {0};
    size_t i = lo;
#if REAL_IS_F32
    /* the sixteen lanes as two vectors, written out: the compiler keeps
     * the array form in scalar registers (same products, same adds) */
    vf8 l0 = vf8_zero(), l1 = vf8_zero();
    if (z)
        for (; i + DOT_LANES <= hi; i += DOT_LANES) {
            l0 = vf8_add(l0, vf8_mul(vf8_load(x + i), vf8_load(z + i)));
            l1 = vf8_add(l1, vf8_mul(vf8_load(x + i + 8), vf8_load(z + i + 8)));
        }
    else
        for (; i + DOT_LANES <= hi; i += DOT_LANES) {
            l0 = vf8_add(l0, vf8_load(x + i));
            l1 = vf8_add(l1, vf8_load(x + i + 8));
        }
    vf8_store(lane, l0);
    vf8_store(lane + 8, l1);
#else
    if (z)
        for (; i + DOT_LANES <= hi; i += DOT_LANES)
            for (int j = 0; j < DOT_LANES; j++) lane[j] += x[i + j] * z[i + j];
    else
        for (; i + DOT_LANES <= hi; i += DOT_LANES)
            for (int j = 0; j < DOT_LANES; j++) lane[j] += x[i + j];
#endif
    for (int j = 0; i < hi; i++, j++) lane[j] += z ? x[i] * z[i] : x[i];
    for (int w = DOT_LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) lane[j] += lane[j + w];
    return lane[0];
}

static REAL FN(chunked_dot)(const REAL *x, const REAL *z, size_t n, REAL *partial)
{
    size_t nb = (n + REF_REDUCE_CHUNK - 1) / REF_REDUCE_CHUNK;
#pragma omp parallel for schedule(static) if (n >= REF_PARALLEL_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * REF_REDUCE_CHUNK, hi = lo + REF_REDUCE_CHUNK < n ? lo + REF_REDUCE_CHUNK : n;
        partial[b] = FN(chunk_dot)(x, z, lo, hi);
    }
    REAL total = 0;
    for (size_t b = 0; b < nb; b++) total += partial[b];
    return total;
}

td_status FN(ref_dots)(const kernel_args *a)
{
    int k = a->nd->p.idx_len;
    const int *idx = graph_node_index(a->g, a->nd);
    const REAL *gr = IN(0);
    REAL *y = OUT;
    size_t n = shape_numel(a->in_shape[0]);
    size_t nb = (n + REF_REDUCE_CHUNK - 1) / REF_REDUCE_CHUNK;
    REAL *partial = malloc((k ? (size_t)k : 1) * nb * sizeof *partial); /* (k, nb) */
    if (!partial) return TD_FAIL(TD_ERR_MEMORY, "dots: out of memory");
    /* Each chunk of g is read once for all k tensors while it is in cache;
     * every dot keeps its own chunks and their order. */
#pragma omp parallel for schedule(static) if (n >= REF_PARALLEL_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * REF_REDUCE_CHUNK, hi = lo + REF_REDUCE_CHUNK < n ? lo + REF_REDUCE_CHUNK : n;
#if REAL_IS_F32
        /* a normed term's chunk is made in cache, then summed as a stored
         * one from the chunk's start (the same lanes) */
        float chunk[REF_REDUCE_CHUNK];
        for (int j = 0; j < k; j++) {
            const normed_input *ni = normed_in(a, 1 + j);
            if (ni) normed_fill(ni, a->in_shape[1 + j], lo, hi - lo, chunk);
            partial[(size_t)j * nb + b] = ni ? FN(chunk_dot)(gr + lo, chunk, 0, hi - lo) : FN(chunk_dot)(gr, IN(1 + j), lo, hi);
        }
#else
        for (int j = 0; j < k; j++) partial[(size_t)j * nb + b] = FN(chunk_dot)(gr, IN(1 + j), lo, hi);
#endif
    }
    size_t wl = shape_numel(a->out_shape);
    for (size_t i = 0; i < wl; i++) y[i] = 0;
    for (int j = 0; j < k; j++) {
        REAL total = 0;
        for (size_t b = 0; b < nb; b++) total += partial[(size_t)j * nb + b];
        y[idx[j]] += total;
    }
    free(partial);
    return TD_OK;
}

td_status FN(ref_sum_all)(const kernel_args *a)
{
    size_t n = shape_numel(a->in_shape[0]);
    size_t nb = (n + REF_REDUCE_CHUNK - 1) / REF_REDUCE_CHUNK;
    REAL *partial = malloc(nb * sizeof *partial);
    if (!partial) return TD_FAIL(TD_ERR_MEMORY, "sum_all: out of memory");
    OUT[0] = FN(chunked_dot)(IN(0), NULL, n, partial);
    free(partial);
    return TD_OK;
}
