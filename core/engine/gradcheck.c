#include "tsedarts/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/autodiff.h"
#include "tsedarts/buffers.h"
#include "tsedarts/op_def.h"

/* A graph on f64 buffers of a host backend, with direct access to values. */
typedef struct f64_run {
    graph *g;
    role_buffers rb;
    exec_ctx *ctx;
} f64_run;

static td_status run_open(f64_run *r, const backend *be, graph *g, double *host[ROLE_COUNT])
{
    r->g = g;
    TD_CHECK(role_buffers_alloc(&r->rb, g, be, DT_F64));
    for (int role = 1; role < ROLE_COUNT; role++)
        if (g->role_size[role]) TD_CHECK(role_buffers_upload_f64(&r->rb, (value_role)role, host[role], g->role_size[role]));
    TD_CHECK(exec_create(g, be, DT_F64, &r->ctx));
    role_buffers_bind(&r->rb, r->ctx);
    return TD_OK;
}

static void run_close(f64_run *r)
{
    exec_destroy(r->ctx);
    role_buffers_free(&r->rb);
}

static double *vptr(const f64_run *r, int v) { return exec_value_ptr(r->ctx, v); }

static double rel_err(const double *a, const double *b, size_t n)
{
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += (a[i] - b[i]) * (a[i] - b[i]);
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }
    double den = sqrt(na > nb ? na : nb);
    return den < 1e-300 ? sqrt(d) : sqrt(d) / den;
}

/* Uniform [-1, 1) tangents / cotangents from a fixed pattern. */
static void fill_direction(double *x, size_t n, unsigned salt)
{
    uint32_t s = 2463534242u ^ salt;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        x[i] = (double)(s >> 8) / 8388608.0 - 1.0;
    }
}

static td_status check_vjp(const op_case *c, const backend *be, gradcheck_result *res)
{
    double *host[ROLE_COUNT];
    int in[OP_CASE_MAX_IN], wrt[OP_CASE_MAX_IN], grads[OP_CASE_MAX_IN], nw = 0;
    graph *g = op_case_graph(c, host, in);
    int y = g->nodes[g->n_nodes - 1].out;
    int G = graph_input(g, g->values[y].shape, 0);
    int L = graph_bind(g, op_sum_all(g, op_mul(g, y, G)), ROLE_OUTPUT, (size_t)-1);
    for (int k = 0; k < c->nin; k++)
        if (op_case_input_differentiable(c, k)) wrt[nw++] = in[k];
    td_status s = graph_vjp(g, L, nw, wrt, grads);
    for (int k = 0; s == TD_OK && k < nw; k++) grads[k] = graph_bind(g, grads[k], ROLE_OUTPUT, (size_t)-1);
    if (s == TD_OK) s = graph_status(g);
    for (int r = 0; s == TD_OK && r < ROLE_COUNT; r++) {
        host[r] = realloc(host[r], (g->role_size[r] + 1) * sizeof(double));
    }
    if (s == TD_OK) fill_direction(host[ROLE_INPUT] + g->values[G].offset, shape_numel(g->values[G].shape), 7);
    f64_run r = {0};
    if (s == TD_OK) s = run_open(&r, be, g, host);
    if (s == TD_OK) s = exec_run(r.ctx);
    double *ads[OP_CASE_MAX_IN] = {0};
    for (int k = 0; s == TD_OK && k < nw; k++) {
        size_t n = shape_numel(g->values[wrt[k]].shape);
        ads[k] = malloc(n * sizeof(double));
        memcpy(ads[k], vptr(&r, grads[k]), n * sizeof(double));
    }
    for (int k = 0; s == TD_OK && k < nw; k++) {
        size_t n = shape_numel(g->values[wrt[k]].shape);
        double *fd = malloc(n * sizeof *fd), *x = vptr(&r, wrt[k]);
        for (size_t i = 0; i < n && s == TD_OK; i++) {
            double x0 = x[i];
            x[i] = x0 + GRADCHECK_STEP;
            s = exec_run(r.ctx);
            double lp = *vptr(&r, L);
            x[i] = x0 - GRADCHECK_STEP;
            if (s == TD_OK) s = exec_run(r.ctx);
            double lm = *vptr(&r, L);
            x[i] = x0;
            fd[i] = (lp - lm) / (2 * GRADCHECK_STEP);
        }
        double e = rel_err(ads[k], fd, n);
        if (e > res->vjp_err || !isfinite(e)) {
            res->vjp_err = e;
            res->worst_input = k;
        }
        free(fd);
    }
    for (int k = 0; k < nw; k++) free(ads[k]);
    run_close(&r);
    op_case_host_free(host);
    graph_destroy(g);
    return s;
}

static td_status check_jvp(const op_case *c, const backend *be, gradcheck_result *res)
{
    double *host[ROLE_COUNT];
    int in[OP_CASE_MAX_IN], seeds[OP_CASE_MAX_IN], tans[OP_CASE_MAX_IN], ns = 0;
    graph *g = op_case_graph(c, host, in);
    int y = g->nodes[g->n_nodes - 1].out;
    int n_nodes = g->n_nodes;
    for (int k = 0; k < c->nin; k++)
        if (op_case_input_differentiable(c, k)) {
            seeds[ns] = in[k];
            tans[ns++] = graph_input(g, c->in[k], 0);
        }
    int ty = -1;
    td_status s = graph_jvp(g, 0, n_nodes, ns, seeds, tans, 1, &y, &ty);
    if (s == TD_OK && ty < 0) s = TD_FAIL(TD_ERR_CHECK, "%s: the JVP rule gave no tangent", c->label);
    if (s == TD_OK) ty = graph_bind(g, ty, ROLE_OUTPUT, (size_t)-1);
    if (s == TD_OK) s = graph_status(g);
    for (int r = 0; s == TD_OK && r < ROLE_COUNT; r++) host[r] = realloc(host[r], (g->role_size[r] + 1) * sizeof(double));
    for (int k = 0; s == TD_OK && k < ns; k++)
        fill_direction(host[ROLE_INPUT] + g->values[tans[k]].offset, shape_numel(g->values[tans[k]].shape), 300 + k);
    f64_run r = {0};
    if (s == TD_OK) s = run_open(&r, be, g, host);
    if (s == TD_OK) s = exec_run(r.ctx);
    size_t n = s == TD_OK ? shape_numel(g->values[y].shape) : 0;
    double *ad = malloc((n + 1) * sizeof *ad), *yp = malloc((n + 1) * sizeof *yp), *fd = malloc((n + 1) * sizeof *fd);
    if (s == TD_OK) memcpy(ad, vptr(&r, ty), n * sizeof *ad);
    for (int sign = 1; s == TD_OK && sign >= -1; sign -= 2) {
        for (int k = 0; k < ns; k++) {
            size_t m = shape_numel(g->values[seeds[k]].shape);
            double *x = vptr(&r, seeds[k]), *t = vptr(&r, tans[k]);
            const double *x0 = host[ROLE_INPUT] + g->values[seeds[k]].offset;
            for (size_t i = 0; i < m; i++) x[i] = x0[i] + sign * GRADCHECK_STEP * t[i];
        }
        s = exec_run(r.ctx);
        const double *yv = vptr(&r, y);
        for (size_t i = 0; i < n; i++) {
            if (sign > 0)
                yp[i] = yv[i];
            else
                fd[i] = (yp[i] - yv[i]) / (2 * GRADCHECK_STEP);
        }
    }
    if (s == TD_OK) res->jvp_err = rel_err(ad, fd, n);
    free(ad);
    free(yp);
    free(fd);
    run_close(&r);
    op_case_host_free(host);
    graph_destroy(g);
    return s;
}

/* For rules that are not the forward kernel's derivative (surrogate_rules):
 * <u, JVP(t)> against <VJP(u), t> for fixed directions u and t, both rules
 * built into one graph and run once. */
static td_status check_transpose(const op_case *c, const backend *be, gradcheck_result *res)
{
    double *host[ROLE_COUNT];
    int in[OP_CASE_MAX_IN], wrt[OP_CASE_MAX_IN], tans[OP_CASE_MAX_IN], grads[OP_CASE_MAX_IN], nw = 0;
    graph *g = op_case_graph(c, host, in);
    int n_nodes = g->n_nodes;
    int y = g->nodes[n_nodes - 1].out;
    for (int k = 0; k < c->nin; k++)
        if (op_case_input_differentiable(c, k)) {
            wrt[nw] = in[k];
            tans[nw++] = graph_input(g, c->in[k], 0);
        }
    int ty = -1;
    td_status s = graph_jvp(g, 0, n_nodes, nw, wrt, tans, 1, &y, &ty);
    if (s == TD_OK && ty < 0) s = TD_FAIL(TD_ERR_CHECK, "%s: the JVP rule gave no tangent", c->label);
    int G = graph_input(g, g->values[y].shape, 0);
    int L = op_sum_all(g, op_mul(g, y, G));
    if (s == TD_OK) s = graph_vjp(g, L, nw, wrt, grads);
    if (s == TD_OK) ty = graph_bind(g, ty, ROLE_OUTPUT, (size_t)-1);
    for (int k = 0; s == TD_OK && k < nw; k++) grads[k] = graph_bind(g, grads[k], ROLE_OUTPUT, (size_t)-1);
    if (s == TD_OK) s = graph_status(g);
    for (int r = 0; s == TD_OK && r < ROLE_COUNT; r++) host[r] = realloc(host[r], (g->role_size[r] + 1) * sizeof(double));
    if (s == TD_OK) fill_direction(host[ROLE_INPUT] + g->values[G].offset, shape_numel(g->values[G].shape), 7);
    for (int k = 0; s == TD_OK && k < nw; k++)
        fill_direction(host[ROLE_INPUT] + g->values[tans[k]].offset, shape_numel(g->values[tans[k]].shape), 300 + k);
    f64_run r = {0};
    if (s == TD_OK) s = run_open(&r, be, g, host);
    if (s == TD_OK) s = exec_run(r.ctx);
    if (s == TD_OK) {
        double forward = 0, reverse = 0, scale = 0;
        const double *u = vptr(&r, G), *jt = vptr(&r, ty);
        for (size_t i = 0, n = shape_numel(g->values[y].shape); i < n; i++) {
            forward += u[i] * jt[i];
            scale += fabs(u[i] * jt[i]);
        }
        for (int k = 0; k < nw; k++) {
            const double *gk = vptr(&r, grads[k]), *tk = vptr(&r, tans[k]);
            for (size_t i = 0, n = shape_numel(g->values[wrt[k]].shape); i < n; i++) {
                reverse += gk[i] * tk[i];
                scale += fabs(gk[i] * tk[i]);
            }
        }
        res->vjp_err = res->jvp_err = fabs(forward - reverse) / (scale > 1e-300 ? scale : 1.0);
        if (!(scale > 0)) s = TD_FAIL(TD_ERR_CHECK, "%s: the rules gave only zeros", c->label);
    }
    run_close(&r);
    op_case_host_free(host);
    graph_destroy(g);
    return s;
}

/* For rules that refuse (refused_rules): both must, with
 * TD_ERR_UNSUPPORTED and the op's name. */
static td_status check_refusal(const op_case *c)
{
    for (int mode = 0; mode < 2; mode++) {
        double *host[ROLE_COUNT];
        int in[OP_CASE_MAX_IN], wrt[OP_CASE_MAX_IN], out[OP_CASE_MAX_IN], nw = 0;
        graph *g = op_case_graph(c, host, in);
        int n_nodes = g->n_nodes;
        int y = g->nodes[n_nodes - 1].out;
        for (int k = 0; k < c->nin; k++)
            if (op_case_input_differentiable(c, k)) wrt[nw++] = in[k];
        td_status s;
        if (mode == 0) {
            s = graph_vjp(g, op_sum_all(g, y), nw, wrt, out);
        } else {
            int tans[OP_CASE_MAX_IN];
            for (int k = 0; k < nw; k++) tans[k] = graph_input(g, g->values[wrt[k]].shape, 0);
            int ty;
            s = graph_jvp(g, 0, n_nodes, nw, wrt, tans, 1, &y, &ty);
        }
        int named = strstr(g->error, op_name(c->op)) != NULL;
        op_case_host_free(host);
        graph_destroy(g);
        if (s != TD_ERR_UNSUPPORTED || !named)
            return TD_FAIL(TD_ERR_CHECK, "%s: the %s rule of %s should refuse with TD_ERR_UNSUPPORTED naming it",
                           c->label, mode ? "JVP" : "VJP", op_name(c->op));
    }
    return TD_OK;
}

td_status gradcheck_case(const op_case *c, const backend *be, gradcheck_result *res)
{
    memset(res, 0, sizeof *res);
    if (be->device_memory)
        return TD_FAIL(TD_ERR_ARG, "gradcheck: %s: the checks read values in place and need a host backend", be->name);
    if (c->op == OP_BN_RUNNING_UPDATE) return TD_OK;
    for (int k = 0; k < c->nin; k++) res->applicable |= op_case_input_differentiable(c, k);
    if (!res->applicable) return TD_OK;
    const op_def *d = op_def_of(c->op);
    if (d->refused_rules) {
        res->applicable = 0;
        res->refused = 1;
        return check_refusal(c);
    }
    if (d->surrogate_rules) {
        res->transposed = 1;
        return check_transpose(c, be, res);
    }
    TD_CHECK(check_vjp(c, be, res));
    return check_jvp(c, be, res);
}
