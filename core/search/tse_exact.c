/* Exact TSE hypergradient by reverse mode over the SGD trajectory
 * (docs/numerics.md s.2.6). With g_t = grad_w L_t(w_t) + wd w_t,
 * v_{t+1} = mu v_t + g_t and w_{t+1} = w_t - eta_t v_{t+1}, the adjoints
 * (A_w, A_v) of (w_{t+1}, v_{t+1}) start at zero after the last step and
 * go back one step at a time:
 *   B = A_v - eta_t A_w                      (total adjoint of v_{t+1})
 *   alpha_grad += dL_t/dalpha + H_aw B
 *   A_w <- A_w + dL_t/dw + H_ww B + wd B
 *   A_v <- mu B
 * The initial momentum v_0 does not depend on alpha. */
#include "tsedarts/tse_exact.h"

#include <math.h>
#include <stdlib.h>

#include "tsedarts/buffers.h"

size_t tse_snapshot_bytes(const tse_problem *p)
{
    return (size_t)p->steps * p->m->n[ROLE_WEIGHT] * dtype_size(p->m->dt);
}

static void *snapshot(const tse_problem *p, const void *snapshots, int t)
{
    return (char *)snapshots + (size_t)t * p->m->n[ROLE_WEIGHT] * dtype_size(p->m->dt);
}

td_status tse_rollout_step(const tse_problem *p, int t, void *momentum, void *snapshots, double *loss)
{
    model *m = p->m;
    const backend *be = m->be;
    size_t nw = m->n[ROLE_WEIGHT];
    if (t < 0 || t >= p->steps) return TD_FAIL(TD_ERR_ARG, "tse rollout: step %d outside 0..%d", t, p->steps - 1);
    TD_CHECK(be->flat_copy(snapshot(p, snapshots, t), m->role[ROLE_WEIGHT], nw * dtype_size(m->dt)));
    TD_CHECK(p->run(p->ctx, TSE_PASS_TRAIN, t, loss));
    return be->sgd_step(m->role[ROLE_WEIGHT], m->role[ROLE_GRAD_WEIGHT], momentum, nw, m->dt, p->lr[t], p->momentum,
                        p->weight_decay, 0);
}

td_status tse_rollout(const tse_problem *p, void *momentum, void *snapshots, double *tse)
{
    double sum = 0;
    for (int t = 0; t < p->steps; t++) {
        double l;
        /* a loss asked for is a read the host waits for */
        TD_CHECK(tse_rollout_step(p, t, momentum, snapshots, tse ? &l : NULL));
        if (tse) sum += l;
    }
    if (tse) *tse = sum;
    return TD_OK;
}

td_status tse_exact_gradient(const tse_problem *p, const void *snapshots, void *adj_w, void *adj_v, void *grad_exact,
                             void *grad_first)
{
    model *m = p->m;
    const backend *be = m->be;
    dtype dt = m->dt;
    size_t nw = m->n[ROLE_WEIGHT], na = m->n[ROLE_ALPHA], es = dtype_size(dt);
    void *B = m->role[ROLE_TANGENT_WEIGHT];
    TD_CHECK(be->zero(adj_w, nw * es));
    TD_CHECK(be->zero(adj_v, nw * es));
    TD_CHECK(be->zero(grad_exact, na * es));
    if (grad_first) TD_CHECK(be->zero(grad_first, na * es));
    for (int t = p->steps - 1; t >= 0; t--) {
        /* After the last step both adjoints are zero: B = 0 and the
         * second-order terms vanish, so a plain gradient pass does. */
        int second_order = t < p->steps - 1;
        if (second_order) {
            TD_CHECK(be->flat_copy(B, adj_v, nw * es));
            TD_CHECK(be->flat_axpy(B, adj_w, nw, dt, -p->lr[t]));
        }
        TD_CHECK(be->flat_copy(m->role[ROLE_WEIGHT], snapshot(p, snapshots, t), nw * es));
        TD_CHECK(p->run(p->ctx, second_order ? TSE_PASS_HVP : TSE_PASS_GRAD, t, NULL));
        TD_CHECK(be->flat_axpy(grad_exact, m->role[ROLE_GRAD_ALPHA], na, dt, 1.0));
        if (second_order) TD_CHECK(be->flat_axpy(grad_exact, m->role[ROLE_HVP_ALPHA], na, dt, 1.0));
        if (grad_first) TD_CHECK(be->flat_axpy(grad_first, m->role[ROLE_GRAD_ALPHA], na, dt, 1.0));
        if (t == 0) break; /* the adjoints of w_0 and v_0 are not needed */
        TD_CHECK(be->flat_axpy(adj_w, m->role[ROLE_GRAD_WEIGHT], nw, dt, 1.0));
        if (second_order) {
            TD_CHECK(be->flat_axpy(adj_w, m->role[ROLE_HVP_WEIGHT], nw, dt, 1.0));
            TD_CHECK(be->flat_axpy(adj_w, B, nw, dt, p->weight_decay));
            TD_CHECK(be->flat_copy(adj_v, B, nw * es));
            TD_CHECK(be->flat_scale(adj_v, nw, dt, p->momentum));
        }
    }
    return TD_OK;
}

td_status tse_compare_gradients(const model *m, const void *exact, const void *first, double *cosine,
                                double *norm_ratio, double *norm_exact, double *norm_first)
{
    size_t na = m->n[ROLE_ALPHA], es = dtype_size(m->dt);
    void *raw = malloc(2 * na * es + 1);
    double *a = malloc((2 * na + 1) * sizeof *a), *b = a ? a + na : NULL;
    td_status s = raw && a ? TD_OK : TD_FAIL(TD_ERR_MEMORY, "out of memory");
    if (s == TD_OK) s = m->be->download(raw, exact, na * es);
    if (s == TD_OK) s = m->be->download((char *)raw + na * es, first, na * es);
    if (s == TD_OK) {
        convert_to_f64(raw, m->dt, a, na);
        convert_to_f64((char *)raw + na * es, m->dt, b, na);
        double ab = 0, aa = 0, bb = 0;
        for (size_t i = 0; i < na; i++) {
            ab += a[i] * b[i];
            aa += a[i] * a[i];
            bb += b[i] * b[i];
        }
        *norm_exact = sqrt(aa);
        *norm_first = sqrt(bb);
        *cosine = aa > 0 && bb > 0 ? ab / (sqrt(aa) * sqrt(bb)) : 0;
        *norm_ratio = bb > 0 ? sqrt(aa) / sqrt(bb) : 0;
    }
    free(raw);
    free(a);
    return s;
}
