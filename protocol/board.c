/* The progress line (board.h). */
#include "board.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tsedarts/protocol_estimate.h"
#include "tsedarts/runtime.h"

void board_init(board *b, int quiet)
{
    memset(b, 0, sizeof *b);
    b->quiet = quiet;
    b->tty = isatty(STDERR_FILENO);
}

/* A redrawn line must not wrap, or \r returns to its last part only. */
static int width(void)
{
    struct winsize w;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 20) return w.ws_col - 1;
    return 159;
}

void board_draw(board *b, const char *status, int force)
{
    if (b->quiet || !b->tty) return;
    double t = now_seconds();
    if (!force && t - b->last_draw < 0.25) return;
    b->last_draw = t;
    int w = width(), n = (int)strlen(status);
    if (n > w) fprintf(stderr, "\r\033[K%.*s...", w - 3, status);
    else fprintf(stderr, "\r\033[K%s", status);
    fflush(stderr);
    b->drawn = 1;
}

void board_clear(board *b)
{
    if (b->drawn) fprintf(stderr, "\r\033[K");
    fflush(stderr);
    b->drawn = 0;
}

void board_event(board *b, const char *status, const char *fmt, ...)
{
    if (b->quiet) return;
    if (b->tty) fprintf(stderr, "\r\033[K");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (b->tty) {
        fputc('\n', stderr);
        b->drawn = 0;
        board_draw(b, status, 1);
    } else {
        fprintf(stderr, " | %s\n", status);
        fflush(stderr);
    }
}

void board_format(char *buf, size_t len, int done, int total, const board_run *u, int n, double elapsed, double left)
{
    size_t at = 0;
#define PUT(...)                                                                 \
    do {                                                                         \
        if (at < len) at += (size_t)snprintf(buf + at, len - at, __VA_ARGS__); \
    } while (0)
    PUT("%d/%d runs done", done, total);
    /* under way, grouped by device in the order first met */
    for (int i = 0; i < n; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++) first = strcmp(u[j].device, u[i].device) != 0;
        if (!first) continue;
        PUT(" | %s: %s", u[i].device, u[i].what);
        for (int j = i + 1; j < n; j++)
            if (!strcmp(u[j].device, u[i].device)) PUT(", %s", u[j].what);
    }
    char e[32], l[32];
    format_duration(elapsed, e, sizeof e);
    PUT(" | elapsed %s", e);
    if (left >= 0) {
        protocol_format_span(left, l, sizeof l);
        PUT(" | left ~%s", l);
    } else {
        PUT(" | left: not known yet");
    }
#undef PUT
}
