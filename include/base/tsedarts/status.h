/* Status codes, error messages and check macros shared by every module. */
#ifndef TSEDARTS_STATUS_H
#define TSEDARTS_STATUS_H

#include <stdio.h>

typedef enum td_status {
    TD_OK = 0,
    TD_ERR_ARG,         /* bad argument or option */
    TD_ERR_IO,          /* a file could not be read or written */
    TD_ERR_FORMAT,      /* a file or text has the wrong format */
    TD_ERR_MEMORY,      /* allocation failed */
    TD_ERR_STATE,       /* operation not valid in the current state */
    TD_ERR_BACKEND,     /* a backend (CUDA, cuDNN, ...) call failed */
    TD_ERR_UNSUPPORTED, /* valid request this build cannot serve */
    TD_ERR_INTERRUPTED, /* stopped by a signal; state was saved */
    TD_ERR_CHECK        /* an integrity or verification check failed */
} td_status;

const char *td_status_name(td_status s);

/* Records a formatted message for the calling thread and returns `code`, so
 * that an error can be raised and returned in one statement. */
td_status td_error_at(td_status code, const char *file, int line,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The last message recorded on this thread ("" if none). */
const char *td_error_message(void);
void td_error_clear(void);

/* Prints "tsedarts: error: <message>" to stderr. */
void td_error_print(td_status s);

/* Aborts with a message: only for broken internal invariants. */
void td_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define TD_FAIL(code, ...) td_error_at((code), __FILE__, __LINE__, __VA_ARGS__)

#define TD_CHECK(expr)                           \
    do {                                         \
        td_status td_s_ = (expr);                \
        if (td_s_ != TD_OK) return td_s_;        \
    } while (0)

#define TD_ASSERT(cond, ...)                                   \
    do {                                                       \
        if (!(cond)) td_fatal(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#endif
