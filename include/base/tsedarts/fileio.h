/* Files that survive crashes: atomic replacement (temp file, fsync,
 * rename, fsync of the directory) and directory creation. */
#ifndef TSEDARTS_FILEIO_H
#define TSEDARTS_FILEIO_H

#include <stddef.h>

#include "tsedarts/status.h"

/* Writes n parts (data[i], len[i]) to path atomically: readers see the old
 * file or the whole new one, never a mixture, even after a power loss. */
td_status file_write_atomic(const char *path, int n, const void *const *data, const size_t *len);
td_status file_write_text_atomic(const char *path, const char *text);

/* Reads a whole file into a malloc'd buffer (NUL-terminated). */
td_status file_read_all(const char *path, char **data, size_t *len);

/* mkdir -p. */
td_status dir_create(const char *path);

/* A new private (0700) directory "<$TMPDIR, else /tmp>/tsedarts-<tag>-XXXXXX"
 * made by mkdtemp, so no other process or earlier run can own it; *path is
 * malloc'd (the caller frees it). */
td_status dir_make_temp(const char *tag, char **path);

/* Removes path and everything below it. Symbolic links are removed, never
 * followed, so a link inside the tree cannot lead the removal outside it.
 * Stops at the first entry it cannot remove and names it. */
td_status dir_remove_tree(const char *path);

/* Every regular file under dir, at any depth, dot files included, as
 * paths relative to dir ("a/b.json"), sorted by strcmp; *names is
 * malloc'd (dir_list_free). A symbolic link or special file anywhere
 * below is an error (TD_ERR_CHECK) that names it. */
td_status dir_list_files(const char *dir, char ***names, int *n);
void dir_list_free(char **names, int n);

int file_exists(const char *path);

/* Removes the temporary files an interrupted atomic write left in dir
 * ("<name>.tmp.<pid>"); returns how many. */
int dir_remove_stale_temps(const char *dir);

/* Appends one line (text + '\n') and fsyncs, for JSON-lines logs. */
td_status file_append_line(const char *path, const char *text);

/* Cuts a file to len bytes (used to drop log lines written after the
 * checkpoint a run resumes from). */
td_status file_truncate(const char *path, size_t len);

#endif
