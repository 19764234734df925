/* Which run goes where, and when. Runs start in dependency order as soon
 * as a device has a free slot: one run per device at a time unless --jobs
 * asks for more, each in a process of its own (or in this one when only
 * one runs at a time). A run that ends with a device error takes its
 * device out of the pool and goes back to wait for another, where it
 * resumes from its last checkpoint: every device of one model gives the
 * same bits, so the tree and its root hash are those of one device. The
 * device errors a run met are kept in its timing.json, outside the root
 * hash, and the report page lists them. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "estimate_internal.h"
#include "run_internal.h"
#include "tsedarts/protocol_estimate.h"

#define MAX_WORKERS 64
#define EXIT_STOPPED 3 /* stopped at a checkpoint, as asked */
#define EXIT_DEVICE 4  /* a device error; the message comes through the worker's pipe */

typedef struct worker {
    pid_t pid;
    int run, dev, fd;
} worker;

typedef struct sched {
    protocol_state *ps;
    int only;
    int slots, per_device, threads, in_process;
    int alive[DEVICE_LIST_MAX], busy[DEVICE_LIST_MAX], started_on[DEVICE_LIST_MAX];
    int n_alive;
    worker w[MAX_WORKERS];
    int active;
    json_t **failures; /* per run: the device errors it met here */
    double *since;     /* per run: when it started here (0: not under way) */
    int *dev_of;       /* per run: its device while under way */
    double est_done, actual_done;          /* the estimate against what it took */
    double actual_sum[2], actual_n[2];     /* searches, the rest: without an estimate */
    double t0;
    char lost[2048]; /* the devices taken out, for the closing line */
    board b;
} sched;

static const char *short_kind(run_kind k)
{
    static const char *const n[] = {"search", "select", "final-deep", "final-shallow", "baseline"};
    return n[k];
}

static void what_of(const sched *s, int i, char *buf, size_t len)
{
    const run_entry *r = &s->ps->runs[i];
    if (r->kind == RUN_BASELINE) snprintf(buf, len, "baseline");
    else snprintf(buf, len, "%s %s %d", run_method_id(s->ps, r), short_kind(r->kind), r->index + 1);
}

/* A run's expected seconds: the estimate, scaled by how the finished runs
 * compared with theirs; without one, the mean of the finished runs of its
 * kind (-1: nothing to go by yet). */
static double expected(const sched *s, int i)
{
    const protocol_estimate *e = s->ps->opt->estimate;
    if (e && i < e->n_runs && e->n_runs == s->ps->n_runs) {
        double scale = s->est_done > 0 ? s->actual_done / s->est_done : 1;
        /* bounded, yet wide: a probe timed while other work shared the
         * device can be off by tens of times */
        if (scale < 0.02) scale = 0.02;
        if (scale > 50) scale = 50;
        return e->run_seconds[i] * scale;
    }
    int k = s->ps->runs[i].kind != RUN_SEARCH;
    if (s->actual_n[k] > 0) return s->actual_sum[k] / s->actual_n[k];
    double all = s->actual_n[0] + s->actual_n[1];
    return all > 0 ? (s->actual_sum[0] + s->actual_sum[1]) / all : -1;
}

static double time_left(const sched *s)
{
    const protocol_state *ps = s->ps;
    sim_run *runs = calloc((size_t)ps->n_runs + 1, sizeof *runs);
    if (!runs) return -1;
    sim_plan_deps(runs, ps->n_baseline, (ps->n_runs - ps->n_baseline) / (2 * PROTOCOL_SEARCHES + 2 * PROTOCOL_FINAL_SEEDS));
    double now = now_seconds(), left = 0;
    for (int i = 0; i < ps->n_runs && left >= 0; i++) {
        sim_run *r = &runs[i];
        r->done = ps->runs[i].done || (s->only >= 0 && i != s->only);
        if (r->done) continue;
        double x = expected(s, i);
        if (x < 0) left = -1;
        r->running = s->since[i] > 0;
        r->seconds = r->running ? x - (now - s->since[i]) : x;
        /* a run past its estimate is taken to be near its end */
        if (r->running && r->seconds < 0.05 * x) r->seconds = 0.05 * x;
    }
    int slots = s->n_alive * s->per_device < s->slots ? s->n_alive * s->per_device : s->slots;
    if (left >= 0) left = sim_makespan(runs, ps->n_runs, slots > 0 ? slots : 1);
    free(runs);
    return left;
}

static void status_text(const sched *s, char *buf, size_t len)
{
    const protocol_state *ps = s->ps;
    board_run u[MAX_WORKERS];
    int n = 0, done = 0, total = 0;
    for (int i = 0; i < ps->n_runs; i++) {
        if (s->only >= 0 && i != s->only) continue;
        total++;
        done += ps->runs[i].done;
        if (s->since[i] > 0 && n < MAX_WORKERS) {
            u[n].device = ps->devices.names[s->dev_of[i]];
            what_of(s, i, u[n].what, sizeof u[n].what);
            n++;
        }
    }
    board_format(buf, len, done, total, u, n, now_seconds() - s->t0, time_left(s));
}

static void on_tick(void *ctx, run_tick what)
{
    (void)what;
    sched *s = ctx;
    if (s->b.quiet || !s->b.tty || now_seconds() - s->b.last_draw < 0.25) return;
    char st[1024];
    status_text(s, st, sizeof st);
    board_draw(&s->b, st, 0);
}

static void event(sched *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void event(sched *s, const char *fmt, ...)
{
    if (s->b.quiet) return;
    char st[1024], msg[2048];
    status_text(s, st, sizeof st);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    board_event(&s->b, st, "%s", msg);
}

/* The device of the fewest runs under way that has a free slot (-1: none). */
static int free_device(const sched *s)
{
    int best = -1, under_way = 0;
    for (int d = 0; d < s->ps->devices.n; d++) under_way += s->busy[d];
    if (under_way >= s->slots) return -1;
    for (int d = 0; d < s->ps->devices.n; d++)
        if (s->alive[d] && s->busy[d] < s->per_device && (best < 0 || s->busy[d] < s->busy[best])) best = d;
    return best;
}

static void exec_of(sched *s, int i, int d, run_exec *x)
{
    protocol_state *ps = s->ps;
    memset(x, 0, sizeof *x);
    x->device = ps->devices.names[d];
    x->threads = s->threads;
    x->pool = 1;
    x->device_failures = s->failures[i];
}

/* What happened to run i on device d: done, stopped, or a device error
 * (message), which moves it to another device. */
static td_status finished(sched *s, int i, int d, td_status st, const char *message)
{
    protocol_state *ps = s->ps;
    run_entry *r = &ps->runs[i];
    char what[64], line[5200];
    what_of(s, i, what, sizeof what);
    double took = now_seconds() - s->since[i];
    s->since[i] = 0;
    s->busy[d]--;
    if (st == TD_ERR_INTERRUPTED) return TD_FAIL(TD_ERR_INTERRUPTED, "protocol stopped; run it again to continue");
    if (st == TD_ERR_BACKEND) {
        const char *dev = ps->devices.names[d];
        json_t *f = json_object();
        json_object_set_new(f, "device", json_string(dev));
        json_object_set_new(f, "error", json_string(message));
        if (!s->failures[i]) s->failures[i] = json_array();
        json_array_append_new(s->failures[i], f);
        if (json_array_size(s->failures[i]) >= 2) {
            /* a second device failed on the same run: the run, not the
             * devices, is the likely cause; it is recorded as failed and
             * this device stays */
            run_exec x;
            exec_of(s, i, d, &x);
            snprintf(line, sizeof line, "device errors on two devices, the last on %s: %s", dev, message);
            TD_CHECK(run_finish_failed(ps, r, &x, TD_ERR_BACKEND, line));
            event(s, "%s: device errors on two devices; recorded as the run's failure (%s)", what, message);
            return TD_OK;
        }
        s->alive[d] = 0;
        s->n_alive--;
        size_t at = strlen(s->lost);
        snprintf(s->lost + at, sizeof s->lost - at, "%s%s (%s)", at ? "; " : "", dev, message);
        event(s, "%s: device %s failed (%s); taken out of the pool, %s", what, dev, message,
              s->n_alive ? "the run goes to another device, from its last checkpoint" : "no device is left");
        return TD_OK;
    }
    if (st != TD_OK) return st;
    if (!s->in_process) {
        int fin;
        TD_CHECK(run_check_finished(ps, r, &fin));
        if (!fin) return TD_FAIL(TD_ERR_STATE, "worker for run %s left no result", r->hash);
    }
    ps->completed++;
    const protocol_estimate *e = ps->opt->estimate;
    if (e && e->n_runs == ps->n_runs && e->run_seconds[i] > 0) {
        s->est_done += e->run_seconds[i];
        s->actual_done += took;
    }
    s->actual_sum[r->kind != RUN_SEARCH] += took;
    s->actual_n[r->kind != RUN_SEARCH] += 1;
    char t[32];
    format_duration(took, t, sizeof t);
    event(s, r->failed ? "%s: failed after %s (failure.json says why)" : "%s: done in %s", what, t);
    return TD_OK;
}

static td_status launch(sched *s, int i, int d)
{
    protocol_state *ps = s->ps;
    run_entry *r = &ps->runs[i];
    run_exec x;
    exec_of(s, i, d, &x);
    if (ps->opt->fail_run && ++ps->started == ps->opt->fail_run) x.fail_disk = 1;
    if (++s->started_on[d] == 1 && ps->opt->fail_device == d + 1)
        x.device_fail_units = ps->opt->fail_device_units > 0 ? ps->opt->fail_device_units : 1;
    if (ps->opt->started) ps->opt->started(ps->opt->started_ctx, i, d);
    s->since[i] = now_seconds();
    s->dev_of[i] = d;
    s->busy[d]++;
    event(s, "[%s] %s %d: run %.12s on %s", run_method_id(ps, r), run_kind_name(r->kind), r->index + 1, r->hash,
          x.device);
    if (s->in_process) {
        x.tick = on_tick;
        x.tick_ctx = s;
        td_status st = run_execute(ps, r, &x);
        char why[1024];
        snprintf(why, sizeof why, "%s", st == TD_OK ? "" : td_error_message());
        return finished(s, i, d, st, why);
    }
    int fd[2];
    if (pipe(fd) != 0) return TD_FAIL(TD_ERR_IO, "pipe: %s", strerror(errno));
    int slot = 0;
    while (s->w[slot].pid) slot++;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return TD_FAIL(TD_ERR_STATE, "fork failed: %s", strerror(errno));
    if (pid == 0) {
        /* a worker lives no longer than the protocol process: when it dies
         * (even by SIGKILL) the worker is asked to stop at its next
         * checkpoint, so a re-run never finds a run still being written
         * by an orphan */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(EXIT_STOPPED); /* it died before prctl */
        close(fd[0]);
        td_status st = run_execute(ps, r, &x);
        if (st == TD_ERR_BACKEND) {
            const char *m = td_error_message();
            ssize_t wr = write(fd[1], m, strlen(m) < 4000 ? strlen(m) : 4000);
            (void)wr;
            _exit(EXIT_DEVICE);
        }
        if (st != TD_OK && st != TD_ERR_INTERRUPTED) td_error_print(st);
        _exit(st == TD_OK ? 0 : st == TD_ERR_INTERRUPTED ? EXIT_STOPPED : 1);
    }
    close(fd[1]);
    s->w[slot] = (worker){pid, i, d, fd[0]};
    s->active++;
    return TD_OK;
}

/* Waits for a worker to end (on a terminal, redrawing the line meanwhile). */
static td_status reap(sched *s)
{
    int status;
    pid_t pid;
    for (;;) {
        int polling = s->b.tty && !s->b.quiet;
        pid = waitpid(-1, &status, polling ? WNOHANG : 0);
        if (pid > 0) break;
        if (pid < 0 && errno != EINTR) return TD_FAIL(TD_ERR_STATE, "waiting for the workers: %s", strerror(errno));
        if (pid == 0) {
            char st[1024];
            status_text(s, st, sizeof st);
            board_draw(&s->b, st, 0);
            nanosleep(&(struct timespec){0, 250000000}, NULL);
        }
    }
    for (int j = 0; j < MAX_WORKERS; j++) {
        worker *w = &s->w[j];
        if (w->pid != pid) continue;
        char msg[4001];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof msg - 1 && ((n = read(w->fd, msg + got, sizeof msg - 1 - got)) > 0 || (n < 0 && errno == EINTR)))
            if (n > 0) got += (size_t)n;
        msg[got] = '\0';
        close(w->fd);
        w->pid = 0;
        s->active--;
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        td_status st = code == 0 ? TD_OK : code == EXIT_STOPPED ? TD_ERR_INTERRUPTED : code == EXIT_DEVICE ? TD_ERR_BACKEND
                                                                                                        : TD_ERR_STATE;
        if (st == TD_ERR_STATE) return TD_FAIL(TD_ERR_STATE, "worker for run %s failed", s->ps->runs[w->run].hash);
        return finished(s, w->run, w->dev, st, got ? msg : "device error");
    }
    return TD_OK; /* not one of ours */
}

static td_status loop(sched *s)
{
    protocol_state *ps = s->ps;
    for (;;) {
        int remaining = 0, launched = 0;
        for (int i = 0; i < ps->n_runs; i++) {
            run_entry *r = &ps->runs[i];
            if (r->done || (s->only >= 0 && i != s->only)) continue;
            remaining++;
            if (s->since[i] > 0 || !run_deps_done(ps, r)) continue;
            if (run_deps_failed(ps, r)) {
                r->done = r->failed = 1;
                continue;
            }
            /* finished in an earlier invocation: counted done at once */
            TD_CHECK(run_resolve_config(ps, r));
            int fin;
            TD_CHECK(run_check_finished(ps, r, &fin));
            if (fin) continue;
            int d = free_device(s);
            if (d < 0) continue;
            if (stop_requested() || (ps->opt->stop_after_runs && ps->completed >= ps->opt->stop_after_runs))
                return TD_FAIL(TD_ERR_INTERRUPTED, "protocol stopped; run it again to continue");
            TD_CHECK(launch(s, i, d));
            launched++;
        }
        if (!remaining) return TD_OK;
        if (!s->n_alive && !s->active)
            return TD_FAIL(TD_ERR_BACKEND,
                           "every device failed: %s; fix them (or name others with --device) and run the same "
                           "command again: the runs left resume from their checkpoints",
                           s->lost);
        if (s->active > 0) {
            TD_CHECK(reap(s));
        } else if (!launched) {
            /* nothing under way: finished if this pass found the rest done
             * (kept from an earlier invocation), else it cannot go on */
            int left = 0, ready = 0;
            for (int i = 0; i < ps->n_runs; i++)
                if (!ps->runs[i].done && (s->only < 0 || i == s->only)) {
                    left++;
                    ready |= run_deps_done(ps, &ps->runs[i]);
                }
            if (!left) return TD_OK;
            if (!ready) return TD_FAIL(TD_ERR_STATE, "protocol cannot progress: %d runs wait on failed ones", left);
        }
    }
}

td_status protocol_schedule(protocol_state *ps, int only)
{
    sched s;
    memset(&s, 0, sizeof s);
    s.ps = ps;
    s.only = only;
    pool_slots(&ps->devices, ps->req ? ps->req->jobs : 1, ps->opt->threads, &s.slots, &s.per_device, &s.threads);
    if (s.slots > MAX_WORKERS) s.slots = MAX_WORKERS;
    s.in_process = s.slots == 1;
    for (int d = 0; d < ps->devices.n; d++) s.alive[d] = 1;
    s.n_alive = ps->devices.n;
    s.failures = calloc((size_t)ps->n_runs + 1, sizeof *s.failures);
    s.since = calloc((size_t)ps->n_runs + 1, sizeof *s.since);
    s.dev_of = calloc((size_t)ps->n_runs + 1, sizeof *s.dev_of);
    if (!s.failures || !s.since || !s.dev_of) {
        free(s.failures);
        free(s.since);
        free(s.dev_of);
        return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    }
    s.t0 = now_seconds();
    board_init(&s.b, ps->opt->quiet);
    td_status st = loop(&s);
    board_clear(&s.b);
    if (s.lost[0] && !ps->opt->quiet)
        fprintf(stderr,
                "taken out of the pool: %s; the runs they held went on elsewhere (their timing.json records it, and "
                "report.html lists them)\n",
                s.lost);
    for (int i = 0; i < ps->n_runs; i++)
        if (s.failures[i]) json_decref(s.failures[i]);
    free(s.failures);
    free(s.since);
    free(s.dev_of);
    return st;
}
