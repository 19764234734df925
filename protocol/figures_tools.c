/* The outside programs that draw: which ones, and running one without a
 * shell, with text on its standard input and its complaint captured. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "figures_internal.h"

static const char *from_env(const char *var, const char *fallback)
{
    const char *v = getenv(var);
    return v && *v ? v : fallback;
}

const char *figures_python(void) { return from_env("TSEDARTS_PYTHON", TSEDARTS_DEFAULT_PYTHON); }
const char *figures_script(void) { return from_env("TSEDARTS_FIGURES_SCRIPT", TSEDARTS_DEFAULT_FIGURES_SCRIPT); }
const char *figures_dot(void) { return from_env("TSEDARTS_DOT", "dot"); }

/* The last non-empty line of text, cut to len - 1 bytes. */
static void last_line(const char *text, char *out, size_t len)
{
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r')) n--;
    size_t start = n;
    while (start && text[start - 1] != '\n') start--;
    size_t l = n - start < len - 1 ? n - start : len - 1;
    memcpy(out, text + start, l);
    out[l] = '\0';
}

int figures_spawn(const char *const *argv, const char *input, char *why, size_t why_len)
{
    int in[2] = {-1, -1}, err[2];
    why[0] = '\0';
    if ((input && pipe(in) != 0) || pipe(err) != 0) {
        snprintf(why, why_len, "cannot make a pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (input) {
        posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
        posix_spawn_file_actions_addclose(&fa, in[1]);
    } else {
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&fa, err[0]);
    extern char **environ;
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (input) close(in[0]);
    close(err[1]);
    if (rc != 0) {
        snprintf(why, why_len, "cannot run %s: %s", argv[0], strerror(rc));
        if (input) close(in[1]);
        close(err[0]);
        return -1;
    }
    if (input) {
        /* a child that exits without reading must not kill us with SIGPIPE */
        void (*old)(int) = signal(SIGPIPE, SIG_IGN);
        for (size_t off = 0, n = strlen(input); off < n;) {
            ssize_t w = write(in[1], input + off, n - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            off += (size_t)w;
        }
        close(in[1]);
        signal(SIGPIPE, old);
    }
    /* read all it says before waiting, so it never blocks on a full pipe */
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    for (;;) {
        if (text && len + 1 == cap) {
            char *bigger = realloc(text, cap * 2);
            if (!bigger) break;
            text = bigger;
            cap *= 2;
        }
        char sink[512];
        ssize_t r = text ? read(err[0], text + len, cap - 1 - len) : read(err[0], sink, sizeof sink);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (text) len += (size_t)r;
    }
    close(err[0]);
    if (text) {
        text[len] = '\0';
        last_line(text, why, why_len);
        free(text);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    if (!WIFEXITED(status)) {
        snprintf(why, why_len, "%s was killed by signal %d", argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return -1;
    }
    /* posix_spawnp reports a missing program as exit 127 of the child */
    if (WEXITSTATUS(status) == 127 && !why[0]) snprintf(why, why_len, "%s: not found", argv[0]);
    return WEXITSTATUS(status);
}
