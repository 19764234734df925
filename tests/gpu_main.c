/* The entry point of the gpu suites. Where no CUDA device can be used the
 * suite exits 77, which ctest reports as not run (SKIP_RETURN_CODE), with
 * the reason printed; it never passes without running, and a build whose
 * CUDA module cannot be loaded fails instead. The probe opens the
 * device in a child process: CUDA must not be initialised in this process,
 * from which Criterion forks every test (each test opens it itself). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsedarts/backend_cuda.h"
#include "tsedarts/device.h"

/* Whether cuda:0 opens (1, else 0); -1 where this build's CUDA backend
 * cannot be loaded at all. Why not in why. */
static int cuda_usable(char *why, size_t len)
{
    int fd[2];
    if (pipe(fd)) {
        snprintf(why, len, "cannot probe for a GPU: pipe failed");
        return 0;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        const char *module_why = NULL;
        if (backend_cuda_built() && !backend_cuda_load(&module_why)) {
            /* a broken build: its backend cannot even be loaded */
            if (write(fd[1], module_why, strlen(module_why)) < 0) _exit(2);
            _exit(3);
        }
        const backend *be;
        td_status s = device_open("cuda", &be);
        if (s != TD_OK) {
            const char *m = td_error_message();
            if (write(fd[1], m, strlen(m)) < 0) _exit(2);
        }
        _exit(s == TD_OK ? 0 : 1);
    }
    close(fd[1]);
    ssize_t n = pid > 0 ? read(fd[0], why, len - 1) : -1;
    why[n > 0 ? n : 0] = '\0';
    close(fd[0]);
    int status = -1;
    if (pid > 0) waitpid(pid, &status, 0);
    if (!why[0] && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        snprintf(why, len, "the GPU probe did not finish (status %d)", status);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char *argv[])
{
    char why[1024];
    int usable = cuda_usable(why, sizeof why);
    if (usable < 0) {
        printf("FAILED: this build's CUDA backend cannot be loaded: %s\n", why);
        return 1;
    }
    if (!usable) {
        printf("not run: no usable CUDA device: %s\n", why);
        return 77;
    }
    struct criterion_test_set *tests = criterion_initialize();
    int result = 0;
    if (criterion_handle_args(argc, argv, true)) result = !criterion_run_all_tests(tests);
    criterion_finalize(tests);
    return result;
}
