/* The protocol's progress line: runs done of total, runs under way on each
 * device, elapsed time, time left. On a terminal one line redrawn in place
 * (events print above it); elsewhere a plain line per event. It goes to
 * stderr and into no file. Not a public interface. */
#ifndef TSEDARTS_BOARD_H
#define TSEDARTS_BOARD_H

#include <stddef.h>

typedef struct board {
    int quiet, tty;
    double last_draw;
    int drawn; /* a status line is on the screen */
} board;

typedef struct board_run {
    const char *device;
    char what[64]; /* "darts1 search 2" */
} board_run;

void board_init(board *b, int quiet);
/* An event on its own line, followed by the status (on a terminal the
 * status line is drawn again below it; elsewhere it ends the event's line). */
void board_event(board *b, const char *status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* On a terminal, the status line redrawn (at most 4 times a second unless
 * forced); nothing elsewhere. */
void board_draw(board *b, const char *status, int force);
/* Removes the status line from the terminal. */
void board_clear(board *b);

/* "12/99 runs done | cuda:0: darts1 search 2 | cuda:1: tse select 3 |
 * elapsed 3m12s | left ~5.3 h"; left < 0: not known yet. */
void board_format(char *buf, size_t len, int done, int total, const board_run *under_way, int n, double elapsed,
                  double left);

#endif
