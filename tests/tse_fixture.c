#include "tse_fixture.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/buffers.h"
#include "tsedarts/philox.h"
#include "tsedarts/backend_cpu.h"

static td_status run_pass(void *ctx, tse_pass pass, int t, double *loss)
{
    tse_fixture *f = ctx;
    net_exec *ne = f->exec[pass];
    TD_CHECK(net_exec_run(&f->m, ne, f->images_dt[t], f->labels[t], NULL));
    if (loss) *loss = net_exec_loss(ne, f->dt);
    return TD_OK;
}

size_t fixture_n_alpha(const tse_fixture *f) { return f->m.n[ROLE_ALPHA]; }
size_t fixture_n_weight(const tse_fixture *f) { return f->m.n[ROLE_WEIGHT]; }

static void *backend_buffer(const model *m, size_t elems)
{
    size_t bytes = (elems ? elems : 1) * dtype_size(m->dt);
    void *p = m->be->alloc(bytes);
    cr_assert(p);
    cr_assert_eq(m->be->zero(p, bytes), TD_OK);
    return p;
}

void fixture_init(tse_fixture *f, int smooth, int recompute, int steps, double lr, double momentum, double wd, dtype dt)
{
    fixture_init_on(f, backend_cpu(), smooth, recompute, steps, lr, momentum, wd, dt);
}

void fixture_init_on(tse_fixture *f, const backend *be, int smooth, int recompute, int steps, double lr,
                     double momentum, double wd, dtype dt)
{
    memset(f, 0, sizeof *f);
    cr_assert(steps <= FIX_MAX_STEPS);
    f->net = (supernet_config){4, 3, 3, 8, 10, smooth};
    f->batch = 4;
    f->steps = steps;
    f->dt = dt;
    model *m = &f->m;
    cr_assert_eq(model_create(m, be, dt, supernet_build_fn, &f->net), TD_OK);
    m->activations = recompute ? ACTIVATIONS_RECOMPUTE : ACTIVATIONS_KEEP;
    cr_assert_eq(model_init_params(m, 11), TD_OK);
    graph_kind kinds[3] = {{1, 0, 1, 1, 0, 0}, {1, 1, 1, 0, 0, 0}, {1, 1, 1, 0, 1, 0}};
    for (int k = 0; k < 3; k++) cr_assert_eq(net_exec_create(m, kinds[k], f->batch, &f->exec[k]), TD_OK);
    graph_kind ka = {1, 1, 1, 0, 0, 1};
    cr_assert_eq(net_exec_create(m, ka, f->batch, &f->hvp_alpha), TD_OK);
    size_t img = (size_t)f->batch * 3 * 8 * 8;
    philox_stream s;
    philox_stream_init(&s, 5, PURPOSE_TEST, 1);
    for (int t = 0; t < steps; t++) {
        f->images[t] = malloc(img * sizeof(double));
        f->images_dt[t] = malloc(img * dtype_size(dt));
        f->labels[t] = malloc((size_t)f->batch * sizeof(int32_t));
        for (size_t i = 0; i < img; i++) f->images[t][i] = 2 * philox_next_uniform_f64(&s) - 1;
        convert_from_f64(f->images[t], dt, f->images_dt[t], img);
        for (int i = 0; i < f->batch; i++) f->labels[t][i] = (int32_t)philox_next_below(&s, 10);
        f->lr[t] = lr;
    }
    size_t nw = m->n[ROLE_WEIGHT], na = m->n[ROLE_ALPHA], nb = m->n[ROLE_BNSTAT];
    f->w0 = malloc(nw * sizeof(double));
    f->v0 = malloc(nw * sizeof(double));
    f->bn0 = malloc((nb + 1) * sizeof(double));
    f->a0 = malloc(na * sizeof(double));
    cr_assert_eq(model_download_f64(m, ROLE_WEIGHT, f->w0), TD_OK);
    cr_assert_eq(model_download_f64(m, ROLE_BNSTAT, f->bn0), TD_OK);
    /* a nonzero starting momentum, as inside a search, and alphas away
     * from uniform so that the mixed ops are not symmetric */
    for (size_t i = 0; i < nw; i++) f->v0[i] = 0.05 * philox_next_normal(&s);
    for (size_t i = 0; i < na; i++) f->a0[i] = 0.5 * philox_next_normal(&s);
    f->momentum = backend_buffer(m, nw);
    f->snaps = backend_buffer(m, nw * (size_t)steps);
    f->adj_w = backend_buffer(m, nw);
    f->adj_v = backend_buffer(m, nw);
    f->g_exact = backend_buffer(m, na);
    f->g_first = backend_buffer(m, na);
    f->prob = (tse_problem){m, steps, f->lr, momentum, wd, run_pass, f};
}

void fixture_free(tse_fixture *f)
{
    void *bufs[] = {f->momentum, f->snaps, f->adj_w, f->adj_v, f->g_exact, f->g_first};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) f->m.be->release(bufs[i]);
    for (int k = 0; k < 3; k++) net_exec_destroy(f->exec[k]);
    net_exec_destroy(f->hvp_alpha);
    for (int t = 0; t < f->steps; t++) {
        free(f->images[t]);
        free(f->images_dt[t]);
        free(f->labels[t]);
    }
    free(f->w0);
    free(f->v0);
    free(f->bn0);
    free(f->a0);
    model_destroy(&f->m);
}

void fixture_reset(tse_fixture *f, const double *alphas)
{
    model *m = &f->m;
    cr_assert_eq(model_upload_f64(m, ROLE_WEIGHT, f->w0), TD_OK);
    cr_assert_eq(model_upload_f64(m, ROLE_BNSTAT, f->bn0), TD_OK);
    cr_assert_eq(model_upload_f64(m, ROLE_ALPHA, alphas ? alphas : f->a0), TD_OK);
    size_t nw = m->n[ROLE_WEIGHT], es = dtype_size(m->dt);
    void *tmp = malloc(nw * es);
    convert_from_f64(f->v0, m->dt, tmp, nw);
    cr_assert_eq(m->be->upload(f->momentum, tmp, nw * es), TD_OK);
    free(tmp);
}

double fixture_tse(tse_fixture *f, const double *alphas)
{
    fixture_reset(f, alphas);
    double tse;
    cr_assert_eq(tse_rollout(&f->prob, f->momentum, f->snaps, &tse), TD_OK, "%s", td_error_message());
    return tse;
}

static void download(const model *m, const void *src, double *dst, size_t n)
{
    size_t es = dtype_size(m->dt);
    void *tmp = malloc(n * es + 1);
    cr_assert_eq(m->be->download(tmp, src, n * es), TD_OK);
    convert_to_f64(tmp, m->dt, dst, n);
    free(tmp);
}

void fixture_gradients(tse_fixture *f, const double *alphas, double *exact, double *first)
{
    fixture_tse(f, alphas);
    cr_assert_eq(tse_exact_gradient(&f->prob, f->snaps, f->adj_w, f->adj_v, f->g_exact, f->g_first), TD_OK, "%s",
                 td_error_message());
    size_t na = f->m.n[ROLE_ALPHA];
    if (exact) download(&f->m, f->g_exact, exact, na);
    if (first) download(&f->m, f->g_first, first, na);
}
