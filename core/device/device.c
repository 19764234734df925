/* Device names to backends. */
#include "tsedarts/device.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsedarts/backend_cpu.h"
#include "tsedarts/backend_cuda.h"

/* cuda, cuda:N -> N; -1 when name is not a CUDA device name. */
static int cuda_index(const char *name)
{
    if (strcmp(name, "cuda") == 0) return 0;
    if (strncmp(name, "cuda:", 5) != 0 || !name[5]) return -1;
    char *end;
    errno = 0;
    long n = strtol(name + 5, &end, 10);
    if (*end || errno || n < 0 || n > 1023) return -1;
    return (int)n;
}

td_status device_open(const char *name, const backend **out)
{
    *out = NULL;
    if (!name || strcmp(name, "cpu") == 0) {
        *out = backend_cpu();
        return TD_OK;
    }
    int idx = cuda_index(name);
    if (idx < 0) return TD_FAIL(TD_ERR_ARG, "unknown device '%s' (cpu, cuda or cuda:N)", name);
    /* the GPU's speed switches are refused by name before any device is
     * touched, so a mistyped one is an error here, never a device "not
     * usable"; the values are those gpu/backend_cuda.cu reads */
    const char *conv = getenv("TSEDARTS_GPU_CONV");
    if (conv && *conv && strcmp(conv, "own") && strcmp(conv, "cudnn"))
        return TD_FAIL(TD_ERR_ARG, "TSEDARTS_GPU_CONV is '%s': use own (the default) or cudnn", conv);
    const char *why = NULL;
    *out = backend_cuda(idx, &why);
    if (!*out) return TD_FAIL(TD_ERR_UNSUPPORTED, "device %s cannot be used: %s", name, why ? why : "unknown reason");
    return TD_OK;
}

td_status device_check_name(const char *name)
{
    if (!name || strcmp(name, "cpu") == 0 || cuda_index(name) >= 0) return TD_OK;
    return TD_FAIL(TD_ERR_ARG, "unknown device '%s' (cpu, cuda or cuda:N)", name);
}

int device_same(const char *a, const char *b)
{
    if (strcmp(a, b) == 0) return 1;
    int ia = cuda_index(a), ib = cuda_index(b);
    return ia >= 0 && ia == ib;
}

/* The GPUs this process sees, counted in a child: the CUDA runtime, once
 * initialised, does not survive fork, and the protocol forks a worker per
 * run after reading its --device. The count and the reason for none come
 * back through a pipe. */
static td_status cuda_count_in_child(int *count)
{
    int fd[2];
    if (pipe(fd) != 0) return TD_FAIL(TD_ERR_IO, "cuda:all: pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return TD_FAIL(TD_ERR_STATE, "cuda:all: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(fd[0]);
        const char *why = NULL;
        char msg[600];
        int n = backend_cuda_count(&why);
        int len = snprintf(msg, sizeof msg, "%d %s", n, why ? why : "");
        ssize_t w = write(fd[1], msg, (size_t)(len < (int)sizeof msg ? len : (int)sizeof msg - 1));
        _exit(w > 0 ? 0 : 1);
    }
    close(fd[1]);
    char msg[600] = "";
    size_t got = 0;
    ssize_t r;
    while (got < sizeof msg - 1 && ((r = read(fd[0], msg + got, sizeof msg - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0) got += (size_t)r;
    msg[got] = '\0';
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    char *rest;
    long n = strtol(msg, &rest, 10);
    if (rest == msg) return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda:all: the process counting the GPUs did not answer");
    while (*rest == ' ') rest++;
    if (n <= 0) return TD_FAIL(TD_ERR_UNSUPPORTED, "cuda:all: no GPU can be used here: %s", *rest ? rest : "none found");
    *count = n > DEVICE_LIST_MAX ? DEVICE_LIST_MAX : (int)n;
    return TD_OK;
}

static td_status list_add(device_list *l, int idx)
{
    for (int i = 0; i < l->n; i++)
        if (cuda_index(l->names[i]) == idx) return TD_FAIL(TD_ERR_ARG, "--device names cuda:%d twice", idx);
    if (l->n == DEVICE_LIST_MAX) return TD_FAIL(TD_ERR_ARG, "--device names more than %d devices", DEVICE_LIST_MAX);
    snprintf(l->names[l->n++], sizeof l->names[0], "cuda:%d", idx);
    return TD_OK;
}

td_status device_list_parse(const char *spec, device_list *out)
{
    memset(out, 0, sizeof *out);
    if (!spec || !strcmp(spec, "cpu") || cuda_index(spec) >= 0) {
        TD_CHECK(device_check_name(spec));
        snprintf(out->names[0], sizeof out->names[0], "%s", !spec ? "cpu" : !strcmp(spec, "cuda") ? "cuda:0" : spec);
        out->n = 1;
        return TD_OK;
    }
    if (!strcmp(spec, "cuda:all")) {
        int n;
        TD_CHECK(cuda_count_in_child(&n));
        for (int i = 0; i < n; i++) TD_CHECK(list_add(out, i));
        return TD_OK;
    }
    if (strncmp(spec, "cuda:", 5) != 0 || !strchr(spec, ','))
        return TD_FAIL(TD_ERR_ARG, "unknown device '%s' (cpu, cuda, cuda:N, cuda:N,M,... or cuda:all)", spec);
    /* cuda:0,1,3 */
    for (const char *p = spec + 5;;) {
        char *end;
        errno = 0;
        long n = strtol(p, &end, 10);
        if (end == p || errno || n < 0 || n > 1023 || (*end && *end != ','))
            return TD_FAIL(TD_ERR_ARG, "--device '%s': expected cuda:N,M,... with each N a GPU number", spec);
        TD_CHECK(list_add(out, (int)n));
        if (!*end) break;
        p = end + 1;
    }
    return TD_OK;
}
