/* Paths built from parts without silent truncation: a path that does not
 * fit its buffer is an error that names it, never a shorter path that
 * opens (or removes) some other file. */
#ifndef TSEDARTS_PATH_H
#define TSEDARTS_PATH_H

#include <stddef.h>

#include "tsedarts/status.h"

/* Formats a path into buf (len bytes). TD_ERR_ARG "path too long" when the
 * result would not fit; buf then holds a cut-off copy for messages only. */
td_status path_format(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "dir/name" in a malloc'd string (the caller frees it); NULL only when
 * memory runs out. For callers that cannot return a status. */
char *path_join(const char *dir, const char *name);

#endif
