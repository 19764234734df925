/* Whole steps on the GPU against the CPU, and the GPU against itself.
 * - The supernet's training graph (loss, weight and alpha gradients) and
 *   its Hessian-vector graph, node by node: the comparator names the first
 *   node beyond tolerance.
 * - darts1, darts2 and tse searches in f64: weights and alphas after the
 *   steps of an epoch agree with the CPU's.
 * - The exact TSE gradient (Eq. 13) agrees with the CPU's.
 * - The same search twice on the GPU writes the same bytes; so does one
 *   killed with SIGKILL and resumed, and one run kernel by kernel instead
 *   of as recorded CUDA graphs.
 * - The step's scalars on the device (TSEDARTS_DEVICE_STEP=1: clipping,
 *   darts2's coefficients, the epoch's tally) give the bits of the GPU's
 *   host composition; darts1, darts2 and tse searches with them write the
 *   bytes of the searches without them, and agree with the CPU's. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "quiet_runs.h"
#include "sandbox.h"
#include "tse_fixture.h"
#include "tsedarts/autodiff.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/compare.h"
#include "tsedarts/device.h"
#include "tsedarts/device_step.h"
#include "tsedarts/fileio.h"
#include "tsedarts/layers.h"
#include "tsedarts/params.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"
#include "tsedarts/safetensors.h"
#include "tsedarts/search.h"
#include "tsedarts/supernet.h"

static const backend *gpu(void)
{
    const backend *be;
    cr_assert_eq(device_open("cuda", &be), TD_OK, "%s", td_error_message());
    return be;
}

/* The supernet of test_compare with its gradients (and, with hvp, its
 * Hessian-vector products) in the graph. */
static graph *supernet_graph(int hvp)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    supernet_config cfg = {4, 3, 1, 8, 10, 0};
    net_io io;
    cr_assert_eq(supernet_build(&b, &cfg, 4, &io), TD_OK);
    graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.loss, 1, 1), TD_OK, "%s", td_error_message());
    if (hvp) cr_assert_eq(graph_param_hvp(g, 1, 0), TD_OK, "%s", td_error_message());
    layer_free(&b);
    return g;
}

static void compare_graph(graph *g, const char *what)
{
    double *host[ROLE_COUNT] = {0};
    for (int r = 0; r < ROLE_COUNT; r++) host[r] = calloc(g->role_size[r] + 1, sizeof(double));
    params_init(g, 5, DT_F64, host[ROLE_WEIGHT], host[ROLE_ALPHA], host[ROLE_BNSTAT]);
    philox_stream s;
    philox_stream_init(&s, 5, PURPOSE_TEST, 0);
    for (size_t i = 0; i < g->role_size[ROLE_INPUT]; i++) host[ROLE_INPUT][i] = 2 * philox_next_uniform_f64(&s) - 1;
    for (size_t i = 0; i < g->role_size[ROLE_LABEL]; i++) host[ROLE_LABEL][i] = (double)(i % 10);
    for (size_t i = 0; i < g->role_size[ROLE_TANGENT_WEIGHT]; i++)
        host[ROLE_TANGENT_WEIGHT][i] = 2 * philox_next_uniform_f64(&s) - 1;
    const backend *be = gpu();
    compare_side cpu64 = {backend_cpu(), DT_F64}, gpu64 = {be, DT_F64}, gpu32 = {be, DT_F32};
    compare_result res;
    /* f64: errors of 1e-16 per op grow through ~1000 nodes and the BN
     * divisions; 1e-9 is far below any wrong formula's size */
    cr_assert_eq(compare_run(g, gpu64, cpu64, host, 1e-9, 1e-10, &res), TD_OK, "%s", td_error_message());
    cr_expect_eq(res.first_bad_node, -1, "%s f64: %s", what, res.message);
    fprintf(stderr, "%s gpu f64 vs cpu f64: worst ratio %.3g (%d nodes)\n", what, res.worst_ratio, res.nodes_compared);
    /* f32: the CPU's own f32 passes this bar on this graph (test_compare) */
    cr_assert_eq(compare_run(g, gpu32, cpu64, host, 1e-3, 1e-4, &res), TD_OK, "%s", td_error_message());
    cr_expect_eq(res.first_bad_node, -1, "%s f32: %s", what, res.message);
    fprintf(stderr, "%s gpu f32 vs cpu f64: worst ratio %.3g\n", what, res.worst_ratio);
    for (int r = 0; r < ROLE_COUNT; r++) free(host[r]);
}

Test(gpu_steps, supernet_gradients_node_by_node)
{
    graph *g = supernet_graph(0);
    compare_graph(g, "loss, weight and alpha gradients");
    graph_destroy(g);
}

Test(gpu_steps, supernet_hessian_vector_products_node_by_node)
{
    graph *g = supernet_graph(1);
    compare_graph(g, "Hessian-vector products");
    graph_destroy(g);
}

static void small_search(search_config *c, search_algo algo, dtype dt)
{
    quiet_tiny_search_config(c, algo);
    c->dt = dt;
    c->epochs = 1;
    c->subset = 32;
    c->tse_steps = 2;
}

static char *search_on(const backend *be, const search_config *c, const char *tag)
{
    char *dir = sandbox_dir(tag);
    cr_assert_eq(quiet_search(be, c, dir, 0, 0), TD_OK, "%s: %s", tag, td_error_message());
    return dir;
}

/* Largest |a - b| / max|b| over every tensor of two safetensors files. */
static double tensors_rel_diff(const char *a_dir, const char *b_dir, const char *file)
{
    char pa[4200], pb[4200];
    cr_assert_eq(path_format(pa, sizeof pa, "%s/%s", a_dir, file), TD_OK);
    cr_assert_eq(path_format(pb, sizeof pb, "%s/%s", b_dir, file), TD_OK);
    st_file fa, fb;
    cr_assert_eq(safetensors_open(pa, &fa), TD_OK, "%s", td_error_message());
    cr_assert_eq(safetensors_open(pb, &fb), TD_OK, "%s", td_error_message());
    double worst = 0;
    for (int i = 0; i < safetensors_count(&fa); i++) {
        st_tensor ta, tb;
        const char *name = safetensors_name(&fa, i);
        cr_assert_eq(safetensors_get(&fa, name, &ta), TD_OK);
        cr_assert_eq(safetensors_get(&fb, name, &tb), TD_OK, "%s lacks %s", pb, name);
        if (strcmp(ta.dtype, "F64")) continue; /* integer counters match or the floats would not */
        cr_assert_eq(ta.bytes, tb.bytes);
        const double *x = ta.data, *y = tb.data;
        size_t n = ta.bytes / 8;
        double scale = 1e-30, diff = 0;
        for (size_t k = 0; k < n; k++) {
            scale = fmax(scale, fabs(y[k]));
            diff = fmax(diff, fabs(x[k] - y[k]));
        }
        worst = fmax(worst, diff / scale);
    }
    safetensors_close(&fa);
    safetensors_close(&fb);
    return worst;
}

static void search_against_cpu(search_algo algo, const char *tag)
{
    search_config c;
    small_search(&c, algo, DT_F64);
    char t1[64], t2[64];
    snprintf(t1, sizeof t1, "gpu-%s-cpu", tag);
    snprintf(t2, sizeof t2, "gpu-%s-gpu", tag);
    char *on_cpu = search_on(backend_cpu(), &c, t1), *on_gpu = search_on(gpu(), &c, t2);
    double dw = tensors_rel_diff(on_gpu, on_cpu, "weights.safetensors");
    double da = tensors_rel_diff(on_gpu, on_cpu, "alphas.safetensors");
    fprintf(stderr, "%s, f64, one epoch: weights differ by %.3g, alphas by %.3g (relative to the largest)\n", tag, dw,
            da);
    /* four steps of SGD and Adam in f64 amplify the kernels' 1e-15 by the
     * steps' conditioning; 1e-9 still tells any wrong gradient */
    cr_expect_lt(dw, 1e-9, "%s weights", tag);
    cr_expect_lt(da, 1e-9, "%s alphas", tag);
    free(on_cpu);
    free(on_gpu);
}

Test(gpu_steps, darts1_search_matches_the_cpu) { search_against_cpu(ALGO_DARTS1, "darts1"); }
Test(gpu_steps, darts2_search_matches_the_cpu) { search_against_cpu(ALGO_DARTS2, "darts2"); }
Test(gpu_steps, tse_search_matches_the_cpu) { search_against_cpu(ALGO_TSE, "tse"); }

Test(gpu_steps, exact_tse_gradient_matches_the_cpu)
{
    tse_fixture fc, fg;
    fixture_init_on(&fc, backend_cpu(), 0, 1, 2, 0.01, 0.9, 0.01, DT_F64);
    fixture_init_on(&fg, gpu(), 0, 1, 2, 0.01, 0.9, 0.01, DT_F64);
    size_t n = fixture_n_alpha(&fc);
    double *alphas = calloc(n, sizeof *alphas), *ec = calloc(n, sizeof *ec), *fc1 = calloc(n, sizeof *fc1);
    double *eg = calloc(n, sizeof *eg), *fg1 = calloc(n, sizeof *fg1);
    for (size_t i = 0; i < n; i++) alphas[i] = 0.1 * sin((double)i);
    fixture_gradients(&fc, alphas, ec, fc1);
    fixture_gradients(&fg, alphas, eg, fg1);
    double scale = 1e-30, diff = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(ec[i]));
        diff = fmax(diff, fabs(eg[i] - ec[i]));
    }
    fprintf(stderr, "exact TSE gradient, f64: gpu vs cpu %.3g relative to the largest\n", diff / scale);
    cr_expect_lt(diff / scale, 1e-9, "exact TSE gradient differs: %.3g", diff / scale);
    free(alphas);
    free(ec);
    free(fc1);
    free(eg);
    free(fg1);
    fixture_free(&fc);
    fixture_free(&fg);
}

/* The search runs below go through the tsedarts program, so that this
 * process (the test) never initialises CUDA before it forks. */
static const char *program(void)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    return bin;
}

static void expect_same_bytes(const char *a, const char *b)
{
    const char *names[] = {"weights.safetensors", "alphas.safetensors", "metrics.jsonl", "genotype.txt", NULL};
    for (int i = 0; names[i]; i++) {
        char pa[4200], pb[4200], *ta, *tb;
        size_t na, nb;
        cr_assert_eq(path_format(pa, sizeof pa, "%s/%s", a, names[i]), TD_OK);
        cr_assert_eq(path_format(pb, sizeof pb, "%s/%s", b, names[i]), TD_OK);
        cr_assert_eq(file_read_all(pa, &ta, &na), TD_OK, "%s", td_error_message());
        cr_assert_eq(file_read_all(pb, &tb, &nb), TD_OK, "%s", td_error_message());
        cr_expect(na == nb && !memcmp(ta, tb, na), "%s differs between %s and %s", names[i], a, b);
        free(ta);
        free(tb);
    }
}

#define SEARCH_ARGS(algo)                                                                                        \
    "search", "--device", "cuda", "--algo", algo, "--dataset", "synthetic", "--channels", "8", "--layers", "5",  \
        "--batch", "16", "--epochs", "2", "--subset", "96", "--eval-images", "32", "--tse-steps", "3", "--quiet", \
        "--out"

static void twice_the_same(const char *algo)
{
    const char *bin = program();
    char *a = sandbox_dir("gpu-repeat-a"), *b = sandbox_dir("gpu-repeat-b"), oa[4200], ob[4200];
    cr_assert_eq(path_format(oa, sizeof oa, "%s/run", a), TD_OK);
    cr_assert_eq(path_format(ob, sizeof ob, "%s/run", b), TD_OK);
    const char *first[] = {bin, SEARCH_ARGS(algo), oa, NULL}, *second[] = {bin, SEARCH_ARGS(algo), ob, NULL};
    cr_assert_eq(sandbox_run(first, NULL), 0, "first %s run failed", algo);
    cr_assert_eq(sandbox_run(second, NULL), 0, "second %s run failed", algo);
    expect_same_bytes(oa, ob);
    free(a);
    free(b);
}

Test(gpu_steps, darts1_twice_gives_the_same_bits, .timeout = 600) { twice_the_same("darts1"); }
Test(gpu_steps, tse_twice_gives_the_same_bits, .timeout = 600) { twice_the_same("tse"); }

Test(gpu_steps, recorded_and_direct_runs_give_the_same_bits, .timeout = 600)
{
    const char *bin = program();
    char *a = sandbox_dir("gpu-graphs"), *b = sandbox_dir("gpu-direct"), oa[4200], ob[4200];
    cr_assert_eq(path_format(oa, sizeof oa, "%s/run", a), TD_OK);
    cr_assert_eq(path_format(ob, sizeof ob, "%s/run", b), TD_OK);
    const char *recorded[] = {bin, SEARCH_ARGS("darts2"), oa, NULL}, *direct[] = {bin, SEARCH_ARGS("darts2"), ob, NULL};
    cr_assert_eq(sandbox_run(recorded, NULL), 0);
    setenv("TSEDARTS_NO_GRAPHS", "1", 1);
    cr_assert_eq(sandbox_run(direct, NULL), 0);
    unsetenv("TSEDARTS_NO_GRAPHS");
    expect_same_bytes(oa, ob);
    free(a);
    free(b);
}

/* Horizontal batches (TSEDARTS_BATCH=1 on a GPU) change launches, not
 * bits: a search batched and one node by node write the same files. */
static void batched_and_not(const char *algo)
{
    const char *bin = program();
    char *a = sandbox_dir("gpu-batched"), *b = sandbox_dir("gpu-unbatched"), oa[4200], ob[4200];
    cr_assert_eq(path_format(oa, sizeof oa, "%s/run", a), TD_OK);
    cr_assert_eq(path_format(ob, sizeof ob, "%s/run", b), TD_OK);
    const char *batched[] = {bin, SEARCH_ARGS(algo), oa, NULL}, *plain[] = {bin, SEARCH_ARGS(algo), ob, NULL};
    setenv("TSEDARTS_BATCH", "1", 1);
    cr_assert_eq(sandbox_run(batched, NULL), 0, "batched %s run failed", algo);
    setenv("TSEDARTS_BATCH", "0", 1);
    cr_assert_eq(sandbox_run(plain, NULL), 0, "unbatched %s run failed", algo);
    unsetenv("TSEDARTS_BATCH");
    expect_same_bytes(oa, ob);
    free(a);
    free(b);
}

Test(gpu_steps, darts2_batched_and_not_give_the_same_bits, .timeout = 600) { batched_and_not("darts2"); }
Test(gpu_steps, tse_batched_and_not_give_the_same_bits, .timeout = 600) { batched_and_not("tse"); }

Test(gpu_steps, sigkill_then_resume_gives_the_same_bits, .timeout = 600)
{
    const char *bin = program();
    char *a = sandbox_dir("gpu-kill-ref"), *b = sandbox_dir("gpu-kill"), oa[4200], ob[4200];
    cr_assert_eq(path_format(oa, sizeof oa, "%s/run", a), TD_OK);
    cr_assert_eq(path_format(ob, sizeof ob, "%s/run", b), TD_OK);
    const char *whole[] = {bin, SEARCH_ARGS("tse"), oa, NULL}, *killed[] = {bin, SEARCH_ARGS("tse"), ob, NULL};
    cr_assert_eq(sandbox_run(whole, NULL), 0);
    /* killed while held after the first epoch (6 steps, 12 units) and 2
     * units of the second: mid-epoch, a checkpoint to go back to */
    char hold[4300], ck[4300], res[4300];
    cr_assert_eq(path_format(hold, sizeof hold, "%s/hold", b), TD_OK);
    cr_assert_eq(path_format(ck, sizeof ck, "%s/checkpoint.bin", ob), TD_OK);
    cr_assert_eq(path_format(res, sizeof res, "%s/result.json", ob), TD_OK);
    pid_t pid = sandbox_start_held(killed, 14, hold);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the run was not killed");
    cr_assert(file_exists(ck), "no checkpoint was written before the kill");
    cr_assert(!file_exists(res), "the run finished before the kill");
    const char *resume[] = {bin, "search", "--resume", ob, "--quiet", NULL};
    cr_assert_eq(sandbox_run(resume, NULL), 0, "resume failed");
    expect_same_bytes(oa, ob);
    free(a);
    free(b);
}

/* ------------------------------------------------------------ step scalars */

/* The GPU with its step scalars offered (read when the backend opens;
 * Criterion runs each test in a process of its own). */
static const backend *gpu_device_step(void)
{
    setenv("TSEDARTS_DEVICE_STEP", "1", 1);
    const backend *be = gpu();
    cr_assert(be->flat_clip && be->flat_inverse_norm && be->flat_axpy_dev && be->tally_pass && be->host_alloc &&
                  be->upload_async && be->fence_record && be->fence_wait,
              "TSEDARTS_DEVICE_STEP=1 did not offer the step scalars");
    return be;
}

#define STEP_N 10000 /* three reduction chunks, the last one short */

/* n values of dt on the device, uniform in [-scale, scale). */
static void *device_values(const backend *be, dtype dt, size_t n, double scale, uint64_t key)
{
    philox_stream s;
    philox_stream_init(&s, 11, PURPOSE_TEST, key);
    size_t es = dtype_size(dt);
    char *host = malloc(n * es);
    for (size_t i = 0; i < n; i++) {
        double v = scale * (2 * philox_next_uniform_f64(&s) - 1);
        if (dt == DT_F64) ((double *)host)[i] = v;
        else ((float *)host)[i] = (float)v;
    }
    void *d = be->alloc(n * es);
    cr_assert(d);
    cr_assert_eq(be->upload(d, host, n * es), TD_OK);
    free(host);
    return d;
}

static void expect_device_same(const backend *be, const void *a, const void *b, size_t bytes, const char *what)
{
    char *ha = malloc(bytes), *hb = malloc(bytes);
    cr_assert_eq(be->download(ha, a, bytes), TD_OK, "%s", td_error_message());
    cr_assert_eq(be->download(hb, b, bytes), TD_OK, "%s", td_error_message());
    cr_expect(!memcmp(ha, hb, bytes), "%s: the device's bits differ from the host composition's", what);
    free(ha);
    free(hb);
}

static void gpu_step_scalars(dtype dt)
{
    const backend *be = gpu_device_step();
    size_t es = dtype_size(dt), bytes = STEP_N * es;
    double *scalars = be->alloc(2 * sizeof(double));
    /* clipping that scales (1) and that does not (100): ||x|| is about 5.8 */
    const double norms[] = {1.0, 100.0};
    for (int k = 0; k < 2; k++) {
        void *host = device_values(be, dt, STEP_N, 0.1, 1), *dev = device_values(be, dt, STEP_N, 0.1, 1);
        double sq, got[2];
        cr_assert_eq(be->flat_sum_squares(host, STEP_N, dt, &sq), TD_OK, "%s", td_error_message());
        double coef = norms[k] / (sqrt(sq) + 1e-6);
        if (coef < 1) cr_assert_eq(be->flat_scale(host, STEP_N, dt, coef), TD_OK);
        cr_assert_eq(be->flat_clip(dev, STEP_N, dt, norms[k], scalars), TD_OK, "%s", td_error_message());
        cr_assert_eq(be->download(got, scalars, sizeof got), TD_OK);
        cr_expect(!memcmp(&got[0], &sq, sizeof sq) && !memcmp(&got[1], &coef, sizeof coef),
                  "clip to %g: sum %.17g coefficient %.17g on the device, %.17g %.17g on the host", norms[k], got[0],
                  got[1], sq, coef);
        expect_device_same(be, host, dev, bytes, coef < 1 ? "clipped gradient" : "unclipped gradient");
        be->release(host);
        be->release(dev);
    }
    /* darts2: R = 0.01 / ||v||, then R, -R, -xi / (2 R), xi / (2 R) */
    void *v = device_values(be, dt, STEP_N, 0.3, 2), *x = device_values(be, dt, STEP_N, 1.0, 3);
    void *y_host = device_values(be, dt, STEP_N, 1.0, 4), *y_dev = device_values(be, dt, STEP_N, 1.0, 4);
    double xi = 0.025, sq, R_dev;
    cr_assert_eq(be->flat_sum_squares(v, STEP_N, dt, &sq), TD_OK);
    double R = 0.01 / sqrt(sq);
    cr_assert_eq(be->flat_inverse_norm(v, STEP_N, dt, 0.01, scalars), TD_OK, "%s", td_error_message());
    cr_assert_eq(be->download(&R_dev, scalars, sizeof R_dev), TD_OK);
    cr_expect(!memcmp(&R, &R_dev, sizeof R), "R: %.17g on the device, %.17g on the host", R_dev, R);
    const double host_a[] = {R, -R, -xi / (2 * R), xi / (2 * R)}, num[] = {1, -1, -xi, xi}, den[] = {0, 0, 2, 2};
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(be->flat_axpy(y_host, x, STEP_N, dt, host_a[k]), TD_OK);
        cr_assert_eq(be->flat_axpy_dev(y_dev, x, STEP_N, dt, scalars, num[k], den[k]), TD_OK, "%s", td_error_message());
    }
    expect_device_same(be, y_host, y_dev, bytes, "darts2's axpys");
    /* the tally: 12 rows of 10 classes per pass, row 0 tied with its
     * label's class, a non-finite loss in pass 4, a short last pass */
    enum { ROWS = 12, CLASSES = 10, PASSES = 7 };
    backend_tally host_t = {0}, *dev_t = be->alloc(sizeof *dev_t), got_t;
    cr_assert_eq(be->zero(dev_t, sizeof *dev_t), TD_OK);
    int32_t *labels_d = be->alloc(ROWS * sizeof(int32_t));
    for (int p = 0; p < PASSES; p++) {
        void *out = device_values(be, dt, 1 + ROWS * CLASSES, 3.0, 100 + p);
        char *h = malloc((1 + ROWS * CLASSES) * es);
        cr_assert_eq(be->download(h, out, (1 + ROWS * CLASSES) * es), TD_OK);
        int32_t labels[ROWS];
        for (int n = 0; n < ROWS; n++) labels[n] = (n * 7 + p) % CLASSES;
        memcpy(h + (1 + (size_t)labels[0]) * es, h + es, es);
        if (p == 4) {
            if (dt == DT_F64) ((double *)h)[0] = NAN;
            else ((float *)h)[0] = INFINITY;
        }
        cr_assert_eq(be->upload(out, h, (1 + ROWS * CLASSES) * es), TD_OK);
        cr_assert_eq(be->upload(labels_d, labels, sizeof labels), TD_OK);
        int rows = p == PASSES - 1 ? 5 : ROWS;
        unsigned what = p % 3 == 0 ? TALLY_PLAIN : p % 3 == 1 ? TALLY_TRAIN : TALLY_TRAIN | TALLY_PLAIN;
        tally_pass_args a = {out, (char *)out + es, labels_d, rows, CLASSES, dt, what};
        cr_assert_eq(be->tally_pass(dev_t, &a), TD_OK, "%s", td_error_message());
        /* the host's figures, as search.c computed them from a download */
        tally_pass_args ha = {h, h + es, labels, rows, CLASSES, dt, what};
        cr_assert_eq(backend_cpu()->tally_pass(&host_t, &ha), TD_OK);
        be->release(out);
        free(h);
    }
    cr_assert_eq(be->download(&got_t, dev_t, sizeof got_t), TD_OK);
    cr_expect_eq(got_t.correct, host_t.correct);
    cr_expect_eq(got_t.nonfinite, 1);
    cr_expect(!memcmp(&got_t.loss_sum, &host_t.loss_sum, sizeof(double)) &&
                  !memcmp(&got_t.loss_plain, &host_t.loss_plain, sizeof(double)) &&
                  !memcmp(&got_t.first_nonfinite, &host_t.first_nonfinite, sizeof(double)),
              "tally: the device's sums differ from the host's");
    be->release(labels_d);
    be->release(dev_t);
    be->release(v);
    be->release(x);
    be->release(y_host);
    be->release(y_dev);
    be->release(scalars);
}

Test(gpu_steps, step_scalars_give_the_host_compositions_bits_f32) { gpu_step_scalars(DT_F32); }
Test(gpu_steps, step_scalars_give_the_host_compositions_bits_f64) { gpu_step_scalars(DT_F64); }

/* Pinned batches uploaded without waiting, a fence per buffer: what
 * arrives is what was written, with the host refilling the other buffer
 * meanwhile. */
Test(gpu_steps, pinned_uploads_arrive_whole)
{
    const backend *be = gpu_device_step();
    enum { BYTES = 1 << 20, ROUNDS = 8 };
    unsigned char *host[2] = {be->host_alloc(BYTES), be->host_alloc(BYTES)}, *back = malloc(BYTES);
    unsigned char *dev[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        int k = r % 2;
        cr_assert_eq(be->fence_wait(k), TD_OK, "%s", td_error_message());
        memset(host[k], 1 + r, BYTES);
        dev[r] = be->alloc(BYTES);
        cr_assert_eq(be->upload_async(dev[r], host[k], BYTES), TD_OK, "%s", td_error_message());
        cr_assert_eq(be->fence_record(k), TD_OK, "%s", td_error_message());
    }
    for (int r = 0; r < ROUNDS; r++) {
        cr_assert_eq(be->download(back, dev[r], BYTES), TD_OK);
        int whole = 1;
        for (int i = 0; i < BYTES; i++) whole &= back[i] == 1 + r;
        cr_expect(whole, "upload %d did not arrive as written", r);
        be->release(dev[r]);
    }
    be->host_release(host[0]);
    be->host_release(host[1]);
    free(back);
}

/* In-process, f64: a search with the scalars on the device agrees with the
 * CPU's as closely as one without them does (search_against_cpu). */
static void device_step_against_cpu(search_algo algo, const char *tag)
{
    gpu_device_step();
    search_against_cpu(algo, tag);
}

Test(gpu_steps, darts1_device_step_matches_the_cpu) { device_step_against_cpu(ALGO_DARTS1, "darts1-step"); }
Test(gpu_steps, darts2_device_step_matches_the_cpu) { device_step_against_cpu(ALGO_DARTS2, "darts2-step"); }
Test(gpu_steps, tse_device_step_matches_the_cpu) { device_step_against_cpu(ALGO_TSE, "tse-step"); }

/* Through the program, f32: the same search with the step's scalars on the
 * device and read back by the host writes the same bytes. */
static void device_step_and_not(const char *algo)
{
    const char *bin = program();
    char *a = sandbox_dir("gpu-step-device"), *b = sandbox_dir("gpu-step-host"), oa[4200], ob[4200];
    cr_assert_eq(path_format(oa, sizeof oa, "%s/run", a), TD_OK);
    cr_assert_eq(path_format(ob, sizeof ob, "%s/run", b), TD_OK);
    const char *on[] = {bin, SEARCH_ARGS(algo), oa, NULL}, *off[] = {bin, SEARCH_ARGS(algo), ob, NULL};
    setenv("TSEDARTS_DEVICE_STEP", "1", 1);
    cr_assert_eq(sandbox_run(on, NULL), 0, "%s with TSEDARTS_DEVICE_STEP=1 failed", algo);
    setenv("TSEDARTS_DEVICE_STEP", "0", 1);
    cr_assert_eq(sandbox_run(off, NULL), 0, "%s with TSEDARTS_DEVICE_STEP=0 failed", algo);
    unsetenv("TSEDARTS_DEVICE_STEP");
    expect_same_bytes(oa, ob);
    free(a);
    free(b);
}

Test(gpu_steps, darts1_device_step_and_not_give_the_same_bits, .timeout = 600) { device_step_and_not("darts1"); }
Test(gpu_steps, darts2_device_step_and_not_give_the_same_bits, .timeout = 600) { device_step_and_not("darts2"); }
Test(gpu_steps, tse_device_step_and_not_give_the_same_bits, .timeout = 600) { device_step_and_not("tse"); }
