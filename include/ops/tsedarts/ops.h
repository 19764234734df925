/* The primitive builders, one per op, by family (core/ops/<family>.c):
 * each checks its inputs by the op's shape rule and appends one node. A
 * builder given an invalid value (-1), or called on a graph that already
 * failed, returns -1. */
#ifndef TSEDARTS_OPS_H
#define TSEDARTS_OPS_H

#include "tsedarts/graph.h"

/* conv */
int op_conv2d(graph *g, int x, int w, int stride, int pad, int dil, int groups);
int op_conv2d_bwd_data(graph *g, int dy, int w, shape4 xshape, int stride, int pad, int dil, int groups);
int op_conv2d_bwd_filter(graph *g, int x, int dy, int kh, int kw, int stride, int pad, int dil, int groups);

/* rows */
int op_matmul(graph *g, int a, int b, int ta, int tb);
int op_softmax_rows(graph *g, int a);
int op_log_softmax_rows(graph *g, int z);
int op_pick_labels(graph *g, int z, int labels);
int op_place_labels(graph *g, int v, int labels, int classes);
/* Each row of x renormalised over its kept entries (mask m, 1 kept, 0
 * dropped): x*m / sum(x*m). Every row must keep an entry of nonzero sum.
 * Over a softmax it is the softmax of the kept entries alone. */
int op_mask_renorm_rows(graph *g, int x, int m);

/* pointwise */
int op_relu(graph *g, int x);
int op_relu_bwd(graph *g, int x, int gr);
int op_softplus(graph *g, int x);
int op_sigmoid(graph *g, int x);
int op_axpby(graph *g, int a, int b /* or -1 */, double s, double t);
int op_mul(graph *g, int a, int b);
int op_exp(graph *g, int a);
int op_powadd(graph *g, int a, double eps, double p);
int op_fill(graph *g, int s, shape4 shape);
int op_const(graph *g, shape4 shape, double c);
int op_elu(graph *g, int x);
/* Inverted dropout with the keep mask m (1 kept, 0 dropped) as an input:
 * x * m / (1 - p); 0 <= p < 1. */
int op_dropout(graph *g, int x, int m, double p);

/* pool */
/* Max pooling is two nodes: idx = maxpool_argmax(x), the index within its
 * plane of each window's first maximum (int32, shaped like the pooled x;
 * padding never wins, a later pixel replaces the best only when strictly
 * greater, so a NaN wins only as the window's first pixel), then y =
 * gather_at(x, idx). scatter_at is gather_at's adjoint: g summed at the
 * indices, onto xshape. Both take the pooling's geometry and require every
 * index to lie in its own window, as maxpool_argmax's do (one that does
 * not gathers NaN and scatters nowhere, on every backend). */
int op_maxpool_argmax(graph *g, int x, int k, int stride, int pad);
int op_gather_at(graph *g, int x, int idx, int k, int stride, int pad);
int op_scatter_at(graph *g, int gr, int idx, shape4 xshape, int k, int stride, int pad);
int op_avgpool(graph *g, int x, int k, int stride, int pad, int count_pad);
int op_avgpool_bwd(graph *g, int gr, shape4 xshape, int k, int stride, int pad, int count_pad);
int op_gap(graph *g, int x);
int op_gap_bwd(graph *g, int gr, shape4 xshape);

/* axis */
int op_sum_axis(graph *g, int x, int axis);
int op_bcast_axis(graph *g, int v, shape4 s, int axis);
int op_scale_axis(graph *g, int x, int v, int axis);
int op_dot_axis(graph *g, int a, int b, int axis);
int op_affine_axis(graph *g, int x, int a, int b /* or -1 */, int axis);
/* a u + b v + e with per-axis coefficients (the batch-norm backward). */
int op_lincomb_axis(graph *g, int u, int v, int a, int b, int e, int axis);
/* Sink: rm <- (1-mom) rm + mom m; rv <- (1-mom) rv + mom v * M/(M-1). */
int op_bn_running_update(graph *g, int m, int v, int rm, int rv, double momentum, double count);

/* sums */
/* sum_i w[idx[i]] * xs[i]; w may be -1 (then idx must be NULL: plain sum). */
int op_weighted_sum(graph *g, int w, int k, const int *xs, const int *idx);
/* out[idx[i]] += <gr, xs[i]>, out shaped like w (wshape). */
int op_dots(graph *g, int gr, int k, const int *xs, const int *idx, shape4 wshape);
int op_sum_all(graph *g, int x);

/* layout */
int op_concat_c(graph *g, int k, const int *xs);
int op_slice_c(graph *g, int x, int c0, int c1);
int op_crop(graph *g, int x, int top, int left, int h, int w);
int op_uncrop(graph *g, int gr, shape4 xshape, int top, int left);
/* The channel shuffle of partial-channel edges: view (N, k, C/k, H, W),
 * swap axes 1 and 2, flatten; output channel j*k + g is input channel
 * g*(C/k) + j. (The split and the concat around it are slice_channels and
 * concat_channels.) */
int op_channel_shuffle(graph *g, int x, int groups);

/* dirichlet: one Dirichlet(beta_row) sample per row of (rows, ops, 1, 1) */
/* x = G / row sum of G, clamped to [FLT_MIN, 1 - FLT_EPSILON] as PyTorch
 * does, from gamma draws G ~ Gamma(beta, 1) (gamma_draws.h). Its
 * derivative in beta is the pathwise gradient of Dirichlet.rsample, not
 * the derivative of this function of G (G is not differentiated). */
int op_dirichlet_rows(graph *g, int beta, int gamma);
/* D_j = dirichlet_grad_one(x_j, beta_j, row sum of beta) (dirichlet_grad.h).
 * It has no derivative here: its rules refuse (TD_ERR_UNSUPPORTED). */
int op_dirichlet_grad(graph *g, int x, int beta);

/* Builds a node of any kind from explicit inputs and params by the op's
 * shape rule; the typed builders above call this. */
int graph_add_node(graph *g, op_kind op, int nin, const int *in, const node_params *p);

/* Makes value v readable after a run in `role` at `offset` (elements); for
 * ROLE_OUTPUT pass offset (size_t)-1 to append. Returns the value now
 * holding the data (v itself when it could be retargeted, else a copy). */
int graph_bind(graph *g, int v, value_role role, size_t offset);

#endif
