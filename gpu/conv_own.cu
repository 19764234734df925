/* Which convolutions the own kernels serve, the geometry they are given,
 * and the second pass of the filter gradients. */
#include "conv_own.h"

conv_geom conv_geom_of(const kernel_args *a)
{
    op_kind op = a->nd->op;
    shape4 x = op == OP_CONV2D_BWD_DATA ? a->out_shape : a->in_shape[0];
    shape4 w = op == OP_CONV2D_BWD_FILTER ? a->out_shape : a->in_shape[1];
    shape4 y = op == OP_CONV2D ? a->out_shape : op == OP_CONV2D_BWD_DATA ? a->in_shape[0] : a->in_shape[1];
    const node_params *p = &a->nd->p;
    conv_geom g = {x.n, x.c, x.h, x.w, y.c, y.h, y.w, w.h, p->stride, p->pad, p->dil};
    return g;
}

/* The kernels index with int: every tensor they touch below 2^31
 * elements, with room for a block's threads past the last index (the
 * pointwise product rounds N Q up to whole blocks in int). */
static int fits_int(const conv_geom &g)
{
    const double limit = 2147483647.0 - 4096.0;
    return (double)g.N * g.C * g.H * g.W < limit && (double)g.N * g.Co * g.Ho * g.Wo < limit;
}

static shape4 filter_shape(const kernel_args *a)
{
    return a->nd->op == OP_CONV2D_BWD_FILTER ? a->out_shape : a->in_shape[1];
}

int conv_own_pointwise(const kernel_args *a)
{
    const node_params *p = &a->nd->p;
    shape4 w = filter_shape(a);
    return w.h == 1 && w.w == 1 && p->pad == 0 && p->groups == 1 && fits_int(conv_geom_of(a));
}

int conv_own_depthwise(const kernel_args *a, size_t elem_bytes)
{
    const node_params *p = &a->nd->p;
    conv_geom g = conv_geom_of(a);
    shape4 w = filter_shape(a);
    return p->groups == g.C && g.Co == g.C && w.n == g.C && w.c == 1 && w.h == w.w && g.K <= CONV_DW_MAX_K &&
           fits_int(g) && conv_own_depthwise_fits(a, g, elem_bytes);
}

template <typename T> td_status conv_sum_slices(const T *part, int count, int M, T *out)
{
    return gpu_map("conv filter gradient slices", (size_t)M, [=] __device__(auto m) {
        T s = 0;
        for (int k = 0; k < count; k++) s += part[(size_t)k * M + m];
        out[m] = s;
    });
}

template td_status conv_sum_slices<float>(const float *, int, int, float *);
template td_status conv_sum_slices<double>(const double *, int, int, double *);
