/* What long runs share: stop requests (SIGINT/SIGTERM), progress on a
 * terminal, the environment fingerprint, hash-chained JSON-lines logs. */
#ifndef TSEDARTS_RUNTIME_H
#define TSEDARTS_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "tsedarts/hash.h"
#include "tsedarts/status.h"

/* Installs handlers: the first SIGINT/SIGTERM asks the run to stop at the
 * next safe point (after a checkpoint); a second one exits at once. */
void stop_install_handlers(void);
int stop_requested(void);
void stop_request(void); /* for tests and for --stop-after */
/* The exit status of a run that stopped as asked: 128 + the signal that
 * asked (130 for SIGINT, 143 for SIGTERM), as a shell reports a process
 * the signal ended; 130 when --stop-after asked. */
int stop_exit_status(void);

double now_seconds(void); /* monotonic */

/* A test hook that makes the tests which stop or kill a run deterministic
 * (a run that might finish before the signal lands makes them depend on
 * the machine's load). With TSEDARTS_TEST_HOLD_FILE set, the first
 * process whose run reaches a hold point having done
 * TSEDARTS_TEST_HOLD_AFTER units of work (steps; default 0, before the
 * first) claims that file, writes "<pid> <run_dir>\n" into it (the file
 * appears whole, by a link) and waits there until it is asked to stop
 * (SIGINT, SIGTERM) or killed. Any other process, or the same one later,
 * passes. Without the variable it does nothing. Search and training
 * loops call it at every unit boundary, before the stop check. */
void test_hold_point(long units_done, const char *run_dir);

typedef struct progress {
    int tty;
    double start, last_print;
    double done, total; /* work units for the ETA */
    double rate;        /* units per second */
} progress;

void progress_init(progress *p, double total_units, double already_done);
/* Redraws one status line on a terminal at most 4 times a second. */
void progress_update(progress *p, double done_units, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Whether progress_update would print now: figures that cost a wait for
 * the device are read only then. */
int progress_due(const progress *p);
void progress_line(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void format_duration(double seconds, char *buf, int len);

/* What a long run tells an observer as it goes (search and train options
 * `tick`): a unit of training done, an evaluation done (an epoch's, or the
 * final one), an epoch ended (its record and checkpoint written). The
 * protocol times a few of them to estimate what a whole run costs, and
 * redraws its progress line on them. */
typedef enum run_tick { RUN_TICK_UNIT = 0, RUN_TICK_EVAL, RUN_TICK_EPOCH } run_tick;
typedef void (*run_tick_fn)(void *ctx, run_tick what);

/* Whether environment variable name asks for something: set, and neither
 * empty nor "0". */
int env_flag(const char *name);

/* A JSON object (as text) describing build, machine and libraries, and
 * the switches of the environment that change how a run executes but not
 * its bits ("switches": TSEDARTS_SYNC_EACH_NODE, TSEDARTS_NO_GRAPHS and
 * TSEDARTS_NVTX, each true or false; TSEDARTS_BATCH,
 * TSEDARTS_BATCH_WINDOW and TSEDARTS_DEVICE_STEP, each its value or null),
 * since they change its speed. */
char *fingerprint_json(int threads, const char *device_json);

/* Hash-chained JSON lines: each record gets "prev" = SHA-256 of the
 * previous line (CHAIN_LOG_FIRST_PREV, 64 zeros, for the first). */
#define CHAIN_LOG_FIRST_PREV "0000000000000000000000000000000000000000000000000000000000000000"
typedef struct chain_log {
    char path[4608];
    char prev[SHA256_HEX_LEN];
} chain_log;

/* Opens (creating if needed) and reads the last line's hash. */
td_status chain_log_open(chain_log *l, const char *path);
/* record_json: a JSON object without "prev"; appended with fsync. */
td_status chain_log_append(chain_log *l, const char *record_json);
/* Verifies the whole chain; returns TD_ERR_CHECK naming the first bad line. */
td_status chain_log_verify(const char *path, int *lines);
/* The same over the first `bytes` bytes only (CHAIN_LOG_WHOLE: all; a
 * shorter file is TD_ERR_CHECK; the prefix must end at a line's end).
 * *lines: the records read; head (may be NULL): the hash of the last one,
 * which the next record's "prev" would carry. */
#define CHAIN_LOG_WHOLE ((size_t)-1)
td_status chain_log_verify_prefix(const char *path, size_t bytes, int *lines, char head[SHA256_HEX_LEN]);

#endif
