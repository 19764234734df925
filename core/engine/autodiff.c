/* Drivers for reverse and forward mode; each op's rules are in its
 * definition (core/ops/<family>.c). */
#include "tsedarts/autodiff.h"

#include <stdlib.h>
#include <string.h>

#include "tsedarts/op_def.h"

/* A per-channel vector or a scalar: kept from the forward pass instead of
 * recomputed (batch statistics would cost a full read of their input for
 * a few bytes). */
static int is_statistic(const graph *g, int v)
{
    shape4 s = g->values[v].shape;
    return s.n == 1 && s.h == 1 && s.w == 1;
}

/* Appends copies of a segment's forward nodes (sinks and statistics
 * excepted) reading the copies of each other; remap and recomp_node record
 * where they are (KEPT for statistics). */
#define KEPT (-2)
static void append_recompute(graph *g, recompute_segment seg, int *remap, int *recomp_node)
{
    int cap = 8;
    int *in = malloc((size_t)cap * sizeof *in);
    for (int j = seg.first; j <= seg.last && g->status == TD_OK; j++) {
        node nd = g->nodes[j];
        if (nd.out < 0) continue;
        if (is_statistic(g, nd.out)) {
            recomp_node[j] = KEPT;
            continue;
        }
        if (nd.nin > cap) in = realloc(in, (size_t)(cap = 2 * nd.nin) * sizeof *in);
        memcpy(in, graph_node_inputs(g, &nd), (size_t)nd.nin * sizeof *in);
        for (int k = 0; k < nd.nin; k++)
            if (remap[in[k]] >= 0) in[k] = remap[in[k]];
        int v = graph_add_node(g, nd.op, nd.nin, in, &nd.p);
        if (v < 0) break;
        remap[nd.out] = v;
        recomp_node[j] = g->n_nodes - 1;
    }
    free(in);
}

static int mapped(const int *remap, int v) { return v >= 0 && remap[v] >= 0 ? remap[v] : v; }

/* The node as its rules see it: copies of its inputs (read through remap
 * where that is given) and index list, since rules grow the graph. */
typedef struct rule_node {
    node nd;
    int *in, *idx;
    op_rule_args a;
} rule_node;

static int rule_node_open(graph *g, int i, const int *remap, rule_node *r)
{
    r->nd = g->nodes[i];
    r->in = malloc((size_t)(r->nd.nin ? r->nd.nin : 1) * sizeof *r->in);
    r->idx = malloc((size_t)(r->nd.p.idx_len ? r->nd.p.idx_len : 1) * sizeof *r->idx);
    if (!r->in || !r->idx) {
        free(r->in);
        free(r->idx);
        return graph_fail(g, "out of memory"), 0;
    }
    memcpy(r->in, graph_node_inputs(g, &r->nd), (size_t)r->nd.nin * sizeof *r->in);
    memcpy(r->idx, graph_node_index(g, &r->nd), (size_t)r->nd.p.idx_len * sizeof *r->idx);
    int y = r->nd.out;
    if (remap) {
        for (int k = 0; k < r->nd.nin; k++) r->in[k] = mapped(remap, r->in[k]);
        y = mapped(remap, y);
    }
    r->a = (op_rule_args){.p = &r->nd.p, .nin = r->nd.nin, .in = r->in, .idx = r->idx, .y = y};
    return 1;
}

static void rule_node_close(rule_node *r)
{
    free(r->in);
    free(r->idx);
}

/* Node i's reverse rule (inputs read through remap when it is given). */
static void apply_vjp(graph *g, int i, const int *remap, int G, const unsigned char *want, int *ct)
{
    const op_def *d = op_def_of(g->nodes[i].op);
    rule_node r;
    if (!d->vjp || !rule_node_open(g, i, remap, &r)) return;
    d->vjp(g, &r.a, G, want, ct);
    rule_node_close(&r);
}

/* Node i's forward rule: the tangent of its output, or -1. */
static int apply_jvp(graph *g, int i, const int *t)
{
    const op_def *d = op_def_of(g->nodes[i].op);
    rule_node r;
    if (!d->jvp || !rule_node_open(g, i, NULL, &r)) return -1;
    int y = d->jvp(g, &r.a, t);
    rule_node_close(&r);
    return y;
}

/* The cotangent contributions of each value, summed only when the value's
 * producer needs them: one n-ary sum reads each term once, where a chain
 * of pairwise adds would read and write the running sum once per term.
 * The terms are added in the order they arrived, so the sum is the one the
 * chain ((c0 + c1) + c2) + ... would give, bit for bit. */
typedef struct cotangents {
    int *sum;    /* per value: the summed cotangent, or -1 */
    int *count;  /* per value: terms waiting */
    int **terms; /* per value: the terms, in arrival order */
    int *cap;
} cotangents;

static void ct_add(graph *g, cotangents *c, int v, int term)
{
    if (c->count[v] == c->cap[v]) {
        int cap = c->cap[v] ? 2 * c->cap[v] : 4;
        int *t = realloc(c->terms[v], (size_t)cap * sizeof *t);
        if (!t) {
            graph_fail(g, "graph_vjp: out of memory");
            return;
        }
        c->terms[v] = t;
        c->cap[v] = cap;
    }
    c->terms[v][c->count[v]++] = term;
}

/* The cotangent of v (-1 when none reached it); sums its terms once. */
static int ct_get(graph *g, cotangents *c, int v)
{
    if (c->count[v] > 0) {
        c->sum[v] = c->count[v] == 1 ? c->terms[v][0] : op_weighted_sum(g, -1, c->count[v], c->terms[v], NULL);
        c->count[v] = 0;
    }
    return c->sum[v];
}

static int ct_any(const cotangents *c, int v) { return c->count[v] > 0 || c->sum[v] >= 0; }

/* A ReLU's backward takes its mask from the ReLU's output (see the OP_RELU
 * rule), which keeps the output alive until then. Where nothing else of
 * the backward pass reads that output but the backward pass reads the
 * ReLU's input anyway (a batch-norm output kept for its own backward, a
 * cell state kept for the alpha gradients), the mask is taken from the
 * input instead: x > 0 exactly when relu(x) > 0, so the bits are the same,
 * and the output dies in the forward pass while x, kept past the forward
 * pass either way, lives on until the mask is read. Never more memory:
 * where both were kept, now x alone is. Nodes from first_new on are the
 * backward pass. */
static void masks_from_inputs(graph *g, int first_new)
{
    int nv = g->n_values, nn = g->n_nodes;
    unsigned char *bwd_use = calloc((size_t)nv, 1), *other_bwd_use = calloc((size_t)nv, 1);
    if (!bwd_use || !other_bwd_use) {
        free(bwd_use);
        free(other_bwd_use);
        return; /* an optimisation only: the graph stays correct */
    }
    for (int i = first_new; i < nn; i++) {
        const node *nd = &g->nodes[i];
        const int *in = graph_node_inputs(g, nd);
        for (int k = 0; k < nd->nin; k++) {
            bwd_use[in[k]] = 1;
            if (!(nd->op == OP_RELU_BWD && k == 0)) other_bwd_use[in[k]] = 1;
        }
    }
    for (int i = first_new; i < nn; i++) {
        node *nd = &g->nodes[i];
        if (nd->op != OP_RELU_BWD) continue;
        int *in = g->ints + nd->in_off;
        int m = in[0], p = g->values[m].producer;
        if (p < 0 || g->nodes[p].op != OP_RELU || other_bwd_use[m]) continue;
        int x = graph_node_inputs(g, &g->nodes[p])[0];
        if (g->values[x].role == ROLE_ACT && !bwd_use[x]) continue;
        in[0] = x;
    }
    free(bwd_use);
    free(other_bwd_use);
}

td_status graph_vjp(graph *g, int loss, int n_wrt, const int *wrt, int *grads)
{
    TD_CHECK(graph_status(g));
    if (loss < 0 || loss >= g->n_values || shape_numel(g->values[loss].shape) != 1)
        return TD_FAIL(TD_ERR_ARG, "graph_vjp: the loss must be a scalar value");
    int n_values = g->n_values, n_nodes = g->n_nodes;
    unsigned char *dep = calloc((size_t)n_values, 1);
    cotangents ct = {malloc((size_t)n_values * sizeof(int)), calloc((size_t)n_values, sizeof(int)),
                     calloc((size_t)n_values, sizeof(int *)), calloc((size_t)n_values, sizeof(int))};
    if (!dep || !ct.sum || !ct.count || !ct.terms || !ct.cap) {
        free(dep);
        free(ct.sum);
        free(ct.count);
        free(ct.terms);
        free(ct.cap);
        return TD_FAIL(TD_ERR_MEMORY, "graph_vjp: out of memory");
    }
    for (int v = 0; v < n_values; v++) ct.sum[v] = -1;
    for (int i = 0; i < n_wrt; i++) dep[wrt[i]] = 1;
    /* Forward reachability from the wrt values: only those paths need
     * cotangents. */
    for (int i = 0; i < n_nodes; i++) {
        const node *nd = &g->nodes[i];
        if (nd->out < 0) continue;
        const int *in = graph_node_inputs(g, nd);
        for (int k = 0; k < nd->nin; k++)
            if (dep[in[k]] && op_input_differentiable(nd->op, k)) dep[nd->out] = 1;
    }
    if (dep[loss]) ct_add(g, &ct, loss, op_const(g, g->values[loss].shape, 1.0));
    /* Nodes inside a custom-VJP block are differentiated by its rule. */
    int *block_of = malloc(((size_t)n_nodes + 1) * sizeof *block_of);
    for (int i = 0; i < n_nodes; i++) block_of[i] = -1;
    int n_blocks = g->n_blocks;
    for (int b = 0; b < n_blocks; b++)
        for (int i = g->blocks[b].first; i <= g->blocks[b].last; i++) block_of[i] = b;
    /* Segments: their nodes are differentiated through recomputed copies. */
    int *seg_of = malloc(((size_t)n_nodes + 1) * sizeof *seg_of);
    int *recomp_node = malloc(((size_t)n_nodes + 1) * sizeof *recomp_node);
    int *remap = malloc(((size_t)n_values + 1) * sizeof *remap);
    for (int i = 0; i < n_nodes; i++) seg_of[i] = recomp_node[i] = -1;
    for (int v = 0; v < n_values; v++) remap[v] = -1;
    for (int sgi = 0; sgi < g->n_segments; sgi++)
        for (int i = g->segments[sgi].first; i <= g->segments[sgi].last && i < n_nodes; i++) seg_of[i] = sgi;
    int *inputs = NULL, *contrib = NULL;
    unsigned char *want = NULL;
    int cap = 0;
    for (int i = n_nodes - 1; i >= 0 && g->status == TD_OK; i--) {
        if (seg_of[i] >= 0 && i == g->segments[seg_of[i]].last) append_recompute(g, g->segments[seg_of[i]], remap, recomp_node);
        if (block_of[i] >= 0) {
            vjp_block blk = g->blocks[block_of[i]];
            if (i == blk.last && ct_get(g, &ct, blk.out) >= 0) {
                /* the rule reads the recomputed copies when there are any */
                vjp_block use = blk;
                use.out = mapped(remap, blk.out);
                use.x = mapped(remap, blk.x);
                use.gamma = mapped(remap, blk.gamma);
                use.beta = mapped(remap, blk.beta);
                use.xc = mapped(remap, blk.xc);
                use.r = mapped(remap, blk.r);
                int bin[3] = {blk.x, blk.gamma, blk.beta}, bct[3] = {-1, -1, -1};
                unsigned char bw[3];
                for (int k = 0; k < 3; k++) bw[k] = bin[k] >= 0 && dep[bin[k]];
                vjp_block_rule(g, &use, ct_get(g, &ct, blk.out), bw, bct);
                for (int k = 0; k < 3; k++)
                    if (bw[k] && bct[k] >= 0) ct_add(g, &ct, bin[k], bct[k]);
            }
            node nd = g->nodes[i];
            if (nd.out >= 0 && nd.out != blk.out && ct_any(&ct, nd.out)) {
                graph_fail(g, "graph_vjp: a value inside a custom-VJP block is used outside it");
                break;
            }
            continue;
        }
        node nd = g->nodes[i];
        if (nd.out < 0 || ct_get(g, &ct, nd.out) < 0) continue;
        if (nd.nin > cap) {
            cap = nd.nin * 2;
            inputs = realloc(inputs, (size_t)cap * sizeof *inputs);
            contrib = realloc(contrib, (size_t)cap * sizeof *contrib);
            want = realloc(want, (size_t)cap);
        }
        memcpy(inputs, graph_node_inputs(g, &nd), (size_t)nd.nin * sizeof *inputs);
        int any = 0;
        for (int k = 0; k < nd.nin; k++) {
            want[k] = dep[inputs[k]] && op_input_differentiable(nd.op, k);
            contrib[k] = -1;
            any |= want[k];
        }
        if (!any) continue;
        if (recomp_node[i] == KEPT)
            apply_vjp(g, i, remap, ct.sum[nd.out], want, contrib);
        else
            apply_vjp(g, recomp_node[i] >= 0 ? recomp_node[i] : i, NULL, ct.sum[nd.out], want, contrib);
        /* Accumulate in input order: a fixed order keeps sums reproducible. */
        for (int k = 0; k < nd.nin; k++)
            if (want[k] && contrib[k] >= 0) ct_add(g, &ct, inputs[k], contrib[k]);
    }
    for (int i = 0; i < n_wrt; i++) {
        int c = g->status == TD_OK ? ct_get(g, &ct, wrt[i]) : -1;
        grads[i] = c >= 0 ? c : op_const(g, g->values[wrt[i]].shape, 0.0);
    }
    if (g->status == TD_OK) masks_from_inputs(g, n_nodes);
    free(inputs);
    free(contrib);
    free(want);
    free(dep);
    for (int v = 0; v < n_values; v++) free(ct.terms[v]);
    free(ct.sum);
    free(ct.count);
    free(ct.terms);
    free(ct.cap);
    free(block_of);
    free(seg_of);
    free(recomp_node);
    free(remap);
    return graph_status(g);
}

td_status graph_jvp(graph *g, int begin, int end, int n_seed,
                    const int *seed_values, const int *seed_tangents,
                    int n_query, const int *query, int *out)
{
    TD_CHECK(graph_status(g));
    if (begin < 0 || end > g->n_nodes || begin > end)
        return TD_FAIL(TD_ERR_ARG, "graph_jvp: bad node range [%d, %d)", begin, end);
    int n_values = g->n_values;
    int *tan = malloc((size_t)n_values * sizeof *tan);
    if (!tan) return TD_FAIL(TD_ERR_MEMORY, "graph_jvp: out of memory");
    for (int v = 0; v < n_values; v++) tan[v] = -1;
    for (int i = 0; i < n_seed; i++) {
        if (!shape_equal(g->values[seed_values[i]].shape, g->values[seed_tangents[i]].shape)) {
            free(tan);
            return TD_FAIL(TD_ERR_ARG, "graph_jvp: seed %d: tangent shape differs from its value", i);
        }
        tan[seed_values[i]] = seed_tangents[i];
    }
    int *t = NULL;
    int cap = 0;
    for (int i = begin; i < end && g->status == TD_OK; i++) {
        node nd = g->nodes[i];
        if (nd.out < 0) continue;
        if (nd.nin > cap) {
            cap = nd.nin * 2;
            t = realloc(t, (size_t)cap * sizeof *t);
        }
        const int *in = graph_node_inputs(g, &nd);
        int any = 0;
        for (int k = 0; k < nd.nin; k++) {
            t[k] = op_input_differentiable(nd.op, k) ? tan[in[k]] : -1;
            any |= t[k] >= 0;
        }
        if (!any) continue;
        tan[nd.out] = apply_jvp(g, i, t);
    }
    for (int i = 0; i < n_query; i++) out[i] = query[i] < n_values ? tan[query[i]] : -1;
    free(t);
    free(tan);
    return graph_status(g);
}

td_status graph_param_hvp(graph *g, int tangent_weights, int tangent_alphas)
{
    TD_CHECK(graph_status(g));
    int n_nodes = g->n_nodes, np = g->n_params;
    int *seeds = calloc((size_t)np + 1, sizeof *seeds), *tans = calloc((size_t)np + 1, sizeof *tans);
    int *query = calloc((size_t)np + 1, sizeof *query), *qparam = calloc((size_t)np + 1, sizeof *qparam);
    int *out = calloc((size_t)np + 1, sizeof *out);
    int ns = 0, nq = 0;
    if (!seeds || !tans || !query || !qparam || !out) {
        free(seeds), free(tans), free(query), free(qparam), free(out);
        return graph_fail(g, "out of memory building the Hessian-vector products"), graph_status(g);
    }
    for (int p = 0; p < np; p++) {
        const param *pr = &g->params[p];
        if ((pr->role == ROLE_WEIGHT && tangent_weights) || (pr->role == ROLE_ALPHA && tangent_alphas)) {
            /* a leaf reading the tangent buffer at the parameter's offset */
            int t = graph_input(g, pr->shape, 0);
            if (t < 0) break;
            g->role_size[ROLE_INPUT] -= shape_numel(pr->shape);
            g->values[t].role = pr->role == ROLE_WEIGHT ? ROLE_TANGENT_WEIGHT : ROLE_TANGENT_ALPHA;
            g->values[t].offset = pr->offset;
            seeds[ns] = pr->value;
            tans[ns++] = t;
        }
    }
    /* the gradient values: bound to GRAD roles at the parameters' offsets */
    for (int p = 0; p < np; p++) {
        const param *pr = &g->params[p];
        if (pr->role == ROLE_BNSTAT) continue;
        value_role gr = pr->role == ROLE_WEIGHT ? ROLE_GRAD_WEIGHT : ROLE_GRAD_ALPHA;
        for (int v = 0; v < g->n_values; v++)
            if (g->values[v].role == gr && g->values[v].offset == pr->offset && g->values[v].producer >= 0) {
                query[nq] = v;
                qparam[nq++] = p;
                break;
            }
    }
    td_status s = graph_jvp(g, 0, n_nodes, ns, seeds, tans, nq, query, out);
    for (int i = 0; s == TD_OK && i < nq; i++) {
        const param *pr = &g->params[qparam[i]];
        int t = out[i] >= 0 ? out[i] : op_const(g, pr->shape, 0.0);
        graph_bind(g, t, pr->role == ROLE_WEIGHT ? ROLE_HVP_WEIGHT : ROLE_HVP_ALPHA, pr->offset);
    }
    /* run each tangent beside its primal node: appended after the whole
     * graph, the tangents would keep every forward activation alive
     * through the backward pass (measured: 15.8 GB of arena for the
     * 8-layer supernet at batch 64) */
    if (s == TD_OK) graph_interleave_tail(g, n_nodes);
    free(seeds);
    free(tans);
    free(query);
    free(qparam);
    free(out);
    return s == TD_OK ? graph_status(g) : s;
}

td_status graph_param_grads(graph *g, int loss, int weights, int alphas)
{
    TD_CHECK(graph_status(g));
    int n = 0;
    int *wrt = calloc((size_t)g->n_params + 1, sizeof *wrt);
    int *pidx = malloc((size_t)(g->n_params + 1) * sizeof *pidx);
    int *grads = malloc((size_t)(g->n_params + 1) * sizeof *grads);
    if (!wrt || !pidx || !grads) {
        free(wrt);
        free(pidx);
        free(grads);
        return TD_FAIL(TD_ERR_MEMORY, "graph_param_grads: out of memory");
    }
    for (int p = 0; p < g->n_params; p++) {
        value_role r = g->params[p].role;
        if ((r == ROLE_WEIGHT && weights) || (r == ROLE_ALPHA && alphas)) {
            wrt[n] = g->params[p].value;
            pidx[n++] = p;
        }
    }
    td_status s = graph_vjp(g, loss, n, wrt, grads);
    for (int i = 0; s == TD_OK && i < n; i++) {
        const param *pr = &g->params[pidx[i]];
        graph_bind(g, grads[i], pr->role == ROLE_WEIGHT ? ROLE_GRAD_WEIGHT : ROLE_GRAD_ALPHA, pr->offset);
    }
    free(wrt);
    free(pidx);
    free(grads);
    return s == TD_OK ? graph_status(g) : s;
}
