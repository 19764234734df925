/* Data-movement kernels (layout family): channel concat and slice, spatial crop and its adjoint uncrop. */
#include "elementwise.cuh"

/* --- concat_channels: (x1..xk) -> channel concat ------------------------- */

/* Inputs go to the kernel by value, CONCAT_GROUP at a time; a concat of
 * more inputs takes one launch per group (each writes its own channels). */
#define CONCAT_GROUP 32

template <typename T> struct concat_group {
    const T *x[CONCAT_GROUP];
    int c[CONCAT_GROUP]; /* channels of each input */
    int k;               /* inputs in this group */
};

template <typename T> static td_status concat_channels_op(const kernel_args *a)
{
    shape4 o = a->out_shape;
    size_t hw = (size_t)o.h * o.w;
    T *y = gpu_out<T>(a);
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
        /* the group's inputs fill output channels [c_begin, c_begin + group_c): one thread per element of
         * that range, in (n, channel, pixel) order; offsets into y and x in size_t (y's may pass the range) */
        size_t total = (size_t)o.n * group_c * hw;
        int out_c = o.c;
        TD_CHECK(gpu_map("concat_channels", total, [=] __device__(auto e) {
            using I = decltype(e);
            I s = e % (I)hw, r = e / (I)hw;
            int cc = (int)(r % (I)group_c), nn = (int)(r / (I)group_c);
            int j = 0, off = 0;
            while (cc >= off + grp.c[j]) off += grp.c[j++];
            y[((size_t)nn * out_c + c_begin + cc) * hw + s] = grp.x[j][((size_t)nn * grp.c[j] + (cc - off)) * hw + s];
        }));
        c_begin += group_c;
    }
    return TD_OK;
}

/* --- slice_channels: (x) -> channels [c0, c1) ---------------------------- */

/* The element's place in y in its index type, x's offset in size_t (x may be larger). */
template <typename T> static td_status slice_channels_op(const kernel_args *a)
{
    shape4 xs = a->in_shape[0], o = a->out_shape;
    size_t hw = (size_t)o.h * o.w;
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    int x_c = xs.c, c0 = a->nd->p.c0, out_c = o.c;
    return gpu_map("slice_channels", shape_numel(o), [=] __device__(auto e) {
        using I = decltype(e);
        I s = e % (I)hw, r = e / (I)hw;
        I c = r % (I)out_c, nn = r / (I)out_c;
        y[e] = x[((size_t)nn * x_c + c0 + c) * hw + s];
    });
}

/* --- crop: (x) -> spatial window at (top, left) -------------------------- */

template <typename T> static td_status crop_op(const kernel_args *a)
{
    shape4 xs = a->in_shape[0], o = a->out_shape;
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    int xh = xs.h, xw = xs.w, oh = o.h, ow = o.w, top = a->nd->p.top, left = a->nd->p.left;
    return gpu_map("crop", shape_numel(o), [=] __device__(auto e) {
        using I = decltype(e);
        I w = e % (I)ow, r = e / (I)ow;
        I h = r % (I)oh, plane = r / (I)oh;
        y[e] = x[((size_t)plane * xh + h + top) * xw + left + w];
    });
}

/* --- uncrop: (g) -> zeros with g placed at (top, left) ------------------- */

/* One pass over the output: inside the window the source value, outside
 * zero (the reference's memset then copy, without writing twice). */
template <typename T> static td_status uncrop_op(const kernel_args *a)
{
    shape4 gs = a->in_shape[0], o = a->out_shape;
    const T *g = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    int gh = gs.h, gw = gs.w, oh = o.h, ow = o.w, top = a->nd->p.top, left = a->nd->p.left;
    return gpu_map("uncrop", shape_numel(o), [=] __device__(auto e) {
        using I = decltype(e);
        int w = (int)(e % (I)ow);
        I r = e / (I)ow;
        int h = (int)(r % (I)oh);
        I plane = r / (I)oh;
        int sh = h - top, sw = w - left;
        y[e] = sh >= 0 && sh < gh && sw >= 0 && sw < gw ? g[((size_t)plane * gh + sh) * gw + sw] : T(0);
    });
}

GPU_INSTANTIATE(concat_channels, concat_channels_op)
GPU_INSTANTIATE(slice_channels, slice_channels_op)
GPU_INSTANTIATE(crop, crop_op)
GPU_INSTANTIATE(uncrop, uncrop_op)

/* --- channel_shuffle: output channel j*k + g is input channel g*(C/k) + j - */

template <typename T> static td_status channel_shuffle_op(const kernel_args *a)
{
    shape4 o = a->out_shape;
    const T *x = gpu_in<T>(a, 0);
    T *y = gpu_out<T>(a);
    int C = o.c, k = a->nd->p.groups;
    size_t hw = (size_t)o.h * o.w;
    return gpu_map("channel_shuffle", shape_numel(o), [=] __device__(auto i) {
        using I = decltype(i);
        I plane = i / (I)hw, at = i % (I)hw;
        int c = (int)(plane % (I)C);
        I batch = plane / (I)C;
        int src = (c % k) * (C / k) + c / k;
        y[i] = x[((size_t)batch * (size_t)C + (size_t)src) * hw + at];
    });
}

GPU_INSTANTIATE(channel_shuffle, channel_shuffle_op)
