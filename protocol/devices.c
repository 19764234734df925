/* The devices a protocol spreads its runs over: which, how many runs at
 * once on each, and with how many threads each. */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run_internal.h"

td_status pool_devices(const protocol_options *o, device_list *out)
{
    if (o->n_pool <= 0) return device_list_parse(o->device ? o->device : "cpu", out);
    /* the test hook: the names as given, repeats allowed (several "cpu") */
    memset(out, 0, sizeof *out);
    if (o->n_pool > DEVICE_LIST_MAX) return TD_FAIL(TD_ERR_ARG, "pool of %d devices: at most %d", o->n_pool, DEVICE_LIST_MAX);
    for (int i = 0; i < o->n_pool; i++) {
        TD_CHECK(device_check_name(o->pool[i]));
        snprintf(out->names[i], sizeof out->names[i], "%s", o->pool[i]);
    }
    out->n = o->n_pool;
    return TD_OK;
}

void pool_slots(const device_list *d, int jobs, int threads, int *slots, int *per_device, int *per_run_threads)
{
    int n = d->n > 0 ? d->n : 1;
    /* one run per device unless --jobs asks for more, spread evenly */
    int total = jobs > n ? jobs : n;
    *per_device = (total + n - 1) / n;
    *slots = total;
    if (threads <= 0) threads = omp_get_max_threads();
    *per_run_threads = threads / total > 0 ? threads / total : 1;
}

int pool_in_process(const protocol_state *ps)
{
    int slots, per_device, threads;
    pool_slots(&ps->devices, ps->req ? ps->req->jobs : 1, ps->opt->threads, &slots, &per_device, &threads);
    return slots == 1;
}

/* Opens a device in a child process: a GPU's context does not survive
 * fork, and the workers fork from this process. */
static td_status check_in_child(const char *name)
{
    int fd[2];
    if (pipe(fd) != 0) return TD_FAIL(TD_ERR_IO, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return TD_FAIL(TD_ERR_STATE, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(fd[0]);
        const backend *be;
        td_status s = device_open(name, &be);
        if (s != TD_OK) {
            const char *m = td_error_message();
            ssize_t w = write(fd[1], m, strlen(m));
            (void)w;
        }
        _exit(s == TD_OK ? 0 : 1);
    }
    close(fd[1]);
    char msg[1024];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof msg - 1 && ((r = read(fd[0], msg + got, sizeof msg - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0) got += (size_t)r;
    msg[got] = '\0';
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return TD_OK;
    return TD_FAIL(TD_ERR_UNSUPPORTED, "%s", got ? msg : "the device check ended without an answer");
}

td_status pool_check(const device_list *d, int in_process)
{
    if (in_process) {
        const backend *be;
        return device_open(d->names[0], &be);
    }
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->names[i], "cpu") != 0) TD_CHECK(check_in_child(d->names[i]));
    return TD_OK;
}
