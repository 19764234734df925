#include "tsedarts/runtime.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <omp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

#include "build_id.h" /* TSEDARTS_GIT_COMMIT, TSEDARTS_BUILD_FLAGS (cmake/build_id.cmake) */

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    if (stop_flag) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    stop_flag = sig;
}

void stop_install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int stop_requested(void) { return stop_flag != 0; }
void stop_request(void) { stop_flag = SIGINT; }
int stop_exit_status(void) { return 128 + (stop_flag ? (int)stop_flag : SIGINT); }

/* 0: not read yet; 1: armed; 2: off (no variable, claimed, or passed) */
static int hold_state;
static long hold_after;

/* Claims path for this process: the record is written to a file of its
 * own, then linked to path, which fails if another process has it. */
static int hold_claim(const char *path, const char *run_dir)
{
    char tmp[4200], line[4400];
    if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp) return 0;
    int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), run_dir ? run_dir : "");
    if (n < 0 || n >= (int)sizeof line) return 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 0;
    int written = write(fd, line, (size_t)n) == n;
    close(fd);
    int claimed = written && link(tmp, path) == 0;
    unlink(tmp);
    return claimed;
}

void test_hold_point(long units_done, const char *run_dir)
{
    if (hold_state == 0) {
        const char *after = getenv("TSEDARTS_TEST_HOLD_AFTER");
        hold_after = after ? strtol(after, NULL, 10) : 0;
        hold_state = getenv("TSEDARTS_TEST_HOLD_FILE") ? 1 : 2;
    }
    if (hold_state != 1 || units_done < hold_after) return;
    hold_state = 2;
    if (!hold_claim(getenv("TSEDARTS_TEST_HOLD_FILE"), run_dir)) return;
    while (!stop_requested()) nanosleep(&(struct timespec){0, 10000000}, NULL);
}

double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void format_duration(double s, char *buf, int len)
{
    if (s < 0 || s != s) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, (size_t)len, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(buf, (size_t)len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, (size_t)len, "%lds", t);
}

void progress_init(progress *p, double total, double done)
{
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    p->start = now_seconds();
    p->total = total;
    p->done = done;
    p->rate = 0;
}

void progress_update(progress *p, double done, const char *fmt, ...)
{
    double t = now_seconds();
    double dt = t - p->start;
    if (dt > 0 && done > p->done) {
        double r = (done - p->done) / dt;
        p->rate = r;
    }
    if (!p->tty || t - p->last_print < 0.25) return;
    p->last_print = t;
    char msg[256], eta[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    format_duration(p->rate > 0 ? (p->total - done) / p->rate : 0, eta, sizeof eta);
    fprintf(stderr, "\r\033[K%s | ETA %s", msg, eta);
    fflush(stderr);
}

int progress_due(const progress *p) { return p->tty && now_seconds() - p->last_print >= 0.25; }

void progress_line(progress *p, const char *fmt, ...)
{
    if (p->tty) fprintf(stderr, "\r\033[K");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ') c++;
                c[strcspn(c, "\n")] = '\0';
                snprintf(buf, len, "%s", c);
            }
            break;
        }
    fclose(f);
}

int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* The executor's switches (exec.h): a synchronisation after every node,
 * runs never recorded, NVTX ranges, batching and its window; and the
 * step's scalars kept on the device. Each leaves
 * the bits as they are and only changes a run's speed (and memory), which
 * is why env.json says which were on. */
static json_t *switches_json(void)
{
    static const char *const names[] = {"TSEDARTS_SYNC_EACH_NODE", "TSEDARTS_NO_GRAPHS", "TSEDARTS_NVTX"};
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        json_object_set_new(o, names[i], json_boolean(env_flag(names[i])));
    /* batching (engine/schedule.h): TSEDARTS_BATCH as given (the CPU
     * batches unless "0", a GPU only where "1"), and the window, when
     * TSEDARTS_BATCH_WINDOW sets one */
    const char *batch = getenv("TSEDARTS_BATCH"), *window = getenv("TSEDARTS_BATCH_WINDOW");
    json_object_set_new(o, "TSEDARTS_BATCH", batch && *batch ? json_string(batch) : json_null());
    json_object_set_new(o, "TSEDARTS_BATCH_WINDOW", window && *window ? json_string(window) : json_null());
    /* the step's scalars on the device (nets/device_step.h): as given (the
     * CPU keeps them there unless "0", a GPU only where "1") */
    const char *step = getenv("TSEDARTS_DEVICE_STEP");
    json_object_set_new(o, "TSEDARTS_DEVICE_STEP", step && *step ? json_string(step) : json_null());
    /* huge pages for the CPU's large buffers (ref/backend_cpu.c): asked
     * for unless "0" */
    const char *huge = getenv("TSEDARTS_HUGE_PAGES");
    json_object_set_new(o, "TSEDARTS_HUGE_PAGES", huge && *huge ? json_string(huge) : json_null());
    return o;
}

char *fingerprint_json(int threads, const char *device_json)
{
    json_t *o = json_object();
    json_object_set_new(o, "tsedarts_commit", json_string(TSEDARTS_GIT_COMMIT));
#ifdef __VERSION__
    json_object_set_new(o, "compiler", json_string("gcc " __VERSION__));
#endif
    json_object_set_new(o, "c_flags", json_string(TSEDARTS_BUILD_FLAGS));
    json_object_set_new(o, "openmp_threads", json_integer(threads));
    json_object_set_new(o, "openmp_version", json_integer(_OPENMP));
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    json_object_set_new(o, "cpu", json_string(cpu));
    json_object_set_new(o, "online_cpus", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    struct utsname u;
    if (uname(&u) == 0) {
        char k[512];
        snprintf(k, sizeof k, "%s %s %s", u.sysname, u.release, u.machine);
        json_object_set_new(o, "kernel", json_string(k));
    }
    json_object_set_new(o, "openssl", json_string(OpenSSL_version(OPENSSL_VERSION)));
    json_object_set_new(o, "zlib", json_string(zlibVersion()));
    json_object_set_new(o, "jansson", json_string(JANSSON_VERSION));
    json_object_set_new(o, "switches", switches_json());
    if (device_json) {
        json_error_t err;
        json_t *d = json_loads(device_json, 0, &err);
        if (d) json_object_set_new(o, "device", d);
    }
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

static const char ZERO_HASH[SHA256_HEX_LEN] = CHAIN_LOG_FIRST_PREV;

td_status chain_log_open(chain_log *l, const char *path)
{
    if (path != l->path) TD_CHECK(path_format(l->path, sizeof l->path, "%s", path));
    memcpy(l->prev, ZERO_HASH, SHA256_HEX_LEN);
    if (!file_exists(path)) return TD_OK;
    char *text;
    size_t len;
    TD_CHECK(file_read_all(path, &text, &len));
    /* hash of the last non-empty line */
    size_t end = len;
    while (end && text[end - 1] == '\n') end--;
    if (end) {
        size_t start = end;
        while (start && text[start - 1] != '\n') start--;
        sha256_buffer(text + start, end - start, l->prev);
    }
    free(text);
    return TD_OK;
}

td_status chain_log_append(chain_log *l, const char *record_json)
{
    json_error_t err;
    json_t *rec = json_loads(record_json, 0, &err);
    if (!json_is_object(rec)) {
        if (rec) json_decref(rec);
        return TD_FAIL(TD_ERR_ARG, "log record is not a JSON object: %s", err.text);
    }
    json_t *o = json_object();
    json_object_set_new(o, "prev", json_string(l->prev));
    json_object_update(o, rec);
    json_decref(rec);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    td_status s = file_append_line(l->path, line);
    if (s == TD_OK) sha256_buffer(line, strlen(line), l->prev);
    free(line);
    return s;
}

td_status chain_log_verify_prefix(const char *path, size_t bytes, int *lines, char head[SHA256_HEX_LEN])
{
    char *text;
    size_t len;
    TD_CHECK(file_read_all(path, &text, &len));
    if (bytes != CHAIN_LOG_WHOLE && len < bytes) {
        free(text);
        return TD_FAIL(TD_ERR_CHECK, "%s: holds %zu bytes, fewer than the %zu expected", path, len, bytes);
    }
    size_t whole = len;
    if (bytes < len) len = bytes;
    char prev[SHA256_HEX_LEN];
    memcpy(prev, ZERO_HASH, SHA256_HEX_LEN);
    int n = 0;
    td_status s = TD_OK;
    size_t start = 0;
    while (start < len && s == TD_OK) {
        size_t end = start;
        while (end < len && text[end] != '\n') end++;
        if (end == len) {
            /* the part checked ends inside a line: within the file, the
             * records before that point no longer have the lengths they
             * had; at the file's end, the last write was cut short */
            s = len < whole ? TD_FAIL(TD_ERR_CHECK,
                                      "%s: line %d runs past byte %zu, where the records checked should end: a "
                                      "record up to there was edited, or the log replaced",
                                      path, n + 1, len)
                            : TD_FAIL(TD_ERR_CHECK, "%s: line %d is not terminated (a write cut short, or an edit)",
                                      path, n + 1);
            break;
        }
        n++;
        json_error_t err;
        json_t *o = json_loadb(text + start, end - start, 0, &err);
        const char *p = o ? json_string_value(json_object_get(o, "prev")) : NULL;
        if (!p)
            s = TD_FAIL(TD_ERR_CHECK, "%s: line %d is not a JSON record with \"prev\"", path, n);
        else if (strcmp(p, prev) != 0)
            s = TD_FAIL(TD_ERR_CHECK, "%s: line %d: chain broken (prev does not match line %d)", path, n, n - 1);
        if (o) json_decref(o);
        sha256_buffer(text + start, end - start, prev);
        start = end + 1;
    }
    free(text);
    if (lines) *lines = n;
    if (head) memcpy(head, prev, SHA256_HEX_LEN);
    return s;
}

td_status chain_log_verify(const char *path, int *lines)
{
    return chain_log_verify_prefix(path, CHAIN_LOG_WHOLE, lines, NULL);
}
