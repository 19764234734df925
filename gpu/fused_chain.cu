/* The fused chain (fusion.h FUSED_CHAIN) on the GPU: a run of small
 * element-wise nodes of one size (a batch norm's means, variances,
 * reciprocal roots, running update, the backward's coefficients) as one
 * kernel. Each thread computes every member for its element index in the
 * members' order, by the arithmetic each member's own kernel uses
 * (pointwise_math.cuh), so a member reads an earlier one's result as that
 * one wrote it and the bits are those of the members run one by one. */
#include <string.h>

#include "elementwise.cuh"
#include "pointwise_math.cuh"

/* One member, by value in the kernel's parameters. */
template <typename T> struct chain_step {
    int op;          /* OP_AXPBY, OP_MUL, OP_POWADD or OP_BN_RUNNING_UPDATE */
    int has_z;       /* axpby: a second input */
    const T *a, *b;  /* inputs 0 and 1 */
    T *y;            /* the output; NULL for the running update (a sink) */
    T *rm, *rv;      /* the running update's statistics (inputs 2 and 3, written) */
    T s, t;          /* axpby: s, t; powadd: eps, pw; running update: momentum, unbias factor */
};

template <typename T> struct chain_desc {
    int n;
    chain_step<T> step[FUSED_MAX_MEMBERS];
};

/* A member's description from its arguments, with the scalars rounded to
 * T as its own kernel rounds them; 0 for an op the chain does not take. */
template <typename T> static int chain_step_of(const kernel_args *a, chain_step<T> *st)
{
    const node_params *p = &a->nd->p;
    memset(st, 0, sizeof *st);
    st->op = a->nd->op;
    st->a = gpu_in<T>(a, 0);
    st->b = a->nin > 1 ? gpu_in<T>(a, 1) : NULL;
    st->y = gpu_out<T>(a);
    switch (st->op) {
    case OP_AXPBY: st->has_z = a->nin > 1, st->s = (T)p->a, st->t = (T)p->b; return 1;
    case OP_MUL: return 1;
    case OP_POWADD: st->s = (T)p->a, st->t = (T)p->b; return 1;
    case OP_BN_RUNNING_UPDATE:
        st->rm = (T *)a->in[2], st->rv = (T *)a->in[3];
        st->s = (T)p->a, st->t = (T)(p->b / (p->b - 1.0));
        return 1;
    default: return 0;
    }
}

template <typename T> static __device__ inline void chain_apply(const chain_step<T> &st, uint64_t e)
{
    switch (st.op) {
    case OP_AXPBY: st.y[e] = axpby_value(st.a[e], st.has_z ? st.b[e] : T(0), st.s, st.t, st.has_z); break;
    case OP_MUL: st.y[e] = mul_value(st.a[e], st.b[e]); break;
    case OP_POWADD: st.y[e] = powadd_value(st.a[e], st.s, st.t); break;
    case OP_BN_RUNNING_UPDATE:
        st.rm[e] = running_mean_value(st.rm[e], st.a[e], st.s);
        st.rv[e] = running_var_value(st.rv[e], st.b[e], st.s, st.t);
        break;
    default: break;
    }
}

template <typename T> static td_status chain_run(int n, const kernel_args *const *m)
{
    if (n < 1 || n > FUSED_MAX_MEMBERS) return TD_FAIL(TD_ERR_ARG, "cuda fused chain: %d members", n);
    chain_desc<T> d;
    d.n = n;
    for (int q = 0; q < n; q++)
        if (!chain_step_of<T>(m[q], &d.step[q]))
            return TD_FAIL(TD_ERR_STATE, "cuda fused chain: member %d is %s, which a chain does not take", q,
                           op_name(m[q]->nd->op));
    size_t elems = shape_numel(m[0]->nd->out >= 0 ? m[0]->out_shape : m[0]->in_shape[0]);
    return gpu_map("fused chain", elems, [=] __device__(auto e) {
        for (int q = 0; q < d.n; q++) chain_apply(d.step[q], (uint64_t)e);
    });
}

td_status gpu_run_chain(int n, const kernel_args *const *members)
{
    dtype dt = members[0]->dt;
    if (dt == DT_F32) return chain_run<float>(n, members);
    if (dt == DT_F64) return chain_run<double>(n, members);
    return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda fused chain: element type %s", dtype_name(dt));
}
