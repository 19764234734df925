/* The command line as a careless or hurried user meets it: a stray word is
 * an error naming it, `info` gives the same answer every time, a run
 * stopped by SIGTERM exits 143 (128 + the signal, as a shell expects) with
 * a checkpoint it resumes from, and the workers of `protocol run --jobs`
 * stop (checkpointed) when the protocol process is killed. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

static const char *program(void)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    return bin;
}

/* Runs argv; returns its exit status and its output in *text. */
static int run_capture(const char *const *argv, char **text)
{
    char *dir = sandbox_dir("cli-out"), log[4200];
    cr_assert_eq(path_format(log, sizeof log, "%s/out.txt", dir), TD_OK);
    int rc = sandbox_run(argv, log);
    cr_assert_eq(file_read_all(log, text, NULL), TD_OK, "%s", td_error_message());
    free(dir);
    return rc;
}

Test(cli, a_stray_word_is_an_error_naming_it)
{
    const char *bin = program();
    char *dir = sandbox_dir("cli-stray"), out[4200], *text;
    cr_assert_eq(path_format(out, sizeof out, "%s/run", dir), TD_OK);
    const char *search[] = {bin, "search", "--budget", "tiny", "--dataset", "synthetic", "--out", out, "extra", NULL};
    cr_expect_eq(run_capture(search, &text), 2);
    cr_expect(strstr(text, "'extra'") != NULL, "the error does not name the word: %s", text);
    cr_expect(!file_exists(out), "the run started anyway");
    free(text);
    const char *train[] = {bin, "train", "--net", "linear", "--out", out, "more", NULL};
    cr_expect_eq(run_capture(train, &text), 2);
    cr_expect(strstr(text, "'more'") != NULL, "%s", text);
    free(text);
    const char *replay[] = {bin, "verify", "--replay", out, "other", NULL};
    cr_expect_eq(run_capture(replay, &text), 2);
    free(text);
    free(dir);
}

Test(cli, verify_of_something_that_is_no_tree_or_run_is_a_usage_error)
{
    const char *bin = program();
    char *dir = sandbox_dir("cli-verify"), *text;
    const char *missing[] = {bin, "verify", "/nonexistent/tree", NULL};
    cr_expect_eq(run_capture(missing, &text), 2);
    cr_expect(strstr(text, "no such directory") != NULL, "%s", text);
    free(text);
    const char *empty[] = {bin, "verify", dir, NULL};
    cr_expect_eq(run_capture(empty, &text), 2);
    cr_expect(strstr(text, "is not a results tree") != NULL, "%s", text);
    free(text);
    const char *replay[] = {bin, "verify", "--replay", dir, NULL};
    cr_expect_eq(run_capture(replay, &text), 2);
    cr_expect(strstr(text, "is not a run directory") != NULL, "%s", text);
    free(text);
    free(dir);
}

Test(cli, info_gives_the_same_answer_every_time)
{
    const char *bin = program();
    const char *info[] = {bin, "info", "--net", "supernet", "--layers", "5", "--channels", "8", NULL};
    char *first;
    cr_assert_eq(run_capture(info, &first), 0, "%s", first);
    for (int i = 0; i < 8; i++) {
        char *again;
        cr_expect_eq(run_capture(info, &again), 0, "%s", again);
        cr_expect_str_eq(again, first);
        free(again);
    }
    free(first);
}

Test(cli, sigterm_exits_143_with_a_checkpoint_to_resume, .timeout = 300)
{
    const char *bin = program();
    char *dir = sandbox_dir("cli-term"), out[4200], ck[4300];
    cr_assert_eq(path_format(out, sizeof out, "%s/run", dir), TD_OK);
    cr_assert_eq(path_format(ck, sizeof ck, "%s/checkpoint.bin", out), TD_OK);
    const char *args[] = {bin,        "search",   "--dataset", "synthetic", "--channels", "4",    "--layers",
                          "3",        "--batch",  "8",         "--epochs",  "20",         "--subset", "32",
                          "--eval-images", "8",   "--quiet",   "--out",     out,          NULL};
    /* held in the second epoch (4 steps each), after its first checkpoint */
    char hold[4300], res[4300];
    cr_assert_eq(path_format(hold, sizeof hold, "%s/hold", dir), TD_OK);
    cr_assert_eq(path_format(res, sizeof res, "%s/result.json", out), TD_OK);
    pid_t pid = sandbox_start_held(args, 5, hold);
    cr_assert(file_exists(ck), "no checkpoint before the hold");
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 143, "status %d (exited %d, code %d)", status,
              WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    cr_expect(file_exists(ck) && !file_exists(res), "the run did not stop at a checkpoint");
    free(dir);
}

/* Processes other than `self` whose command line holds `needle`. */
static int processes_holding(const char *needle, pid_t self)
{
    DIR *d = opendir("/proc");
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self) continue;
        char path[64], cmd[8192];
        snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(cmd, 1, sizeof cmd - 1, f);
        fclose(f);
        for (size_t i = 0; i < len; i++)
            if (!cmd[i]) cmd[i] = ' ';
        cmd[len] = '\0';
        /* a zombie has an empty command line: it writes nothing */
        n += len && strstr(cmd, needle) != NULL;
    }
    closedir(d);
    return n;
}

Test(cli, protocol_workers_end_when_the_protocol_is_killed, .timeout = 300)
{
    const char *bin = program();
    char *dir = sandbox_dir("cli-jobs"), out[4200], runs[4300];
    cr_assert_eq(path_format(out, sizeof out, "%s/tree", dir), TD_OK);
    cr_assert_eq(path_format(runs, sizeof runs, "%s/runs", out), TD_OK);
    /* mini: a search lasts far longer than the workers take to stop */
    const char *args[] = {bin, "protocol", "run", "darts_space", "--budget", "mini", "--dataset", "synthetic",
                          "--methods", "darts1", "--jobs", "2", "--threads", "2", "--quiet", "--out", out, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execv(bin, (char *const *)args);
        _exit(127);
    }
    /* wait until both workers have forked (each made its run directory) */
    int started = 0;
    for (int i = 0; i < 12000 && started < 2; i++) {
        nanosleep(&(struct timespec){0, 10000000}, NULL);
        DIR *d = opendir(runs);
        started = 0;
        struct dirent *e;
        while (d && (e = readdir(d))) started += e->d_name[0] != '.';
        if (d) closedir(d);
    }
    cr_assert_geq(started, 2, "the workers did not start");
    cr_assert_geq(processes_holding(out, getpid()), 2, "no worker processes found");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* each worker is asked to stop and ends at its next checkpoint */
    int left = 1;
    for (int i = 0; i < 6000 && left; i++) {
        left = processes_holding(out, getpid());
        if (left) nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    cr_expect_eq(left, 0, "%d worker(s) went on writing after the protocol was killed", left);
    /* they stopped, not finished: each left a checkpoint to resume from */
    DIR *d = opendir(runs);
    int interrupted = 0, finished = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char ck[4600], res[4600];
        snprintf(ck, sizeof ck, "%s/%s/checkpoint.bin", runs, e->d_name);
        snprintf(res, sizeof res, "%s/%s/result.json", runs, e->d_name);
        interrupted += file_exists(ck) && !file_exists(res);
        finished += file_exists(res);
    }
    if (d) closedir(d);
    cr_expect_eq(finished, 0, "%d run(s) ran to the end after the protocol was killed", finished);
    cr_expect_geq(interrupted, 2, "the stopped runs left no checkpoint");
    free(dir);
}

/* bench step counts the CPU's OpenMP parallel regions (the build wraps
 * libgomp's entry to them): a step on two threads forks some; on one
 * thread none, though it starts as many; the counts are the same on
 * every run. The profile charges time to the fused groups that ran. */
Test(cli, bench_step_counts_parallel_regions_and_profiles_fused_groups, .timeout = 300)
{
    const char *bin = program();
    double started[2] = {-1, -1}, forked[2] = {-1, -1};
    int counted = 1;
    const char *threads[2] = {"2", "1"};
    for (int t = 0; t < 2; t++) {
        const char *argv[] = {bin, "bench", "step", "--batch", "16", "--layers", "3", "--channels", "8",
                              "--steps", "1", "--threads", threads[t], "--profile", NULL};
        char *text;
        cr_assert_eq(run_capture(argv, &text), 0, "%s", text);
        cr_expect(strstr(text, "fused groups by kind") && strstr(text, "centred_scale"), "no fused-group profile: %s",
                  text);
        const char *p = strstr(text, "OpenMP parallel regions per step: ");
        if (p) {
            started[t] = strtod(p + strlen("OpenMP parallel regions per step: "), NULL);
            forked[t] = strtod(strchr(p, ',') + 1, NULL); /* "N, M of them ..." */
        } else {
            cr_assert(strstr(text, "OpenMP parallel regions: not counted by this build"), "no region line: %s", text);
            counted = 0;
        }
        free(text);
    }
    if (!counted) cr_skip_test("this build cannot count OpenMP regions (GCC's libgomp only)");
    cr_expect_gt(started[0], 0);
    cr_expect_eq(started[0], started[1], "a region count that depends on threads: %.0f against %.0f", started[0],
                 started[1]);
    cr_expect_gt(forked[0], 0, "no region forked on two threads");
    cr_expect_eq(forked[1], 0, "%.0f regions forked on one thread", forked[1]);
    fprintf(stderr, "bench step: %.0f regions per step, %.0f forked on two threads\n", started[0], forked[0]);
}
