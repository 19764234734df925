/* Files that survive crashes: atomic replacement (temp file, fsync,
 * rename, fsync of the directory) and directory creation. */
#ifndef TSEDARTS_FILEIO_H
#define TSEDARTS_FILEIO_H

#include <dirent.h>
#include <stddef.h>

#include "tsedarts/status.h"

/* Writes n parts (data[i], len[i]) to path atomically: readers see the old
 * file or the whole new one, never a mixture, even after a power loss. */
td_status file_write_atomic(const char *path, int n, const void *const *data, const size_t *len);
td_status file_write_text_atomic(const char *path, const char *text);

/* Reading (file_read.c). Every reader opens through file_open_regular:
 * without blocking (a FIFO is refused, not waited on), and only a regular
 * file; a device, directory or socket is refused with a message naming
 * its kind. */
td_status file_open_regular(const char *path, int *fd, size_t *size);
/* Reads up to len bytes from fd (fewer only at the end of the file). */
td_status file_read_fd(int fd, const char *path, void *buf, size_t len, size_t *got);

/* The bound of a whole-file read of text: configs, plans, logs, manifests,
 * reports (a results tree's largest, report.html with its figures, holds a
 * few MB). Formats with a smaller natural bound ask for theirs. */
#define FILE_TEXT_MAX ((size_t)256 << 20)

/* Reads a whole file into a malloc'd buffer (NUL-terminated); a file
 * over max bytes is refused before any of it is read. */
td_status file_read_limited(const char *path, size_t max, char **data, size_t *len);
/* file_read_limited with FILE_TEXT_MAX. */
td_status file_read_all(const char *path, char **data, size_t *len);

/* While an audit reads a tree: every read (file_open_regular, dir_open)
 * of a path under root walks it one component at a time and refuses a
 * symbolic link at any depth below root, or a '..', before opening
 * anything through it. NULL ends the confinement. Paths outside root
 * (the data sets, the genotype directory) are read as usual. */
void file_confine_reads(const char *root);
/* opendir, confined as above. */
DIR *dir_open(const char *path);
/* "a FIFO", "a character device", ... for an st_mode. */
const char *file_kind_name(unsigned mode);

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
