#include "tsedarts/model.h"

#include <stdlib.h>
#include <string.h>

#include "tsedarts/autodiff.h"
#include "tsedarts/buffers.h"
#include "tsedarts/params.h"

static const value_role shared_roles[] = {ROLE_WEIGHT,         ROLE_ALPHA,         ROLE_BNSTAT,     ROLE_GRAD_WEIGHT,
                                          ROLE_GRAD_ALPHA,     ROLE_TANGENT_WEIGHT, ROLE_TANGENT_ALPHA,
                                          ROLE_HVP_WEIGHT,     ROLE_HVP_ALPHA};
#define N_SHARED ((int)(sizeof shared_roles / sizeof shared_roles[0]))

static td_status build_graph(const model *m, graph_kind kind, int batch, int recompute, graph **out, net_io *io)
{
    graph *g = graph_create();
    if (!g) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    layer_builder b;
    layer_init(&b, g, kind.train_bn, kind.update_running);
    b.recompute = recompute && (kind.grad_w || kind.grad_a);
    b.grads_alpha_only = kind.grad_a && !kind.grad_w && !kind.hvp_w && !kind.hvp_a;
    /* builders without skip dropout never touch these */
    io->skip_mask = -1;
    io->n_skip_masks = 0;
    io->skip_mask_numel = 0;
    td_status s = m->build(&b, m->net_config, batch, io);
    layer_free(&b);
    if (s == TD_OK) {
        io->loss = graph_bind(g, io->loss, ROLE_OUTPUT, (size_t)-1);
        io->logits = graph_bind(g, io->logits, ROLE_OUTPUT, (size_t)-1);
        if (io->aux_logits >= 0) io->aux_logits = graph_bind(g, io->aux_logits, ROLE_OUTPUT, (size_t)-1);
        if (kind.grad_w || kind.grad_a || kind.hvp_w || kind.hvp_a)
            s = graph_param_grads(g, io->loss, kind.grad_w || kind.hvp_w || kind.hvp_a, kind.grad_a || kind.hvp_w || kind.hvp_a);
        if (s == TD_OK && (kind.hvp_w || kind.hvp_a)) s = graph_param_hvp(g, kind.hvp_w, kind.hvp_a);
        if (s == TD_OK) s = graph_status(g);
    }
    if (s != TD_OK) {
        graph_destroy(g);
        return s;
    }
    *out = g;
    return TD_OK;
}

td_status model_create(model *m, const backend *be, dtype dt, net_builder_fn build, const void *net_config)
{
    memset(m, 0, sizeof *m);
    m->be = be;
    m->dt = dt;
    m->build = build;
    m->net_config = net_config;
    m->ws.be = be;
    m->ws.dt = dt;
    net_io io;
    graph_kind k = {0, 0, 1, 1, 0, 0};
    TD_CHECK(build_graph(m, k, 1, 0, &m->layout, &io));
    for (int i = 0; i < N_SHARED; i++) {
        value_role r = shared_roles[i];
        m->n[r] = m->layout->role_size[r];
        size_t bytes = (m->n[r] ? m->n[r] : 1) * dtype_size(dt);
        m->role[r] = be->alloc(bytes);
        if (!m->role[r]) {
            model_destroy(m);
            return TD_FAIL(TD_ERR_MEMORY, "cannot allocate %zu MiB for %s on %s", bytes >> 20, role_name(r), be->name);
        }
        TD_CHECK(be->zero(m->role[r], bytes));
    }
    return TD_OK;
}

void model_destroy(model *m)
{
    for (int i = 0; i < N_SHARED; i++)
        if (m->role[shared_roles[i]]) m->be->release(m->role[shared_roles[i]]);
    workspace_free(&m->ws);
    graph_destroy(m->layout);
    memset(m, 0, sizeof *m);
}

size_t model_role_bytes(const model *m, value_role r) { return m->n[r] * dtype_size(m->dt); }

td_status model_init_params(model *m, uint64_t seed)
{
    size_t es = dtype_size(m->dt);
    void *host[3];
    value_role roles[3] = {ROLE_WEIGHT, ROLE_ALPHA, ROLE_BNSTAT};
    for (int i = 0; i < 3; i++) host[i] = calloc(m->n[roles[i]] + 1, es);
    params_init(m->layout, seed, m->dt, host[0], host[1], host[2]);
    td_status s = TD_OK;
    for (int i = 0; i < 3 && s == TD_OK; i++) s = m->be->upload(m->role[roles[i]], host[i], m->n[roles[i]] * es);
    for (int i = 0; i < 3; i++) free(host[i]);
    return s;
}

td_status model_download_f64(const model *m, value_role r, double *dst)
{
    size_t es = dtype_size(m->dt);
    void *tmp = malloc(m->n[r] * es + 1);
    if (!tmp) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    td_status s = m->be->download(tmp, m->role[r], m->n[r] * es);
    if (s == TD_OK) convert_to_f64(tmp, m->dt, dst, m->n[r]);
    free(tmp);
    return s;
}

td_status model_upload_f64(model *m, value_role r, const double *src)
{
    size_t es = dtype_size(m->dt);
    void *tmp = malloc(m->n[r] * es + 1);
    if (!tmp) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    convert_from_f64(src, m->dt, tmp, m->n[r]);
    td_status s = m->be->upload(m->role[r], tmp, m->n[r] * es);
    free(tmp);
    return s;
}

/* Builds the graph of kind for batch by the model's activation policy:
 * under ACTIVATIONS_AUTO on a device, with every activation kept when that
 * plan's arena, beyond the shared arena the model already holds, fits
 * ACTIVATIONS_FIT_SHARE of the device's free memory; else recomputing. */
static td_status build_by_policy(const model *m, graph_kind kind, int batch, graph **g, net_io *io, int *recomputes)
{
    int trains = kind.grad_w || kind.grad_a;
    int recompute = m->activations == ACTIVATIONS_RECOMPUTE ||
                    (m->activations == ACTIVATIONS_AUTO && (!m->be->device_memory || !m->be->memory_free));
    *recomputes = trains && recompute;
    TD_CHECK(build_graph(m, kind, batch, recompute, g, io));
    if (m->activations != ACTIVATIONS_AUTO || recompute || !trains) return TD_OK;
    size_t arena;
    TD_CHECK(exec_plan_bytes(*g, m->be, m->dt, &arena));
    size_t more = arena > m->ws.bytes ? arena - m->ws.bytes : 0;
    if ((double)more <= ACTIVATIONS_FIT_SHARE * (double)m->be->memory_free()) return TD_OK;
    graph_destroy(*g);
    *g = NULL;
    *recomputes = 1;
    return build_graph(m, kind, batch, 1, g, io);
}

td_status net_exec_create(model *m, graph_kind kind, int batch, net_exec **out)
{
    net_exec *ne = calloc(1, sizeof *ne);
    if (!ne) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    ne->kind = kind;
    ne->batch = batch;
    td_status s = build_by_policy(m, kind, batch, &ne->g, &ne->io, &ne->recomputes);
    for (int i = 0; s == TD_OK && i < N_SHARED; i++) {
        value_role r = shared_roles[i];
        if (ne->g->role_size[r] != m->n[r])
            s = TD_FAIL(TD_ERR_STATE, "graph for batch %d has a different %s layout", batch, role_name(r));
    }
    if (s == TD_OK) s = exec_create_shared(ne->g, m->be, m->dt, &m->ws, &ne->ctx);
    value_role io_roles[3] = {ROLE_INPUT, ROLE_LABEL, ROLE_OUTPUT};
    for (int i = 0; s == TD_OK && i < 3; i++) {
        value_role r = io_roles[i];
        size_t bytes = (ne->g->role_size[r] + 1) * role_elem_size(r, m->dt);
        ne->io_buf[r] = m->be->alloc(bytes);
        if (!ne->io_buf[r]) s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
        else s = m->be->zero(ne->io_buf[r], bytes);
    }
    if (s == TD_OK) {
        ne->host_out = calloc(ne->g->role_size[ROLE_OUTPUT] + 1, dtype_size(m->dt));
        for (int i = 0; i < N_SHARED; i++) exec_bind(ne->ctx, shared_roles[i], m->role[shared_roles[i]]);
        for (int i = 0; i < 3; i++) exec_bind(ne->ctx, io_roles[i], ne->io_buf[io_roles[i]]);
        ne->loss_at = (int)ne->g->values[ne->io.loss].offset;
        ne->logits_at = (int)ne->g->values[ne->io.logits].offset;
        ne->aux_at = ne->io.aux_logits >= 0 ? (int)ne->g->values[ne->io.aux_logits].offset : -1;
        ne->ctx->be = m->be;
        /* what a trace calls its runs: what the graph computes, and the batch */
        graph_kind k = ne->kind;
        snprintf(ne->ctx->name, sizeof ne->ctx->name, "%s%s%s%s%s, batch %d", k.train_bn ? "train" : "eval",
                 k.grad_w ? " grad_w" : "", k.grad_a ? " grad_a" : "", k.hvp_w ? " hvp_w" : "",
                 k.hvp_a ? " hvp_a" : "", batch);
    }
    if (s != TD_OK) {
        for (int i = 0; i < 3; i++)
            if (ne->io_buf[io_roles[i]]) m->be->release(ne->io_buf[io_roles[i]]);
        exec_destroy(ne->ctx);
        graph_destroy(ne->g);
        free(ne);
        return s;
    }
    *out = ne;
    return TD_OK;
}

void net_exec_destroy(net_exec *ne)
{
    if (!ne) return;
    const backend *be = ne->ctx->be;
    value_role io_roles[3] = {ROLE_INPUT, ROLE_LABEL, ROLE_OUTPUT};
    for (int i = 0; i < 3; i++)
        if (ne->io_buf[io_roles[i]]) be->release(ne->io_buf[io_roles[i]]);
    exec_destroy(ne->ctx);
    graph_destroy(ne->g);
    free(ne->host_out);
    free(ne);
}

static td_status upload_input(const model *m, int pinned, void *dst, const void *src, size_t bytes)
{
    const backend *be = m->be;
    return pinned && be->upload_async ? be->upload_async(dst, src, bytes) : be->upload(dst, src, bytes);
}

td_status net_exec_launch(model *m, net_exec *ne, const net_batch *b)
{
    const graph *g = ne->g;
    size_t es = dtype_size(m->dt);
    const value *img = &g->values[ne->io.images];
    char *inputs = ne->io_buf[ROLE_INPUT];
    TD_CHECK(upload_input(m, b->pinned, inputs + img->offset * es, b->images, shape_numel(img->shape) * es));
    if (b->mask && ne->io.drop_mask >= 0) {
        /* the masks are consecutive inputs: one upload */
        const value *mv = &g->values[ne->io.drop_mask];
        TD_CHECK(upload_input(m, b->mask_pinned, inputs + mv->offset * es, b->mask,
                              (size_t)ne->io.n_masks * ne->batch * es));
    } else if (b->mask && ne->io.skip_mask >= 0) {
        /* graph_input places inputs one after another: one upload */
        const value *mv = &g->values[ne->io.skip_mask];
        TD_CHECK(upload_input(m, b->mask_pinned, inputs + mv->offset * es, b->mask, ne->io.skip_mask_numel * es));
    }
    TD_CHECK(upload_input(m, b->pinned, ne->io_buf[ROLE_LABEL], b->labels, (size_t)ne->batch * sizeof(int32_t)));
    return exec_run(ne->ctx);
}

td_status net_exec_fetch(model *m, net_exec *ne)
{
    return m->be->download(ne->host_out, ne->io_buf[ROLE_OUTPUT], ne->g->role_size[ROLE_OUTPUT] * dtype_size(m->dt));
}

td_status net_exec_run(model *m, net_exec *ne, const void *images, const int32_t *labels, const void *mask)
{
    net_batch b = {images, labels, mask, 0, 0};
    TD_CHECK(net_exec_launch(m, ne, &b));
    return net_exec_fetch(m, ne);
}

td_status net_exec_tally(model *m, net_exec *ne, backend_tally *t, unsigned what)
{
    if (!m->be->tally_pass) return TD_FAIL(TD_ERR_UNSUPPORTED, "backend %s keeps no tally", m->be->name);
    size_t es = dtype_size(m->dt);
    const char *out = ne->io_buf[ROLE_OUTPUT];
    tally_pass_args a = {out + (size_t)ne->loss_at * es, out + (size_t)ne->logits_at * es, ne->io_buf[ROLE_LABEL],
                         ne->batch, ne->g->values[ne->io.logits].shape.c, m->dt, what};
    return m->be->tally_pass(t, &a);
}

static double out_at(const net_exec *ne, dtype dt, size_t i)
{
    return dt == DT_F64 ? ((const double *)ne->host_out)[i] : ((const float *)ne->host_out)[i];
}

double net_exec_loss(const net_exec *ne, dtype dt) { return out_at(ne, dt, (size_t)ne->loss_at); }

int net_exec_correct(const net_exec *ne, dtype dt, const int32_t *labels)
{
    int classes = ne->g->values[ne->io.logits].shape.c, correct = 0;
    for (int n = 0; n < ne->batch; n++) {
        int best = 0;
        for (int k = 1; k < classes; k++)
            if (out_at(ne, dt, (size_t)ne->logits_at + (size_t)n * classes + k) >
                out_at(ne, dt, (size_t)ne->logits_at + (size_t)n * classes + best))
                best = k;
        correct += best == labels[n];
    }
    return correct;
}
