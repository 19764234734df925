#include "tsedarts/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsedarts/path.h"

static td_status write_all(int fd, const void *data, size_t len, const char *path)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return TD_FAIL(TD_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return TD_OK;
}

static void fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

td_status file_write_atomic(const char *path, int n, const void *const *data, const size_t *len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        td_status s = TD_FAIL(TD_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    td_status s = TD_OK;
    for (int i = 0; i < n && s == TD_OK; i++) s = write_all(fd, data[i], len[i], tmp);
    if (s == TD_OK && fsync(fd) != 0) s = TD_FAIL(TD_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == TD_OK) s = TD_FAIL(TD_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (s == TD_OK && rename(tmp, path) != 0)
        s = TD_FAIL(TD_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (s != TD_OK)
        unlink(tmp);
    else
        fsync_dir_of(path);
    free(tmp);
    return s;
}

td_status file_write_text_atomic(const char *path, const char *text)
{
    const void *d[1] = {text};
    size_t l[1] = {strlen(text)};
    return file_write_atomic(path, 1, d, l);
}

td_status dir_create(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    for (char *p = copy + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
                td_status s = TD_FAIL(TD_ERR_IO, "%s: cannot create directory: %s", copy, strerror(errno));
                free(copy);
                return s;
            }
            *p = c;
            if (c == '\0') break;
        }
    }
    free(copy);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return TD_FAIL(TD_ERR_IO, "%s: not a directory", path);
    return TD_OK;
}

int dir_remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t || !t[5]) continue;
        int digits = 1;
        for (const char *c = t + 5; *c; c++) digits &= *c >= '0' && *c <= '9';
        if (!digits) continue;
        char *path = path_join(dir, e->d_name);
        n += path && unlink(path) == 0;
        free(path);
    }
    closedir(d);
    return n;
}

int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

td_status file_append_line(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return TD_FAIL(TD_ERR_IO, "%s: cannot open for appending: %s", path, strerror(errno));
    td_status s = write_all(fd, text, strlen(text), path);
    if (s == TD_OK) s = write_all(fd, "\n", 1, path);
    if (s == TD_OK && fsync(fd) != 0) s = TD_FAIL(TD_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    close(fd);
    return s;
}

td_status file_truncate(const char *path, size_t len)
{
    if (truncate(path, (off_t)len) != 0) return TD_FAIL(TD_ERR_IO, "%s: cannot truncate: %s", path, strerror(errno));
    return TD_OK;
}
