/* Reverse and forward mode over a graph, by per-primitive rules.
 *
 * graph_vjp appends the backward pass of a scalar; graph_jvp appends
 * tangent nodes for a range of existing nodes. The rules of each op are in
 * its definition (op_def.h, core/ops/<family>.c). Because the backward pass is
 * itself made of primitives with JVP rules, a JVP over forward + backward
 * nodes gives exact Hessian-vector products. */
#ifndef TSEDARTS_AUTODIFF_H
#define TSEDARTS_AUTODIFF_H

#include "tsedarts/ops.h"

/* Appends d loss / d wrt[i] for each i; loss must be a scalar. grads[i] is a
 * value (a zero constant when loss does not depend on wrt[i]). */
td_status graph_vjp(graph *g, int loss, int n_wrt, const int *wrt, int *grads);

/* Propagates tangents through nodes [begin, end). seed_values[i] has
 * tangent seed_tangents[i]. out[i] receives the tangent of query[i], or -1
 * when it is zero (does not depend on any seed). */
td_status graph_jvp(graph *g, int begin, int end, int n_seed,
                    const int *seed_values, const int *seed_tangents,
                    int n_query, const int *query, int *out);

/* The reverse rule of a custom-VJP block (vjp_blocks.c): contributions to x, gamma, beta
 * (ct[0..2], -1 when not wanted or absent) from the output cotangent G. */
void vjp_block_rule(graph *g, const vjp_block *b, int G, const unsigned char *want, int *ct);

/* Appends the gradient of scalar loss w.r.t. every parameter of the chosen
 * roles and binds each into ROLE_GRAD_WEIGHT / ROLE_GRAD_ALPHA at its
 * parameter's offset. */
td_status graph_param_grads(graph *g, int loss, int weights, int alphas);

/* After graph_param_grads: exact Hessian-vector products by forward mode
 * over the whole graph. The tangent is the ROLE_TANGENT_WEIGHT buffer (a
 * direction on the weights) and/or ROLE_TANGENT_ALPHA; the tangents of the
 * weight and alpha gradients land in ROLE_HVP_WEIGHT and ROLE_HVP_ALPHA:
 * H_ww u + H_wa t and H_aw u + H_aa t. */
td_status graph_param_hvp(graph *g, int tangent_weights, int tangent_alphas);
#endif
