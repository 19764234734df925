/* The step's scalars kept on the backend (backend.h flat_clip,
 * flat_inverse_norm, flat_axpy_dev, tally_pass; nets/device_step.h)
 * against the host composition they replace, bit for bit in f32 and f64:
 * clipping that scales and clipping that does not, the second-order
 * DARTS coefficients, a tally with ties, a short last batch and a loss
 * that is not finite. Then whole runs: darts1, darts2 and tse searches and
 * a retraining write the same files with TSEDARTS_DEVICE_STEP=0 (the host
 * reads every scalar) as on the CPU's default path (it reads none inside a
 * step), a checkpoint taken mid-epoch included; and a diverging search
 * stops on either path, the deferred check saying when it found it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quiet_runs.h"
#include "sandbox.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/device_step.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"

#define N 10000 /* three reduction chunks, the last one short */

/* n values of dt, uniform in [-scale, scale), from a Philox stream. */
static void *random_values(dtype dt, size_t n, double scale, uint64_t key)
{
    philox_stream s;
    philox_stream_init(&s, 7, PURPOSE_TEST, key);
    void *p = malloc(n * dtype_size(dt));
    cr_assert(p);
    for (size_t i = 0; i < n; i++) {
        double v = scale * (2 * philox_next_uniform_f64(&s) - 1);
        if (dt == DT_F64)
            ((double *)p)[i] = v;
        else
            ((float *)p)[i] = (float)v;
    }
    return p;
}

static void *copy_of(const void *p, size_t bytes)
{
    void *q = malloc(bytes);
    cr_assert(q);
    memcpy(q, p, bytes);
    return q;
}

static void expect_same_bits(const void *a, const void *b, size_t bytes, const char *what)
{
    cr_expect(memcmp(a, b, bytes) == 0, "%s: the bits differ", what);
}

/* Clipping to max_norm as the search and training code did it on the host
 * against flat_clip; returns the coefficient. */
static double clip_against_host(dtype dt, double max_norm)
{
    const backend *be = backend_cpu();
    size_t bytes = N * dtype_size(dt);
    void *host = random_values(dt, N, 0.1, 1), *dev = copy_of(host, bytes);
    double sq;
    cr_assert_eq(be->flat_sum_squares(host, N, dt, &sq), TD_OK);
    double coef = max_norm / (sqrt(sq) + 1e-6);
    if (coef < 1) cr_assert_eq(be->flat_scale(host, N, dt, coef), TD_OK);
    double scalars[2];
    cr_assert_eq(be->flat_clip(dev, N, dt, max_norm, scalars), TD_OK);
    expect_same_bits(host, dev, bytes, "clipped values");
    expect_same_bits(&sq, &scalars[0], sizeof sq, "sum of squares");
    expect_same_bits(&coef, &scalars[1], sizeof coef, "clip coefficient");
    free(host);
    free(dev);
    return coef;
}

static void clip_both_ways(dtype dt)
{
    /* ||x|| is about 0.1 sqrt(N / 3) = 5.8: 1 clips, 100 does not */
    cr_expect_lt(clip_against_host(dt, 1.0), 1.0);
    cr_expect_geq(clip_against_host(dt, 100.0), 1.0);
}

Test(device_step, clip_matches_the_host_f32) { clip_both_ways(DT_F32); }
Test(device_step, clip_matches_the_host_f64) { clip_both_ways(DT_F64); }

/* darts2's R = 0.01 / ||v|| and its four axpys, as the host wrote them. */
static void darts2_coefficients(dtype dt)
{
    const backend *be = backend_cpu();
    size_t bytes = N * dtype_size(dt);
    void *v = random_values(dt, N, 0.3, 2), *x = random_values(dt, N, 1.0, 3);
    void *y_host = random_values(dt, N, 1.0, 4), *y_dev = copy_of(y_host, bytes);
    double xi = 0.025, sq, s;
    cr_assert_eq(be->flat_sum_squares(v, N, dt, &sq), TD_OK);
    double R = 0.01 / sqrt(sq);
    cr_assert_eq(be->flat_inverse_norm(v, N, dt, 0.01, &s), TD_OK);
    expect_same_bits(&R, &s, sizeof R, "R");
    const double host_a[] = {R, -R, -xi / (2 * R), xi / (2 * R)};
    const double num[] = {1, -1, -xi, xi}, den[] = {0, 0, 2, 2};
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(be->flat_axpy(y_host, x, N, dt, host_a[k]), TD_OK);
        cr_assert_eq(be->flat_axpy_dev(y_dev, x, N, dt, &s, num[k], den[k]), TD_OK);
        expect_same_bits(y_host, y_dev, bytes, "axpy with a device coefficient");
    }
    free(v);
    free(x);
    free(y_host);
    free(y_dev);
}

Test(device_step, darts2_coefficients_match_the_host_f32) { darts2_coefficients(DT_F32); }
Test(device_step, darts2_coefficients_match_the_host_f64) { darts2_coefficients(DT_F64); }

/* The device_step helpers on and off (TSEDARTS_DEVICE_STEP=0) give the same bits. */
static void helpers_on_and_off(dtype dt)
{
    size_t bytes = N * dtype_size(dt);
    device_step on, off;
    unsetenv("TSEDARTS_DEVICE_STEP");
    cr_assert_eq(device_step_open(&on, backend_cpu()), TD_OK);
    cr_assert(on.on, "the CPU keeps the step's scalars on its side by default");
    setenv("TSEDARTS_DEVICE_STEP", "0", 1);
    cr_assert_eq(device_step_open(&off, backend_cpu()), TD_OK);
    unsetenv("TSEDARTS_DEVICE_STEP");
    cr_assert(!off.on, "TSEDARTS_DEVICE_STEP=0 reads the scalars back");
    void *g_on = random_values(dt, N, 0.1, 5), *g_off = copy_of(g_on, bytes);
    void *y_on = random_values(dt, N, 1.0, 6), *y_off = copy_of(y_on, bytes);
    cr_assert_eq(device_step_clip(&on, g_on, N, dt, 1.0), TD_OK);
    cr_assert_eq(device_step_clip(&off, g_off, N, dt, 1.0), TD_OK);
    expect_same_bits(g_on, g_off, bytes, "clip on and off");
    cr_assert_eq(device_step_inverse_norm(&on, g_on, N, dt, 0.01), TD_OK);
    cr_assert_eq(device_step_inverse_norm(&off, g_off, N, dt, 0.01), TD_OK);
    cr_assert_eq(device_step_axpy(&on, y_on, g_on, N, dt, -0.025, 2), TD_OK);
    cr_assert_eq(device_step_axpy(&off, y_off, g_off, N, dt, -0.025, 2), TD_OK);
    expect_same_bits(y_on, y_off, bytes, "axpy on and off");
    device_step_close(&on);
    device_step_close(&off);
    free(g_on);
    free(g_off);
    free(y_on);
    free(y_off);
}

Test(device_step, helpers_on_and_off_give_the_same_bits_f32) { helpers_on_and_off(DT_F32); }
Test(device_step, helpers_on_and_off_give_the_same_bits_f64) { helpers_on_and_off(DT_F64); }

/* The host's figures of a pass (search.c, train.c before the tally): the
 * first maximum per row against the label, loss x rows and the plain loss
 * added in pass order. */
static void host_figures(const void *out, dtype dt, const int32_t *labels, int rows, int classes, unsigned what,
                         backend_tally *t)
{
    double l = dt == DT_F64 ? ((const double *)out)[0] : ((const float *)out)[0];
    if (!isfinite(l)) {
        if (!t->nonfinite) t->first_nonfinite = l;
        t->nonfinite++;
    }
    if (what & TALLY_TRAIN) {
        t->loss_sum += l * rows;
        for (int n = 0; n < rows; n++) {
            int best = 0;
            for (int k = 1; k < classes; k++) {
                size_t a = 1 + (size_t)n * classes;
                double vk = dt == DT_F64 ? ((const double *)out)[a + k] : ((const float *)out)[a + k];
                double vb = dt == DT_F64 ? ((const double *)out)[a + best] : ((const float *)out)[a + best];
                if (vk > vb) best = k;
            }
            t->correct += best == labels[n];
        }
    }
    if (what & TALLY_PLAIN) t->loss_plain += l;
}

static void tally_against_host(dtype dt)
{
    const backend *be = backend_cpu();
    enum { ROWS = 12, CLASSES = 10, PASSES = 7 };
    size_t es = dtype_size(dt);
    backend_tally host = {0}, dev = {0};
    for (int p = 0; p < PASSES; p++) {
        /* output layout as a net's: the loss, then the logits */
        void *out = random_values(dt, 1 + ROWS * CLASSES, 3.0, 100 + p);
        int32_t labels[ROWS];
        for (int n = 0; n < ROWS; n++) labels[n] = (n * 7 + p) % CLASSES;
        char *o = out;
        /* row 0 ties its label's class with an earlier one: the first wins */
        memcpy(o + (1 + (size_t)labels[0]) * es, o + 1 * es, es);
        if (p == 4) { /* a loss that is not finite, then others that are */
            if (dt == DT_F64)
                ((double *)out)[0] = NAN;
            else
                ((float *)out)[0] = INFINITY;
        }
        int rows = p == PASSES - 1 ? 5 : ROWS; /* a short last batch */
        unsigned what = p % 3 == 0 ? TALLY_PLAIN : p % 3 == 1 ? TALLY_TRAIN : TALLY_TRAIN | TALLY_PLAIN;
        tally_pass_args a = {o, o + es, labels, rows, CLASSES, dt, what};
        cr_assert_eq(be->tally_pass(&dev, &a), TD_OK);
        host_figures(out, dt, labels, rows, CLASSES, what, &host);
        free(out);
    }
    cr_expect_eq(dev.nonfinite, 1);
    cr_expect(!isfinite(dev.first_nonfinite));
    cr_expect(isnan(dev.loss_sum) || isinf(dev.loss_sum), "the non-finite loss is in the sum");
    cr_expect_eq(dev.correct, host.correct);
    cr_expect_eq(dev.nonfinite, host.nonfinite);
    expect_same_bits(&dev.loss_sum, &host.loss_sum, sizeof host.loss_sum, "loss x rows");
    expect_same_bits(&dev.loss_plain, &host.loss_plain, sizeof host.loss_plain, "plain losses");
    expect_same_bits(&dev.first_nonfinite, &host.first_nonfinite, sizeof host.first_nonfinite, "first non-finite");
}

Test(device_step, tally_matches_the_host_f32) { tally_against_host(DT_F32); }
Test(device_step, tally_matches_the_host_f64) { tally_against_host(DT_F64); }

/* ------------------------------------------------------------ whole runs */

/* path: "0" (the host reads every scalar) or NULL (the CPU's default). */
static char *search_with(const search_config *c, const char *path, long stop_units, const char *tag)
{
    char *dir = sandbox_dir(tag);
    if (path)
        setenv("TSEDARTS_DEVICE_STEP", path, 1);
    else
        unsetenv("TSEDARTS_DEVICE_STEP");
    td_status s = quiet_search(backend_cpu(), c, dir, 0, stop_units);
    unsetenv("TSEDARTS_DEVICE_STEP");
    cr_assert_eq(s, stop_units ? TD_ERR_INTERRUPTED : TD_OK, "%s: %s", tag, td_error_message());
    return dir;
}

static void search_both_paths(search_algo algo, long stop_units)
{
    search_config c;
    quiet_tiny_search_config(&c, algo);
    char *host = search_with(&c, "0", 0, "step-host"), *dev = search_with(&c, NULL, 0, "step-device");
    const char *files[] = {"metrics.jsonl", "alphas.safetensors", "weights.safetensors", "genotype.txt",
                           "result.json", "checkpoint.bin", NULL};
    expect_same_run_files(host, dev, files, "the host's and the device's step scalars");
    /* mid-epoch: the checkpoint holds the epoch's figures so far */
    char *host_stop = search_with(&c, "0", stop_units, "step-host-stop");
    char *dev_stop = search_with(&c, NULL, stop_units, "step-device-stop");
    const char *ckpt[] = {"checkpoint.bin", NULL};
    expect_same_run_files(host_stop, dev_stop, ckpt, "the host's and the device's step scalars");
    free(host);
    free(dev);
    free(host_stop);
    free(dev_stop);
}

Test(device_step, darts1_search_same_bits_both_paths) { search_both_paths(ALGO_DARTS1, 3); }
Test(device_step, darts2_search_same_bits_both_paths) { search_both_paths(ALGO_DARTS2, 2); }
Test(device_step, tse_search_same_bits_both_paths) { search_both_paths(ALGO_TSE, 9); }

Test(device_step, training_same_bits_both_paths)
{
    train_config c;
    train_config_defaults(&c);
    cr_assert_eq(genotype_load("DARTS_V2", &c.net.geno), TD_OK);
    snprintf(c.dataset, sizeof c.dataset, "synthetic");
    c.net.C = 4;
    c.net.layers = 3;
    c.batch = 16;
    c.epochs = 2;
    c.subset = 72; /* 5 steps, the last one short */
    c.valid_images = 32;
    c.test_images = 64;
    char *host = sandbox_dir("train-host"), *dev = sandbox_dir("train-device");
    char *host_stop = sandbox_dir("train-host-stop"), *dev_stop = sandbox_dir("train-device-stop");
    setenv("TSEDARTS_DEVICE_STEP", "0", 1);
    cr_assert_eq(quiet_train(backend_cpu(), &c, host, 0, 0), TD_OK, "%s", td_error_message());
    cr_assert_eq(quiet_train(backend_cpu(), &c, host_stop, 0, 3), TD_ERR_INTERRUPTED, "%s", td_error_message());
    unsetenv("TSEDARTS_DEVICE_STEP");
    cr_assert_eq(quiet_train(backend_cpu(), &c, dev, 0, 0), TD_OK, "%s", td_error_message());
    cr_assert_eq(quiet_train(backend_cpu(), &c, dev_stop, 0, 3), TD_ERR_INTERRUPTED, "%s", td_error_message());
    const char *files[] = {"metrics.jsonl", "weights.safetensors", "result.json", "checkpoint.bin", NULL};
    expect_same_run_files(host, dev, files, "the host's and the device's step scalars");
    const char *ckpt[] = {"checkpoint.bin", NULL};
    expect_same_run_files(host_stop, dev_stop, ckpt, "the host's and the device's step scalars");
    free(host);
    free(dev);
    free(host_stop);
    free(dev_stop);
}

/* A learning rate that blows the weights up: both paths stop at the pass
 * that diverged on the CPU (the new one because its tally is host memory,
 * device_step_diverged_now), naming the epoch; a GPU's stops when it reads
 * the figures. */
Test(device_step, divergence_stops_either_path)
{
    search_config c;
    quiet_tiny_search_config(&c, ALGO_DARTS1);
    c.lr_max = c.lr_min = 1e30;
    c.grad_clip = 1e30;
    const char *paths[] = {"0", NULL};
    const char *says[] = {"the loss became", "non-finite in 1 of the passes read"};
    for (int k = 0; k < 2; k++) {
        char *dir = sandbox_dir("step-diverge");
        if (paths[k])
            setenv("TSEDARTS_DEVICE_STEP", paths[k], 1);
        else
            unsetenv("TSEDARTS_DEVICE_STEP");
        td_status s = quiet_search(backend_cpu(), &c, dir, 0, 0);
        unsetenv("TSEDARTS_DEVICE_STEP");
        cr_expect_eq(s, TD_ERR_STATE, "path %s: a diverging search did not stop (%s)", paths[k] ? paths[k] : "default",
                     td_error_message());
        cr_expect(strstr(td_error_message(), says[k]) && strstr(td_error_message(), "epoch 0"),
                  "path %s: %s", paths[k] ? paths[k] : "default", td_error_message());
        free(dir);
    }
}
