#include "tsedarts/path.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

td_status path_format(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0) return TD_FAIL(TD_ERR_ARG, "cannot format a path from '%s'", fmt);
    if ((size_t)n >= len)
        return TD_FAIL(TD_ERR_ARG, "path too long (%d bytes, at most %zu): %s...", n, len ? len - 1 : 0,
                       len ? buf : "");
    return TD_OK;
}

char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}
