/* The retraining loop. A unit of work is one step; everything a step draws
 * (order, augmentation, drop-path masks) is keyed by (seed, epoch, step), so
 * a checkpoint between steps resumes exactly. */
#include "tsedarts/train.h"

#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/batch_buffers.h"
#include "tsedarts/data.h"
#include "tsedarts/device_step.h"
#include "tsedarts/fileio.h"
#include "tsedarts/model.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"
#include "tsedarts/rundir.h"
#include "tsedarts/runtime.h"

#define TRAIN_MAX_EXECS 8

typedef struct train_state {
    train_config cfg;
    train_options opt;
    model m;
    net_exec *execs[TRAIN_MAX_EXECS];
    int exec_eval[TRAIN_MAX_EXECS];
    int n_execs;
    dataset train, test;
    int sets_borrowed;
    int *ids_t, *ids_v; /* training and held-out image ids */
    int n_t, n_v;
    int *order, *batch_ids;
    int order_epoch;
    batch_buffers batches; /* two host batches (images, labels, masks), filled in turn */
    void *images, *masks;  /* the one being filled */
    int32_t *labels;
    int n_masks;
    void *momentum;
    device_step dstep; /* the clip's scalars and the epoch's tally */
    int epoch, step;
    long steps_done;
    /* the epoch's figures; where dstep.on, loss_sum and correct are in the
     * backend's tally and here only after read_figures */
    double loss_sum;
    long correct, count;
    char ckpt_path[4400];
    char config_hash[SHA256_HEX_LEN];
    chain_log metrics;
    progress prog;
} train_state;

static td_status get_exec(train_state *st, int eval, int batch, net_exec **out)
{
    for (int i = 0; i < st->n_execs; i++)
        if (st->exec_eval[i] == eval && st->execs[i]->batch == batch) {
            *out = st->execs[i];
            return TD_OK;
        }
    if (st->n_execs == TRAIN_MAX_EXECS) return TD_FAIL(TD_ERR_STATE, "train: too many graphs");
    graph_kind k = eval ? (graph_kind){0, 0, 0, 0, 0, 0} : (graph_kind){1, 0, 1, 1, 0, 0};
    TD_CHECK(net_exec_create(&st->m, k, batch, out));
    st->exec_eval[st->n_execs] = eval;
    st->execs[st->n_execs++] = *out;
    return TD_OK;
}

/* Turns images, labels and masks to the other batch buffer, once the
 * device has copied what it held. */
static td_status next_buffers(train_state *st)
{
    td_status s = batch_buffers_next(&st->batches);
    st->images = st->batches.images[st->batches.cur];
    st->labels = st->batches.labels[st->batches.cur];
    st->masks = st->batches.masks[st->batches.cur];
    return s;
}

static td_status load_data(train_state *st)
{
    train_config *c = &st->cfg;
    if (st->opt.train_set && st->opt.test_set) {
        st->train = *st->opt.train_set;
        st->test = *st->opt.test_set;
        st->sets_borrowed = 1;
    } else {
        TD_CHECK(dataset_load_named(c->dataset, c->data_dir, c->pad32, 1, &st->train));
        TD_CHECK(dataset_load_named(c->dataset, c->data_dir, c->pad32, 0, &st->test));
    }
    /* test images are normalised with the training statistics */
    memcpy(st->test.mean, st->train.mean, sizeof st->test.mean);
    memcpy(st->test.std, st->train.std, sizeof st->test.std);
    int n = st->train.n;
    if (c->valid_images < 0 || c->valid_images >= n)
        return TD_FAIL(TD_ERR_ARG, "--valid-images %d leaves no training images (%d in the set)", c->valid_images, n);
    /* The held-out images: the last valid_images of a permutation keyed by
     * split_seed, so runs compared on them share them. */
    int *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    if (c->valid_images > 0)
        data_permutation(c->split_seed, PURPOSE_SPLIT, 0, n, perm);
    else
        for (int i = 0; i < n; i++) perm[i] = i;
    st->n_v = c->valid_images;
    st->n_t = n - st->n_v;
    if (c->subset > 0 && st->n_t > c->subset) st->n_t = c->subset;
    st->ids_t = malloc(((size_t)st->n_t + 1) * sizeof *st->ids_t);
    st->ids_v = malloc(((size_t)st->n_v + 1) * sizeof *st->ids_v);
    for (int i = 0; i < st->n_t; i++) st->ids_t[i] = perm[i];
    for (int i = 0; i < st->n_v; i++) st->ids_v[i] = perm[n - st->n_v + i];
    free(perm);
    c->net.in_ch = st->train.c;
    c->net.hw = st->train.h;
    c->net.classes = st->train.classes;
    TD_CHECK(evalnet_check(&c->net));
    st->n_masks = evalnet_mask_count(&c->net);
    size_t es = dtype_size(c->dt);
    TD_CHECK(device_step_open(&st->dstep, st->opt.be));
    TD_CHECK(batch_buffers_create(&st->batches, st->opt.be, (size_t)c->batch * st->train.c * st->train.h * st->train.w * es,
                                  c->batch, ((size_t)st->n_masks * c->batch + 1) * es));
    TD_CHECK(next_buffers(st));
    st->order = malloc(((size_t)st->n_t + 1) * sizeof *st->order);
    st->batch_ids = malloc((size_t)c->batch * sizeof *st->batch_ids);
    st->order_epoch = -1;
    if (!st->order || !st->batch_ids || !st->ids_t || !st->ids_v) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    return TD_OK;
}

static int steps_per_epoch(const train_state *st) { return (st->n_t + st->cfg.batch - 1) / st->cfg.batch; }

static double lr_at(const train_config *c, int e)
{
    return c->lr_min + (c->lr - c->lr_min) * (1.0 + cos(3.14159265358979323846 * e / c->epochs)) / 2.0;
}

void drop_path_masks(uint64_t seed, double prob, int epoch, int epochs, int step, int n_masks, int batch, dtype dt,
                     void *out)
{
    double drop = prob * epoch / epochs, keep = 1.0 - drop;
    philox_stream s;
    philox_stream_init(&s, seed, PURPOSE_DROP_PATH, ((uint64_t)epoch << 32) | (uint32_t)step);
    for (int k = 0; k < n_masks; k++)
        for (int i = 0; i < batch; i++) {
            double v = drop > 0 ? (philox_next_uniform_f64(&s) < keep ? 1.0 / keep : 0.0) : 1.0;
            size_t o = (size_t)k * batch + i;
            if (dt == DT_F64)
                ((double *)out)[o] = v;
            else
                ((float *)out)[o] = (float)v;
        }
}

static void make_masks(train_state *st, int b, int epoch, int step)
{
    drop_path_masks(st->cfg.seed, st->cfg.drop_path_prob, epoch, st->cfg.epochs, step, st->n_masks, b, st->cfg.dt,
                    st->masks);
}

static td_status read_figures(train_state *st);

static td_status train_step(train_state *st, double lr)
{
    const train_config *c = &st->cfg;
    if (st->order_epoch != st->epoch) {
        data_permutation(c->seed, PURPOSE_SHUFFLE, (uint64_t)st->epoch, st->n_t, st->order);
        st->order_epoch = st->epoch;
    }
    int start = st->step * c->batch, b = st->n_t - start < c->batch ? st->n_t - start : c->batch;
    for (int i = 0; i < b; i++) st->batch_ids[i] = st->ids_t[st->order[start + i]];
    augment aug = {c->augment ? 4 : 0, c->augment, c->cutout};
    TD_CHECK(next_buffers(st));
    data_make_batch(&st->train, st->batch_ids, b, &aug, c->seed, (uint32_t)st->epoch, c->dt, st->images, st->labels);
    make_masks(st, b, st->epoch, st->step);
    net_exec *ne;
    TD_CHECK(get_exec(st, 0, b, &ne));
    model *m = &st->m;
    if (st->dstep.on) {
        /* queued, the figures added where they are computed: nothing read back */
        TD_CHECK(batch_buffers_launch(&st->batches, m, ne, st->masks));
        TD_CHECK(net_exec_tally(m, ne, st->dstep.tally, TALLY_TRAIN));
        if (device_step_diverged_now(&st->dstep)) return read_figures(st);
    } else {
        TD_CHECK(net_exec_run(m, ne, st->images, st->labels, st->masks));
        double l = net_exec_loss(ne, c->dt);
        if (!isfinite(l)) return TD_FAIL(TD_ERR_STATE, "epoch %d: the loss became %g (diverged)", st->epoch + 1, l);
        st->loss_sum += l * b;
        st->correct += net_exec_correct(ne, c->dt, st->labels);
    }
    st->count += b;
    size_t n = m->n[ROLE_WEIGHT];
    TD_CHECK(device_step_clip(&st->dstep, m->role[ROLE_GRAD_WEIGHT], n, m->dt, c->grad_clip));
    st->steps_done++;
    return m->be->sgd_step(m->role[ROLE_WEIGHT], m->role[ROLE_GRAD_WEIGHT], st->momentum, n, m->dt, lr, c->momentum,
                           c->weight_decay, 0);
}

/* Error and mean loss of the network (evaluation mode) on ids of d. */
static td_status evaluate(train_state *st, const dataset *d, const int *ids, int n, double *err, double *loss)
{
    augment none = {0, 0, 0};
    double ls = 0;
    long correct = 0;
    int *buf = malloc((size_t)st->cfg.batch * sizeof *buf);
    td_status s = TD_OK;
    for (int start = 0; s == TD_OK && start < n; start += st->cfg.batch) {
        int b = n - start < st->cfg.batch ? n - start : st->cfg.batch;
        for (int i = 0; i < b; i++) buf[i] = ids ? ids[start + i] : start + i;
        s = next_buffers(st);
        if (s != TD_OK) break;
        data_make_batch(d, buf, b, &none, st->cfg.seed, 0, st->cfg.dt, st->images, st->labels);
        net_exec *ne;
        s = get_exec(st, 1, b, &ne);
        if (s == TD_OK) s = net_exec_run(&st->m, ne, st->images, st->labels, NULL);
        if (s == TD_OK) {
            ls += net_exec_loss(ne, st->cfg.dt) * b;
            correct += net_exec_correct(ne, st->cfg.dt, st->labels);
        }
    }
    free(buf);
    *err = n ? 1.0 - (double)correct / n : 0;
    *loss = n ? ls / n : 0;
    return s;
}

static int sections(train_state *st, ckpt_section *s)
{
    model *m = &st->m;
    size_t es = dtype_size(m->dt);
    s[0] = (ckpt_section){"weights", m->role[ROLE_WEIGHT], m->n[ROLE_WEIGHT] * es};
    s[1] = (ckpt_section){"bn_stats", m->role[ROLE_BNSTAT], m->n[ROLE_BNSTAT] * es};
    s[2] = (ckpt_section){"momentum", st->momentum, m->n[ROLE_WEIGHT] * es};
    return 3;
}

/* Where the figures are in the backend's tally: loss_sum and correct read
 * back, and a loss of the epoch that was not finite reported (the check a
 * step cannot make without reading its loss). */
static td_status read_figures(train_state *st)
{
    if (!st->dstep.on) return TD_OK;
    backend_tally t;
    TD_CHECK(device_step_tally_read(&st->dstep, &t));
    st->loss_sum = t.loss_sum;
    st->correct = (long)t.correct;
    if (t.nonfinite)
        return TD_FAIL(TD_ERR_STATE,
                       "epoch %d: the loss became %g (diverged; non-finite in %lld of the steps read)",
                       st->epoch + 1, t.first_nonfinite, t.nonfinite);
    return TD_OK;
}

/* The tally set to the host's figures: zero at an epoch's start, a
 * checkpoint's on resume. */
static td_status write_figures(train_state *st)
{
    if (!st->dstep.on) return TD_OK;
    backend_tally t = {st->loss_sum, 0, st->correct, 0, 0};
    return device_step_tally_write(&st->dstep, &t);
}

static td_status save_checkpoint(train_state *st)
{
    TD_CHECK(read_figures(st));
    ckpt_section s[3];
    int n = sections(st, s);
    json_t *o = json_object();
    json_object_set_new(o, "epoch", json_integer(st->epoch));
    json_object_set_new(o, "step", json_integer(st->step));
    json_object_set_new(o, "steps_done", json_integer(st->steps_done));
    json_object_set_new(o, "loss_sum", json_real(st->loss_sum));
    json_object_set_new(o, "correct", json_integer(st->correct));
    json_object_set_new(o, "count", json_integer(st->count));
    char *meta = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    td_status r = run_checkpoint_save(st->ckpt_path, st->m.be, st->config_hash, meta, st->metrics.path, s, n);
    free(meta);
    return r;
}

static td_status load_checkpoint(train_state *st)
{
    ckpt_section s[3];
    int n = sections(st, s);
    json_t *o = NULL;
    TD_CHECK(run_checkpoint_load(st->ckpt_path, st->m.be, st->config_hash, st->metrics.path, s, n, &o));
    st->epoch = (int)json_integer_value(json_object_get(o, "epoch"));
    st->step = (int)json_integer_value(json_object_get(o, "step"));
    st->steps_done = (long)json_integer_value(json_object_get(o, "steps_done"));
    st->loss_sum = json_number_value(json_object_get(o, "loss_sum"));
    st->correct = (long)json_integer_value(json_object_get(o, "correct"));
    st->count = (long)json_integer_value(json_object_get(o, "count"));
    json_decref(o);
    TD_CHECK(write_figures(st));
    return chain_log_open(&st->metrics, st->metrics.path);
}

static void tick(train_state *st, run_tick what)
{
    if (st->opt.tick) st->opt.tick(st->opt.tick_ctx, what);
}

static td_status end_epoch(train_state *st, double lr)
{
    TD_CHECK(read_figures(st));
    const train_config *c = &st->cfg;
    double ve = -1, vl = 0;
    if (st->n_v) {
        TD_CHECK(evaluate(st, &st->train, st->ids_v, st->n_v, &ve, &vl));
        tick(st, RUN_TICK_EVAL);
    }
    json_t *o = json_object();
    json_object_set_new(o, "epoch", json_integer(st->epoch));
    json_object_set_new(o, "lr", json_real(lr));
    json_object_set_new(o, "drop_path_prob", json_real(c->drop_path_prob * st->epoch / c->epochs));
    json_object_set_new(o, "train_loss", json_real(st->count ? st->loss_sum / st->count : 0));
    json_object_set_new(o, "train_acc", json_real(st->count ? (double)st->correct / st->count : 0));
    if (st->n_v) {
        json_object_set_new(o, "valid_loss", json_real(vl));
        json_object_set_new(o, "valid_error", json_real(ve));
        json_object_set_new(o, "valid_images", json_integer(st->n_v));
    }
    /* the hash of weights.safetensors as it would be written now
     * (model_export_sha256): after the last epoch, that of the file the
     * run leaves, since the final evaluations change no weight */
    char w[SHA256_HEX_LEN];
    td_status s = model_export_sha256(&st->m, st->steps_done, w, NULL);
    json_object_set_new(o, "weights_sha256", json_string(w));
    char *rec = s == TD_OK ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (s != TD_OK) return s;
    s = chain_log_append(&st->metrics, rec);
    free(rec);
    if (!st->opt.quiet) {
        char vtxt[96] = "";
        if (st->n_v) snprintf(vtxt, sizeof vtxt, "  valid error %.4f (%d images)", ve, st->n_v);
        progress_line(&st->prog, "epoch %d/%d  lr %.5f  train loss %.4f acc %.3f%s", st->epoch + 1, c->epochs, lr,
                      st->count ? st->loss_sum / st->count : 0, st->count ? (double)st->correct / st->count : 0, vtxt);
    }
    return s;
}

static void free_state(train_state *st)
{
    for (int i = 0; i < st->n_execs; i++) net_exec_destroy(st->execs[i]);
    if (st->momentum) st->m.be->release(st->momentum);
    if (st->m.be) model_destroy(&st->m);
    if (!st->sets_borrowed) {
        dataset_free(&st->train);
        dataset_free(&st->test);
    }
    free(st->ids_t);
    free(st->ids_v);
    free(st->order);
    free(st->batch_ids);
    batch_buffers_free(&st->batches);
    device_step_close(&st->dstep);
}

static td_status setup_model(train_state *st)
{
    TD_CHECK(model_create(&st->m, st->opt.be, st->cfg.dt, evalnet_build, &st->cfg.net));
    size_t bytes = (st->m.n[ROLE_WEIGHT] + 1) * dtype_size(st->cfg.dt);
    st->momentum = st->m.be->alloc(bytes);
    if (!st->momentum) return TD_FAIL(TD_ERR_MEMORY, "out of memory for the momentum buffer");
    return st->m.be->zero(st->momentum, bytes);
}

/* The figures result.json reports: test error and loss on the first
 * test_images test images, and the held-out error when there is one. */
static td_status final_evaluation(train_state *st, train_result *res)
{
    int nt = st->cfg.test_images < 0 || st->cfg.test_images > st->test.n ? st->test.n : st->cfg.test_images;
    res->test_count = nt;
    TD_CHECK(evaluate(st, &st->test, NULL, nt, &res->test_error, &res->test_loss));
    double vl;
    return st->n_v ? evaluate(st, &st->train, st->ids_v, st->n_v, &res->valid_error, &vl) : TD_OK;
}

td_status train_run(const train_config *cfg, const train_options *opt, train_result *res)
{
    memset(res, 0, sizeof *res);
    if (!opt->be) return TD_FAIL(TD_ERR_ARG, "train: no backend given (the caller chooses the device)");
    res->valid_error = -1;
    train_state *st = calloc(1, sizeof *st);
    if (!st) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    st->cfg = *cfg;
    st->opt = *opt;
    if (opt->threads > 0) omp_set_num_threads(opt->threads);
    int from_checkpoint = 0;
    td_status s = path_format(st->ckpt_path, sizeof st->ckpt_path, "%s/checkpoint.bin", opt->out_dir);
    if (s == TD_OK) s = path_format(st->metrics.path, sizeof st->metrics.path, "%s/metrics.jsonl", opt->out_dir);
    if (s == TD_OK) s = load_data(st);
    if (s == TD_OK) {
        char *cj = NULL;
        s = train_config_json(&st->cfg, &cj);
        if (s == TD_OK) s = rundir_prepare(opt->out_dir, cj, opt->resume, omp_get_max_threads(), st->opt.be, st->config_hash,
                               &from_checkpoint);
        free(cj);
    }
    if (s == TD_OK) s = setup_model(st);
    if (s == TD_OK) {
        if (from_checkpoint) {
            s = load_checkpoint(st);
        } else {
            s = model_init_params(&st->m, st->cfg.seed);
            if (s == TD_OK) s = chain_log_open(&st->metrics, st->metrics.path);
        }
    }
    int S = s == TD_OK ? steps_per_epoch(st) : 0;
    progress_init(&st->prog, (double)S * st->cfg.epochs, (double)st->epoch * S + st->step);
    if (s == TD_OK && !opt->quiet)
        progress_line(&st->prog, "train %s: %s, C=%d, %d layers, batch %d, %d epochs x %d steps, %zu weights%s",
                      st->cfg.net.linear ? "linear classifier" : st->cfg.net.geno.name, st->cfg.dataset, st->cfg.net.C,
                      st->cfg.net.layers, st->cfg.batch, st->cfg.epochs, S, st->m.n[ROLE_WEIGHT],
                      from_checkpoint ? " (resumed)" : opt->resume ? " (restarted: no checkpoint yet)" : "");
    double t0 = now_seconds();
    long run_steps = 0;
    while (s == TD_OK && st->epoch < st->cfg.epochs) {
        double lr = lr_at(&st->cfg, st->epoch);
        while (s == TD_OK && st->step < S) {
            test_hold_point(run_steps, opt->out_dir);
            if (stop_requested() || (opt->stop_after_steps > 0 && run_steps >= opt->stop_after_steps) ||
                (opt->stop_after_epochs > 0 && st->epoch >= opt->stop_after_epochs)) {
                s = save_checkpoint(st);
                if (s == TD_OK)
                    s = TD_FAIL(TD_ERR_INTERRUPTED, "stopped at epoch %d, step %d; checkpoint saved in %s", st->epoch + 1,
                                st->step, st->ckpt_path);
                break;
            }
            s = train_step(st, lr);
            if (s != TD_OK) break;
            st->step++;
            run_steps++;
            tick(st, RUN_TICK_UNIT);
            /* the figures are read back only for a line that is printed */
            if (!opt->quiet && progress_due(&st->prog)) s = read_figures(st);
            if (s != TD_OK) break;
            if (!opt->quiet)
                progress_update(&st->prog, (double)st->epoch * S + st->step, "epoch %d/%d step %d/%d loss %.4f acc %.3f | %.2f steps/s",
                                st->epoch + 1, st->cfg.epochs, st->step, S, st->count ? st->loss_sum / st->count : 0,
                                st->count ? (double)st->correct / st->count : 0, st->prog.rate);
        }
        if (s != TD_OK) break;
        s = end_epoch(st, lr);
        if (s != TD_OK) break;
        st->epoch++;
        st->step = 0;
        st->loss_sum = 0;
        st->correct = st->count = 0;
        s = write_figures(st);
        if (s == TD_OK) s = save_checkpoint(st);
        if (s == TD_OK) tick(st, RUN_TICK_EPOCH);
    }
    double secs = now_seconds() - t0;
    if (s == TD_OK) s = final_evaluation(st, res);
    if (s == TD_OK) tick(st, RUN_TICK_EVAL);
    char path[4400];
    if (s == TD_OK) {
        s = path_format(path, sizeof path, "%s/weights.safetensors", opt->out_dir);
        if (s == TD_OK) s = model_export_safetensors(&st->m, path, st->steps_done);
    }
    if (s == TD_OK) {
        json_t *o = json_object();
        json_object_set_new(o, "test_error", json_real(res->test_error));
        json_object_set_new(o, "test_loss", json_real(res->test_loss));
        json_object_set_new(o, "test_images", json_integer(res->test_count));
        if (st->n_v) json_object_set_new(o, "valid_error", json_real(res->valid_error));
        json_object_set_new(o, "weights", json_integer((json_int_t)st->m.n[ROLE_WEIGHT]));
        json_object_set_new(o, "config_hash", json_string(st->config_hash));
        char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        s = path_format(path, sizeof path, "%s/result.json", opt->out_dir);
        if (s == TD_OK) s = file_write_text_atomic(path, txt);
        free(txt);
    }
    res->epochs_done = st->epoch;
    res->seconds_per_epoch = run_steps ? secs / run_steps * S : 0;
    free_state(st);
    free(st);
    return s;
}

td_status train_reevaluate(const train_config *cfg, const backend *be, const char *weights_path, train_result *res)
{
    memset(res, 0, sizeof *res);
    res->valid_error = -1;
    if (!be) return TD_FAIL(TD_ERR_ARG, "train: no backend given (the caller chooses the device)");
    train_state *st = calloc(1, sizeof *st);
    if (!st) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    st->cfg = *cfg;
    st->opt.be = be;
    st->opt.quiet = 1;
    /* the same data, model and evaluation as the end of train_run, with
     * the weights read back from the run's file instead of trained */
    td_status s = load_data(st);
    if (s == TD_OK) s = setup_model(st);
    if (s == TD_OK) s = model_import_safetensors(&st->m, weights_path);
    if (s == TD_OK) s = final_evaluation(st, res);
    free_state(st);
    free(st);
    return s;
}

td_status train_bench(const train_config *cfg, const backend *be, int warmup, int steps, double *median_s,
                      double *arena_mib)
{
    train_state *st = calloc(1, sizeof *st);
    st->cfg = *cfg;
    snprintf(st->cfg.dataset, sizeof st->cfg.dataset, "synthetic");
    st->opt.be = be;
    td_status s = load_data(st);
    if (s == TD_OK) s = setup_model(st);
    if (s == TD_OK) s = model_init_params(&st->m, st->cfg.seed);
    double *t = calloc((size_t)steps + 1, sizeof *t);
    int S = s == TD_OK ? steps_per_epoch(st) : 1;
    st->epoch = 1; /* drop path active */
    for (int k = 0; s == TD_OK && k < warmup + steps; k++) {
        if (k == warmup) exec_profile_reset();
        st->step = k % S;
        double t0 = now_seconds();
        s = train_step(st, 0.025);
        if (s == TD_OK) s = be->sync();
        if (k >= warmup) t[k - warmup] = now_seconds() - t0;
    }
    if (s == TD_OK) {
        for (int i = 1; i < steps; i++)
            for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
                double x = t[j];
                t[j] = t[j - 1];
                t[j - 1] = x;
            }
        *median_s = steps % 2 ? t[steps / 2] : 0.5 * (t[steps / 2 - 1] + t[steps / 2]);
        *arena_mib = (double)st->m.ws.bytes / (1 << 20);
    }
    free(t);
    free_state(st);
    free(st);
    return s;
}
