/* protocol_estimate.h: the estimate made in a child process (it opens the
 * device, and the process that asks may fork workers afterwards), and the
 * tables `protocol plan` and `protocol run` print. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "estimate_internal.h"
#include "tsedarts/budget.h"
#include "tsedarts/protocol_estimate.h"

void protocol_format_span(double s, char *buf, size_t len)
{
    if (s < 0 || s != s) s = 0;
    if (s < 90) snprintf(buf, len, "%.0f s", s);
    else if (s < 90 * 60) snprintf(buf, len, "%.0f min", s / 60);
    else if (s < 48 * 3600) snprintf(buf, len, "%.1f h", s / 3600);
    else snprintf(buf, len, "%.1f days", s / 86400);
}

/* 1234567 -> "1,234,567" */
static void thousands(long v, char *buf, size_t len)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%ld", v < 0 ? -v : v);
    size_t n = strlen(digits), at = 0;
    if (v < 0 && at + 1 < len) buf[at++] = '-';
    for (size_t i = 0; i < n && at + 2 < len; i++) {
        buf[at++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n) buf[at++] = ',';
    }
    buf[at] = '\0';
}

static td_status read_all(int fd, char *buf, size_t cap, size_t *got)
{
    *got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + *got, cap - *got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return TD_FAIL(TD_ERR_IO, "estimate: reading the answer: %s", strerror(errno));
        if (r == 0 || (*got += (size_t)r) == cap) return TD_OK;
    }
}

td_status protocol_estimate_make(const protocol_request *r, const protocol_options *o, int remeasure, protocol_estimate *e)
{
    int fd[2];
    if (pipe(fd) != 0) return TD_FAIL(TD_ERR_IO, "estimate: pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return TD_FAIL(TD_ERR_STATE, "estimate: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(fd[0]);
        /* the answer: 'K' and the estimate, or 'E' and the error */
        protocol_estimate *mine = malloc(sizeof *mine);
        td_status s = mine ? estimate_compute(r, o, remeasure, mine) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
        const char *tag = s == TD_OK ? "K" : "E";
        const char *body = s == TD_OK ? (const char *)mine : td_error_message();
        size_t len = s == TD_OK ? sizeof *mine : strlen(body);
        int ok = write(fd[1], tag, 1) == 1;
        for (size_t at = 0; ok && at < len;) {
            ssize_t w = write(fd[1], body + at, len - at);
            if (w < 0 && errno == EINTR) continue;
            ok = w > 0;
            if (ok) at += (size_t)w;
        }
        _exit(ok && s == TD_OK ? 0 : 1);
    }
    close(fd[1]);
    char *buf = malloc(sizeof *e + 1);
    size_t got = 0;
    td_status s = buf ? read_all(fd[0], buf, sizeof *e + 1, &got) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (s == TD_OK && got == sizeof *e + 1 && buf[0] == 'K') {
        memcpy(e, buf + 1, sizeof *e);
    } else if (s == TD_OK && got > 1 && buf[0] == 'E') {
        buf[got < sizeof *e ? got : sizeof *e] = '\0';
        s = TD_FAIL(TD_ERR_STATE, "estimate: %s", buf + 1);
    } else if (s == TD_OK) {
        s = TD_FAIL(WIFSIGNALED(status) ? TD_ERR_INTERRUPTED : TD_ERR_STATE, "estimate: the timing process ended %s",
                    WIFSIGNALED(status) ? "by a signal" : "without an answer");
    }
    free(buf);
    return s;
}

static void print_where(const protocol_estimate *e, FILE *f)
{
    fprintf(f, "timed on %s (%s), %d thread%s per run", e->device, e->device_model, e->threads, e->threads == 1 ? "" : "s");
    if (e->probes_measured || e->probes_cached)
        fprintf(f, "; %d kind%s of run timed now, %d from the cache", e->probes_measured,
                e->probes_measured == 1 ? "" : "s", e->probes_cached);
    fprintf(f, "\n");
}

static void print_wall(const protocol_estimate *e, FILE *f)
{
    char w[32];
    protocol_format_span(e->wall_seconds, w, sizeof w);
    fprintf(f, "wall time on %d device%s (%s), %d run%s at a time: %s\n", e->devices, e->devices == 1 ? "" : "s",
            e->device, e->slots, e->slots == 1 ? "" : "s", w);
}

void protocol_estimate_print(const protocol_estimate *e, const protocol_request *r, int slurm, FILE *f)
{
    const budget *b = NULL;
    budget_find(r->budget, &b);
    fprintf(f, "protocol darts_space at budget %s (%s) on %s\n", r->budget,
            b && b->spec ? "the paper's settings" : "scaled down, not comparable to the paper", r->dataset);
    print_where(e, f);
    fprintf(f, "\n  %-22s %5s %14s %13s\n", "row", "runs", "steps", "device-hours");
    int runs = 0;
    long steps = 0;
    for (int i = 0; i < e->n_rows; i++) {
        const protocol_estimate_row *row = &e->rows[i];
        char st[32];
        thousands(row->steps, st, sizeof st);
        double h = row->device_seconds / 3600;
        fprintf(f, h < 0.1 ? "  %-22s %5d %14s %13.3f\n" : "  %-22s %5d %14s %13.1f\n", row->label, row->runs, st, h);
        runs += row->runs;
        steps += row->steps;
    }
    char st[32], total[32];
    thousands(steps, st, sizeof st);
    protocol_format_span(e->device_seconds, total, sizeof total);
    double h = e->device_seconds / 3600;
    fprintf(f, h < 0.1 ? "  %-22s %5d %14s %13.3f  (%s on one device)\n\n" : "  %-22s %5d %14s %13.1f  (%s on one device)\n\n",
            "total", runs, st, h, total);
    if (slurm) {
        /* slurm_submit.c: per row a job array for each stage, one for the
         * baseline, and the report job after them */
        int arrays = 3 * (e->n_rows - e->n_baseline) + e->n_baseline;
        char c[32];
        protocol_format_span(e->critical_seconds, c, sizeof c);
        fprintf(f,
                "with --executor slurm: %d jobs (%d job arrays of %d tasks in all, one task per run, and the report "
                "job); with every task started as soon as what it needs has ended, the wall time is the longest "
                "chain (a search, its selection retraining, a final retraining): %s\n",
                arrays + 1, arrays, runs, c);
    } else {
        print_wall(e, f);
        char c[32];
        protocol_format_span(e->critical_seconds, c, sizeof c);
        fprintf(f, "(with a device for every run: %s, the longest chain of runs that wait on each other)\n", c);
    }
    fprintf(f, "A step (its batch through every pass), and once per run (start, graphs, outputs):\n");
    for (int i = 0; i < e->n_kinds; i++)
        fprintf(f, "  %-58s %9.4f s a step, %6.1f s once\n", e->kinds[i].what, e->kinds[i].step_seconds,
                e->kinds[i].fixed_seconds);
    fprintf(f,
            "The retrainings are timed on DARTS_V2's cells (the searched ones are not known yet); a stage's warm-up "
            "epochs are timed as the others; loading the data and drawing the report's figures (seconds, on the "
            "CPU) are not counted.\n");
}

void protocol_estimate_print_start(const protocol_estimate *e, const protocol_request *r, const char *out_dir, FILE *f)
{
    long steps = 0;
    for (int i = 0; i < e->n_rows; i++) steps += e->rows[i].steps;
    char st[32], dev[32], w[32];
    thousands(steps, st, sizeof st);
    protocol_format_span(e->device_seconds, dev, sizeof dev);
    protocol_format_span(e->wall_seconds, w, sizeof w);
    fprintf(f, "estimate: %d runs, %s steps, %s on one device (%.1f device-hours); %s on %d device%s (%s), %d run%s at a "
               "time\n",
            e->n_runs, st, dev, e->device_seconds / 3600, w, e->devices, e->devices == 1 ? "" : "s", e->device, e->slots,
            e->slots == 1 ? "" : "s");
    fprintf(f, "          ");
    print_where(e, f);
    if (e->wall_seconds <= 86400) return;
    fprintf(f,
            "That is more than a day. `tsedarts protocol plan darts_space --budget %s --device %s` shows each row's "
            "share. To run some rows only, name them with --methods (e.g. --methods darts1,tse), into a results "
            "directory of their own: a tree keeps the rows it was planned with. To stop, press Ctrl-C (or send "
            "SIGTERM): every run stops at its next checkpoint, and the same command resumes where it stopped, to the "
            "same bits; `tsedarts protocol status darts_space --out %s` shows how far it has come.\n",
            r->budget, e->device, out_dir);
}
