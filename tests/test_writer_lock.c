/* One writer per directory: a second protocol run, report, search or
 * train on a directory being written is refused with a message naming the
 * first; a lock whose holder died is taken over; a directory whose run
 * never recorded anything is no run, and a new one may take it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "quiet_runs.h"
#include "sandbox.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/dir_lock.h"
#include "tsedarts/file_lock.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/protocol.h"
#include "tsedarts/search.h"

static char *in(const char *dir, const char *leaf)
{
    char *p = path_join(dir, leaf);
    cr_assert_not_null(p);
    return p;
}

static void tiny_request(protocol_request *r, protocol_options *o, const char *dir)
{
    protocol_request_defaults(r);
    snprintf(r->budget, sizeof r->budget, "tiny");
    snprintf(r->dataset, sizeof r->dataset, "synthetic");
    cr_assert_eq(protocol_parse_methods(r, "darts1"), TD_OK);
    memset(o, 0, sizeof *o);
    o->out_dir = dir;
    o->quiet = 1;
    o->device = "cpu";
    o->stop_after_runs = 1; /* were the lock ignored: one run, then stop */
}

static void expect_refused_naming(td_status s, const char *holder)
{
    cr_expect_eq(s, TD_ERR_STATE, "not refused: %s", td_error_message());
    cr_expect(strstr(td_error_message(), "is being written by process") && strstr(td_error_message(), holder),
              "the refusal does not name the holder: %s", td_error_message());
}

Test(writer_lock, a_second_protocol_writer_is_refused_naming_the_first, .timeout = 120)
{
    char *dir = sandbox_dir("lock-protocol");
    dir_lock held;
    cr_assert_eq(dir_lock_take(dir, "the first protocol run", &held), TD_OK, "%s", td_error_message());
    protocol_request r;
    protocol_options o;
    tiny_request(&r, &o, dir);
    char root[SHA256_HEX_LEN];
    expect_refused_naming(protocol_run(&r, &o, root), "the first protocol run");
    char *plan = in(dir, "plan.json");
    cr_expect(!file_exists(plan), "the refused run wrote its plan");
    expect_refused_naming(protocol_report(dir, root), "the first protocol run");
    dir_lock_release(&held);
    char *lock = in(dir, DIR_LOCK_NAME);
    cr_expect(!file_exists(lock), "a lock let go is left behind");
    free(lock);
    free(plan);
    free(dir);
}

Test(writer_lock, a_lock_whose_holder_died_is_taken_over, .timeout = 60)
{
    char *dir = sandbox_dir("lock-stale");
    pid_t pid = fork();
    if (pid == 0) {
        dir_lock l;
        _exit(dir_lock_take(dir, "a writer killed at once", &l) == TD_OK ? 0 : 1); /* dies holding it */
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *lock = in(dir, DIR_LOCK_NAME), *text;
    cr_assert(file_exists(lock), "the dead holder's lock file is gone");
    dir_lock l;
    cr_expect_eq(dir_lock_take(dir, "the next writer", &l), TD_OK, "a dead holder's lock was not taken over: %s",
                 td_error_message());
    cr_assert_eq(file_read_all(lock, &text, NULL), TD_OK);
    cr_expect(strstr(text, "the next writer") != NULL, "%s", text);
    free(text);
    dir_lock_release(&l);
    free(lock);
    free(dir);
}

/* The command line: a search holding its directory, a second one refused
 * naming it; the first killed, the same command takes the lock over. */
Test(writer_lock, a_second_search_on_a_directory_is_refused_then_the_lock_is_taken_over, .timeout = 300)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin) cr_skip_test("TSEDARTS_BIN not set");
    char *base = sandbox_dir("lock-search"), *dir = in(base, "run"), *lock = in(dir, DIR_LOCK_NAME),
         *log = in(base, "out.txt");
    const char *first[] = {bin, "search", "--algo", "darts1", "--budget", "smoke", "--dataset", "synthetic",
                           "--threads", "1", "--quiet", "--out", dir, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execv(bin, (char *const *)first);
        _exit(127);
    }
    struct timespec tick = {0, 50000000};
    for (int i = 0; i < 600 && !file_exists(lock); i++) nanosleep(&tick, NULL);
    cr_assert(file_exists(lock), "the first search never took its lock");
    char *text;
    cr_expect_eq(sandbox_run(first, log), 1, "a second search on the same directory was not refused");
    cr_assert_eq(file_read_all(log, &text, NULL), TD_OK);
    cr_expect(strstr(text, "is being written by process") && strstr(text, "(tsedarts search)"), "%s", text);
    free(text);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* killed at any moment (before its first checkpoint, here), the same
     * command takes the directory over */
    cr_expect_eq(sandbox_run(first, log), 0, "the killed search's lock was not taken over");
    cr_expect(!file_exists(lock), "the finished search left its lock");
    free(log);
    free(lock);
    free(dir);
    free(base);
}

Test(writer_lock, a_run_that_never_recorded_anything_does_not_block_its_directory, .timeout = 120)
{
    char *dir = sandbox_dir("lock-never");
    search_config c;
    search_config_defaults(&c);
    c.algo = ALGO_DARTS1;
    snprintf(c.dataset, sizeof c.dataset, "synthetic");
    c.net.C = 2048; /* weights no machine can allocate */
    c.net.layers = 60;
    c.batch = 8;
    c.epochs = 2;
    c.subset = 36;
    c.eval_images = 16;
    td_status s = quiet_search(backend_cpu(), &c, dir, 0, 0);
    cr_assert_neq(s, TD_OK, "the impossible sizes ran");
    char *cfg = in(dir, "config.json");
    cr_assert(file_exists(cfg), "the failed start left no config.json; this test needs one: %s", td_error_message());
    c.net.C = 4;
    c.net.layers = 3;
    s = quiet_search(backend_cpu(), &c, dir, 0, 0);
    cr_expect_eq(s, TD_OK, "the sane run was refused: %s", td_error_message());
    /* one that recorded something is a run: refused */
    c.seed = 7;
    cr_expect_eq(quiet_search(backend_cpu(), &c, dir, 0, 0), TD_ERR_STATE);
    free(cfg);
    free(dir);
}

/* The entries of dir, other than . and .. */
static int entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

/* Slurm jobs share a tree with each other (a lock per run) but not with a
 * local protocol run: a job is refused while a local run holds the tree,
 * and a local run while a job or a submission holds one of its locks. */
Test(writer_lock, slurm_jobs_and_a_local_protocol_run_do_not_share_a_tree, .timeout = 120)
{
    char *dir = sandbox_dir("lock-slurm");
    protocol_request r;
    protocol_options o;
    tiny_request(&r, &o, dir);
    char root[SHA256_HEX_LEN];
    /* a tree with its plan and one run, as a first local run leaves it
     * (stopped after one run, as a stopped protocol says) */
    cr_assert_eq(protocol_run(&r, &o, root), TD_ERR_INTERRUPTED, "%s", td_error_message());
    char *runs = in(dir, "runs");
    int before = entries(runs);

    dir_lock held;
    cr_assert_eq(dir_lock_take(dir, "a local protocol run", &held), TD_OK, "%s", td_error_message());
    expect_refused_naming(protocol_run_one(&o, "darts1", STAGE_SEARCH, 0), "a local protocol run");
    cr_expect(strstr(td_error_message(), "a Slurm job"), "the refusal does not say who waits: %s", td_error_message());
    dir_lock_release(&held);

    /* a job's lock on one run, held as run-one holds it */
    char *locks = in(dir, "slurm/locks");
    cr_assert_eq(dir_create(locks), TD_OK);
    char *job_lock = in(locks, "0123abcd.lock");
    int fd = open(job_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(file_lock_take(fd), FILE_LOCK_FREE);
    td_status s = protocol_run(&r, &o, root);
    cr_expect_eq(s, TD_ERR_STATE, "a local run went ahead beside a Slurm job: %s", td_error_message());
    cr_expect(strstr(td_error_message(), "0123abcd.lock") && strstr(td_error_message(), "Slurm"),
              "the refusal does not name the job's lock: %s", td_error_message());
    cr_expect_eq(entries(runs), before, "the refused run started a run");
    close(fd); /* the job ends: the local run may go on (one run, then it stops) */
    cr_expect_eq(protocol_run(&r, &o, root), TD_ERR_INTERRUPTED, "%s", td_error_message());
    cr_expect_eq(entries(runs), before + 1, "the local run did not go on after the job ended");
    free(runs);
    free(job_lock);
    free(locks);
    free(dir);
}

/* A test of a lock takes nothing: one open file holds it and another sees
 * that, and a writer taking and letting go of the lock over and over is
 * never refused while another process tests it just as often (a test
 * that took a shared lock for a moment would refuse it now and then). */
Test(writer_lock, testing_a_lock_never_refuses_a_writer, .timeout = 120)
{
    char *dir = sandbox_dir("lock-test");
    char *path = in(dir, "probe.lock");
    int a = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), b = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(a >= 0 && b >= 0);
    cr_expect_eq(file_lock_test(b), FILE_LOCK_FREE);
    cr_assert_eq(file_lock_take(a), FILE_LOCK_FREE);
    cr_expect_eq(file_lock_test(b), FILE_LOCK_HELD, "another open file does not see the lock");
    int c = open(path, O_RDWR | O_CLOEXEC);
    cr_assert(c >= 0);
    cr_expect_eq(file_lock_take(c), FILE_LOCK_HELD, "a second writer took a held lock");
    close(c);
    close(a);
    cr_expect_eq(file_lock_test(b), FILE_LOCK_FREE, "closing did not let go");
    close(b);

    int done[2];
    cr_assert_eq(pipe(done), 0);
    pid_t tester = fork();
    cr_assert_geq(tester, 0);
    if (tester == 0) {
        close(done[1]);
        fcntl(done[0], F_SETFL, O_NONBLOCK);
        char byte;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        /* until the writer says it has finished (or closes the pipe) */
        while (fd >= 0 && read(done[0], &byte, 1) < 0) file_lock_test(fd);
        _exit(fd >= 0 ? 0 : 1);
    }
    close(done[0]);
    int refused = 0;
    for (int k = 0; k < 20000; k++) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        refused += file_lock_take(fd) != FILE_LOCK_FREE;
        close(fd);
    }
    cr_assert_eq(write(done[1], "x", 1), 1);
    close(done[1]);
    int status;
    cr_assert_eq(waitpid(tester, &status, 0), tester);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_expect_eq(refused, 0, "a writer was refused %d times in 20000 while nobody held the lock", refused);
    free(path);
    free(dir);
}
