/* The search loop. Work is cut into units (one DARTS step; one TSE rollout
 * or retrain step), each a pure function of the state and of
 * (seed, epoch, unit), so a checkpoint between units resumes exactly. */
#include "tsedarts/search.h"

#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/arch_hessian.h"
#include "tsedarts/checkpoint.h"
#include "tsedarts/rundir.h"
#include "tsedarts/darts.h"
#include "tsedarts/philox.h"
#include "tsedarts/data.h"
#include "tsedarts/fileio.h"
#include "tsedarts/model.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"
#include "tsedarts/safetensors.h"
#include "tsedarts/search_internal.h"

const search_algorithm *search_algorithm_for(search_algo a)
{
    switch (a) {
    case ALGO_DARTS1: return &search_darts1;
    case ALGO_DARTS2: return &search_darts2;
    case ALGO_TSE:
    case ALGO_TSE_EXACT: return &search_tse;
    case ALGO_PDARTS: return &search_pdarts;
    case ALGO_TSE_PDARTS: return &search_tse_pdarts;
    case ALGO_DRNAS: return &search_drnas;
    case ALGO_TSE_DRNAS: return &search_tse_drnas;
    default: return NULL;
    }
}

/* ------------------------------------------------------------ graphs */

static const graph_kind kinds[K_COUNT] = {
    [K_W] = {1, 0, 1, 1, 0, 0},       [K_WA] = {1, 1, 1, 1, 0, 0},       [K_A] = {0, 1, 1, 1, 0, 0},
    [K_W_NOUPD] = {1, 0, 1, 0, 0, 0}, [K_WA_NOUPD] = {1, 1, 1, 0, 0, 0}, [K_A_NOUPD] = {0, 1, 1, 0, 0, 0},
    [K_EVAL] = {0, 0, 0, 0, 0, 0},
    /* gradients and exact Hessian-vector products along a weight (TSE
     * exact) or alpha (architecture Hessian) direction; statistics kept */
    [K_HVP_W] = {1, 1, 1, 0, 1, 0},   [K_HVP_A] = {1, 1, 1, 0, 0, 1},
};

/* Graphs are built on first use, one per (kind, batch size): the last batch
 * of an epoch is smaller and BN statistics depend on the batch. */
td_status search_exec(search_state *st, int kind, int batch, net_exec **out)
{
    for (int i = 0; i < st->n_execs; i++)
        if (st->exec_kind[i] == kind && st->execs[i]->batch == batch) {
            *out = st->execs[i];
            return TD_OK;
        }
    if (st->n_execs == SEARCH_MAX_EXECS) return TD_FAIL(TD_ERR_STATE, "search: too many graphs");
    net_exec *ne = NULL;
    TD_CHECK(net_exec_create(&st->m, kinds[kind], batch, &ne));
    st->exec_kind[st->n_execs] = kind;
    st->execs[st->n_execs++] = ne;
    *out = ne;
    return TD_OK;
}

/* The algorithm's per-pass inputs, if it has any (DrNAS: Dirichlet draws). */
static td_status before_run(search_state *st, net_exec *ne)
{
    const search_algorithm *alg = search_algorithm_for(st->cfg.algo);
    return alg && alg->stages && alg->stages->before_run ? alg->stages->before_run(st, ne) : TD_OK;
}

static const search_stage_hooks *stage_hooks(const search_state *st)
{
    const search_algorithm *alg = search_algorithm_for(st->cfg.algo);
    return alg ? alg->stages : NULL;
}

/* ------------------------------------------------------------ data */

td_status search_half_sizes(const search_config *c, int n, int *split, int *n_w, int *n_a)
{
    *split = (int)floor(c->train_portion * n);
    if (*split < 1 || *split >= n) return TD_FAIL(TD_ERR_ARG, "train portion %g leaves an empty half", c->train_portion);
    /* File order, no permutation before the split (as the reference). */
    *n_w = *split;
    *n_a = n - *split;
    if (c->algo == ALGO_TSE || c->algo == ALGO_TSE_EXACT || c->algo == ALGO_TSE_PDARTS) {
        if (c->tse_all_data) *n_w = n;
    }
    if (c->subset > 0) {
        int cap = c->subset * (c->tse_all_data && *n_w == n ? 2 : 1);
        if (*n_w > cap) *n_w = cap;
        if (*n_a > c->subset) *n_a = c->subset;
    }
    return TD_OK;
}

td_status search_load_data(search_state *st)
{
    const search_config *c = &st->cfg;
    if (st->opt.train_set) {
        st->train = *st->opt.train_set;
        st->train_borrowed = 1;
    } else {
        TD_CHECK(dataset_load_named(c->dataset, c->data_dir, c->pad32, 1, &st->train));
    }
    int n = st->train.n, split, n_w, n_a;
    TD_CHECK(search_half_sizes(c, n, &split, &n_w, &n_a));
    st->ids_w = malloc((size_t)n_w * sizeof *st->ids_w);
    st->ids_a = malloc((size_t)n_a * sizeof *st->ids_a);
    if (!st->ids_w || !st->ids_a) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    for (int i = 0; i < n_w; i++) st->ids_w[i] = i;
    for (int i = 0; i < n_a; i++) st->ids_a[i] = split + i;
    st->n_w = n_w;
    st->n_a = n_a;
    st->cfg.net.in_ch = st->train.c;
    st->cfg.net.hw = st->train.h;
    st->cfg.net.classes = st->train.classes;
    st->net.cfg = st->cfg.net; /* a staged search replaces it with its stage's */
    size_t img = (size_t)c->batch * st->train.c * st->train.h * st->train.w;
    TD_CHECK(device_step_open(&st->dstep, st->opt.be));
    TD_CHECK(batch_buffers_create(&st->batches, st->opt.be, img * dtype_size(c->dt), c->batch, 0));
    st->images = st->batches.images[st->batches.cur];
    st->labels = st->batches.labels[st->batches.cur];
    st->order_w = malloc((size_t)n_w * sizeof *st->order_w);
    st->order_a = malloc((size_t)n_a * sizeof *st->order_a);
    st->batch_ids = malloc((size_t)c->batch * sizeof *st->batch_ids);
    if (!st->order_w || !st->order_a || !st->batch_ids) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    return TD_OK;
}

void search_next_buffers(search_state *st)
{
    td_status s = batch_buffers_next(&st->batches);
    if (s != TD_OK && st->batch_status == TD_OK) st->batch_status = s;
    st->images = st->batches.images[st->batches.cur];
    st->labels = st->batches.labels[st->batches.cur];
}

/* Per-epoch orders of both halves from (seed, shuffle, 2 epoch + half). */
void search_epoch_orders(search_state *st, int epoch)
{
    data_permutation(st->cfg.seed, PURPOSE_SHUFFLE, 2 * (uint64_t)epoch, st->n_w, st->order_w);
    data_permutation(st->cfg.seed, PURPOSE_SHUFFLE, 2 * (uint64_t)epoch + 1, st->n_a, st->order_a);
    st->orders_epoch = epoch;
}

int search_steps_per_epoch(const search_state *st) { return (st->n_w + st->cfg.batch - 1) / st->cfg.batch; }

/* Batch `step` of a half (the valid half wraps if it is shorter). */
int search_make_batch(search_state *st, int half, int step, int epoch)
{
    const int *order = half ? st->order_a : st->order_w;
    const int *ids = half ? st->ids_a : st->ids_w;
    int n = half ? st->n_a : st->n_w, B = st->cfg.batch;
    int start = (int)(((long)step * B) % n), b = n - start < B ? n - start : B;
    for (int i = 0; i < b; i++) st->batch_ids[i] = ids[order[start + i]];
    augment aug = {4, 1, 0};
    search_next_buffers(st);
    data_make_batch(&st->train, st->batch_ids, b, &aug, st->cfg.seed, (uint32_t)epoch, st->cfg.dt, st->images,
                    st->labels);
    return b;
}

/* ------------------------------------------------------------ optimisers */

td_status search_weight_step(search_state *st, double lr, int clip)
{
    model *m = &st->m;
    const backend *be = m->be;
    size_t n = m->n[ROLE_WEIGHT];
    if (clip) TD_CHECK(device_step_clip(&st->dstep, m->role[ROLE_GRAD_WEIGHT], n, m->dt, st->cfg.grad_clip));
    st->weight_steps++;
    return be->sgd_step(m->role[ROLE_WEIGHT], m->role[ROLE_GRAD_WEIGHT], st->momentum, n, m->dt, lr, st->cfg.momentum,
                        st->cfg.weight_decay, st->cfg.nesterov);
}

td_status search_arch_step(search_state *st, const void *grad)
{
    model *m = &st->m;
    st->arch_steps++;
    return m->be->adam_step(m->role[ROLE_ALPHA], grad, st->adam_m, st->adam_v, m->n[ROLE_ALPHA], m->dt,
                            st->cfg.arch_lr, st->cfg.arch_beta1, st->cfg.arch_beta2, st->cfg.arch_eps,
                            st->cfg.arch_weight_decay, st->arch_steps);
}

/* The pass's figures where the host reads them: each loss downloaded,
 * checked and added at once. */
static td_status figures_on_host(search_state *st, net_exec *ne, int b, unsigned what, double *loss)
{
    double l = net_exec_loss(ne, st->cfg.dt);
    if (!isfinite(l))
        return TD_FAIL(TD_ERR_STATE, "epoch %d: the loss became %g (diverged); lower the learning rate", st->epoch, l);
    if (what & RUN_COUNT) {
        st->acc.loss_sum += l * b;
        st->acc.correct += net_exec_correct(ne, st->cfg.dt, st->labels);
        st->acc.count += b;
    }
    if (what & RUN_TSE_SUM) st->acc.tse_sum += l;
    if (loss) *loss = l;
    return TD_OK;
}

/* Runs a graph on the current batch and adds its loss/accuracy to the
 * epoch's training statistics (RUN_COUNT) and its loss to the TSE group
 * sum (RUN_TSE_SUM). Where the step keeps its scalars on the backend,
 * nothing is read back unless the caller asks for the loss. */
td_status search_run_batch(search_state *st, int kind, int b, unsigned what, double *loss)
{
    TD_CHECK(st->batch_status);
    net_exec *ne = NULL;
    const void *mask = NULL;
    TD_CHECK(search_exec(st, kind, b, &ne));
    TD_CHECK(search_skip_masks(st, ne, &mask));
    TD_CHECK(before_run(st, ne));
    if (!st->dstep.on) {
        TD_CHECK(net_exec_run(&st->m, ne, st->images, st->labels, mask));
        return figures_on_host(st, ne, b, what, loss);
    }
    TD_CHECK(batch_buffers_launch(&st->batches, &st->m, ne, mask));
    unsigned tally = ((what & RUN_COUNT) ? TALLY_TRAIN : 0) | ((what & RUN_TSE_SUM) ? TALLY_PLAIN : 0);
    TD_CHECK(net_exec_tally(&st->m, ne, st->dstep.tally, tally));
    if (device_step_diverged_now(&st->dstep)) return search_read_figures(st);
    if (what & RUN_COUNT) st->acc.count += b;
    if (!loss) return TD_OK;
    TD_CHECK(net_exec_fetch(&st->m, ne));
    *loss = net_exec_loss(ne, st->cfg.dt);
    return TD_OK;
}

td_status search_read_figures(search_state *st)
{
    if (!st->dstep.on) return TD_OK;
    backend_tally t;
    TD_CHECK(device_step_tally_read(&st->dstep, &t));
    st->acc.loss_sum = t.loss_sum;
    st->acc.correct = (long)t.correct;
    st->acc.tse_sum = t.loss_plain;
    if (t.nonfinite)
        return TD_FAIL(TD_ERR_STATE,
                       "epoch %d: a loss became %g (diverged; non-finite in %lld of the passes read); lower the "
                       "learning rate",
                       st->epoch, t.first_nonfinite, t.nonfinite);
    return TD_OK;
}

/* The tally set to st->acc: zero at an epoch's start, a checkpoint's
 * figures on resume. */
static td_status write_figures(search_state *st)
{
    if (!st->dstep.on) return TD_OK;
    backend_tally t = {st->acc.loss_sum, st->acc.tse_sum, st->acc.correct, 0, 0};
    return device_step_tally_write(&st->dstep, &t);
}

/* ------------------------------------------------------------ state */

int search_tse_sweeps(const search_state *st)
{
    return st->cfg.algo == ALGO_TSE_EXACT || (st->cfg.algo == ALGO_TSE && st->cfg.tse_analysis);
}

int search_tse_group_max(const search_state *st)
{
    int S = search_steps_per_epoch(st);
    return st->cfg.tse_steps < S ? st->cfg.tse_steps : S;
}

size_t search_tse_snapshot_bytes(const search_state *st)
{
    return (size_t)search_tse_group_max(st) * st->m.n[ROLE_WEIGHT] * dtype_size(st->m.dt);
}

td_status search_alloc_buffers(search_state *st)
{
    model *m = &st->m;
    size_t es = dtype_size(m->dt), nw = m->n[ROLE_WEIGHT], na = m->n[ROLE_ALPHA], nb = m->n[ROLE_BNSTAT];
    struct {
        void **p;
        size_t n;
    } bufs[] = {{&st->momentum, nw}, {&st->adam_m, na}, {&st->adam_v, na}, {&st->w_snap, nw},
                {&st->bn_snap, nb},  {&st->mom_snap, nw}, {&st->a_acc, na}, {&st->tmp_w, nw},
                {&st->tmp_w2, nw},   {&st->tmp_a, na},  {&st->tmp_a2, na}};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i].p = m->be->alloc((bufs[i].n ? bufs[i].n : 1) * es);
        if (!*bufs[i].p) return TD_FAIL(TD_ERR_MEMORY, "out of memory for optimiser state");
        TD_CHECK(m->be->zero(*bufs[i].p, (bufs[i].n ? bufs[i].n : 1) * es));
    }
    if (search_tse_sweeps(st)) {
        if (st->cfg.nesterov)
            return TD_FAIL(TD_ERR_UNSUPPORTED, "the exact TSE gradient follows plain SGD momentum, not Nesterov");
        size_t bytes = search_tse_snapshot_bytes(st);
        st->tse_snaps = m->be->alloc(bytes ? bytes : 1);
        if (!st->tse_snaps)
            return TD_FAIL(TD_ERR_MEMORY, "cannot allocate %zu MiB for the %d weight snapshots of the exact TSE gradient",
                           bytes >> 20, search_tse_group_max(st));
        TD_CHECK(m->be->zero(st->tse_snaps, bytes ? bytes : 1));
    }
    return TD_OK;
}

void search_free_model(search_state *st)
{
    for (int i = 0; i < st->n_execs; i++) net_exec_destroy(st->execs[i]);
    st->n_execs = 0;
    void **bufs[] = {&st->momentum, &st->adam_m, &st->adam_v, &st->w_snap, &st->bn_snap, &st->mom_snap,
                     &st->a_acc, &st->tmp_w, &st->tmp_w2, &st->tmp_a, &st->tmp_a2, &st->tse_snaps};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (*bufs[i]) st->m.be->release(*bufs[i]);
        *bufs[i] = NULL;
    }
    if (st->m.be) model_destroy(&st->m);
}

td_status search_build_model(search_state *st)
{
    TD_CHECK(model_create(&st->m, st->opt.be, st->cfg.dt, supernet_stage_build_fn, &st->net));
    /* same bits either way: recomputation only trades time for memory */
    st->m.activations = st->opt.activations;
    return search_alloc_buffers(st);
}

void search_free_state(search_state *st)
{
    const search_stage_hooks *h = stage_hooks(st);
    if (h && h->free_state) h->free_state(st);
    search_free_model(st);
    free(st->skip_host);
    if (!st->train_borrowed) dataset_free(&st->train);
    free(st->ids_w);
    free(st->ids_a);
    free(st->order_w);
    free(st->order_a);
    free(st->batch_ids);
    batch_buffers_free(&st->batches);
    st->images = NULL;
    st->labels = NULL;
    device_step_close(&st->dstep);
}

/* Sections of a checkpoint: what a unit boundary needs to continue. */
static int state_sections(search_state *st, ckpt_section *s)
{
    model *m = &st->m;
    size_t es = dtype_size(m->dt), nw = m->n[ROLE_WEIGHT] * es, na = m->n[ROLE_ALPHA] * es,
           nb = m->n[ROLE_BNSTAT] * es;
    int n = 0;
    s[n++] = (ckpt_section){"weights", m->role[ROLE_WEIGHT], nw};
    s[n++] = (ckpt_section){"alphas", m->role[ROLE_ALPHA], na};
    s[n++] = (ckpt_section){"bn_stats", m->role[ROLE_BNSTAT], nb};
    s[n++] = (ckpt_section){"momentum", st->momentum, nw};
    s[n++] = (ckpt_section){"adam_m", st->adam_m, na};
    s[n++] = (ckpt_section){"adam_v", st->adam_v, na};
    s[n++] = (ckpt_section){"weights_snapshot", st->w_snap, nw};
    s[n++] = (ckpt_section){"bn_snapshot", st->bn_snap, nb};
    s[n++] = (ckpt_section){"momentum_snapshot", st->mom_snap, nw};
    s[n++] = (ckpt_section){"alpha_grad_sum", st->a_acc, na};
    if (st->tse_snaps) s[n++] = (ckpt_section){"tse_weight_snapshots", st->tse_snaps, search_tse_snapshot_bytes(st)};
    return n;
}

static char *state_meta(const search_state *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "epoch", json_integer(st->epoch));
    json_object_set_new(o, "unit", json_integer(st->unit));
    json_object_set_new(o, "arch_steps", json_integer(st->arch_steps));
    json_object_set_new(o, "weight_steps", json_integer(st->weight_steps));
    json_object_set_new(o, "loss_sum", json_real(st->acc.loss_sum));
    json_object_set_new(o, "correct", json_integer(st->acc.correct));
    json_object_set_new(o, "count", json_integer(st->acc.count));
    json_object_set_new(o, "tse_sum", json_real(st->acc.tse_sum));
    json_object_set_new(o, "tse_groups", json_integer(st->acc.tse_groups));
    json_object_set_new(o, "cos_sum", json_real(st->acc.cos_sum));
    json_object_set_new(o, "cos_n", json_integer(st->acc.cos_n));
    if (search_algo_staged(st->cfg.algo)) {
        json_object_set_new(o, "stage", json_integer(st->stage));
        json_object_set_new(o, "skip_passes", json_integer(st->skip_passes));
        json_t *ops = json_array();
        for (int k = 0; k <= st->stage; k++)
            json_array_append_new(ops, pdarts_stage_json(st->stage_nets[k].cfg.layers, &st->stage_nets[k].edges));
        json_object_set_new(o, "stage_ops", ops);
    }
    const search_stage_hooks *h = stage_hooks(st);
    if (h && h->save_meta) h->save_meta(st, o);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

static td_status save_checkpoint(search_state *st)
{
    TD_CHECK(search_read_figures(st));
    ckpt_section s[CHECKPOINT_MAX_SECTIONS];
    int n = state_sections(st, s);
    char *meta = state_meta(st);
    td_status r = run_checkpoint_save(st->ckpt_path, st->m.be, st->config_hash, meta, st->metrics.path, s, n);
    free(meta);
    return r;
}

static td_status load_checkpoint(search_state *st)
{
    ckpt_section s[CHECKPOINT_MAX_SECTIONS];
    int n = state_sections(st, s);
    json_t *o = NULL;
    TD_CHECK(run_checkpoint_load(st->ckpt_path, st->m.be, st->config_hash, st->metrics.path, s, n, &o));
    st->epoch = (int)json_integer_value(json_object_get(o, "epoch"));
    st->unit = (int)json_integer_value(json_object_get(o, "unit"));
    st->arch_steps = (long)json_integer_value(json_object_get(o, "arch_steps"));
    st->weight_steps = (long)json_integer_value(json_object_get(o, "weight_steps"));
    st->acc.loss_sum = json_number_value(json_object_get(o, "loss_sum"));
    st->acc.correct = (long)json_integer_value(json_object_get(o, "correct"));
    st->acc.count = (long)json_integer_value(json_object_get(o, "count"));
    st->acc.tse_sum = json_number_value(json_object_get(o, "tse_sum"));
    st->acc.tse_groups = (long)json_integer_value(json_object_get(o, "tse_groups"));
    st->acc.cos_sum = json_number_value(json_object_get(o, "cos_sum"));
    st->acc.cos_n = (long)json_integer_value(json_object_get(o, "cos_n"));
    st->skip_passes = (long)json_integer_value(json_object_get(o, "skip_passes"));
    const search_stage_hooks *h = stage_hooks(st);
    td_status r = h && h->load_meta ? h->load_meta(st, o) : TD_OK;
    json_decref(o);
    if (r == TD_OK) r = write_figures(st);
    if (r != TD_OK) return r;
    return chain_log_open(&st->metrics, st->metrics.path);
}

/* ------------------------------------------------------------ epoch end */

/* Scores the first eval_images of the validation half, BN in eval mode. */
static td_status evaluate(search_state *st, double *loss, double *acc, int *count)
{
    int n = st->cfg.eval_images < 0 || st->cfg.eval_images > st->n_a ? st->n_a : st->cfg.eval_images;
    double ls = 0;
    long correct = 0;
    augment none = {0, 0, 0};
    for (int start = 0; start < n; start += st->cfg.batch) {
        int b = n - start < st->cfg.batch ? n - start : st->cfg.batch;
        search_next_buffers(st);
        TD_CHECK(st->batch_status);
        data_make_batch(&st->train, st->ids_a + start, b, &none, st->cfg.seed, 0, st->cfg.dt, st->images, st->labels);
        net_exec *ne = NULL;
        TD_CHECK(search_exec(st, K_EVAL, b, &ne));
        TD_CHECK(before_run(st, ne));
        TD_CHECK(net_exec_run(&st->m, ne, st->images, st->labels, NULL));
        ls += net_exec_loss(ne, st->cfg.dt) * b;
        correct += net_exec_correct(ne, st->cfg.dt, st->labels);
    }
    *count = n;
    *loss = n ? ls / n : 0;
    *acc = n ? (double)correct / n : 0;
    return TD_OK;
}

/* Largest eigenvalue of the architecture Hessian (+ 1e-3 I) of the loss on
 * the epoch's first validation batch, BN in train mode (docs/numerics.md s.2.7). */
static td_status arch_hessian_max(search_state *st, double *lmax, double *secs)
{
    double t0 = now_seconds();
    int b = search_make_batch(st, 1, 0, st->epoch);
    TD_CHECK(st->batch_status);
    net_exec *ne = NULL;
    TD_CHECK(search_exec(st, K_HVP_A, b, &ne));
    const void *mask;
    TD_CHECK(search_skip_masks(st, ne, &mask));
    alpha_hvp_ctx c = {&st->m, ne, st->images, st->labels, mask};
    int n = (int)st->m.n[ROLE_ALPHA];
    td_status s;
    if (st->cfg.hessian_lanczos > 0) {
        s = hessian_lanczos_max(n, alpha_hvp, &c, ARCH_HESSIAN_SHIFT, st->cfg.hessian_lanczos, st->cfg.seed, lmax);
    } else {
        double *H = malloc((size_t)n * n * sizeof *H), *eig = malloc((size_t)n * sizeof *eig);
        s = H && eig ? hessian_full(n, alpha_hvp, &c, H) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
        if (s == TD_OK) s = hessian_eigenvalues(n, H, ARCH_HESSIAN_SHIFT, eig);
        if (s == TD_OK) *lmax = eig[n - 1];
        free(H);
        free(eig);
    }
    *secs = now_seconds() - t0;
    return s;
}

/* The hashes of weights.safetensors and alphas.safetensors as they would
 * be written now (model_export_sha256); taken after the epoch's
 * evaluations, so the last record's are those of the files write_outputs
 * leaves, and a replay or resume must reach the same state every epoch. */
static td_status record_state_hashes(search_state *st, json_t *o)
{
    char w[SHA256_HEX_LEN], a[SHA256_HEX_LEN];
    TD_CHECK(model_export_sha256(&st->m, st->weight_steps, w, a));
    json_object_set_new(o, "weights_sha256", json_string(w));
    json_object_set_new(o, "alphas_sha256", json_string(a));
    return TD_OK;
}

static void tick(search_state *st, run_tick what)
{
    if (st->opt.tick) st->opt.tick(st->opt.tick_ctx, what);
}

static td_status end_epoch(search_state *st, double lr)
{
    TD_CHECK(search_read_figures(st));
    double vl = 0, va = 0, h_max = 0, h_secs = 0;
    int vn = 0;
    if (st->cfg.eval_images != 0) {
        TD_CHECK(evaluate(st, &vl, &va, &vn));
        tick(st, RUN_TICK_EVAL);
    }
    int hessian_due = st->cfg.hessian_every > 0 && (st->epoch + 1) % st->cfg.hessian_every == 0;
    if (hessian_due) TD_CHECK(arch_hessian_max(st, &h_max, &h_secs));
    search_arch arch;
    TD_CHECK(search_arch_describe(st, &arch));
    json_t *o = json_object();
    json_object_set_new(o, "epoch", json_integer(st->epoch));
    if (search_algo_staged(st->cfg.algo)) {
        json_object_set_new(o, "stage", json_integer(st->stage + 1));
        json_object_set_new(o, "stage_epoch", json_integer(search_stage_epoch(st)));
        json_object_set_new(o, "skip_dropout_p", json_real(st->net.edges.skip_dropout ? st->skip_p : 0));
    }
    json_object_set_new(o, "lr", json_real(lr));
    json_object_set_new(o, "train_loss", json_real(st->acc.count ? st->acc.loss_sum / st->acc.count : 0));
    json_object_set_new(o, "train_acc", json_real(st->acc.count ? (double)st->acc.correct / st->acc.count : 0));
    if (vn) {
        json_object_set_new(o, "valid_loss", json_real(vl));
        json_object_set_new(o, "valid_acc", json_real(va));
        json_object_set_new(o, "valid_images", json_integer(vn));
    }
    if (st->acc.tse_groups) json_object_set_new(o, "tse_mean_group_sum", json_real(st->acc.tse_sum / st->acc.tse_groups));
    if (st->acc.cos_n) json_object_set_new(o, "tse_mean_cosine", json_real(st->acc.cos_sum / st->acc.cos_n));
    if (hessian_due) {
        json_object_set_new(o, "hessian_max_eigenvalue", json_real(h_max));
        json_object_set_new(o, "hessian_method", json_string(st->cfg.hessian_lanczos ? "lanczos" : "full"));
    }
    json_object_set_new(o, "arch_steps", json_integer(st->arch_steps));
    search_arch_json(&arch, o);
    td_status s = search_softmax_json(st, o);
    if (s == TD_OK) s = record_state_hashes(st, o);
    if (s != TD_OK) {
        json_decref(o);
        return s;
    }
    char *rec = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    s = chain_log_append(&st->metrics, rec);
    free(rec);
    char stage_tag[48] = "";
    if (search_algo_staged(st->cfg.algo))
        snprintf(stage_tag, sizeof stage_tag, " (stage %d, %d cells, %d ops/edge)", st->stage + 1, st->net.cfg.layers,
                 st->net.edges.n_ops);
    if (!st->opt.quiet)
        progress_line(&st->prog, "epoch %d/%d%s  lr %.4f  train loss %.4f acc %.3f  %sdepth %d skip %d",
                      st->epoch + 1, search_total_epochs(&st->cfg), stage_tag, lr,
                      st->acc.count ? st->acc.loss_sum / st->acc.count : 0,
                      st->acc.count ? (double)st->acc.correct / st->acc.count : 0,
                      arch.space == SPACE_NB201 ? "cell " : "normal ", search_arch_depth(&arch), search_arch_skips(&arch));
    if (!st->opt.quiet && vn) progress_line(&st->prog, "           valid loss %.4f acc %.3f (%d images)", vl, va, vn);
    if (!st->opt.quiet && st->acc.cos_n)
        progress_line(&st->prog, "           exact vs first-order TSE gradient: mean cosine %.3f over %ld updates",
                      st->acc.cos_sum / st->acc.cos_n, st->acc.cos_n);
    if (!st->opt.quiet && hessian_due)
        progress_line(&st->prog, "           architecture Hessian: largest eigenvalue %.5g (%s, %.1f s)", h_max,
                      st->cfg.hessian_lanczos ? "Lanczos" : "full", h_secs);
    return s;
}

/* ------------------------------------------------------------ outputs */

static td_status write_outputs(search_state *st, search_arch *arch)
{
    char path[4400];
    TD_CHECK(search_arch_describe(st, arch));
    char text[1200];
    snprintf(text, sizeof text, "# derived from the final alphas of this run\n%s\n", arch->text);
    TD_CHECK(path_format(path, sizeof path, "%s/genotype.txt", st->opt.out_dir));
    TD_CHECK(file_write_text_atomic(path, text));
    TD_CHECK(path_format(path, sizeof path, "%s/alphas.safetensors", st->opt.out_dir));
    TD_CHECK(model_export_alphas(&st->m, path));
    TD_CHECK(path_format(path, sizeof path, "%s/weights.safetensors", st->opt.out_dir));
    return model_export_safetensors(&st->m, path, st->weight_steps);
}

/* ------------------------------------------------------------ run */

td_status search_run(const search_config *cfg, const search_options *opt, search_result *res)
{
    memset(res, 0, sizeof *res);
    if (!opt->be) return TD_FAIL(TD_ERR_ARG, "search: no backend given (the caller chooses the device)");
    if (search_algo_staged(cfg->algo) && cfg->net.space != SPACE_DARTS)
        return TD_FAIL(TD_ERR_ARG, "search: %s searches the darts space only", search_algo_name(cfg->algo));
    search_state *st = calloc(1, sizeof *st);
    if (!st) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    st->cfg = *cfg;
    st->opt = *opt;
    if (opt->threads > 0) omp_set_num_threads(opt->threads);
    char path[4400];
    int from_checkpoint = 0;
    const search_stage_hooks *hooks = stage_hooks(st);
    td_status s = hooks && hooks->check_config ? hooks->check_config(&st->cfg) : TD_OK;
    if (s == TD_OK) s = path_format(st->ckpt_path, sizeof st->ckpt_path, "%s/checkpoint.bin", opt->out_dir);
    if (s == TD_OK) s = path_format(st->metrics.path, sizeof st->metrics.path, "%s/metrics.jsonl", opt->out_dir);
    if (s == TD_OK) s = search_load_data(st);
    if (s == TD_OK) {
        char *cfg_json = NULL;
        s = search_config_json(&st->cfg, &cfg_json);
        if (s == TD_OK)
            s = rundir_prepare(opt->out_dir, cfg_json, opt->resume, omp_get_max_threads(), st->opt.be, st->config_hash,
                               &from_checkpoint);
        free(cfg_json);
    }
    int staged = search_algo_staged(st->cfg.algo);
    if (s == TD_OK && staged) {
        pdarts_full_ops(&st->stage_nets[0].edges);
        if (from_checkpoint) s = search_peek_stage(st);
        else search_stage_net(st, 0);
    }
    if (s == TD_OK && hooks && hooks->create_model) {
        /* DrNAS: its own network, of the stage the run is in */
        s = hooks->create_model(st, from_checkpoint);
        /* same bits either way: recomputation only trades time for memory */
        st->m.activations = opt->activations;
        if (s == TD_OK) s = search_alloc_buffers(st);
    } else if (s == TD_OK) {
        s = search_build_model(st);
    }
    if (s == TD_OK) {
        if (from_checkpoint) {
            s = load_checkpoint(st);
        } else {
            /* stage 0 draws as DARTS does from this seed */
            s = model_init_params(&st->m, st->cfg.seed ^ ((uint64_t)st->stage << 32));
            if (s == TD_OK) s = chain_log_open(&st->metrics, st->metrics.path);
        }
    }
    const search_algorithm *alg = s == TD_OK ? search_algorithm_for(st->cfg.algo) : NULL;
    if (s == TD_OK && !alg) s = TD_FAIL(TD_ERR_UNSUPPORTED, "algorithm %s is not available", search_algo_name(st->cfg.algo));
    int S = s == TD_OK ? search_steps_per_epoch(st) : 0;
    int U = s == TD_OK ? alg->units_per_epoch(st) : 0;
    int epochs = search_total_epochs(&st->cfg);
    double total_units = (double)U * epochs;
    progress_init(&st->prog, total_units, (double)st->epoch * U + st->unit);
    double t0 = now_seconds();
    long units_run = 0;
    if (s == TD_OK && !opt->quiet)
        progress_line(&st->prog, "search %s: %s, C=%d, %d layers, batch %d, %d epochs x %d steps%s", search_algo_name(st->cfg.algo),
                      st->cfg.dataset, st->net.cfg.C, st->net.cfg.layers, st->cfg.batch, epochs, S,
                      from_checkpoint ? " (resumed)" : opt->resume ? " (restarted: no checkpoint yet)" : "");
    while (s == TD_OK && st->epoch < epochs) {
        double lr = hooks && hooks->lr_of_epoch ? hooks->lr_of_epoch(st, st->epoch) : search_epoch_lr(st);
        st->skip_p = search_epoch_skip_p(st);
        if (st->orders_epoch != st->epoch || !st->orders_ready) {
            search_epoch_orders(st, st->epoch);
            st->orders_ready = 1;
        }
        while (s == TD_OK && st->unit < U) {
            test_hold_point(units_run, opt->out_dir);
            if (stop_requested() || (opt->stop_after_units > 0 && units_run >= opt->stop_after_units) ||
                (opt->stop_after_epochs > 0 && st->epoch >= opt->stop_after_epochs)) {
                s = save_checkpoint(st);
                if (s == TD_OK) s = TD_FAIL(TD_ERR_INTERRUPTED, "stopped at epoch %d, unit %d; checkpoint saved in %s",
                                            st->epoch + 1, st->unit, st->ckpt_path);
                break;
            }
            s = alg->run_unit(st, st->unit, lr);
            if (s != TD_OK) break;
            st->unit++;
            units_run++;
            tick(st, RUN_TICK_UNIT);
            /* the figures are read back only for a line that is printed */
            if (!opt->quiet && progress_due(&st->prog)) s = search_read_figures(st);
            if (s != TD_OK) break;
            if (!opt->quiet)
                progress_update(&st->prog, (double)st->epoch * U + st->unit, "epoch %d/%d step %d/%d loss %.4f acc %.3f | %.2f steps/s",
                                st->epoch + 1, epochs, alg->step_of_unit(st, st->unit), S,
                                st->acc.count ? st->acc.loss_sum / st->acc.count : 0,
                                st->acc.count ? (double)st->acc.correct / st->acc.count : 0,
                                st->prog.rate * S / U);
        }
        if (s != TD_OK) break;
        s = end_epoch(st, lr);
        if (s != TD_OK) break;
        st->epoch++;
        st->unit = 0;
        memset(&st->acc, 0, sizeof st->acc);
        s = write_figures(st);
        if (s != TD_OK) break;
        /* the checkpoint after a stage's last epoch holds the next stage */
        if (staged && st->epoch < epochs && st->epoch % st->cfg.epochs == 0) s = search_next_stage(st);
        /* a stage transition happens before the checkpoint, so a resumed
         * run starts the next epoch from the new stage's state */
        if (s == TD_OK && hooks && hooks->after_epoch) s = hooks->after_epoch(st);
        if (s == TD_OK) s = save_checkpoint(st);
        if (s == TD_OK) tick(st, RUN_TICK_EPOCH);
    }
    double secs = now_seconds() - t0;
    search_arch arch;
    if (s == TD_OK) s = write_outputs(st, &arch);
    if (s == TD_OK) {
        res->geno = arch.geno;
        res->space = arch.space;
        snprintf(res->arch, sizeof res->arch, "%s", arch.text);
        json_t *o = json_object();
        search_arch_json(&arch, o);
        if (staged) {
            json_t *stages = json_array();
            for (int k = 0; k <= st->stage; k++)
                json_array_append_new(stages, pdarts_stage_json(st->stage_nets[k].cfg.layers, &st->stage_nets[k].edges));
            json_object_set_new(o, "stages", stages);
        }
        json_object_set_new(o, "config_hash", json_string(st->config_hash));
        char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        s = path_format(path, sizeof path, "%s/result.json", opt->out_dir);
        if (s == TD_OK) s = file_write_text_atomic(path, txt);
        free(txt);
    }
    res->epochs_done = st->epoch;
    res->seconds = secs;
    res->seconds_per_step = units_run ? secs / ((double)units_run * S / (U ? U : 1)) : 0;
    res->interrupted = s == TD_ERR_INTERRUPTED;
    search_free_state(st);
    free(st);
    return s;
}
