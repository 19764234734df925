#include "tsedarts/compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/buffers.h"

static td_status setup(const graph *g, compare_side s, double *const host[ROLE_COUNT], role_buffers *rb,
                       exec_ctx **ctx)
{
    TD_CHECK(role_buffers_alloc(rb, g, s.be, s.dt));
    for (int r = 1; r < ROLE_COUNT; r++)
        if (host[r] && g->role_size[r]) TD_CHECK(role_buffers_upload_f64(rb, (value_role)r, host[r], g->role_size[r]));
    TD_CHECK(exec_create_plain(g, s.be, s.dt, ctx)); /* every node is compared */
    role_buffers_bind(rb, *ctx);
    return TD_OK;
}

static td_status fetch(const exec_ctx *ctx, int v, double *dst, size_t n)
{
    dtype t = ctx->g->values[v].is_int ? DT_I32 : ctx->dt; /* window indices */
    size_t es = dtype_size(t);
    void *tmp = malloc(n * es + 1);
    if (!tmp) return TD_FAIL(TD_ERR_MEMORY, "compare: out of memory");
    td_status s = ctx->be->download(tmp, exec_value_ptr(ctx, v), n * es);
    convert_to_f64(tmp, t, dst, n);
    free(tmp);
    return s;
}

/* Fetches value v on both sides after node i and folds it into res. */
static td_status compare_value(const graph *g, int i, int out, const exec_ctx *ca, const exec_ctx *cb, compare_side a,
                               compare_side b, double rtol, double atol, double **pva, double **pvb, size_t *cap,
                               compare_result *res)
{
    size_t n = shape_numel(g->values[out].shape);
    if (n > *cap) {
        double *na = realloc(*pva, n * sizeof *na);
        if (na) *pva = na;
        double *nb = realloc(*pvb, n * sizeof *nb);
        if (nb) *pvb = nb;
        if (!na || !nb) return TD_FAIL(TD_ERR_MEMORY, "compare: out of memory");
        *cap = n;
    }
    double *va = *pva, *vb = *pvb;
    TD_CHECK(fetch(ca, out, va, n));
    TD_CHECK(fetch(cb, out, vb, n));
    res->nodes_compared++;
    double worst = 0;
    size_t worst_i = 0;
    int nonfinite = 0;
    for (size_t e = 0; e < n; e++) {
        if (memcmp(&va[e], &vb[e], sizeof va[e])) res->values_differing++;
        int fa = isfinite(va[e]), fb = isfinite(vb[e]);
        if (fa != fb) {
            nonfinite = 1;
            worst_i = e;
            break;
        }
        if (!fa) continue;
        double d = fabs(va[e] - vb[e]), r = d / (atol + rtol * fabs(vb[e]));
        if (d > res->max_abs_err) res->max_abs_err = d;
        if (r > worst) {
            worst = r;
            worst_i = e;
        }
    }
    if (worst > res->worst_ratio) {
        res->worst_ratio = worst;
        res->worst_node = i;
    }
    if ((nonfinite || worst > 1.0) && res->first_bad_node < 0) {
        res->first_bad_node = i;
        char sh[48];
        snprintf(res->message, sizeof res->message,
                 "node %d (%s, output %s) differs first: element %zu is %.9g on %s/%s and %.9g on %s/%s%s", i,
                 op_name(g->nodes[i].op), shape_format(g->values[out].shape, sh, sizeof sh), worst_i, va[worst_i],
                 a.be->name, dtype_name(a.dt), vb[worst_i], b.be->name, dtype_name(b.dt),
                 nonfinite ? " (non-finite on one side)" : "");
    }
    return TD_OK;
}

td_status compare_run(const graph *g, compare_side a, compare_side b, double *const host[ROLE_COUNT],
                      double rtol, double atol, compare_result *res)
{
    memset(res, 0, sizeof *res);
    res->first_bad_node = -1;
    res->worst_node = -1;
    role_buffers ra = {0}, rbuf = {0};
    exec_ctx *ca = NULL, *cb = NULL;
    double *va = NULL, *vb = NULL;
    size_t cap = 0;
    td_status s = setup(g, a, host, &ra, &ca);
    if (s == TD_OK) s = setup(g, b, host, &rbuf, &cb);
    for (int i = 0; s == TD_OK && i < g->n_nodes; i++) {
        if (!ca->needed[i]) continue;
        if ((s = exec_run_node(ca, i)) != TD_OK) break;
        if ((s = exec_run_node(cb, i)) != TD_OK) break;
        /* a sink (the running-statistics update) has no output: what it
         * writes is its in-place inputs, so those are compared instead */
        const node *nd = &g->nodes[i];
        const int *in = graph_node_inputs(g, nd);
        int targets[4], nt = 0;
        if (nd->out >= 0)
            targets[nt++] = nd->out;
        else
            for (int k = 0; k < nd->nin && nt < 4; k++)
                if (g->values[in[k]].role == ROLE_BNSTAT) targets[nt++] = in[k];
        for (int t = 0; s == TD_OK && t < nt && res->first_bad_node < 0; t++)
            s = compare_value(g, i, targets[t], ca, cb, a, b, rtol, atol, &va, &vb, &cap, res);
        if (res->first_bad_node >= 0) break;
    }
    free(va);
    free(vb);
    exec_destroy(ca);
    exec_destroy(cb);
    role_buffers_free(&ra);
    role_buffers_free(&rbuf);
    return s;
}
