/* Sum kernels (sums family): the mixed op's weighted sum, its weight gradient (dots), and the full sum. */
#include "block_sum.cuh"
#include "elementwise.cuh"

/* Long sums follow the reference (ref/sums_impl.h) inside each chunk:
 * fixed chunks of BACKEND_REDUCE_CHUNK values; inside a chunk, position i
 * goes to lane i mod DOT_LANES, each lane adds its values in increasing i
 * from 0, the lanes are combined pairwise (lane j += lane j + w for
 * w = 8, 4, 2, 1). The chunk totals of a dot are then added in chunk order
 * from 0, as the reference does, so dots give the CPU's bits; those of
 * sum_all by one block's fixed tree (gpu_total_kernel), which gives the
 * CPU's bits up to two chunks and agrees to rounding beyond. Sums
 * accumulate in T, as the reference's do (f32 in float). */
#define DOT_LANES 16 /* DOT_LANES of ref/sums_impl.h */
#define DOT_CHUNKS_PER_BLOCK (GPU_THREADS / DOT_LANES)
static_assert(BACKEND_REDUCE_CHUNK % DOT_LANES == 0, "chunks start on lane 0");

/* Terms go to the kernels by value, SUM_GROUP at a time; more terms take
 * one launch per group, each continuing from the sums the last one stored
 * (which the reference also stores in T between terms). */
#define SUM_GROUP 32

template <typename T> struct sum_terms {
    const T *x[SUM_GROUP];
    int idx[SUM_GROUP]; /* weight index (weighted_sum) or output position (dots) */
    int k;              /* terms in this group */
    int j0;             /* index of the group's first term among all terms */
};

/* Fills group [k0, k0 + SUM_GROUP) of the terms in[first_in + j]. */
template <typename T>
static sum_terms<T> sum_group(const kernel_args *a, int first_in, const int *idx, int k_all, int k0)
{
    sum_terms<T> t;
    t.k = k_all - k0 < SUM_GROUP ? k_all - k0 : SUM_GROUP;
    t.j0 = k0;
    for (int j = 0; j < SUM_GROUP; j++) {
        t.x[j] = j < t.k ? gpu_in<T>(a, first_in + k0 + j) : NULL;
        t.idx[j] = j < t.k ? idx[k0 + j] : -1;
    }
    return t;
}

/* --- weighted_sum: ([w,] x1..xk) -> sum_j w[idx[j]] x_j ------------------ */

/* One thread per element, terms in list order: y = w0 x0, then y += wj xj
 * (without w: y = x0, y += xj). The first group starts the sum, later
 * groups continue from y. w is device memory, read on the device. */
template <typename T> static td_status weighted_sum_op(const kernel_args *a)
{
    int has_w = a->nd->p.wlen > 0, k = a->nd->p.idx_len;
    const int *idx = graph_node_index(a->g, a->nd);
    const T *w = has_w ? gpu_in<T>(a, 0) : NULL;
    T *y = gpu_out<T>(a);
    size_t n = shape_numel(a->out_shape);
    if (k < 1) return TD_FAIL(TD_ERR_ARG, "weighted_sum: no terms");
    for (int k0 = 0; k0 < k; k0 += SUM_GROUP) {
        sum_terms<T> t = sum_group<T>(a, has_w, idx, k, k0);
        int first = k0 == 0;
        TD_CHECK(gpu_map("weighted_sum", n, [=] __device__(auto i) {
            int j = 0;
            T acc;
            if (first) {
                acc = w ? w[t.idx[0]] * t.x[0][i] : t.x[0][i];
                j = 1;
            } else {
                acc = y[i];
            }
            for (; j < t.k; j++) acc = w ? acc + w[t.idx[j]] * t.x[j][i] : acc + t.x[j][i];
            y[i] = acc;
        }));
    }
    return TD_OK;
}

/* --- the chunked sums shared by dots and sum_all ------------------------- */

/* One lane of chunk b of sum x z (sum x when z is NULL), combined with the
 * chunk's other lanes: the full warp must call it (the shuffles), chunks
 * past the end give 0. Lane 0 ends with the chunk's total. */
template <typename T> static __device__ T chunk_lane_sum(const T *x, const T *z, size_t n, size_t b, int lane)
{
    size_t lo = b * BACKEND_REDUCE_CHUNK, hi = lo + BACKEND_REDUCE_CHUNK < n ? lo + BACKEND_REDUCE_CHUNK : n;
    T acc = 0;
    if (lo < n) {
        if (z)
            for (size_t i = lo + lane; i < hi; i += DOT_LANES) acc += x[i] * z[i];
        else
            for (size_t i = lo + lane; i < hi; i += DOT_LANES) acc += x[i];
    }
    /* lane j += lane j + w: the 16 lanes of a chunk share one half warp */
    for (int w = DOT_LANES / 2; w >= 1; w /= 2) acc += __shfl_down_sync(0xffffffffu, acc, w, DOT_LANES);
    return acc;
}

/* The chunk totals of one sum added in chunk order from 0. */
template <typename T> static __device__ T ordered_total(const T *partial, size_t nb)
{
    T total = 0;
    for (size_t b = 0; b < nb; b++) total += partial[b];
    return total;
}

static unsigned chunk_blocks(size_t nb)
{
    size_t b = (nb + DOT_CHUNKS_PER_BLOCK - 1) / DOT_CHUNKS_PER_BLOCK;
    return (unsigned)(b ? b : 1);
}

/* --- dots: (g, x1..xk) -> out[idx[j]] += <g, x_j>, shaped like w -------- */

/* partial[(j0 + j) nb + b] = chunk b of <g, x_j>; blockIdx.y is j. */
template <typename T> static __global__ void dots_partial_kernel(const T *g, sum_terms<T> t, size_t n, size_t nb,
                                                                 T *partial)
{
    int lane = threadIdx.x % DOT_LANES;
    size_t b = (size_t)blockIdx.x * DOT_CHUNKS_PER_BLOCK + threadIdx.x / DOT_LANES;
    int j = blockIdx.y;
    T s = chunk_lane_sum(g, t.x[j], n, b, lane);
    if (lane == 0 && b < nb) partial[(size_t)(t.j0 + j) * nb + b] = s;
}

template <typename T> static td_status dots_op(const kernel_args *a)
{
    int k = a->nd->p.idx_len;
    const int *idx = graph_node_index(a->g, a->nd);
    size_t n = shape_numel(a->in_shape[0]), wl = shape_numel(a->out_shape);
    size_t nb = (n + BACKEND_REDUCE_CHUNK - 1) / BACKEND_REDUCE_CHUNK;
    if (k < 1) return TD_FAIL(TD_ERR_ARG, "dots: no terms");
    void *scratch;
    td_status st = gpu_scratch(((size_t)k * nb + 1) * sizeof(T), &scratch);
    if (st != TD_OK) return st;
    T *partial = (T *)scratch, *y = gpu_out<T>(a);
    for (int k0 = 0; k0 < k; k0 += SUM_GROUP) {
        sum_terms<T> t = sum_group<T>(a, 1, idx, k, k0);
        if (nb > 0) {
            dim3 grid(chunk_blocks(nb), (unsigned)t.k);
            dots_partial_kernel<T><<<grid, GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), t, n, nb, partial);
            LAUNCH_CHECK("dots partial sums");
        }
        /* one thread per output position i: the first group starts from 0,
         * later groups from y; the totals of the terms placed at i are added
         * in term order, as the reference's zeroing then y[idx[j]] += total */
        int first = k0 == 0;
        TD_CHECK(gpu_map("dots totals", wl, [=] __device__(auto i) {
            T acc = first ? T(0) : y[i];
            for (int j = 0; j < t.k; j++)
                if ((size_t)t.idx[j] == (size_t)i) acc += ordered_total(partial + (size_t)(t.j0 + j) * nb, nb);
            y[i] = acc;
        }));
    }
    return TD_OK;
}

/* --- sum_all: (x) -> scalar sum ------------------------------------------ */

template <typename T> static __global__ void sum_partial_kernel(const T *x, size_t n, size_t nb, T *partial)
{
    int lane = threadIdx.x % DOT_LANES;
    size_t b = (size_t)blockIdx.x * DOT_CHUNKS_PER_BLOCK + threadIdx.x / DOT_LANES;
    T s = chunk_lane_sum(x, (const T *)NULL, n, b, lane);
    if (lane == 0 && b < nb) partial[b] = s;
}

template <typename T> static td_status sum_all_op(const kernel_args *a)
{
    size_t n = shape_numel(a->in_shape[0]);
    size_t nb = (n + BACKEND_REDUCE_CHUNK - 1) / BACKEND_REDUCE_CHUNK;
    void *scratch;
    td_status st = gpu_scratch((nb + 1) * sizeof(T), &scratch);
    if (st != TD_OK) return st;
    T *partial = (T *)scratch;
    if (nb > 0) {
        sum_partial_kernel<T><<<chunk_blocks(nb), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), n, nb, partial);
        LAUNCH_CHECK("sum_all partial sums");
    }
    /* one block: the chunk totals by a fixed tree */
    gpu_total_kernel<T><<<1, GPU_THREADS, 0, gpu.stream>>>(partial, nb, gpu_out<T>(a));
    LAUNCH_CHECK("sum_all total");
    return TD_OK;
}

GPU_INSTANTIATE(weighted_sum, weighted_sum_op)
GPU_INSTANTIATE(dots, dots_op)
GPU_INSTANTIATE(sum_all, sum_all_op)
