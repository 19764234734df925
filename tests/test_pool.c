/* Several devices without a GPU: the scheduler given a pool of CPU devices
 * spreads the runs over them, takes out a device that fails mid-run and
 * resumes its run on another, and the tree's root hash is the one a single
 * device gives; a lone device that fails stops the protocol, which the same
 * command then finishes. The cost model's arithmetic on figures worked out
 * by hand, device lists, and, through the command line, the progress line
 * under --jobs 2, `protocol status` on a tree in progress, and `protocol
 * plan`'s table (probes measured once, then from the cache). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../protocol/estimate_internal.h"
#include "../protocol/run_internal.h"
#include "sandbox.h"
#include "tsedarts/data.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"
#include "tsedarts/protocol.h"
#include "tsedarts/protocol_estimate.h"
#include "tsedarts/verify.h"

static const char *data_spec(void)
{
    return file_exists(FASHION_MNIST_DEFAULT_DIR "/train-images-idx3-ubyte.gz") ? "fashion-mnist" : "synthetic";
}

static void tiny_request(protocol_request *r)
{
    protocol_request_defaults(r);
    snprintf(r->budget, sizeof r->budget, "tiny");
    snprintf(r->dataset, sizeof r->dataset, "%s", data_spec());
    cr_assert_eq(protocol_parse_methods(r, "darts1"), TD_OK, "%s", td_error_message());
}

/* ------------------------------------------------------------ the pool */

#define MAX_STARTS 64
typedef struct starts {
    int n;
    int run[MAX_STARTS], device[MAX_STARTS];
} starts;

static void on_start(void *ctx, int run, int device)
{
    starts *s = ctx;
    if (s->n < MAX_STARTS) {
        s->run[s->n] = run;
        s->device[s->n] = device;
        s->n++;
    }
}

static char *read_text(const char *dir, const char *name)
{
    char path[4600], *text = NULL;
    cr_assert_eq(path_format(path, sizeof path, "%s/%s", dir, name), TD_OK);
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK, "%s", td_error_message());
    return text;
}

Test(pool, three_devices_one_fails_mid_run_and_the_root_hash_is_one_devices, .timeout = 900)
{
    protocol_request r;
    tiny_request(&r);
    char *one = sandbox_dir("pool-one"), *three = sandbox_dir("pool-three");
    char root1[SHA256_HEX_LEN], root3[SHA256_HEX_LEN];
    protocol_options o;
    memset(&o, 0, sizeof o);
    o.out_dir = one;
    o.quiet = 1;
    o.device = "cpu";
    cr_assert_eq(protocol_run(&r, &o, root1), TD_OK, "%s", td_error_message());

    /* three devices, one run on each at a time; the second fails after one
     * unit of its first run, which has then written a checkpoint */
    static const char *const pool[] = {"cpu", "cpu", "cpu"};
    starts st = {0};
    o.out_dir = three;
    o.pool = pool;
    o.n_pool = 3;
    o.fail_device = 2;
    o.fail_device_units = 1;
    o.started = on_start;
    o.started_ctx = &st;
    cr_assert_eq(protocol_run(&r, &o, root3), TD_OK, "%s", td_error_message());
    cr_expect_str_eq(root3, root1, "the root hash of three devices, one failing, differs from one device's");

    /* the assignment: every device took runs; the failed one only its first */
    int per_device[3] = {0}, failed_run = -1, retried_on = -1;
    for (int i = 0; i < st.n; i++) {
        per_device[st.device[i]]++;
        if (st.device[i] == 1 && failed_run < 0) failed_run = st.run[i];
        else if (st.run[i] == failed_run) retried_on = st.device[i];
    }
    cr_expect(per_device[0] > 0 && per_device[2] > 0, "runs per device: %d %d %d", per_device[0], per_device[1],
              per_device[2]);
    cr_expect_eq(per_device[1], 1, "the failed device was given %d runs", per_device[1]);
    cr_assert_geq(failed_run, 0, "no run started on the second device");
    cr_expect(retried_on == 0 || retried_on == 2, "the failed run was not started again on another device");
    cr_expect_eq(st.n, 16, "15 runs and one retry, not %d starts", st.n);

    /* its timing.json records the device error; the report page says so,
     * report.md (under the root hash) does not */
    protocol_run_info *runs;
    int n;
    cr_assert_eq(protocol_tree_runs(three, &runs, &n), TD_OK, "%s", td_error_message());
    cr_assert_lt(failed_run, n);
    char dir[4400];
    cr_assert_eq(path_format(dir, sizeof dir, "%s/runs/%s", three, runs[failed_run].hash), TD_OK);
    free(runs);
    char *timing = read_text(dir, "timing.json");
    json_t *t = json_loads(timing, 0, NULL);
    json_t *f = json_array_get(json_object_get(t, "device_failures"), 0);
    cr_expect(f && strstr(json_string_value(json_object_get(f, "error")), "injected by the fail_device test hook"),
              "timing.json: %s", timing);
    cr_expect_str_eq(json_string_value(json_object_get(t, "device")), "cpu");
    cr_expect(json_is_true(json_object_get(t, "resumed")), "the retried run did not resume from its checkpoint");
    json_decref(t);
    free(timing);
    char *html = read_text(three, "report.html");
    cr_expect(strstr(html, "Devices that failed") && strstr(html, "injected by the fail_device test hook"),
              "report.html does not say a device failed");
    free(html);
    char *md = read_text(three, "report.md");
    cr_expect(strstr(md, "fail_device") == NULL, "report.md, under the root hash, mentions the device failure");
    free(md);
    FILE *devnull = fopen("/dev/null", "w");
    verify_summary sum;
    cr_expect_eq(verify_tree(three, root3, devnull, &sum), TD_OK, "%s", td_error_message());
    fclose(devnull);
    free(one);
    free(three);
}

Test(pool, a_lone_device_that_fails_stops_the_protocol_and_the_same_command_finishes, .timeout = 600)
{
    protocol_request r;
    tiny_request(&r);
    char *dir = sandbox_dir("pool-lone"), root[SHA256_HEX_LEN];
    static const char *const pool[] = {"cpu"};
    protocol_options o;
    memset(&o, 0, sizeof o);
    o.out_dir = dir;
    o.quiet = 1;
    o.pool = pool;
    o.n_pool = 1;
    o.fail_device = 1;
    o.fail_device_units = 1;
    cr_assert_eq(protocol_run(&r, &o, root), TD_ERR_BACKEND, "a lost device must stop the protocol");
    cr_expect(strstr(td_error_message(), "every device failed") != NULL, "%s", td_error_message());
    /* nothing was recorded as failed: the run waits at its checkpoint */
    protocol_run_info *runs;
    int n, failed = 0, checkpointed = 0;
    cr_assert_eq(protocol_tree_runs(dir, &runs, &n), TD_OK, "%s", td_error_message());
    for (int i = 0; i < n; i++) {
        failed += runs[i].failed;
        checkpointed += runs[i].checkpointed;
    }
    free(runs);
    cr_expect_eq(failed, 0);
    cr_expect_eq(checkpointed, 1);
    o.fail_device = 0;
    cr_assert_eq(protocol_run(&r, &o, root), TD_OK, "%s", td_error_message());
    FILE *devnull = fopen("/dev/null", "w");
    verify_summary sum;
    cr_expect_eq(verify_tree(dir, root, devnull, &sum), TD_OK, "%s", td_error_message());
    fclose(devnull);
    free(dir);
}

Test(pool, device_lists_and_slots)
{
    device_list l;
    cr_assert_eq(device_list_parse("cpu", &l), TD_OK);
    cr_expect(l.n == 1 && !strcmp(l.names[0], "cpu"));
    cr_assert_eq(device_list_parse("cuda", &l), TD_OK);
    cr_expect(l.n == 1 && !strcmp(l.names[0], "cuda:0"));
    cr_assert_eq(device_list_parse("cuda:0,1,3", &l), TD_OK);
    cr_expect(l.n == 3 && !strcmp(l.names[2], "cuda:3"));
    static const char *const bad[] = {"cuda:0,0", "cuda:1,", "cuda:,1", "gpu", "cuda:x", "cpu,cpu", "cuda:0,-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(device_list_parse(bad[i], &l), TD_ERR_ARG, "%s accepted", bad[i]);
    /* cuda:all: every GPU here, or an error saying there is none */
    td_status s = device_list_parse("cuda:all", &l);
    if (s == TD_OK)
        cr_expect(l.n >= 1 && !strcmp(l.names[0], "cuda:0"));
    else
        cr_expect(strstr(td_error_message(), "no GPU") != NULL, "%s", td_error_message());

    /* one run per device unless --jobs asks for more, spread evenly */
    device_list four = {.n = 4};
    int slots, per, threads;
    pool_slots(&four, 1, 16, &slots, &per, &threads);
    cr_expect(slots == 4 && per == 1 && threads == 4, "%d %d %d", slots, per, threads);
    pool_slots(&four, 8, 16, &slots, &per, &threads);
    cr_expect(slots == 8 && per == 2 && threads == 2, "%d %d %d", slots, per, threads);
    pool_slots(&four, 6, 2, &slots, &per, &threads);
    cr_expect(slots == 6 && per == 2 && threads == 1, "%d %d %d", slots, per, threads);
    device_list cpu = {.n = 1};
    pool_slots(&cpu, 3, 2, &slots, &per, &threads);
    cr_expect(slots == 3 && per == 3 && threads == 1, "%d %d %d", slots, per, threads);
}

/* ------------------------------------------------------------ the model */

Test(estimate, a_probes_ticks_give_its_own_time_back_and_scale_to_a_long_run)
{
    /* one epoch of 3 steps, 32 images evaluated: 1.5 s of setup, units of
     * 0.5 s, 0.01 s an image, 0.1 s of record and checkpoint, 0.58 s to end */
    run_shape probe = {.stages = 1, .epochs = {1}, .steps_per_epoch = 3, .eval_images_per_epoch = 32};
    probe_tick ticks[] = {{RUN_TICK_UNIT, 2.0}, {RUN_TICK_UNIT, 2.5}, {RUN_TICK_UNIT, 3.0},
                          {RUN_TICK_EVAL, 3.32}, {RUN_TICK_EPOCH, 3.42}};
    probe_result p;
    cr_assert_eq(probe_result_from_ticks(&probe, ticks, 5, 0, 4.0, &p), TD_OK, "%s", td_error_message());
    cr_expect_float_eq(p.unit_s[0], 0.5, 1e-12);
    cr_expect_float_eq(p.units_per_step[0], 1, 1e-12);
    cr_expect_float_eq(p.eval_s_per_image, 0.01, 1e-12);
    cr_expect_float_eq(p.epoch_s, 0.1, 1e-12);
    cr_expect_float_eq(p.fixed_s, 4.0 - 1.5 - 0.32 - 0.1, 1e-12);
    cr_expect_float_eq(estimate_run_seconds(&p, &probe), 4.0, 1e-12);
    /* the paper's darts1 search on CIFAR-10: 50 epochs of 391 steps, the
     * 25,000 validation images scored after each */
    run_shape paper = {.stages = 1, .epochs = {50}, .steps_per_epoch = 391, .eval_images_per_epoch = 25000};
    cr_expect_float_eq(estimate_run_seconds(&p, &paper), 2.08 + 50 * (391 * 0.5 + 0.1 + 250), 1e-9);
    cr_expect_eq(run_shape_steps(&paper), 19550);

    /* two stages of two units a step (TSE's rollout and retraining pass),
     * stage 2 twice as slow, a final evaluation of 10 images */
    run_shape two = {.stages = 2, .epochs = {1, 1}, .steps_per_epoch = 2, .final_eval_images = 10};
    probe_tick t2[] = {{RUN_TICK_UNIT, 1.0}, {RUN_TICK_UNIT, 1.1}, {RUN_TICK_UNIT, 1.2}, {RUN_TICK_UNIT, 1.3},
                       {RUN_TICK_EPOCH, 1.4}, {RUN_TICK_UNIT, 2.0}, {RUN_TICK_UNIT, 2.2}, {RUN_TICK_UNIT, 2.4},
                       {RUN_TICK_UNIT, 2.6}, {RUN_TICK_EPOCH, 2.7}, {RUN_TICK_EVAL, 2.8}};
    cr_assert_eq(probe_result_from_ticks(&two, t2, 11, 0, 3.0, &p), TD_OK, "%s", td_error_message());
    cr_expect_float_eq(p.unit_s[0], 0.1, 1e-12);
    cr_expect_float_eq(p.unit_s[1], 0.2, 1e-12);
    cr_expect_float_eq(p.units_per_step[1], 2, 1e-12);
    cr_expect_float_eq(p.eval_s_per_image, 0.01, 1e-12);
    cr_expect_float_eq(p.epoch_s, 0.1, 1e-12);
    cr_expect_float_eq(estimate_run_seconds(&p, &two), 3.0, 1e-12);
    run_shape longer = {.stages = 2, .epochs = {25, 25}, .steps_per_epoch = 100, .final_eval_images = 1000};
    double fixed = 3.0 - (4 * 0.1 + 4 * 0.2 + 0.2 + 0.1);
    cr_expect_float_eq(estimate_run_seconds(&p, &longer), fixed + 25 * (200 * 0.1 + 0.1) + 25 * (200 * 0.2 + 0.1) + 10,
                       1e-9);
    /* a burst of other work during one unit moves the figure not at all */
    run_shape four = {.stages = 1, .epochs = {1}, .steps_per_epoch = 4};
    probe_tick t4[] = {{RUN_TICK_UNIT, 2.0}, {RUN_TICK_UNIT, 2.5}, {RUN_TICK_UNIT, 12.5}, {RUN_TICK_UNIT, 13.0},
                       {RUN_TICK_EPOCH, 13.1}};
    cr_assert_eq(probe_result_from_ticks(&four, t4, 5, 0, 13.5, &p), TD_OK, "%s", td_error_message());
    cr_expect_float_eq(p.unit_s[0], 0.5, 1e-12);
    /* a probe that did not end its epochs is refused */
    cr_expect_eq(probe_result_from_ticks(&two, t2, 4, 0, 3.0, &p), TD_ERR_STATE);
}

Test(estimate, shapes_and_probe_configs_of_the_paper_plan)
{
    protocol_request r;
    protocol_request_defaults(&r);
    snprintf(r.budget, sizeof r.budget, "paper");
    char *text;
    cr_assert_eq(protocol_plan_json(&r, &text), TD_OK, "%s", td_error_message());
    json_t *plan = json_loads(text, 0, NULL);
    free(text);
    json_t *darts1 = json_array_get(json_object_get(plan, "methods"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(darts1, "id")), "darts1");
    char *search = json_dumps(json_object_get(json_array_get(json_object_get(darts1, "searches"), 0), "config"),
                              JSON_COMPACT | JSON_SORT_KEYS);
    /* Fashion-MNIST: halves of 30,000 images, batch 64 */
    run_shape s;
    cr_assert_eq(run_shape_of(search, 60000, 10000, &s), TD_OK, "%s", td_error_message());
    cr_expect(s.stages == 1 && s.epochs[0] == 50 && s.steps_per_epoch == 469 && s.eval_images_per_epoch == 30000,
              "%d stages, %d epochs of %d steps, %ld images scored", s.stages, s.epochs[0], s.steps_per_epoch,
              s.eval_images_per_epoch);
    char *probe;
    cr_assert_eq(probe_config_of(search, &probe), TD_OK, "%s", td_error_message());
    search_config pc;
    cr_assert_eq(search_config_parse(probe, &pc), TD_OK, "%s", td_error_message());
    cr_expect(pc.epochs == 1 && pc.subset == PROBE_STEPS * 64 && pc.seed == 1 && pc.net.layers == 8 && pc.net.C == 16);
    cr_assert_eq(run_shape_of(probe, 60000, 10000, &s), TD_OK);
    cr_expect(s.steps_per_epoch == PROBE_STEPS && s.eval_images_per_epoch == PROBE_STEPS * 64);
    free(probe);
    free(search);

    /* a selection retraining: 5,000 images held out and scored every epoch */
    char cfg[8192], hash[SHA256_HEX_LEN];
    genotype g;
    cr_assert_eq(genotype_load("DARTS_V2", &g), TD_OK, "%s", td_error_message());
    char line[1024];
    genotype_format(&g, line, sizeof line);
    cr_assert_eq(protocol_retrain_run(darts1, "select", line, 1, cfg, sizeof cfg, hash), TD_OK, "%s",
                 td_error_message());
    cr_assert_eq(run_shape_of(cfg, 60000, 10000, &s), TD_OK, "%s", td_error_message());
    cr_expect(s.epochs[0] == 600 && s.steps_per_epoch == (55000 + 95) / 96 && s.eval_images_per_epoch == 5000 &&
                  s.final_eval_images == 15000,
              "%d epochs of %d steps, %ld scored each, %ld at the end", s.epochs[0], s.steps_per_epoch,
              s.eval_images_per_epoch, s.final_eval_images);
    json_decref(plan);
}

Test(estimate, wall_time_of_runs_that_wait_on_each_other)
{
    /* one row: searches of 10 s, selections of 5 s, finals of 20 s */
    int per = 2 * PROTOCOL_SEARCHES + 2 * PROTOCOL_FINAL_SEEDS;
    sim_run runs[1 + 14];
    memset(runs, 0, sizeof runs);
    runs[0].seconds = 1; /* the baseline */
    for (int i = 0; i < per; i++) runs[1 + i].seconds = i < 4 ? 10 : i < 8 ? 5 : 20;
    sim_plan_deps(runs, 1, 1);
    cr_expect_eq(runs[1 + 4].n_deps, 1);
    cr_expect_eq(runs[1 + 4].deps[0], 1);
    cr_expect_eq(runs[1 + 8].n_deps, 4);
    cr_expect_float_eq(sim_makespan(runs, 15, 1), 1 + 40 + 20 + 120, 1e-9);
    /* two at once: the baseline and search 1 at 0, search 2 at 1, 3 at 10,
     * 4 at 11, selections at 20, 21, 25, 26 (each after its search), the
     * finals from 31 (after all four), two at a time: 31 + 3 x 20 */
    cr_expect_float_eq(sim_makespan(runs, 15, 2), 91, 1e-9);
    cr_expect_float_eq(sim_makespan(runs, 15, 100), 10 + 5 + 20, 1e-9);
    /* under way and done runs, as the progress line has them */
    for (int i = 0; i < 5; i++) runs[i].done = 1;
    runs[5].running = 1;
    runs[5].seconds = 2; /* selection 1, 2 s left */
    cr_expect_float_eq(sim_makespan(runs, 15, 100), 5 + 20, 1e-9);
}

/* ------------------------------------------------------------ the command line */

static const char *program(void)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    return bin;
}

static int run_capture(const char *const *argv, char **text)
{
    char *dir = sandbox_dir("pool-out"), log[4200];
    cr_assert_eq(path_format(log, sizeof log, "%s/out.txt", dir), TD_OK);
    int rc = sandbox_run(argv, log);
    cr_assert_eq(file_read_all(log, text, NULL), TD_OK, "%s", td_error_message());
    free(dir);
    return rc;
}

Test(cli, estimate_progress_line_and_status_under_jobs_2, .timeout = 900)
{
    const char *bin = program(), *data = data_spec();
    /* the probes are kept here, not in the user's cache */
    char *cache = sandbox_dir("pool-cache"), *dir = sandbox_dir("pool-cli"), out[4200], *text;
    setenv("XDG_CACHE_HOME", cache, 1);
    cr_assert_eq(path_format(out, sizeof out, "%s/tree", dir), TD_OK);
    const char *stop[] = {bin, "protocol", "run", "darts_space", "--budget", "tiny", "--dataset", data, "--methods",
                          "darts1", "--jobs", "2", "--threads", "2", "--out", out, "--stop-after-runs", "4", NULL};
    cr_expect_eq(run_capture(stop, &text), 130, "%s", text);
    /* the estimate before the start, then a line per event (not a terminal) */
    cr_expect(strstr(text, "estimate: 15 runs") != NULL, "no estimate before the start:\n%s", text);
    cr_expect(strstr(text, "runs done | cpu: ") != NULL && strstr(text, "| elapsed ") != NULL &&
                  strstr(text, "| left ~") != NULL,
              "no progress line:\n%s", text);
    free(text);

    /* a worker under way when the protocol stopped ends at its next
     * checkpoint; until then status shows it */
    const char *status[] = {bin, "protocol", "status", "darts_space", "--out", out, NULL};
    for (int i = 0; i < 600; i++) {
        cr_expect_eq(run_capture(status, &text), 0, "%s", text);
        if (strstr(text, "nothing under way") || i == 599) break;
        cr_expect(strstr(text, "runs done | cpu: darts1 ") != NULL, "status of a tree under way:\n%s", text);
        free(text);
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    cr_expect(strstr(text, "/15 runs done | elapsed ") != NULL && strstr(text, "nothing under way") != NULL,
              "status of a stopped tree:\n%s", text);
    cr_expect(strstr(text, "0/15 runs done") == NULL, "status counts no run done:\n%s", text);
    free(text);

    const char *go_on[] = {bin, "protocol", "run", "darts_space", "--budget", "tiny", "--dataset", data, "--methods",
                           "darts1", "--jobs", "2", "--threads", "2", "--out", out, NULL};
    cr_expect_eq(run_capture(go_on, &text), 0, "%s", text);
    cr_expect(strstr(text, "15/15 runs done") != NULL && strstr(text, "root hash ") != NULL, "%s", text);
    cr_expect(strstr(text, "0 kinds of run timed now, 5 from the cache") != NULL, "the probes were not kept:\n%s",
              text);
    free(text);
    cr_expect_eq(run_capture(status, &text), 0, "%s", text);
    cr_expect(strstr(text, "15/15 runs done") != NULL, "%s", text);
    free(text);

    /* plan: the table, from the cache; with Slurm, the jobs */
    const char *plan[] = {bin, "protocol", "plan", "darts_space", "--budget", "tiny", "--dataset", data, "--methods",
                          "darts1", "--jobs", "2", "--threads", "2", NULL};
    cr_expect_eq(run_capture(plan, &text), 0, "%s", text);
    cr_expect(strstr(text, "DARTS (1st)") && strstr(text, "Linear baseline") && strstr(text, "device-hours") &&
                  strstr(text, "wall time on 1 device (cpu), 2 runs at a time"),
              "%s", text);
    free(text);
    const char *slurm[] = {bin, "protocol", "plan", "darts_space", "--budget", "tiny", "--dataset", data, "--methods",
                           "darts1", "--jobs", "2", "--threads", "2", "--executor", "slurm", NULL};
    cr_expect_eq(run_capture(slurm, &text), 0, "%s", text);
    cr_expect(strstr(text, "with --executor slurm: 5 jobs (4 job arrays of 15 tasks") != NULL, "%s", text);
    free(text);
    /* the plan itself, as before */
    const char *json[] = {bin, "protocol", "plan", "darts_space", "--budget", "tiny", "--methods", "darts1", "--json", NULL};
    cr_expect_eq(run_capture(json, &text), 0, "%s", text);
    cr_expect(text[0] == '{', "%s", text);
    free(text);
    free(cache);
    free(dir);
}
