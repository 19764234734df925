/* The CPU's f32 kernels for nodes with normed inputs (normed.h): each
 * gives, element by element, the operations and roundings of its plain
 * kernel on the stored input. */
#include "normed.h"

#include "ref_kernels.h"
#include "ref_template.h"

#define REAL float

void normed_fill(const normed_input *ni, shape4 s, size_t lo, size_t n, float *buf)
{
    size_t hw = (size_t)s.h * s.w;
    for (size_t e = lo; e < lo + n;) {
        size_t pl = e / hw, i = e - pl * hw, end = (pl + 1) * hw < lo + n ? (pl + 1) * hw : lo + n;
        normed_plane p = normed_plane_at(ni, s, pl);
        float *out = buf + (e - lo);
        size_t len = end - e, j = 0;
        for (; j + 8 <= len; j += 8) vf8_store(out + j, normed_vf8(&p, i + j));
        for (; j < len; j++) out[j] = normed_value(&p, i + j);
        e = end;
    }
}

int ref_reads_normed(const node *nd, int k, dtype dt)
{
    if (dt != DT_F32) return 0;
    switch (nd->op) {
    case OP_WEIGHTED_SUM: return k >= (nd->p.wlen > 0);
    case OP_DOTS: return k >= 1;
    case OP_DOT_AXIS:
    case OP_LINCOMB_AXIS: return k == 1 && nd->p.axis == AXIS_C;
    case OP_RELU:
    case OP_RELU_BWD: return k == 0;
    case OP_SCALE_AXIS: return k == 0 && nd->p.axis == AXIS_N;
    default: return 0;
    }
}

td_status ref_check_normed(fused_kind kind, int q, const kernel_args *a)
{
    if (!a->normed) return TD_OK;
    /* in a group, only the members whose kernels read the input as the
     * plain kernel does: the statistics' dot_axis, the lincomb, and the
     * unstored ReLU whose readers apply it (fused_f32.c relu_input) */
    int member_ok = kind == FUSED_NONE ||
                    ((kind == FUSED_SUM_DOT || kind == FUSED_SCALED_PAIR) && a->nd->op == OP_DOT_AXIS) ||
                    (kind == FUSED_SCALED_LINCOMB && a->nd->op == OP_LINCOMB_AXIS && q == 1) ||
                    ((kind == FUSED_RELU_CONV || kind == FUSED_RELU_FILTER || kind == FUSED_RELU_MASK) && q == 0);
    for (int k = 0; k < a->nin; k++)
        if (normed_in(a, k) && (!member_ok || !ref_reads_normed(a->nd, k, a->dt)))
            return TD_FAIL(TD_ERR_STATE, "cpu backend: %s%s%s reads input %d as a normed input, which its kernel cannot",
                           op_name(a->nd->op), kind == FUSED_NONE ? "" : " in fused group ",
                           kind == FUSED_NONE ? "" : fused_kind_name(kind), k);
    return TD_OK;
}

/* Up to this many terms are read per vector; more go through the plain
 * loop below, plane by plane. */
#define NORMED_SUM_TERMS 64

/* One term of a weighted sum in one plane: stored (t) or normed. */
typedef struct sum_term {
    const float *t;
    normed_plane p;
} sum_term;

static inline float term_value(const sum_term *t, size_t i) { return t->t ? t->t[i] : normed_value(&t->p, i); }

/* weighted_sum with normed terms: plane by plane (a term's scalars are its
 * channel's), each vector of outputs built in registers as the plain
 * kernel builds it, y = f0 y0, then y + f_j y_j in term order (no
 * weights: y0, then y + y_j). */
td_status ref_weighted_sum_normed_f32(const kernel_args *a)
{
    int has_w = a->nd->p.wlen > 0, k = a->nd->p.idx_len;
    const int *idx = graph_node_index(a->g, a->nd);
    if (k < 1 || k > NORMED_SUM_TERMS) return TD_FAIL(TD_ERR_ARG, "weighted_sum: %d terms with normed inputs", k);
    float f[NORMED_SUM_TERMS];
    for (int j = 0; j < k; j++) f[j] = has_w ? IN(0)[idx[j]] : 1.0f;
    shape4 s = a->out_shape;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
    float *y = OUT;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        size_t off = pl * hw, i = 0;
        sum_term t[NORMED_SUM_TERMS];
        for (int j = 0; j < k; j++) {
            const normed_input *ni = normed_in(a, has_w + j);
            t[j].t = ni ? NULL : IN(has_w + j) + off;
            if (ni) t[j].p = normed_plane_at(ni, a->in_shape[has_w + j], pl);
        }
#define TERM(VEC, j) (t[j].t ? VEC##_load(t[j].t + i) : normed_##VEC(&t[j].p, i))
#define SCALED(VEC, j) (has_w ? VEC##_mul(VEC##_set1(f[j]), TERM(VEC, j)) : TERM(VEC, j))
#define SUM_VECTORS(VEC, W)                                                                                            \
    for (; i + W <= hw; i += W) {                                                                                      \
        VEC acc = SCALED(VEC, 0);                                                                                      \
        for (int j = 1; j < k; j++) acc = VEC##_add(acc, SCALED(VEC, j));                                              \
        VEC##_store(y + off + i, acc);                                                                                 \
    }
#ifdef SIMD_HAVE_VF16
        SUM_VECTORS(vf16, 16)
#endif
        SUM_VECTORS(vf8, 8)
#undef SUM_VECTORS
#undef SCALED
#undef TERM
        for (; i < hw; i++) {
            float acc = has_w ? f[0] * term_value(&t[0], i) : term_value(&t[0], i);
            for (int j = 1; j < k; j++) acc += has_w ? f[j] * term_value(&t[j], i) : term_value(&t[j], i);
            y[off + i] = acc;
        }
    }
    return TD_OK;
}

/* lincomb_axis over channels with a normed second input V: (fa U + fb V)
 * + fe per element, as the plain kernel rounds it. */
td_status ref_lincomb_axis_normed_f32(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const float *u = IN(0), *ca = IN(2), *cb = IN(3), *ce = IN(4);
    const normed_input *vn = normed_in(a, 1);
    float *y = OUT;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        size_t c = pl % (size_t)s.c, off = pl * hw, i = 0;
        normed_plane p = normed_plane_at(vn, a->in_shape[1], pl);
        float fa = ca[c], fb = cb[c], fe = ce[c];
        vf8 va = vf8_set1(fa), vb = vf8_set1(fb), ve = vf8_set1(fe);
        for (; i + 8 <= hw; i += 8) {
            vf8 t = vf8_add(vf8_mul(va, vf8_load(u + off + i)), vf8_mul(vb, normed_vf8(&p, i)));
            vf8_store(y + off + i, vf8_add(t, ve));
        }
        for (; i < hw; i++) y[off + i] = (fa * u[off + i] + fb * normed_value(&p, i)) + fe;
    }
    return TD_OK;
}

void normed_relu_plane(const normed_input *ni, shape4 s, size_t pl, float *dst)
{
    normed_plane p = normed_plane_at(ni, s, pl);
    size_t hw = (size_t)s.h * s.w, i = 0;
    for (; i + 8 <= hw; i += 8) vf8_store(dst + i, vf8_relu(normed_vf8(&p, i)));
    for (; i < hw; i++) {
        float v = normed_value(&p, i);
        dst[i] = v > 0 ? v : 0;
    }
}

/* relu and relu_bwd with a normed x: x > 0 ? x : 0, x > 0 ? g : 0 per
 * element, as the plain kernels compare. */
td_status ref_relu_normed_f32(const kernel_args *a)
{
    shape4 s = a->out_shape;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) normed_relu_plane(normed_in(a, 0), a->in_shape[0], pl, OUT + pl * hw);
    return TD_OK;
}

td_status ref_relu_bwd_normed_f32(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const float *g = IN(1);
    const normed_input *xn = normed_in(a, 0);
    float *y = OUT;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        normed_plane p = normed_plane_at(xn, a->in_shape[0], pl);
        size_t off = pl * hw, i = 0;
        for (; i + 8 <= hw; i += 8)
            vf8_store(y + off + i, vf8_select(vf8_gt(normed_vf8(&p, i), vf8_zero()), vf8_load(g + off + i), vf8_zero()));
        for (; i < hw; i++) y[off + i] = normed_value(&p, i) > 0 ? g[off + i] : 0;
    }
    return TD_OK;
}

/* scale_axis over images with a normed x (a drop path on a batch norm's
 * output): each plane of x written out, then times the image's factor in
 * place while still in L1, the plain kernel's x f. */
td_status ref_scale_axis_normed_f32(const kernel_args *a)
{
    shape4 s = a->out_shape;
    const float *v = IN(1);
    float *y = OUT;
    size_t hw = (size_t)s.h * s.w, planes = (size_t)s.n * s.c;
#pragma omp parallel for schedule(static) if (ref_work(a) >= REF_PARALLEL_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        float *yp = y + pl * hw, f = v[pl / (size_t)s.c];
        normed_fill(normed_in(a, 0), a->in_shape[0], pl * hw, hw, yp);
        for (size_t i = 0; i < hw; i++) yp[i] *= f;
    }
    return TD_OK;
}
