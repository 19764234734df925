/* The command line as a careless or hurried user meets it: a stray word is
 * an error naming it, `info` gives the same answer every time, and a run
 * stopped by SIGTERM exits 143 (128 + the signal, as a shell expects) with
 * a checkpoint it resumes from. */
#include <criterion/criterion.h>
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
    pid_t pid = fork();
    if (pid == 0) {
        execv(bin, (char *const *)args);
        _exit(127);
    }
    for (int i = 0; i < 12000 && !file_exists(ck); i++) nanosleep(&(struct timespec){0, 10000000}, NULL);
    cr_assert(file_exists(ck), "no checkpoint appeared");
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 143, "status %d (exited %d, code %d)", status,
              WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    free(dir);
}
