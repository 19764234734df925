#include "sandbox.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsedarts/figures.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

static char **made;
static int n_made;
static pid_t owner; /* the process that made them; a forked child must not remove them */

static void remove_made(void)
{
    if (getpid() != owner || getenv("TSEDARTS_KEEP_SCRATCH")) return;
    for (int i = 0; i < n_made; i++) {
        if (dir_remove_tree(made[i]) != TD_OK) fprintf(stderr, "sandbox: %s\n", td_error_message());
        free(made[i]);
    }
    free(made);
}

char *sandbox_dir(const char *tag)
{
    char *p;
    if (dir_make_temp(tag, &p) != TD_OK) {
        fprintf(stderr, "sandbox: %s\n", td_error_message());
        abort();
    }
    if (!n_made) {
        owner = getpid();
        atexit(remove_made);
    }
    char **grown = realloc(made, (size_t)(n_made + 1) * sizeof *grown);
    char *copy = strdup(p);
    if (!grown || !copy) abort();
    made = grown;
    made[n_made++] = copy;
    return p;
}

static td_status copy_file(const char *src, const char *dst)
{
    char *data;
    size_t len;
    TD_CHECK(file_read_all(src, &data, &len));
    FILE *f = fopen(dst, "wb");
    td_status s = f ? TD_OK : TD_FAIL(TD_ERR_IO, "%s: cannot create: %s", dst, strerror(errno));
    if (f && fwrite(data, 1, len, f) != len) s = TD_FAIL(TD_ERR_IO, "%s: write failed", dst);
    if (f && fclose(f) != 0 && s == TD_OK) s = TD_FAIL(TD_ERR_IO, "%s: close failed", dst);
    free(data);
    return s;
}

td_status sandbox_copy_tree(const char *src, const char *dst)
{
    if (mkdir(dst, 0700) != 0) return TD_FAIL(TD_ERR_IO, "%s: cannot create: %s", dst, strerror(errno));
    DIR *d = opendir(src);
    if (!d) return TD_FAIL(TD_ERR_IO, "%s: cannot list: %s", src, strerror(errno));
    td_status s = TD_OK;
    struct dirent *e;
    while (s == TD_OK && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *from = path_join(src, e->d_name), *to = path_join(dst, e->d_name);
        struct stat st;
        if (!from || !to)
            s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
        else if (lstat(from, &st) != 0)
            s = TD_FAIL(TD_ERR_IO, "%s: %s", from, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            s = sandbox_copy_tree(from, to);
        else if (S_ISREG(st.st_mode))
            s = copy_file(from, to);
        else
            s = TD_FAIL(TD_ERR_IO, "%s: neither a directory nor a regular file", from);
        free(from);
        free(to);
    }
    closedir(d);
    return s;
}

int sandbox_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: cannot list it", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

int sandbox_run(const char *const *argv, const char *out_path)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) _exit(126);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

pid_t sandbox_start_held(const char *const *argv, long after, const char *hold_file)
{
    char n[32];
    snprintf(n, sizeof n, "%ld", after);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd < 0) _exit(126);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        setenv("TSEDARTS_TEST_HOLD_FILE", hold_file, 1);
        setenv("TSEDARTS_TEST_HOLD_AFTER", n, 1);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    /* no deadline of its own: the test's timeout bounds the wait */
    while (!file_exists(hold_file)) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            cr_assert_fail("%s ended (status %d) before it reached the hold point after %ld units", argv[0], status,
                           after);
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    return pid;
}

const char *sandbox_python_with_torch(void)
{
    static const char *candidates[] = {"/usr/bin/python3", "python3"};
    for (int i = 0; i < 2; i++) {
        const char *argv[] = {candidates[i], "-c", "import torch", NULL};
        if (sandbox_run(argv, NULL) == 0) return candidates[i];
    }
    return NULL;
}

const char *sandbox_oracle_python(void)
{
    const char *py = sandbox_python_with_torch();
    if (py) return py;
    const char *require = getenv("TSEDARTS_REQUIRE_ORACLE");
    if (require && strcmp(require, "1") == 0)
        cr_assert_fail("no Python with torch, and TSEDARTS_REQUIRE_ORACLE=1 requires the comparison with PyTorch "
                       "(install Debian's python3-torch: scripts/install-deps.sh)");
    cr_skip_test("not run: no Python with torch (install Debian's python3-torch)");
    return NULL;
}

void sandbox_require_plots(void)
{
    const char *py[] = {figures_python(), "-c", "import matplotlib", NULL};
    const char *dot[] = {figures_dot(), "-V", NULL};
    const char *missing = sandbox_run(py, NULL) != 0 ? "a Python with matplotlib" : sandbox_run(dot, NULL) != 0 ? "Graphviz's dot" : NULL;
    if (!missing) return;
    const char *require = getenv("TSEDARTS_REQUIRE_PLOTS");
    if (require && strcmp(require, "1") == 0)
        cr_assert_fail("no %s (%s, %s), and TSEDARTS_REQUIRE_PLOTS=1 requires the figures (install python3-matplotlib "
                       "and graphviz: scripts/install-deps.sh)", missing, figures_python(), figures_dot());
    cr_skip_test("not run: no %s (install python3-matplotlib and graphviz)", missing);
}
