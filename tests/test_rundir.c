/* Run directories after crashes and leftovers: a run killed before its
 * first checkpoint starts again from the beginning (fresh or resumed) and
 * ends with the bits of an uninterrupted run; a resume refuses a metrics
 * log that no longer holds what the checkpoint saw; a fresh run refuses a
 * log of unknown origin; a finished log holds the records its config
 * implies. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "quiet_runs.h"
#include "sandbox.h"

#include "tsedarts/backend_cpu.h"
#include "tsedarts/data.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"

static void small_train(train_config *c)
{
    train_config_defaults(c);
    cr_assert_eq(genotype_load("DARTS_V2", &c->net.geno), TD_OK);
    snprintf(c->dataset, sizeof c->dataset, "synthetic");
    c->net.C = 4;
    c->net.layers = 3;
    c->batch = 16;
    c->epochs = 2;
    c->subset = 72;
    c->valid_images = 32;
    c->test_images = 64;
}

static char *in(const char *dir, const char *leaf)
{
    char *p = path_join(dir, leaf);
    cr_assert_not_null(p);
    return p;
}

static char *read_text(const char *dir, const char *leaf, size_t *len)
{
    char *p = in(dir, leaf), *text;
    cr_assert_eq(file_read_all(p, &text, len), TD_OK, "%s", td_error_message());
    free(p);
    return text;
}

static void write_text(const char *dir, const char *leaf, const char *text)
{
    char *p = in(dir, leaf);
    cr_assert_eq(file_write_text_atomic(p, text), TD_OK, "%s", td_error_message());
    free(p);
}

static void expect_same(const char *a, const char *b, const char *const *files)
{
    for (int i = 0; files[i]; i++) {
        size_t la, lb;
        char *ta = read_text(a, files[i], &la), *tb = read_text(b, files[i], &lb);
        cr_expect(la == lb && memcmp(ta, tb, la) == 0, "%s differs between %s and %s", files[i], a, b);
        free(ta);
        free(tb);
    }
}

static const char *const search_files[] = {"metrics.jsonl", "alphas.safetensors", "weights.safetensors",
                                           "genotype.txt", "result.json", "checkpoint.bin", NULL};
static const char *const train_files[] = {"metrics.jsonl", "weights.safetensors", "result.json", "checkpoint.bin",
                                          NULL};

/* What a kill between the first epoch's record and its checkpoint leaves:
 * config.json, env.json and one line of log, no checkpoint. */
static void leave_killed_start(const char *finished, const char *dir)
{
    static const char *const start[] = {"config.json", "env.json"};
    for (int i = 0; i < 2; i++) {
        char *t = read_text(finished, start[i], NULL);
        write_text(dir, start[i], t);
        free(t);
    }
    char *log = read_text(finished, "metrics.jsonl", NULL);
    char *end = strchr(log, '\n');
    cr_assert_not_null(end);
    end[1] = '\0';
    write_text(dir, "metrics.jsonl", log);
    free(log);
}

Test(rundir, search_killed_before_its_first_checkpoint_starts_again)
{
    search_config c;
    quiet_tiny_search_config(&c, ALGO_DARTS1);
    char *ref = sandbox_dir("rundir-ref"), *resumed = sandbox_dir("rundir-resumed"),
         *fresh = sandbox_dir("rundir-fresh");
    cr_assert_eq(quiet_search(backend_cpu(), &c, ref, 0, 0), TD_OK, "%s", td_error_message());
    leave_killed_start(ref, resumed);
    leave_killed_start(ref, fresh);
    cr_assert_eq(quiet_search(backend_cpu(), &c, resumed, 1, 0), TD_OK, "--resume: %s", td_error_message());
    expect_same(ref, resumed, search_files);
    cr_assert_eq(quiet_search(backend_cpu(), &c, fresh, 0, 0), TD_OK, "fresh: %s", td_error_message());
    expect_same(ref, fresh, search_files);
    /* another configuration's unfinished start is not ours to restart */
    char *other = sandbox_dir("rundir-other");
    leave_killed_start(ref, other);
    c.seed = 99;
    cr_expect_eq(quiet_search(backend_cpu(), &c, other, 0, 0), TD_ERR_STATE);
    cr_expect(strstr(td_error_message(), "another configuration") != NULL, "%s", td_error_message());
    free(ref);
    free(resumed);
    free(fresh);
    free(other);
}

Test(rundir, training_killed_before_its_first_checkpoint_starts_again)
{
    train_config c;
    small_train(&c);
    char *ref = sandbox_dir("rundir-train-ref"), *resumed = sandbox_dir("rundir-train-resumed");
    cr_assert_eq(quiet_train(backend_cpu(), &c, ref, 0, 0), TD_OK, "%s", td_error_message());
    leave_killed_start(ref, resumed);
    cr_assert_eq(quiet_train(backend_cpu(), &c, resumed, 1, 0), TD_OK, "--resume: %s", td_error_message());
    expect_same(ref, resumed, train_files);
    free(ref);
    free(resumed);
}

/* A real SIGKILL after config.json exists and before the first unit (the
 * run held there until it comes): --resume continues to the bits of an
 * uninterrupted run. */
Test(rundir, sigkill_before_the_first_checkpoint_then_resume, .timeout = 300)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    char *ref = sandbox_dir("rundir-kill-ref"), *killed = sandbox_dir("rundir-kill");
    const char *args[] = {bin,       "search",   "--algo",   "tse",      "--dataset", "synthetic", "--channels",
                          "4",       "--layers", "3",        "--batch",  "8",         "--epochs",  "2",
                          "--subset", "36",      "--eval-images", "16",  "--tse-steps", "3",       "--quiet",
                          "--out",   ref,        NULL};
    cr_assert_eq(sandbox_run(args, NULL), 0);
    args[sizeof args / sizeof args[0] - 2] = killed;
    char *cfg = in(killed, "config.json"), *ck = in(killed, "checkpoint.bin");
    char *holds = sandbox_dir("hold"), *hold = in(holds, "hold");
    pid_t pid = sandbox_start_held(args, 0, hold);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the run was not killed");
    cr_assert(file_exists(cfg), "config.json never appeared");
    cr_assert(!file_exists(ck), "the kill came after the first checkpoint; this test needs it before");
    const char *resume[] = {bin, "search", "--resume", killed, "--quiet", NULL};
    cr_assert_eq(sandbox_run(resume, NULL), 0, "resume failed");
    expect_same(ref, killed, search_files);
    free(cfg);
    free(ck);
    free(hold);
    free(holds);
    free(ref);
    free(killed);
}

/* Changes the last digit of the log's last record: same length, still
 * valid JSON, still a valid chain (nothing follows it), another record. */
static void edit_last_record(char *log)
{
    size_t n = strlen(log);
    for (size_t i = n; i-- > 0;)
        if (log[i] >= '0' && log[i] <= '9') {
            log[i] = log[i] == '7' ? '3' : '7';
            return;
        }
    cr_assert_fail("no digit in the log");
}

Test(rundir, resume_refuses_a_log_emptied_cut_or_edited_since_the_checkpoint)
{
    search_config c;
    quiet_tiny_search_config(&c, ALGO_DARTS1);
    char *dir = sandbox_dir("rundir-log");
    /* stopped in the second epoch: the first epoch's record is in the log */
    cr_assert_eq(quiet_search(backend_cpu(), &c, dir, 0, 7), TD_ERR_INTERRUPTED, "%s", td_error_message());
    char *good = read_text(dir, "metrics.jsonl", NULL);
    cr_assert(strlen(good) > 0);

    write_text(dir, "metrics.jsonl", "");
    cr_expect_eq(quiet_search(backend_cpu(), &c, dir, 1, 0), TD_ERR_STATE, "resumed on an empty log");
    cr_expect(strstr(td_error_message(), "metrics.jsonl") != NULL, "%s", td_error_message());
    size_t len;
    free(read_text(dir, "metrics.jsonl", &len));
    cr_expect_eq(len, 0, "the refused log was changed");

    char *edited = strdup(good);
    edit_last_record(edited);
    write_text(dir, "metrics.jsonl", edited);
    cr_expect_eq(quiet_search(backend_cpu(), &c, dir, 1, 0), TD_ERR_STATE, "resumed on an edited log");
    cr_expect(strstr(td_error_message(), "last record") != NULL, "%s", td_error_message());
    free(edited);

    write_text(dir, "metrics.jsonl", good);
    cr_expect_eq(quiet_search(backend_cpu(), &c, dir, 1, 0), TD_OK, "%s", td_error_message());
    free(good);
    free(dir);
}

Test(rundir, fresh_run_refuses_a_metrics_log_of_unknown_origin)
{
    search_config c;
    quiet_tiny_search_config(&c, ALGO_DARTS1);
    char *dir = sandbox_dir("rundir-foreign");
    const char *foreign = "{\"prev\":\"0\",\"epoch\":41}\n";
    write_text(dir, "metrics.jsonl", foreign);
    cr_expect_eq(quiet_search(backend_cpu(), &c, dir, 0, 0), TD_ERR_STATE, "a fresh run took over a foreign log");
    cr_expect(strstr(td_error_message(), "metrics.jsonl") != NULL, "%s", td_error_message());
    char *after = read_text(dir, "metrics.jsonl", NULL);
    cr_expect_str_eq(after, foreign);
    free(after);
    free(dir);
}

static long lines_of(const char *dir)
{
    char *log = read_text(dir, "metrics.jsonl", NULL);
    long n = 0;
    for (char *p = log; *p; p++) n += *p == '\n';
    free(log);
    return n;
}

static int synthetic_train_images(void)
{
    dataset d;
    cr_assert_eq(dataset_load_named("synthetic", NULL, 0, 1, &d), TD_OK, "%s", td_error_message());
    int n = d.n;
    dataset_free(&d);
    return n;
}

Test(rundir, finished_logs_hold_the_records_their_config_implies)
{
    int n = synthetic_train_images();
    search_config c;
    quiet_tiny_search_config(&c, ALGO_TSE);
    c.tse_analysis = 1; /* a record per group of 3 steps as well */
    char *dir = sandbox_dir("rundir-records");
    cr_assert_eq(quiet_search(backend_cpu(), &c, dir, 0, 0), TD_OK, "%s", td_error_message());
    long want;
    cr_assert_eq(search_expected_records(&c, n, &want), TD_OK, "%s", td_error_message());
    cr_expect_eq(want, 2 * (1 + 2), "5 steps in groups of 3, 2 epochs");
    cr_expect_eq(lines_of(dir), want);
    c.tse_analysis = 0;
    cr_assert_eq(search_expected_records(&c, n, &want), TD_OK);
    cr_expect_eq(want, 2);

    train_config t;
    small_train(&t);
    char *tdir = sandbox_dir("rundir-train-records");
    cr_assert_eq(quiet_train(backend_cpu(), &t, tdir, 0, 0), TD_OK, "%s", td_error_message());
    cr_expect_eq(lines_of(tdir), train_expected_records(&t));
    free(dir);
    free(tdir);
}
