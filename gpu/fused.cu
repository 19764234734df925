/* The fused batch-norm groups (fusion.h) on the GPU, each giving the bits of its members run one by one. */
#include "axis_sums.cuh"
#include "elementwise.cuh"

/* Every group, for both element types: the reductions go through the same gpu_axis_sums as sum_axis and
 * dot_axis (same parts, same tree, same order), and a value that is never stored (xc, S = w G) is recomputed
 * by the one expression of the kernel that would have stored it (axis_sums.cuh), so the bits are those of
 * the members. The executor leaves xc and S unstored only when every required group of their head fuses,
 * so saying yes for f64 too is safe; it is also what keeps the f64 run's memory plan like the f32 one. */
int gpu_fuses(fused_kind kind, dtype dt)
{
    /* the relu groups save the CPU memory and a pass; a GPU keeps its
     * activations where they fit, so it stores the ReLU (no kernel here) */
    if (kind == FUSED_RELU_CONV || kind == FUSED_RELU_FILTER || kind == FUSED_RELU_MASK) return 0;
    return (dt == DT_F32 || dt == DT_F64) && kind > FUSED_NONE && kind < FUSED_KIND_END;
}

/* FUSED_SUM_DOT: sum_axis(G), dot_axis(G, Z); both results stored. */
template <typename T> static td_status sum_dot(const kernel_args *sum, const kernel_args *dot)
{
    axis_sums_job<T> jb = {};
    jb.s = dot->in_shape[0];
    jb.axis = dot->nd->p.axis;
    jb.x = gpu_in<T>(sum, 0);
    jb.z = gpu_in<T>(dot, 1);
    jb.sum = gpu_out<T>(sum);
    jb.dot = gpu_out<T>(dot);
    return gpu_axis_sums(&jb, "fused sum_dot");
}

/* FUSED_CENTRED_DOT and FUSED_CENTRED_VARIANCE: xc = affine_axis(x, sc[, bias]), dot_axis(xc, xc); xc
 * stored only when the head is (its out pointer means nothing otherwise). */
template <typename T> static td_status centred_dot(const kernel_args *affine, const kernel_args *dot, int store_xc)
{
    axis_sums_job<T> jb = {};
    jb.s = dot->in_shape[0];
    jb.axis = dot->nd->p.axis;
    jb.x = gpu_in<T>(affine, 0);
    jb.prep = AXIS_PREP_AFFINE;
    jb.sc = gpu_in<T>(affine, 1);
    jb.bias = affine->nin > 2 ? gpu_in<T>(affine, 2) : NULL;
    jb.v_out = store_xc ? gpu_out<T>(affine) : NULL;
    jb.dot = gpu_out<T>(dot);
    return gpu_axis_sums(&jb, store_xc ? "fused centred_dot" : "fused centred_variance");
}

/* FUSED_CENTRED_SCALE: scale_axis(xc, r), xc recomputed from the unstored head's inputs:
 * y (N, C, H, W), sc, bias, r (C). */
template <typename T> static td_status centred_scale(const kernel_args *affine, const kernel_args *scale)
{
    axis_map m;
    if (!axis_map_make(scale->out_shape, scale->nd->p.axis, &m))
        return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda fused centred_scale: axis %d", scale->nd->p.axis);
    const T *x = gpu_in<T>(affine, 0), *sc = gpu_in<T>(affine, 1), *r = gpu_in<T>(scale, 1);
    const T *bias = affine->nin > 2 ? gpu_in<T>(affine, 2) : NULL;
    T *y = gpu_out<T>(scale);
    return gpu_map("centred_scale", shape_numel(scale->out_shape), [=] __device__(auto e) {
        auto c = axis_of(m, e);
        T xc = axis_affine_value(x[e], sc[c], bias ? bias[c] : (T)0, bias != NULL);
        y[e] = xc * r[c];
    });
}

/* The weight index of a one-term weighted_sum (w, G): host data, passed to the kernels by value. */
static int share_weight_index(const kernel_args *share) { return graph_node_index(share->g, share->nd)[0]; }

/* FUSED_SCALED_PAIR: S = w G unstored, sum_axis(S), dot_axis(S, Z). */
template <typename T>
static td_status scaled_pair(const kernel_args *share, const kernel_args *sum, const kernel_args *dot)
{
    axis_sums_job<T> jb = {};
    jb.s = dot->in_shape[0];
    jb.axis = dot->nd->p.axis;
    jb.x = gpu_in<T>(share, 1);
    jb.prep = AXIS_PREP_SHARE;
    jb.w = gpu_in<T>(share, 0);
    jb.widx = share_weight_index(share);
    jb.z = gpu_in<T>(dot, 1);
    jb.sum = gpu_out<T>(sum);
    jb.dot = gpu_out<T>(dot);
    return gpu_axis_sums(&jb, "fused scaled_pair");
}

/* FUSED_SCALED_LINCOMB: lincomb_axis(S, V, ca, cb, ce), S = w[widx] G recomputed: y, G, V (N, C, H, W);
 * ca, cb, ce (C). */
template <typename T> static td_status scaled_lincomb(const kernel_args *share, const kernel_args *lc)
{
    axis_map m;
    if (!axis_map_make(lc->out_shape, lc->nd->p.axis, &m))
        return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda fused scaled_lincomb: axis %d", lc->nd->p.axis);
    const T *w = gpu_in<T>(share, 0), *G = gpu_in<T>(share, 1), *V = gpu_in<T>(lc, 1), *ca = gpu_in<T>(lc, 2),
            *cb = gpu_in<T>(lc, 3), *ce = gpu_in<T>(lc, 4);
    int widx = share_weight_index(share);
    T *y = gpu_out<T>(lc);
    return gpu_map("scaled_lincomb", shape_numel(lc->out_shape), [=] __device__(auto e) {
        auto c = axis_of(m, e);
        y[e] = axis_lincomb_value(ca[c], axis_share_value(w[widx], G[e]), cb[c], V[e], ce[c]);
    });
}

template <typename T> static td_status run_fused(fused_kind kind, const kernel_args *const *m)
{
    switch (kind) {
    case FUSED_SUM_DOT: return sum_dot<T>(m[0], m[1]);
    case FUSED_CENTRED_DOT: return centred_dot<T>(m[0], m[1], 1);
    case FUSED_CENTRED_VARIANCE: return centred_dot<T>(m[0], m[1], 0);
    case FUSED_CENTRED_SCALE: return centred_scale<T>(m[0], m[1]);
    case FUSED_SCALED_PAIR: return scaled_pair<T>(m[0], m[1], m[2]);
    case FUSED_SCALED_LINCOMB: return scaled_lincomb<T>(m[0], m[1]);
    case FUSED_ARGMAX_GATHER: return gpu_maxpool_argmax_gather(m[0], m[1]); /* pool.cu */
    default: return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda backend: no fused kernel %s", fused_kind_name(kind));
    }
}

/* The members are in the group's order (fusion.h), as the executor matched them; checked here against the
 * declaration so that a changed pattern fails loudly instead of reading the wrong inputs. */
td_status gpu_run_fused(fused_kind kind, int n, const kernel_args *const *members)
{
    if (kind == FUSED_CHAIN) return gpu_run_chain(n, members);
    const fused_group *grp = fused_group_of(kind);
    if (!grp) return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda backend: no fused kernel %s", fused_kind_name(kind));
    for (int q = 0; q < grp->n; q++)
        if (members[q]->nd->op != grp->m[q].op)
            return TD_FAIL(TD_ERR_STATE, "cuda fused %s: member %d is %s, not %s", fused_kind_name(kind), q,
                           op_name(members[q]->nd->op), op_name(grp->m[q].op));
    dtype dt = members[0]->dt;
    if (dt == DT_F32) return run_fused<float>(kind, members);
    if (dt == DT_F64) return run_fused<double>(kind, members);
    return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda fused %s: element type %s", fused_kind_name(kind), dtype_name(dt));
}
