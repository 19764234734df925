/* Search algorithms and their reproducibility: TSE accumulation and
 * restore, the darts2 formula, bit-identical repeats, thread counts,
 * stop/resume and SIGKILL/resume. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "quiet_runs.h"
#include "sandbox.h"

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/search_internal.h"
#include "tsedarts/backend_cpu.h"

/* A new, empty directory for one run. */
static void out_dir(char *buf, size_t len, const char *tag)
{
    char name[64], *dir;
    snprintf(name, sizeof name, "search-%s", tag);
    dir = sandbox_dir(name);
    cr_assert_eq(path_format(buf, len, "%s", dir), TD_OK, "%s", td_error_message());
    free(dir);
}

static void run(const search_config *c, const char *dir, int resume, long stop_after, int threads)
{
    search_options o;
    memset(&o, 0, sizeof o);
    o.be = backend_cpu();
    o.out_dir = dir;
    o.resume = resume;
    o.stop_after_units = stop_after;
    o.quiet = 1;
    o.threads = threads;
    search_result r;
    td_status s = search_run(c, &o, &r);
    if (stop_after)
        cr_assert_eq(s, TD_ERR_INTERRUPTED, "%s", td_error_message());
    else
        cr_assert_eq(s, TD_OK, "%s", td_error_message());
}

static void expect_same_named(const char *a, const char *b, const char *const *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char pa[600], pb[600], *ta, *tb;
        size_t la, lb;
        cr_assert_eq(path_format(pa, sizeof pa, "%s/%s", a, files[i]), TD_OK);
        cr_assert_eq(path_format(pb, sizeof pb, "%s/%s", b, files[i]), TD_OK);
        cr_assert_eq(file_read_all(pa, &ta, &la), TD_OK, "%s", td_error_message());
        cr_assert_eq(file_read_all(pb, &tb, &lb), TD_OK, "%s", td_error_message());
        cr_expect(la == lb && memcmp(ta, tb, la) == 0, "%s differs between %s and %s", files[i], a, b);
        free(ta);
        free(tb);
    }
}

static void expect_same_files(const char *a, const char *b)
{
    static const char *const files[] = {"metrics.jsonl", "alphas.safetensors", "weights.safetensors", "genotype.txt",
                                        "result.json", "checkpoint.bin"};
    expect_same_named(a, b, files, sizeof files / sizeof files[0]);
}

/* The search's results, not its logs or its config. */
static void expect_same_outputs(const char *a, const char *b)
{
    static const char *const files[] = {"alphas.safetensors", "weights.safetensors", "genotype.txt"};
    expect_same_named(a, b, files, sizeof files / sizeof files[0]);
}

static void repeat_and_resume(search_algo algo, long stop1, long stop2)
{
    search_config c;
    quiet_tiny_search_config(&c, algo);
    char a[256], b[256], d[256];
    out_dir(a, sizeof a, "a");
    out_dir(b, sizeof b, "b");
    out_dir(d, sizeof d, "d");
    run(&c, a, 0, 0, 2);
    run(&c, b, 0, 0, 1); /* another thread count */
    expect_same_files(a, b);
    run(&c, d, 0, stop1, 2); /* interrupted mid-epoch */
    run(&c, d, 1, stop2, 1); /* resumed, interrupted again */
    run(&c, d, 1, 0, 2);
    expect_same_files(a, d);
}

Test(search, darts1_repeat_threads_resume_bit_identical) { repeat_and_resume(ALGO_DARTS1, 3, 4); }
Test(search, darts2_repeat_threads_resume_bit_identical) { repeat_and_resume(ALGO_DARTS2, 2, 5); }
/* TSE units: 2 per step; stops land inside a rollout and a retraining. */
Test(search, tse_repeat_threads_resume_bit_identical) { repeat_and_resume(ALGO_TSE, 2, 9); }

/* Exact TSE: a stop inside a rollout must keep the weight snapshots. */
Test(search, tse_exact_repeat_threads_resume_bit_identical) { repeat_and_resume(ALGO_TSE_EXACT, 2, 9); }

/* T = 1: the exact gradient is the first-order one bit for bit, so the
 * whole searches coincide. */
Test(search, tse_exact_with_one_step_is_tse)
{
    search_config c;
    quiet_tiny_search_config(&c, ALGO_TSE);
    c.tse_steps = 1;
    char a[256], b[256];
    out_dir(a, sizeof a, "t1");
    out_dir(b, sizeof b, "x1");
    run(&c, a, 0, 0, 2);
    c.algo = ALGO_TSE_EXACT;
    run(&c, b, 0, 0, 2);
    expect_same_outputs(a, b);
}

/* Analysis mode on the first-order search: same trajectory as without it,
 * and a record per alpha update with a cosine in [-1, 1]. */
Test(search, tse_analysis_logs_cosines_without_changing_the_search)
{
    search_config c;
    quiet_tiny_search_config(&c, ALGO_TSE);
    char a[256], b[256];
    out_dir(a, sizeof a, "plain");
    out_dir(b, sizeof b, "analysis");
    run(&c, a, 0, 0, 2);
    c.tse_analysis = 1;
    run(&c, b, 0, 0, 2);
    expect_same_outputs(a, b);
    char path[600], *text;
    cr_assert_eq(path_format(path, sizeof path, "%s/metrics.jsonl", b), TD_OK);
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK);
    int records = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        const char *k = strstr(line, "\"cosine\":");
        if (!strstr(line, "\"record\":\"tse_gradient\"")) continue;
        cr_assert(k, "a tse_gradient record without a cosine: %s", line);
        double cosine = atof(k + 9);
        cr_expect(cosine >= -1 && cosine <= 1 && cosine != 0, "cosine %g", cosine);
        records++;
    }
    /* 5 steps per epoch in groups of 3: 2 updates per epoch, 2 epochs */
    cr_expect_eq(records, 4);
    free(text);
}

/* The Hessian diagnostic lands in the epoch records; its config fields
 * survive the config.json round trip (resume uses it). */
Test(search, hessian_diagnostic_logged_every_epoch)
{
    search_config c, back;
    quiet_tiny_search_config(&c, ALGO_DARTS1);
    c.epochs = 1;
    c.hessian_every = 1;
    c.hessian_lanczos = 12;
    char *json = NULL;
    cr_assert_eq(search_config_json(&c, &json), TD_OK);
    cr_assert_eq(search_config_parse(json, &back), TD_OK);
    cr_expect_eq(back.hessian_every, 1);
    cr_expect_eq(back.hessian_lanczos, 12);
    free(json);
    char a[256];
    out_dir(a, sizeof a, "hessian");
    run(&c, a, 0, 0, 2);
    char path[600], *text;
    cr_assert_eq(path_format(path, sizeof path, "%s/metrics.jsonl", a), TD_OK);
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK);
    const char *k = strstr(text, "\"hessian_max_eigenvalue\":");
    cr_assert(k, "no eigenvalue in %s", text);
    double lmax = atof(k + 25);
    cr_expect(isfinite(lmax) && lmax != 0, "eigenvalue %g", lmax);
    free(text);
}

Test(search, resume_refuses_another_configuration)
{
    search_config c;
    quiet_tiny_search_config(&c, ALGO_DARTS1);
    char a[256];
    out_dir(a, sizeof a, "cfg");
    run(&c, a, 0, 2, 2);
    c.seed = 99;
    search_options o;
    memset(&o, 0, sizeof o);
    o.be = backend_cpu();
    o.out_dir = a;
    o.resume = 1;
    o.quiet = 1;
    search_result r;
    cr_expect_eq(search_run(&c, &o, &r), TD_ERR_STATE);
    cr_expect(strstr(td_error_message(), "different configuration") != NULL, "%s", td_error_message());
    /* a fresh run into an existing run directory is refused too */
    o.resume = 0;
    cr_expect_eq(search_run(&c, &o, &r), TD_ERR_STATE);
    cr_expect(strstr(td_error_message(), "already holds a run") != NULL, "%s", td_error_message());
}

/* A search state on the tiny config, ready to run units by hand. */
static search_state *open_state(search_algo algo)
{
    search_state *st = calloc(1, sizeof *st);
    quiet_tiny_search_config(&st->cfg, algo);
    st->cfg.dt = DT_F64;
    st->opt.be = backend_cpu();
    st->opt.quiet = 1;
    cr_assert_eq(search_load_data(st), TD_OK, "%s", td_error_message());
    cr_assert_eq(model_create(&st->m, backend_cpu(), DT_F64, supernet_build_fn, &st->cfg.net), TD_OK);
    cr_assert_eq(search_alloc_buffers(st), TD_OK);
    cr_assert_eq(model_init_params(&st->m, st->cfg.seed), TD_OK);
    search_epoch_orders(st, 0);
    return st;
}

static void close_state(search_state *st)
{
    search_free_state(st);
    free(st);
}

Test(search, tse_sums_direct_gradients_and_restores_exactly)
{
    search_state *st = open_state(ALGO_TSE);
    model *m = &st->m;
    size_t nw = m->n[ROLE_WEIGHT], na = m->n[ROLE_ALPHA], nb = m->n[ROLE_BNSTAT];
    double *w0 = malloc(nw * 8), *bn0 = malloc(nb * 8), *mom0 = malloc(nw * 8), *a0 = malloc(na * 8);
    memcpy(w0, m->role[ROLE_WEIGHT], nw * 8);
    memcpy(bn0, m->role[ROLE_BNSTAT], nb * 8);
    memcpy(a0, m->role[ROLE_ALPHA], na * 8);
    double lr = 0.05;
    /* The rollout of the first group (T = 3 steps): units 0, 1, 2. */
    for (int u = 0; u < 2; u++) cr_assert_eq(search_tse.run_unit(st, u, lr), TD_OK, "%s", td_error_message());
    /* Before the last rollout step: the accumulator, computed independently
     * by replaying the trajectory with a separate SGD written here. */
    double *acc = calloc(na, 8), *buf = calloc(nw, 8), *w = malloc(nw * 8);
    memcpy(w, w0, nw * 8);
    double *save_w = malloc(nw * 8), *save_bn = malloc(nb * 8);
    memcpy(save_w, m->role[ROLE_WEIGHT], nw * 8);
    memcpy(save_bn, m->role[ROLE_BNSTAT], nb * 8);
    memcpy(m->role[ROLE_BNSTAT], bn0, nb * 8);
    for (int t = 0; t < 3; t++) {
        memcpy(m->role[ROLE_WEIGHT], w, nw * 8);
        int b = search_make_batch(st, 0, t, 0);
        net_exec *ne;
        cr_assert_eq(search_exec(st, K_WA, b, &ne), TD_OK);
        cr_assert_eq(net_exec_run(m, ne, st->images, st->labels, NULL), TD_OK);
        const double *ga = m->role[ROLE_GRAD_ALPHA], *gw = m->role[ROLE_GRAD_WEIGHT];
        for (size_t i = 0; i < na; i++) acc[i] += ga[i];
        for (size_t i = 0; i < nw; i++) { /* PyTorch SGD, docs/numerics.md s.2.1 */
            double d = gw[i] + st->cfg.weight_decay * w[i];
            buf[i] = st->cfg.momentum * buf[i] + d;
            w[i] -= lr * buf[i];
        }
    }
    memcpy(m->role[ROLE_WEIGHT], save_w, nw * 8);
    memcpy(m->role[ROLE_BNSTAT], save_bn, nb * 8);
    /* The third rollout step ends the rollout: Adam on the sum, restore. */
    memcpy(mom0, st->momentum, nw * 8);
    cr_assert_eq(search_tse.run_unit(st, 2, lr), TD_OK);
    cr_expect(memcmp(st->a_acc, acc, na * 8) == 0, "alpha gradient sum differs from the independent sum");
    cr_expect(memcmp(m->role[ROLE_WEIGHT], w0, nw * 8) == 0, "weights not restored bit for bit");
    cr_expect(memcmp(m->role[ROLE_BNSTAT], bn0, nb * 8) == 0, "BN statistics not restored bit for bit");
    cr_expect(memcmp(st->momentum, buf, nw * 8) == 0, "momentum must keep its end-of-rollout value (not restored)");
    cr_expect(memcmp(m->role[ROLE_ALPHA], a0, na * 8) != 0, "alphas must have moved");
    cr_expect_eq(st->arch_steps, 1);
    free(acc);
    free(buf);
    free(w);
    free(w0);
    free(bn0);
    free(mom0);
    free(a0);
    free(save_w);
    free(save_bn);
    close_state(st);
}

/* Gradients of a batch at given weights (f64), by a separate run. */
static void grads_at(search_state *st, const double *w, int half, int step, int kind, double *gw, double *ga)
{
    model *m = &st->m;
    memcpy(m->role[ROLE_WEIGHT], w, m->n[ROLE_WEIGHT] * 8);
    int b = search_make_batch(st, half, step, 0);
    net_exec *ne;
    cr_assert_eq(search_exec(st, kind, b, &ne), TD_OK);
    cr_assert_eq(net_exec_run(m, ne, st->images, st->labels, NULL), TD_OK);
    if (gw) memcpy(gw, m->role[ROLE_GRAD_WEIGHT], m->n[ROLE_WEIGHT] * 8);
    if (ga) memcpy(ga, m->role[ROLE_GRAD_ALPHA], m->n[ROLE_ALPHA] * 8);
}

Test(search, darts2_equals_its_formula)
{
    search_state *st = open_state(ALGO_DARTS2);
    model *m = &st->m;
    size_t nw = m->n[ROLE_WEIGHT], na = m->n[ROLE_ALPHA];
    double xi = 0.05, mom = st->cfg.momentum, wd = st->cfg.weight_decay;
    /* a non-zero momentum buffer so that its term is exercised */
    cr_assert_eq(search_darts2.run_unit(st, 0, xi), TD_OK, "%s", td_error_message());
    double *w = malloc(nw * 8), *buf = malloc(nw * 8), *g = malloc(nw * 8), *v = malloc(nw * 8), *wp = malloc(nw * 8);
    double *dalpha = malloc(na * 8), *gp = malloc(na * 8), *gm = malloc(na * 8), *want = malloc(na * 8);
    memcpy(w, m->role[ROLE_WEIGHT], nw * 8);
    memcpy(buf, st->momentum, nw * 8);
    /* docs/numerics.md s.2.4: w' = w - xi (mom buf + dL_train(w) + wd w) */
    grads_at(st, w, 0, 1, K_W_NOUPD, g, NULL);
    for (size_t i = 0; i < nw; i++) wp[i] = w[i] - xi * (mom * buf[i] + g[i] + wd * w[i]);
    grads_at(st, wp, 1, 1, K_WA_NOUPD, v, dalpha);
    double norm = 0;
    for (size_t i = 0; i < nw; i++) norm += v[i] * v[i];
    double R = 0.01 / sqrt(norm);
    for (size_t i = 0; i < nw; i++) wp[i] = w[i] + R * v[i];
    grads_at(st, wp, 0, 1, K_A_NOUPD, NULL, gp);
    for (size_t i = 0; i < nw; i++) wp[i] = w[i] - R * v[i];
    grads_at(st, wp, 0, 1, K_A_NOUPD, NULL, gm);
    for (size_t i = 0; i < na; i++) want[i] = dalpha[i] - xi * (gp[i] - gm[i]) / (2 * R);
    memcpy(m->role[ROLE_WEIGHT], w, nw * 8);
    cr_assert_eq(search_darts2.run_unit(st, 1, xi), TD_OK);
    /* st->tmp_a holds the final architecture gradient of that step */
    double err = 0, ref = 0;
    for (size_t i = 0; i < na; i++) {
        double d = ((double *)st->tmp_a)[i] - want[i];
        err += d * d;
        ref += want[i] * want[i];
    }
    err = sqrt(err / ref);
    fprintf(stderr, "darts2 gradient vs formula: relative error %.3g\n", err);
    cr_expect_leq(err, 1e-10, "relative error %g", err);
    free(w);
    free(buf);
    free(g);
    free(v);
    free(wp);
    free(dalpha);
    free(gp);
    free(gm);
    free(want);
    close_state(st);
}

/* SIGKILL mid-epoch with a checkpoint to go back to, then --resume: same
 * final files. */
Test(search, sigkill_then_resume_is_bit_identical, .timeout = 300)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    char a[256], b[256];
    out_dir(a, sizeof a, "kill-ref");
    out_dir(b, sizeof b, "kill");
    /* the same search twice: once whole, once killed and resumed */
    const char *args[] = {bin,      "search",  "--algo",    "tse",        "--dataset", "synthetic", "--channels",
                          "4",      "--layers", "3",        "--batch",    "8",         "--epochs",  "3",
                          "--subset", "36",    "--eval-images", "16",     "--tse-steps", "3",       "--quiet",
                          "--out",  a,         NULL};
    cr_assert_eq(sandbox_run(args, NULL), 0);
    /* The child holds after the first epoch (10 units: 5 steps, each a
     * rollout and a retraining unit) and 2 units of the second: mid-epoch,
     * its first checkpoint written, and it cannot finish before the kill. */
    args[sizeof args / sizeof args[0] - 2] = b;
    char hold[300], ck[300], res[300];
    char *holds = sandbox_dir("hold");
    cr_assert_eq(path_format(hold, sizeof hold, "%s/hold", holds), TD_OK);
    free(holds);
    cr_assert_eq(path_format(ck, sizeof ck, "%s/checkpoint.bin", b), TD_OK);
    cr_assert_eq(path_format(res, sizeof res, "%s/result.json", b), TD_OK);
    pid_t pid = sandbox_start_held(args, 12, hold);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the run was not killed");
    cr_assert(file_exists(ck), "no checkpoint was written before the kill");
    cr_assert(!file_exists(res), "the run finished before the kill");
    const char *resume[] = {bin, "search", "--resume", b, "--quiet", NULL};
    cr_assert_eq(sandbox_run(resume, NULL), 0, "resume failed");
    expect_same_files(a, b);
}
