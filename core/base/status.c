#include "tsedarts/status.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_message[1024];

const char *td_status_name(td_status s)
{
    switch (s) {
    case TD_OK: return "ok";
    case TD_ERR_ARG: return "bad argument";
    case TD_ERR_IO: return "i/o error";
    case TD_ERR_FORMAT: return "format error";
    case TD_ERR_MEMORY: return "out of memory";
    case TD_ERR_STATE: return "invalid state";
    case TD_ERR_BACKEND: return "backend error";
    case TD_ERR_UNSUPPORTED: return "unsupported";
    case TD_ERR_INTERRUPTED: return "interrupted";
    case TD_ERR_CHECK: return "check failed";
    }
    return "unknown status";
}

td_status td_error_at(td_status code, const char *file, int line,
                      const char *fmt, ...)
{
    (void)file;
    (void)line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return code;
}

const char *td_error_message(void) { return last_message; }

void td_error_clear(void) { last_message[0] = '\0'; }

void td_error_print(td_status s)
{
    if (last_message[0])
        fprintf(stderr, "tsedarts: error: %s\n", last_message);
    else
        fprintf(stderr, "tsedarts: error: %s\n", td_status_name(s));
}

void td_fatal(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "tsedarts: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
