/* Data-movement kernels (layout family): channel concat and slice, spatial crop and its adjoint uncrop. */
#include "gpu_internal.h"

/* --- concat_channels: (x1..xk) -> channel concat ------------------------- */

/* Inputs go to the kernel by value, CONCAT_GROUP at a time; a concat of
 * more inputs takes one launch per group (each writes its own channels). */
#define CONCAT_GROUP 32

template <typename T> struct concat_group {
    const T *x[CONCAT_GROUP];
    int c[CONCAT_GROUP]; /* channels of each input */
    int k;               /* inputs in this group */
};

/* The group's inputs fill output channels [c_begin, c_begin + group_c):
 * one thread per element of that range, in (n, channel, pixel) order. */
template <typename T>
static __global__ void concat_kernel(concat_group<T> grp, T *y, int n, int out_c, int c_begin, int group_c, size_t hw)
{
    size_t total = (size_t)n * group_c * hw;
    GPU_FOR(e, total)
    {
        size_t s = e % hw, r = e / hw;
        int cc = (int)(r % group_c), nn = (int)(r / group_c);
        int j = 0, off = 0;
        while (cc >= off + grp.c[j]) off += grp.c[j++];
        y[((size_t)nn * out_c + c_begin + cc) * hw + s] = grp.x[j][((size_t)nn * grp.c[j] + (cc - off)) * hw + s];
    }
}

template <typename T> static td_status concat_channels_op(const kernel_args *a)
{
    shape4 o = a->out_shape;
    size_t hw = (size_t)o.h * o.w;
    int c_begin = 0;
    for (int k0 = 0; k0 < a->nin; k0 += CONCAT_GROUP) {
        concat_group<T> grp;
        grp.k = a->nin - k0 < CONCAT_GROUP ? a->nin - k0 : CONCAT_GROUP;
        int group_c = 0;
        for (int j = 0; j < grp.k; j++) {
            grp.x[j] = gpu_in<T>(a, k0 + j);
            grp.c[j] = a->in_shape[k0 + j].c;
            group_c += grp.c[j];
        }
        for (int j = grp.k; j < CONCAT_GROUP; j++) grp.x[j] = NULL, grp.c[j] = 0;
        size_t total = (size_t)o.n * group_c * hw;
        concat_kernel<T><<<gpu_blocks(total), GPU_THREADS, 0, gpu.stream>>>(grp, gpu_out<T>(a), o.n, o.c, c_begin,
                                                                            group_c, hw);
        LAUNCH_CHECK("concat_channels");
        c_begin += group_c;
    }
    return TD_OK;
}

/* --- slice_channels: (x) -> channels [c0, c1) ---------------------------- */

template <typename T> static __global__ void slice_kernel(const T *x, T *y, int x_c, int c0, int out_c, size_t hw,
                                                          size_t total)
{
    GPU_FOR(e, total)
    {
        size_t s = e % hw, r = e / hw;
        size_t c = r % out_c, nn = r / out_c;
        y[e] = x[(nn * x_c + c0 + c) * hw + s];
    }
}

template <typename T> static td_status slice_channels_op(const kernel_args *a)
{
    shape4 x = a->in_shape[0], o = a->out_shape;
    size_t hw = (size_t)o.h * o.w, total = shape_numel(o);
    slice_kernel<T><<<gpu_blocks(total), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), x.c,
                                                                        a->nd->p.c0, o.c, hw, total);
    LAUNCH_CHECK("slice_channels");
    return TD_OK;
}

/* --- crop: (x) -> spatial window at (top, left) -------------------------- */

template <typename T> static __global__ void crop_kernel(const T *x, T *y, int xh, int xw, int oh, int ow, int top,
                                                         int left, size_t total)
{
    GPU_FOR(e, total)
    {
        size_t w = e % ow, r = e / ow;
        size_t h = r % oh, plane = r / oh;
        y[e] = x[(plane * xh + h + top) * xw + left + w];
    }
}

template <typename T> static td_status crop_op(const kernel_args *a)
{
    shape4 x = a->in_shape[0], o = a->out_shape;
    size_t total = shape_numel(o);
    crop_kernel<T><<<gpu_blocks(total), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), x.h, x.w, o.h,
                                                                       o.w, a->nd->p.top, a->nd->p.left, total);
    LAUNCH_CHECK("crop");
    return TD_OK;
}

/* --- uncrop: (g) -> zeros with g placed at (top, left) ------------------- */

/* One pass over the output: inside the window the source value, outside
 * zero (the reference's memset then copy, without writing twice). */
template <typename T> static __global__ void uncrop_kernel(const T *g, T *y, int gh, int gw, int oh, int ow, int top,
                                                           int left, size_t total)
{
    GPU_FOR(e, total)
    {
        int w = (int)(e % ow);
        size_t r = e / ow;
        int h = (int)(r % oh);
        size_t plane = r / oh;
        int sh = h - top, sw = w - left;
        y[e] = sh >= 0 && sh < gh && sw >= 0 && sw < gw ? g[(plane * gh + sh) * gw + sw] : T(0);
    }
}

template <typename T> static td_status uncrop_op(const kernel_args *a)
{
    shape4 gs = a->in_shape[0], o = a->out_shape;
    size_t total = shape_numel(o);
    uncrop_kernel<T><<<gpu_blocks(total), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), gs.h, gs.w,
                                                                         o.h, o.w, a->nd->p.top, a->nd->p.left, total);
    LAUNCH_CHECK("uncrop");
    return TD_OK;
}

GPU_INSTANTIATE(concat_channels, concat_channels_op)
GPU_INSTANTIATE(slice_channels, slice_channels_op)
GPU_INSTANTIATE(crop, crop_op)
GPU_INSTANTIATE(uncrop, uncrop_op)

/* --- channel_shuffle: output channel j*k + g is input channel g*(C/k) + j - */

template <typename T> static __global__ void channel_shuffle_kernel(const T *x, T *y, int C, int k, size_t hw, size_t n)
{
    GPU_FOR(i, n)
    {
        size_t plane = i / hw, at = i % hw;
        int c = (int)(plane % (size_t)C);
        size_t batch = plane / (size_t)C;
        int src = (c % k) * (C / k) + c / k;
        y[i] = x[(batch * (size_t)C + (size_t)src) * hw + at];
    }
}

template <typename T> static td_status channel_shuffle_op(const kernel_args *a)
{
    shape4 o = a->out_shape;
    size_t n = shape_numel(o);
    channel_shuffle_kernel<T><<<gpu_blocks(n), GPU_THREADS, 0, gpu.stream>>>(gpu_in<T>(a, 0), gpu_out<T>(a), o.c,
                                                                              a->nd->p.groups, (size_t)o.h * o.w, n);
    LAUNCH_CHECK("channel_shuffle");
    return TD_OK;
}

GPU_INSTANTIATE(channel_shuffle, channel_shuffle_op)
