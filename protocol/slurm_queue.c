/* Talking to Slurm: its programs started without a shell, and squeue's
 * answer read back into the protocol's jobs. */
/* realpath */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slurm_internal.h"
#include "tsedarts/hash.h"

extern char **environ;

td_status slurm_program(const char *const *argv, char **out, int *code)
{
    int fd[2];
    if (pipe(fd) != 0) return TD_FAIL(TD_ERR_IO, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    if (out)
        posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 0, 0);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    pid_t pid;
    fflush(NULL);
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (e != 0) {
        close(fd[0]);
        return TD_FAIL(TD_ERR_IO, "cannot start %s: %s (is Slurm installed on this node?)", argv[0], strerror(e));
    }
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    for (ssize_t got; buf && (got = read(fd[0], buf + len, cap - len - 1)) != 0;) {
        if (got < 0) {
            if (errno == EINTR) continue;
            break;
        }
        len += (size_t)got;
        if (cap - len < 2) buf = realloc(buf, cap *= 2);
    }
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (!buf) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    buf[len] = '\0';
    if (out)
        *out = buf;
    else
        free(buf);
    return TD_OK;
}

td_status slurm_tag(const char *out_dir, char tag[32])
{
    char real[PATH_MAX], hex[SHA256_HEX_LEN];
    if (!realpath(out_dir, real)) return TD_FAIL(TD_ERR_IO, "%s: %s", out_dir, strerror(errno));
    sha256_buffer(real, strlen(real), hex);
    snprintf(tag, 32, "tsedarts-%.12s", hex);
    return TD_OK;
}

/* squeue's array task field: "3", "0-3", "1,3-5", "0-3%2", "N/A". */
static unsigned task_bits(const char *field)
{
    unsigned bits = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", field);
    char *pct = strchr(buf, '%');
    if (pct) *pct = '\0';
    if (!strcmp(buf, "N/A")) return 1;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int lo, hi;
        if (sscanf(t, "%d-%d", &lo, &hi) == 2) {
        } else if (sscanf(t, "%d", &lo) == 1) {
            hi = lo;
        } else {
            continue;
        }
        for (int k = lo; k <= hi && k < 32; k++)
            if (k >= 0) bits |= 1u << k;
    }
    return bits;
}

/* A job name: "<tag>-<method>-<stage>" or "<tag>-report". */
static int parse_name(const char *name, const char *tag, slurm_job *j)
{
    size_t tl = strlen(tag);
    if (strncmp(name, tag, tl) || name[tl] != '-') return 0;
    const char *rest = name + tl + 1;
    if (!strcmp(rest, "report")) {
        j->method[0] = '\0';
        j->kind = PROTOCOL_STAGES;
        return 1;
    }
    const char *dash = strrchr(rest, '-');
    if (!dash || (size_t)(dash - rest) >= sizeof j->method) return 0;
    for (int st = 0; st < PROTOCOL_STAGES; st++)
        if (!strcmp(dash + 1, protocol_stage_name((protocol_stage)st))) {
            memcpy(j->method, rest, (size_t)(dash - rest));
            j->method[dash - rest] = '\0';
            j->kind = st;
            return 1;
        }
    return 0;
}

td_status slurm_queue(const char *tag, slurm_job **jobs, int *n)
{
    /* array job ID | task IDs | name | state | reason */
    const char *argv[] = {"squeue", "--noheader", "--format=%F|%K|%j|%T|%r", NULL};
    char *text;
    int code;
    TD_CHECK(slurm_program(argv, &text, &code));
    if (code != 0) {
        free(text);
        return TD_FAIL(TD_ERR_IO, "squeue failed (exit %d): is slurmctld reachable?", code);
    }
    int cap = 16;
    slurm_job *out = calloc((size_t)cap, sizeof *out);
    *n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && out; l = strtok_r(NULL, "\n", &save)) {
        char *f[5];
        int nf = 0;
        for (char *p = l; nf < 5; nf++) {
            f[nf] = p;
            char *bar = strchr(p, '|');
            if (!bar) {
                nf++;
                break;
            }
            *bar = '\0';
            p = bar + 1;
        }
        slurm_job j;
        memset(&j, 0, sizeof j);
        if (nf < 5 || !parse_name(f[2], tag, &j)) continue;
        j.id = strtol(f[0], NULL, 10);
        j.tasks = task_bits(f[1]);
        j.running = !strcmp(f[3], "RUNNING") || !strcmp(f[3], "COMPLETING") || !strcmp(f[3], "CONFIGURING") ? j.tasks : 0;
        j.stuck = !strcmp(f[3], "PENDING") && strstr(f[4], "DependencyNeverSatisfied") != NULL;
        j.on_dependency = !strcmp(f[3], "PENDING") && !strncmp(f[4], "Dependency", 10);
        int found = -1;
        for (int i = 0; i < *n; i++)
            if (out[i].id == j.id) found = i;
        if (found >= 0) {
            out[found].tasks |= j.tasks;
            out[found].running |= j.running;
            out[found].stuck |= j.stuck;
            out[found].on_dependency |= j.on_dependency;
            continue;
        }
        if (*n == cap) out = realloc(out, (size_t)(cap *= 2) * sizeof *out);
        if (out) out[(*n)++] = j;
    }
    free(text);
    if (!out) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    *jobs = out;
    return TD_OK;
}
