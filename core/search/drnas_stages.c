/* The two DrNAS stages (docs/numerics.md s.6.3): which stage an epoch is
 * in, its learning rate, and the transition after the last stage-1 epoch:
 * prune each row to its top alphas, rebuild the network with k2, widen the
 * op modules' weights, BN statistics and SGD momentum; alphas and Adam
 * state carry over unchanged. Also the genotype rule (s.6.5) and what the
 * checkpoint must hold to rebuild the stage on resume. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/buffers.h"
#include "tsedarts/checkpoint.h"
#include "tsedarts/drnas_search.h"
#include "tsedarts/search_internal.h"

int drnas_stage1_epochs(const search_config *c) { return c->epochs - c->epochs / 2; }

int drnas_stage_of_epoch(const search_config *c, int epoch) { return epoch >= drnas_stage1_epochs(c); }

int drnas_stage_epoch(const search_config *c, int epoch)
{
    return drnas_stage_of_epoch(c, epoch) ? epoch - drnas_stage1_epochs(c) : epoch;
}

/* As run, stage 2's new SGD starts at lr_max and the loaded
 * CosineAnnealingLR multiplies from there by the chainable rule
 *   lr_e = min + (lr_{e-1} - min) (1 + cos(pi e/E)) / (1 + cos(pi (e-1)/E)),
 * whose product telescopes to the closed form below: twice the intended
 * rate through stage 2 for E1 = E/2. */
double drnas_lr(const search_config *c, int epoch)
{
    int E = c->epochs, E1 = drnas_stage1_epochs(c);
    if (c->drnas_lr_schedule == DRNAS_INTENDED || epoch < E1) return cosine_lr(c->lr_max, c->lr_min, epoch, E);
    const double pi = 3.14159265358979323846;
    return c->lr_min + (c->lr_max - c->lr_min) * (1 + cos(pi * epoch / E)) / (1 + cos(pi * E1 / E));
}

void drnas_prune(double *alphas, int rows, int n_ops, int keep, unsigned char *keep_out)
{
    for (int r = 0; r < rows; r++) {
        double *a = alphas + (size_t)r * n_ops;
        memset(keep_out + r * DOP_COUNT, 0, DOP_COUNT);
        for (int n = 0; n < keep && n < n_ops; n++) {
            int best = -1;
            for (int o = 0; o < n_ops; o++)
                if (!keep_out[r * DOP_COUNT + o] && (best < 0 || a[o] > a[best])) best = o; /* first index on ties */
            keep_out[r * DOP_COUNT + best] = 1;
        }
        for (int o = 0; o < n_ops; o++)
            if (!keep_out[r * DOP_COUNT + o]) a[o] = 0;
    }
}

void drnas_derive(const double *alphas, int with_none, int masked, const unsigned char *keep,
                  genotype *out)
{
    /* In DARTS columns, with -inf (softmax weight 0) for pruned ops and for
     * `none` when the space lacks it: the DARTS rule then ranks edges by
     * the strongest op other than none and picks it, over the kept ops'
     * softmax, which is s.6.5's rule. */
    int n_ops = drnas_ops(with_none);
    double full[2][DARTS_EDGES * DOP_COUNT];
    for (int r = 0; r < DRNAS_ROWS; r++) {
        double *f = full[r / DARTS_EDGES] + (r % DARTS_EDGES) * DOP_COUNT;
        for (int o = 0; o < DOP_COUNT; o++) f[o] = -INFINITY;
        for (int j = 0; j < n_ops; j++)
            if (!masked || keep[r * DOP_COUNT + j]) f[drnas_op_of(with_none, j)] = alphas[r * n_ops + j];
    }
    genotype_derive(full[0], full[1], "searched", out);
}

/* ------------------------------------------------------------ the model */

static drnas_net_config stage_net(const search_config *c, int stage, const unsigned char *keep)
{
    drnas_net_config n;
    memset(&n, 0, sizeof n);
    n.net = c->net;
    n.k = stage ? c->drnas_k2 : c->drnas_k1;
    n.with_none = c->drnas_with_none;
    n.masked = stage == 1;
    if (keep) memcpy(n.keep, keep, sizeof n.keep);
    return n;
}

static void keep_to_text(const unsigned char *keep, int n_ops, char *text)
{
    for (int r = 0; r < DRNAS_ROWS; r++)
        for (int o = 0; o < n_ops; o++) *text++ = keep[r * DOP_COUNT + o] ? '1' : '0';
    *text = '\0';
}

static td_status keep_from_text(const char *text, int n_ops, unsigned char *keep)
{
    if (!text || strlen(text) != (size_t)DRNAS_ROWS * n_ops)
        return TD_FAIL(TD_ERR_FORMAT, "checkpoint: the DrNAS prune mask is missing or not %d x %d", DRNAS_ROWS, n_ops);
    memset(keep, 0, (size_t)DRNAS_ROWS * DOP_COUNT);
    for (int r = 0; r < DRNAS_ROWS; r++)
        for (int o = 0; o < n_ops; o++) {
            char ch = text[r * n_ops + o];
            if (ch != '0' && ch != '1') return TD_FAIL(TD_ERR_FORMAT, "checkpoint: bad DrNAS prune mask");
            keep[r * DOP_COUNT + o] = ch == '1';
        }
    return TD_OK;
}

/* The stage and prune mask a checkpoint was written in: the network must
 * be built for them before the checkpoint's sections can be loaded. */
static td_status stage_of_checkpoint(search_state *st, int *stage, unsigned char *keep)
{
    ckpt_file f;
    TD_CHECK(checkpoint_read(st->ckpt_path, &f));
    json_error_t err;
    json_t *o = json_loads(f.meta_json, 0, &err);
    checkpoint_free(&f);
    if (!o) return TD_FAIL(TD_ERR_FORMAT, "%s: unreadable meta (%s)", st->ckpt_path, err.text);
    json_t *js = json_object_get(o, "drnas_stage");
    td_status s = json_is_integer(js) ? TD_OK
                                      : TD_FAIL(TD_ERR_FORMAT, "%s: not a DrNAS checkpoint (no drnas_stage)", st->ckpt_path);
    if (s == TD_OK) {
        *stage = (int)json_integer_value(js);
        if (*stage == 1)
            s = keep_from_text(json_string_value(json_object_get(o, "drnas_keep")), drnas_ops(st->cfg.drnas_with_none),
                               keep);
        else if (*stage != 0)
            s = TD_FAIL(TD_ERR_FORMAT, "%s: DrNAS stage %d", st->ckpt_path, *stage);
    }
    json_decref(o);
    return s;
}

static td_status create_model(search_state *st, int from_checkpoint)
{
    drnas_state *d = calloc(1, sizeof *d);
    if (!d) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    st->drnas = d;
    d->host = calloc(4 * DRNAS_ROWS * DOP_COUNT, sizeof *d->host);
    d->upload = calloc(DRNAS_ROWS * DOP_COUNT, sizeof(double));
    if (!d->host || !d->upload) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    unsigned char keep[DRNAS_ROWS][DOP_COUNT];
    memset(keep, 0, sizeof keep);
    if (from_checkpoint) TD_CHECK(stage_of_checkpoint(st, &d->stage, keep[0]));
    d->net = stage_net(&st->cfg, d->stage, keep[0]);
    return model_create(&st->m, st->opt.be, st->cfg.dt, drnas_build_fn, &d->net);
}

static void free_state(search_state *st)
{
    if (!st->drnas) return;
    free(st->drnas->host);
    free(st->drnas->upload);
    free(st->drnas);
    st->drnas = NULL;
}

/* A backend buffer of n elements as host f64 (malloc'd). */
static td_status fetch(const model *m, const void *buf, size_t n, double **out)
{
    size_t es = dtype_size(m->dt);
    void *raw = malloc(n * es + 1);
    *out = malloc((n + 1) * sizeof **out);
    td_status s = raw && *out ? m->be->download(raw, buf, n * es) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
    if (s == TD_OK) convert_to_f64(raw, m->dt, *out, n);
    free(raw);
    return s;
}

static td_status store(const model *m, void *buf, const double *src, size_t n)
{
    size_t es = dtype_size(m->dt);
    void *raw = malloc(n * es + 1);
    if (!raw) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    convert_from_f64(src, m->dt, raw, n);
    td_status s = m->be->upload(buf, raw, n * es);
    free(raw);
    return s;
}

/* After the last stage-1 epoch: prune, rebuild with k2, widen. */
static td_status transition(search_state *st)
{
    drnas_state *d = st->drnas;
    model *m = &st->m;
    size_t na = m->n[ROLE_ALPHA], nw = m->n[ROLE_WEIGHT], nb = m->n[ROLE_BNSTAT];
    double *alpha = NULL, *w = NULL, *mom = NULL, *bn = NULL, *am = NULL, *av = NULL, *acc = NULL;
    double *w2 = NULL, *mom2 = NULL, *bn2 = NULL;
    td_status s = fetch(m, m->role[ROLE_ALPHA], na, &alpha);
    if (s == TD_OK) s = fetch(m, m->role[ROLE_WEIGHT], nw, &w);
    if (s == TD_OK) s = fetch(m, st->momentum, nw, &mom);
    if (s == TD_OK) s = fetch(m, m->role[ROLE_BNSTAT], nb, &bn);
    if (s == TD_OK) s = fetch(m, st->adam_m, na, &am);
    if (s == TD_OK) s = fetch(m, st->adam_v, na, &av);
    if (s == TD_OK) s = fetch(m, st->a_acc, na, &acc);
    unsigned char keep[DRNAS_ROWS][DOP_COUNT];
    if (s == TD_OK) drnas_prune(alpha, DRNAS_ROWS, drnas_ops(d->net.with_none), st->cfg.drnas_keep, keep[0]);
    /* the stage-1 layout stays alive until the weights are widened */
    graph *old_layout = NULL;
    activation_policy activations = m->activations;
    if (s == TD_OK) {
        old_layout = m->layout;
        m->layout = NULL;
        search_free_model(st);
        d->net = stage_net(&st->cfg, 1, keep[0]);
        d->stage = 1;
        s = model_create(&st->m, st->opt.be, st->cfg.dt, drnas_build_fn, &d->net);
        st->m.activations = activations;
    }
    if (s == TD_OK) s = search_alloc_buffers(st);
    if (s == TD_OK) {
        size_t nw2 = st->m.n[ROLE_WEIGHT], nb2 = st->m.n[ROLE_BNSTAT];
        w2 = calloc(nw2 + 1, sizeof *w2);
        mom2 = calloc(nw2 + 1, sizeof *mom2);
        bn2 = calloc(nb2 + 1, sizeof *bn2);
        s = w2 && mom2 && bn2 ? drnas_widen(old_layout, st->m.layout, st->cfg.seed, w, w2, mom, mom2, bn, bn2)
                              : TD_FAIL(TD_ERR_MEMORY, "out of memory");
        if (s == TD_OK) s = store(&st->m, st->m.role[ROLE_WEIGHT], w2, nw2);
        if (s == TD_OK) s = store(&st->m, st->momentum, mom2, nw2);
        if (s == TD_OK) s = store(&st->m, st->m.role[ROLE_BNSTAT], bn2, nb2);
        if (s == TD_OK) s = store(&st->m, st->m.role[ROLE_ALPHA], alpha, na);
        if (s == TD_OK) s = store(&st->m, st->adam_m, am, na);
        if (s == TD_OK) s = store(&st->m, st->adam_v, av, na);
        if (s == TD_OK) s = store(&st->m, st->a_acc, acc, na);
    }
    graph_destroy(old_layout);
    double *bufs[] = {alpha, w, mom, bn, am, av, acc, w2, mom2, bn2};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    return s;
}

static td_status after_epoch(search_state *st)
{
    if (st->drnas->stage == 0 && drnas_stage_of_epoch(&st->cfg, st->epoch) == 1 && st->epoch < st->cfg.epochs)
        return transition(st);
    return TD_OK;
}

static double lr_of_epoch(const search_state *st, int epoch) { return drnas_lr(&st->cfg, epoch); }

static void save_meta(const search_state *st, json_t *o)
{
    const drnas_state *d = st->drnas;
    json_object_set_new(o, "drnas_stage", json_integer(d->stage));
    json_object_set_new(o, "drnas_passes", json_integer(d->passes));
    if (d->stage == 1) {
        char text[DRNAS_ROWS * DOP_COUNT + 1];
        keep_to_text(d->net.keep[0], drnas_ops(d->net.with_none), text);
        json_object_set_new(o, "drnas_keep", json_string(text));
    }
}

static td_status load_meta(search_state *st, json_t *o)
{
    json_t *p = json_object_get(o, "drnas_passes");
    if (!json_is_integer(p) || json_integer_value(p) < 0)
        return TD_FAIL(TD_ERR_FORMAT, "%s: no DrNAS pass counter", st->ckpt_path);
    st->drnas->passes = (long)json_integer_value(p);
    if (drnas_stage_of_epoch(&st->cfg, st->epoch) != st->drnas->stage)
        return TD_FAIL(TD_ERR_FORMAT, "%s: epoch %d is not in DrNAS stage %d", st->ckpt_path, st->epoch + 1,
                       st->drnas->stage + 1);
    return TD_OK;
}

static td_status describe(search_state *st, search_arch *a)
{
    memset(a, 0, sizeof *a);
    a->space = SPACE_DARTS;
    const drnas_state *d = st->drnas;
    TD_CHECK(model_download_f64(&st->m, ROLE_ALPHA, d->host));
    drnas_derive(d->host, d->net.with_none, d->net.masked, d->net.keep[0], &a->geno);
    genotype_format(&a->geno, a->text, sizeof a->text);
    a->skips_removed = -1; /* no skip limit: that is PDARTS' rule */
    a->drnas_rule = 1;
    a->drnas_with_none = d->net.with_none;
    a->drnas_masked = d->net.masked;
    memcpy(a->drnas_keep, d->net.keep, sizeof a->drnas_keep);
    return TD_OK;
}

/* softmax of the alphas over the kept ops, per row; the genotype's W */
static td_status softmax_json(search_state *st, json_t *o)
{
    const drnas_state *d = st->drnas;
    int n_ops = drnas_ops(d->net.with_none);
    TD_CHECK(model_download_f64(&st->m, ROLE_ALPHA, d->host));
    static const char *const names[2] = {"softmax_normal", "softmax_reduce"};
    for (int t = 0; t < 2; t++) {
        json_t *rows = json_array();
        for (int e = 0; e < DARTS_EDGES; e++) {
            int r = t * DARTS_EDGES + e;
            const double *x = d->host + (size_t)r * n_ops;
            double mx = -INFINITY, sum = 0, ex[DOP_COUNT];
            for (int k = 0; k < n_ops; k++)
                if (!d->net.masked || d->net.keep[r][k]) mx = x[k] > mx ? x[k] : mx;
            for (int k = 0; k < n_ops; k++) sum += (ex[k] = !d->net.masked || d->net.keep[r][k] ? exp(x[k] - mx) : 0);
            json_t *row = json_array();
            for (int k = 0; k < n_ops; k++) json_array_append_new(row, json_real(ex[k] / sum));
            json_array_append_new(rows, row);
        }
        json_object_set_new(o, names[t], rows);
    }
    return TD_OK;
}

const search_stage_hooks drnas_stage_hooks = {
    .check_config = drnas_config_check,
    .create_model = create_model,
    .before_run = drnas_before_run,
    .after_epoch = after_epoch,
    .lr_of_epoch = lr_of_epoch,
    .save_meta = save_meta,
    .load_meta = load_meta,
    .describe = describe,
    .softmax_json = softmax_json,
    .free_state = free_state,
};
