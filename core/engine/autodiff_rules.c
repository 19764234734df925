/* VJP and JVP rules of every primitive. Each rule builds its result only
 * from primitives, so the rules compose: JVP over a backward pass is exact
 * second-order differentiation. */
#include <stdlib.h>
#include <string.h>

#include "tsedarts/autodiff.h"

int op_input_differentiable(op_kind op, int k)
{
    switch (op) {
    case OP_RELU_BWD:
    case OP_MAXPOOL_GATHER:
    case OP_MAXPOOL_SCATTER:
        return k == 1; /* input 0 only selects (mask / argmax) */
    case OP_PICK_LABELS:
    case OP_PLACE_LABELS:
        return k == 0;
    case OP_BN_RUNNING_UPDATE:
        return 0;
    default:
        return 1;
    }
}

/* a + b where either may be absent (-1). */
static int add_opt(graph *g, int a, int b)
{
    if (a < 0) return b;
    if (b < 0) return a;
    return op_axpby(g, a, b, 1.0, 1.0);
}

static shape4 vs(const graph *g, int v) { return g->values[v].shape; }

static int *copy_inputs(const graph *g, const node *nd)
{
    int *in = malloc((size_t)(nd->nin ? nd->nin : 1) * sizeof *in);
    if (in) memcpy(in, graph_node_inputs(g, nd), (size_t)nd->nin * sizeof *in);
    return in;
}

static int *copy_index(const graph *g, const node *nd)
{
    int *idx = malloc((size_t)(nd->p.idx_len ? nd->p.idx_len : 1) * sizeof *idx);
    if (idx) memcpy(idx, graph_node_index(g, nd), (size_t)nd->p.idx_len * sizeof *idx);
    return idx;
}

void vjp_rule(graph *g, int i, int G, const unsigned char *want, int *ct) { vjp_rule_mapped(g, i, NULL, G, want, ct); }

void vjp_rule_mapped(graph *g, int i, const int *remap, int G, const unsigned char *want, int *ct)
{
    node nd = g->nodes[i];
    const node_params *p = &nd.p;
    int *in = copy_inputs(g, &nd);
    if (!in) {
        graph_fail(g, "out of memory");
        return;
    }
    if (remap)
        for (int k = 0; k < nd.nin; k++)
            if (remap[in[k]] >= 0) in[k] = remap[in[k]];
    int y = nd.out;
    if (remap && y >= 0 && remap[y] >= 0) y = remap[y];
    switch (nd.op) {
    case OP_CONV2D:
        if (want[0]) ct[0] = op_conv2d_bwd_data(g, G, in[1], vs(g, in[0]), p->stride, p->pad, p->dil, p->groups);
        if (want[1]) ct[1] = op_conv2d_bwd_filter(g, in[0], G, p->kh, p->kw, p->stride, p->pad, p->dil, p->groups);
        break;
    case OP_CONV2D_BWD_DATA: /* (dy, w) -> dx; G is dx-shaped */
        if (want[0]) ct[0] = op_conv2d(g, G, in[1], p->stride, p->pad, p->dil, p->groups);
        if (want[1]) ct[1] = op_conv2d_bwd_filter(g, G, in[0], p->kh, p->kw, p->stride, p->pad, p->dil, p->groups);
        break;
    case OP_CONV2D_BWD_FILTER: /* (x, dy) -> dw; G is w-shaped */
        if (want[0]) ct[0] = op_conv2d_bwd_data(g, in[1], G, vs(g, in[0]), p->stride, p->pad, p->dil, p->groups);
        if (want[1]) ct[1] = op_conv2d(g, in[0], G, p->stride, p->pad, p->dil, p->groups);
        break;
    case OP_MATMUL:
        if (want[0]) ct[0] = p->ta ? op_matmul(g, in[1], G, p->tb, 1) : op_matmul(g, G, in[1], 0, !p->tb);
        if (want[1]) ct[1] = p->tb ? op_matmul(g, G, in[0], 1, p->ta) : op_matmul(g, in[0], G, !p->ta, 0);
        break;
    case OP_RELU:
        /* the mask from the output: relu(x) > 0 exactly when x > 0, and
         * the input need not be kept (a BN output that only feeds a ReLU
         * dies after the forward pass) */
        ct[0] = op_relu_bwd(g, y, G);
        break;
    case OP_RELU_BWD:
        ct[1] = op_relu_bwd(g, in[0], G);
        break;
    case OP_SOFTPLUS:
        ct[0] = op_mul(g, op_sigmoid(g, in[0]), G);
        break;
    case OP_SIGMOID:
        ct[0] = op_mul(g, G, op_axpby(g, y, op_mul(g, y, y), 1.0, -1.0));
        break;
    case OP_MAXPOOL:
        ct[0] = op_maxpool_scatter(g, in[0], G, p->k, p->stride, p->pad);
        break;
    case OP_MAXPOOL_GATHER:
        ct[1] = op_maxpool_scatter(g, in[0], G, p->k, p->stride, p->pad);
        break;
    case OP_MAXPOOL_SCATTER:
        ct[1] = op_maxpool_gather(g, in[0], G, p->k, p->stride, p->pad);
        break;
    case OP_AVGPOOL:
        ct[0] = op_avgpool_bwd(g, G, vs(g, in[0]), p->k, p->stride, p->pad, p->count_pad);
        break;
    case OP_AVGPOOL_BWD:
        ct[0] = op_avgpool(g, G, p->k, p->stride, p->pad, p->count_pad);
        break;
    case OP_GAP:
        ct[0] = op_gap_bwd(g, G, vs(g, in[0]));
        break;
    case OP_GAP_BWD:
        ct[0] = op_gap(g, G);
        break;
    case OP_SUM_AXIS:
        ct[0] = op_bcast_axis(g, G, vs(g, in[0]), p->axis);
        break;
    case OP_BCAST_AXIS:
        ct[0] = op_sum_axis(g, G, p->axis);
        break;
    case OP_SCALE_AXIS:
        if (want[0]) ct[0] = op_scale_axis(g, G, in[1], p->axis);
        if (want[1]) ct[1] = op_dot_axis(g, G, in[0], p->axis);
        break;
    case OP_DOT_AXIS:
        if (want[0]) ct[0] = op_scale_axis(g, in[1], G, p->axis);
        if (want[1]) ct[1] = op_scale_axis(g, in[0], G, p->axis);
        break;
    case OP_LINCOMB_AXIS: /* a u + b v + e */
        if (want[0]) ct[0] = op_scale_axis(g, G, in[2], p->axis);
        if (want[1]) ct[1] = op_scale_axis(g, G, in[3], p->axis);
        if (want[2]) ct[2] = op_dot_axis(g, G, in[0], p->axis);
        if (want[3]) ct[3] = op_dot_axis(g, G, in[1], p->axis);
        if (want[4]) ct[4] = op_sum_axis(g, G, p->axis);
        break;
    case OP_AFFINE_AXIS:
        if (want[0]) ct[0] = op_scale_axis(g, G, in[1], p->axis);
        if (want[1]) ct[1] = op_dot_axis(g, G, in[0], p->axis);
        if (nd.nin > 2 && want[2]) ct[2] = op_sum_axis(g, G, p->axis);
        break;
    case OP_AXPBY:
        if (want[0]) ct[0] = p->a == 1.0 ? G : op_axpby(g, G, -1, p->a, 0.0);
        if (nd.nin > 1 && want[1]) ct[1] = p->b == 1.0 ? G : op_axpby(g, G, -1, p->b, 0.0);
        break;
    case OP_MUL:
        if (want[0]) ct[0] = op_mul(g, G, in[1]);
        if (want[1]) ct[1] = op_mul(g, G, in[0]);
        break;
    case OP_EXP:
        ct[0] = op_mul(g, G, y);
        break;
    case OP_POWADD:
        ct[0] = op_axpby(g, op_mul(g, G, op_powadd(g, in[0], p->a, p->b - 1.0)), -1, p->b, 0.0);
        break;
    case OP_WEIGHTED_SUM: {
        int has_w = p->wlen > 0, k = p->idx_len;
        int *idx = copy_index(g, &nd);
        for (int j = 0; j < k; j++) {
            if (!want[has_w + j]) continue;
            ct[has_w + j] = has_w ? op_weighted_sum(g, in[0], 1, &G, &idx[j]) : G;
        }
        if (has_w && want[0]) ct[0] = op_dots(g, G, k, in + 1, idx, vs(g, in[0]));
        free(idx);
        break;
    }
    case OP_DOTS: {
        int k = p->idx_len;
        int *idx = copy_index(g, &nd);
        if (want[0]) ct[0] = op_weighted_sum(g, G, k, in + 1, idx);
        for (int j = 0; j < k; j++)
            if (want[1 + j]) ct[1 + j] = op_weighted_sum(g, G, 1, &in[0], &idx[j]);
        free(idx);
        break;
    }
    case OP_SOFTMAX_ROWS: {
        int pg = op_mul(g, y, G);
        ct[0] = op_axpby(g, pg, op_scale_axis(g, y, op_sum_axis(g, pg, AXIS_N), AXIS_N), 1.0, -1.0);
        break;
    }
    case OP_LOG_SOFTMAX_ROWS:
        ct[0] = op_axpby(g, G, op_scale_axis(g, op_exp(g, y), op_sum_axis(g, G, AXIS_N), AXIS_N), 1.0, -1.0);
        break;
    case OP_PICK_LABELS:
        ct[0] = op_place_labels(g, G, in[1], vs(g, in[0]).c);
        break;
    case OP_PLACE_LABELS:
        ct[0] = op_pick_labels(g, G, in[1]);
        break;
    case OP_SUM_ALL:
        ct[0] = op_fill(g, G, vs(g, in[0]));
        break;
    case OP_FILL:
        ct[0] = op_sum_all(g, G);
        break;
    case OP_CONCAT_C: {
        int off = 0;
        for (int k = 0; k < nd.nin; k++) {
            int c = vs(g, in[k]).c;
            if (want[k]) ct[k] = op_slice_c(g, G, off, off + c);
            off += c;
        }
        break;
    }
    case OP_SLICE_C: {
        shape4 x = vs(g, in[0]);
        int parts[3], np = 0;
        if (p->c0 > 0) parts[np++] = op_const(g, shape_make(x.n, p->c0, x.h, x.w), 0.0);
        parts[np++] = G;
        if (p->c1 < x.c) parts[np++] = op_const(g, shape_make(x.n, x.c - p->c1, x.h, x.w), 0.0);
        ct[0] = np == 1 ? G : op_concat_c(g, np, parts);
        break;
    }
    case OP_CROP:
        ct[0] = op_uncrop(g, G, vs(g, in[0]), p->top, p->left);
        break;
    case OP_UNCROP: {
        shape4 s = vs(g, in[0]);
        ct[0] = op_crop(g, G, p->top, p->left, s.h, s.w);
        break;
    }
    case OP_BN_RUNNING_UPDATE:
    case OP_CONST:
        break;
    case OP_COUNT:
        graph_fail(g, "vjp: unknown op");
        break;
    }
    free(in);
}

void vjp_block_rule(graph *g, const vjp_block *b, int G, const unsigned char *want, int *ct)
{
    switch (b->kind) {
    case BLOCK_BATCHNORM: {
        /* y = xhat gamma + beta, xhat = xc r: with s1 = sum G, s2 = sum G xc,
         * dx = r gamma G - (r gamma / M) s1 - xc (r^3 gamma / M) s2,
         * dgamma = r s2, dbeta = s1.
         * Without gamma and beta, y is xhat itself: the same dx reads y,
         * dx = r G - (r / M) s1 - y (r / M) sum G y, so the block keeps
         * only its output (which the mixed op's alpha gradient keeps
         * anyway) and xc dies in the forward pass. */
        double M = b->count;
        shape4 vsh = vs(g, b->r);
        int plain = b->gamma < 0 && b->beta < 0;
        int z = plain ? b->out : b->xc;
        int s1 = op_sum_axis(g, G, AXIS_C), s2 = op_dot_axis(g, G, z, AXIS_C);
        int rg = b->gamma >= 0 ? op_mul(g, b->r, b->gamma) : b->r;
        if (want[0]) {
            int r3g = plain ? rg : op_mul(g, rg, op_mul(g, b->r, b->r));
            int cb = op_axpby(g, op_mul(g, r3g, s2), -1, -1.0 / M, 0.0);
            int ce = op_axpby(g, op_mul(g, rg, s1), -1, -1.0 / M, 0.0);
            ct[0] = op_lincomb_axis(g, G, z, rg, cb, ce, AXIS_C);
        }
        if (b->gamma >= 0 && want[1]) ct[1] = op_mul(g, s2, b->r);
        if (b->beta >= 0 && want[2]) ct[2] = s1;
        (void)vsh;
        break;
    }
    default:
        graph_fail(g, "vjp: unknown custom block");
    }
}

int jvp_rule(graph *g, int i, const int *t)
{
    node nd = g->nodes[i];
    const node_params *p = &nd.p;
    int *in = copy_inputs(g, &nd);
    if (!in) return graph_fail(g, "out of memory");
    int y = nd.out, r = -1;
    switch (nd.op) {
    case OP_CONV2D:
        r = add_opt(g, t[0] >= 0 ? op_conv2d(g, t[0], in[1], p->stride, p->pad, p->dil, p->groups) : -1,
                    t[1] >= 0 ? op_conv2d(g, in[0], t[1], p->stride, p->pad, p->dil, p->groups) : -1);
        break;
    case OP_CONV2D_BWD_DATA:
        r = add_opt(g,
                    t[0] >= 0 ? op_conv2d_bwd_data(g, t[0], in[1], p->shape, p->stride, p->pad, p->dil, p->groups) : -1,
                    t[1] >= 0 ? op_conv2d_bwd_data(g, in[0], t[1], p->shape, p->stride, p->pad, p->dil, p->groups) : -1);
        break;
    case OP_CONV2D_BWD_FILTER:
        r = add_opt(g,
                    t[0] >= 0 ? op_conv2d_bwd_filter(g, t[0], in[1], p->kh, p->kw, p->stride, p->pad, p->dil, p->groups) : -1,
                    t[1] >= 0 ? op_conv2d_bwd_filter(g, in[0], t[1], p->kh, p->kw, p->stride, p->pad, p->dil, p->groups) : -1);
        break;
    case OP_MATMUL:
        r = add_opt(g, t[0] >= 0 ? op_matmul(g, t[0], in[1], p->ta, p->tb) : -1,
                    t[1] >= 0 ? op_matmul(g, in[0], t[1], p->ta, p->tb) : -1);
        break;
    case OP_RELU:
        r = op_relu_bwd(g, in[0], t[0]);
        break;
    case OP_RELU_BWD:
        r = t[1] >= 0 ? op_relu_bwd(g, in[0], t[1]) : -1;
        break;
    case OP_SOFTPLUS:
        r = op_mul(g, op_sigmoid(g, in[0]), t[0]);
        break;
    case OP_SIGMOID:
        r = op_mul(g, t[0], op_axpby(g, y, op_mul(g, y, y), 1.0, -1.0));
        break;
    case OP_MAXPOOL:
        r = op_maxpool_gather(g, in[0], t[0], p->k, p->stride, p->pad);
        break;
    case OP_MAXPOOL_GATHER:
        r = t[1] >= 0 ? op_maxpool_gather(g, in[0], t[1], p->k, p->stride, p->pad) : -1;
        break;
    case OP_MAXPOOL_SCATTER:
        r = t[1] >= 0 ? op_maxpool_scatter(g, in[0], t[1], p->k, p->stride, p->pad) : -1;
        break;
    case OP_AVGPOOL:
        r = op_avgpool(g, t[0], p->k, p->stride, p->pad, p->count_pad);
        break;
    case OP_AVGPOOL_BWD:
        r = op_avgpool_bwd(g, t[0], p->shape, p->k, p->stride, p->pad, p->count_pad);
        break;
    case OP_GAP:
        r = op_gap(g, t[0]);
        break;
    case OP_GAP_BWD:
        r = op_gap_bwd(g, t[0], p->shape);
        break;
    case OP_SUM_AXIS:
        r = op_sum_axis(g, t[0], p->axis);
        break;
    case OP_BCAST_AXIS:
        r = op_bcast_axis(g, t[0], p->shape, p->axis);
        break;
    case OP_SCALE_AXIS:
        r = add_opt(g, t[0] >= 0 ? op_scale_axis(g, t[0], in[1], p->axis) : -1,
                    t[1] >= 0 ? op_scale_axis(g, in[0], t[1], p->axis) : -1);
        break;
    case OP_DOT_AXIS:
        r = add_opt(g, t[0] >= 0 ? op_dot_axis(g, t[0], in[1], p->axis) : -1,
                    t[1] >= 0 ? op_dot_axis(g, in[0], t[1], p->axis) : -1);
        break;
    case OP_LINCOMB_AXIS: {
        /* d(au + bv + e) = a du + b dv + (da u + db v + de): the first pair
         * is a lincomb of the tangents, the rest a lincomb with zero shift */
        shape4 s = vs(g, in[0]), vsh = vs(g, in[2]);
        int zero_t = -1, zero_c = -1;
        if ((t[0] >= 0 || t[1] >= 0) || t[4] >= 0) {
            zero_t = op_const(g, s, 0.0);
            zero_c = op_const(g, vsh, 0.0);
        }
        int term1 = -1, term2 = -1;
        if (t[0] >= 0 || t[1] >= 0 || t[4] >= 0)
            term1 = op_lincomb_axis(g, t[0] >= 0 ? t[0] : zero_t, t[1] >= 0 ? t[1] : zero_t, in[2], in[3],
                                    t[4] >= 0 ? t[4] : zero_c, p->axis);
        if (t[2] >= 0 || t[3] >= 0) {
            int zc = op_const(g, vsh, 0.0);
            term2 = op_lincomb_axis(g, in[0], in[1], t[2] >= 0 ? t[2] : zc, t[3] >= 0 ? t[3] : zc, zc, p->axis);
        }
        r = add_opt(g, term1, term2);
        break;
    }
    case OP_AFFINE_AXIS: {
        int tb = nd.nin > 2 ? t[2] : -1;
        int term_x = -1;
        if (t[0] >= 0)
            term_x = op_affine_axis(g, t[0], in[1], tb, p->axis);
        else if (tb >= 0)
            term_x = op_bcast_axis(g, tb, vs(g, in[0]), p->axis);
        r = add_opt(g, term_x, t[1] >= 0 ? op_scale_axis(g, in[0], t[1], p->axis) : -1);
        break;
    }
    case OP_AXPBY:
        if (nd.nin > 1 && t[0] >= 0 && t[1] >= 0)
            r = op_axpby(g, t[0], t[1], p->a, p->b);
        else if (t[0] >= 0)
            r = op_axpby(g, t[0], -1, p->a, 0.0);
        else if (nd.nin > 1 && t[1] >= 0)
            r = op_axpby(g, t[1], -1, p->b, 0.0);
        break;
    case OP_MUL:
        r = add_opt(g, t[0] >= 0 ? op_mul(g, t[0], in[1]) : -1, t[1] >= 0 ? op_mul(g, in[0], t[1]) : -1);
        break;
    case OP_EXP:
        r = op_mul(g, y, t[0]);
        break;
    case OP_POWADD:
        r = op_axpby(g, op_mul(g, op_powadd(g, in[0], p->a, p->b - 1.0), t[0]), -1, p->b, 0.0);
        break;
    case OP_WEIGHTED_SUM: {
        int has_w = p->wlen > 0, k = p->idx_len;
        int *idx = copy_index(g, &nd);
        int *tx = malloc((size_t)k * sizeof *tx), *ti = malloc((size_t)k * sizeof *ti);
        int kt = 0;
        for (int j = 0; j < k; j++)
            if (t[has_w + j] >= 0) {
                tx[kt] = t[has_w + j];
                ti[kt++] = idx[j];
            }
        int term_x = kt ? op_weighted_sum(g, has_w ? in[0] : -1, kt, tx, has_w ? ti : NULL) : -1;
        int term_w = has_w && t[0] >= 0 ? op_weighted_sum(g, t[0], k, in + 1, idx) : -1;
        r = add_opt(g, term_x, term_w);
        free(tx);
        free(ti);
        free(idx);
        break;
    }
    case OP_DOTS: {
        int k = p->idx_len;
        int *idx = copy_index(g, &nd);
        int *tx = malloc((size_t)k * sizeof *tx), *ti = malloc((size_t)k * sizeof *ti);
        int kt = 0;
        for (int j = 0; j < k; j++)
            if (t[1 + j] >= 0) {
                tx[kt] = t[1 + j];
                ti[kt++] = idx[j];
            }
        int term_g = t[0] >= 0 ? op_dots(g, t[0], k, in + 1, idx, p->shape) : -1;
        int term_x = kt ? op_dots(g, in[0], kt, tx, ti, p->shape) : -1;
        r = add_opt(g, term_g, term_x);
        free(tx);
        free(ti);
        free(idx);
        break;
    }
    case OP_SOFTMAX_ROWS: {
        int pt = op_mul(g, y, t[0]);
        r = op_axpby(g, pt, op_scale_axis(g, y, op_sum_axis(g, pt, AXIS_N), AXIS_N), 1.0, -1.0);
        break;
    }
    case OP_LOG_SOFTMAX_ROWS:
        r = op_axpby(g, t[0],
                    op_bcast_axis(g, op_sum_axis(g, op_mul(g, op_exp(g, y), t[0]), AXIS_N), vs(g, y), AXIS_N),
                    1.0, -1.0);
        break;
    case OP_PICK_LABELS:
        r = op_pick_labels(g, t[0], in[1]);
        break;
    case OP_PLACE_LABELS:
        r = op_place_labels(g, t[0], in[1], p->k);
        break;
    case OP_SUM_ALL:
        r = op_sum_all(g, t[0]);
        break;
    case OP_FILL:
        r = op_fill(g, t[0], p->shape);
        break;
    case OP_CONCAT_C: {
        int *parts = malloc((size_t)nd.nin * sizeof *parts);
        for (int k = 0; k < nd.nin; k++)
            parts[k] = t[k] >= 0 ? t[k] : op_const(g, vs(g, in[k]), 0.0);
        r = op_concat_c(g, nd.nin, parts);
        free(parts);
        break;
    }
    case OP_SLICE_C:
        r = op_slice_c(g, t[0], p->c0, p->c1);
        break;
    case OP_CROP:
        r = op_crop(g, t[0], p->top, p->left, p->shape.h, p->shape.w);
        break;
    case OP_UNCROP:
        r = op_uncrop(g, t[0], p->shape, p->top, p->left);
        break;
    case OP_BN_RUNNING_UPDATE:
    case OP_CONST:
        break;
    case OP_COUNT:
        graph_fail(g, "jvp: unknown op");
        break;
    }
    free(in);
    return r;
}
