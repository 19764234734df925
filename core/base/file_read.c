/* Reading files whose kind and size are checked before a byte is read: a
 * FIFO would block the reader, a device or a sparse giant would fill the
 * memory, and a link inside an audited tree would read outside it. Every
 * whole-file read of the project goes through file_open_regular. */
#define _GNU_SOURCE /* O_NOFOLLOW, O_DIRECTORY, O_CLOEXEC, fdopendir */
#include "tsedarts/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The tree an audit reads (file_confine_reads); NULL when none. */
static char *confined_root;

void file_confine_reads(const char *root)
{
    free(confined_root);
    confined_root = NULL;
    if (!root) return;
    confined_root = strdup(root);
    if (!confined_root) return;
    size_t n = strlen(confined_root);
    while (n > 1 && confined_root[n - 1] == '/') confined_root[--n] = '\0';
}

const char *file_kind_name(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFLNK: return "a symbolic link";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    }
    return "a special file";
}

/* The part of path below the confined root, or NULL when path is not
 * under it (or nothing is confined). */
static const char *below_root(const char *path)
{
    if (!confined_root) return NULL;
    size_t n = strlen(confined_root);
    if (strncmp(path, confined_root, n) || (path[n] != '/' && strcmp(confined_root, "/"))) return NULL;
    const char *rel = path + n;
    while (*rel == '/') rel++;
    return rel;
}

/* Opens path below the confined root one component at a time, never
 * following a symbolic link; last_flags for the last component. */
static td_status open_confined(const char *path, const char *rel, int last_flags, int *out)
{
    int dir = open(confined_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return TD_FAIL(TD_ERR_IO, "%s: cannot open: %s", confined_root, strerror(errno));
    char *copy = strdup(rel);
    if (!copy) {
        close(dir);
        return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    }
    td_status s = TD_OK;
    char *save = NULL, *part = strtok_r(copy, "/", &save);
    if (!part) { /* the root itself */
        *out = dir;
        free(copy);
        return TD_OK;
    }
    while (s == TD_OK && part) {
        char *next = strtok_r(NULL, "/", &save);
        struct stat st;
        if (!strcmp(part, ".")) {
            part = next;
            if (part) continue;
            break;
        }
        if (!strcmp(part, ".."))
            s = TD_FAIL(TD_ERR_CHECK, "%s: leads out of the audited tree %s ('..')", path, confined_root);
        else if (fstatat(dir, part, &st, AT_SYMLINK_NOFOLLOW) != 0)
            s = TD_FAIL(TD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        else if (S_ISLNK(st.st_mode))
            /* never followed, never read: the link's target stays unread */
            s = TD_FAIL(TD_ERR_CHECK, "%s: '%s' is a symbolic link inside the audited tree; not followed", path, part);
        else if (next && !S_ISDIR(st.st_mode))
            s = TD_FAIL(TD_ERR_CHECK, "%s: '%s' is %s, not a directory", path, part, file_kind_name(st.st_mode));
        if (s != TD_OK) break;
        int fd = openat(dir, part, (next ? O_RDONLY | O_DIRECTORY : last_flags) | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            s = errno == ELOOP ? TD_FAIL(TD_ERR_CHECK, "%s: a symbolic link inside the audited tree; not followed", path)
                               : TD_FAIL(TD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
            break;
        }
        close(dir);
        dir = fd;
        part = next;
    }
    free(copy);
    if (s != TD_OK) {
        close(dir);
        return s;
    }
    *out = dir;
    return TD_OK;
}

static td_status open_path(const char *path, int flags, int *fd)
{
    const char *rel = below_root(path);
    if (rel) return open_confined(path, rel, flags, fd);
    *fd = open(path, flags | O_CLOEXEC);
    if (*fd < 0) return TD_FAIL(TD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return TD_OK;
}

td_status file_open_regular(const char *path, int *fd, size_t *size)
{
    /* O_NONBLOCK: opening a FIFO for reading returns at once instead of
     * waiting for a writer; the fstat below then refuses it */
    int f;
    TD_CHECK(open_path(path, O_RDONLY | O_NONBLOCK, &f));
    struct stat st;
    if (fstat(f, &st) != 0) {
        td_status s = TD_FAIL(TD_ERR_IO, "%s: cannot inspect: %s", path, strerror(errno));
        close(f);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return TD_FAIL(TD_ERR_FORMAT, "%s: %s, not a regular file; refused", path, file_kind_name(st.st_mode));
    }
    int fl = fcntl(f, F_GETFL);
    if (fl >= 0) fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    *fd = f;
    if (size) *size = (size_t)st.st_size;
    return TD_OK;
}

td_status file_read_fd(int fd, const char *path, void *buf, size_t len, size_t *got)
{
    size_t n = 0;
    *got = 0;
    while (n < len) {
        ssize_t r = read(fd, (char *)buf + n, len - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return TD_FAIL(TD_ERR_IO, "%s: read error: %s", path, strerror(errno));
        if (r == 0) break;
        n += (size_t)r;
    }
    *got = n;
    return TD_OK;
}

td_status file_read_limited(const char *path, size_t max, char **data, size_t *len)
{
    int fd;
    size_t size;
    TD_CHECK(file_open_regular(path, &fd, &size));
    if (size > max) {
        close(fd);
        return TD_FAIL(TD_ERR_FORMAT, "%s: %zu bytes, more than the %zu this kind of file may hold; not read", path,
                       size, max);
    }
    /* one more byte than the size said: a file that grew since is read
     * up to the bound, never past it */
    char *buf = malloc(max < size + 1 ? max + 1 : size + 2);
    if (!buf) {
        close(fd);
        return TD_FAIL(TD_ERR_MEMORY, "%s: out of memory for %zu bytes", path, size);
    }
    size_t want = max < size + 1 ? max + 1 : size + 1, n = 0;
    td_status s = file_read_fd(fd, path, buf, want, &n);
    close(fd);
    if (s == TD_OK && n > max)
        s = TD_FAIL(TD_ERR_FORMAT, "%s: grew past the %zu bytes this kind of file may hold while read", path, max);
    if (s != TD_OK) {
        free(buf);
        return s;
    }
    buf[n] = '\0';
    *data = buf;
    if (len) *len = n;
    return TD_OK;
}

td_status file_read_all(const char *path, char **data, size_t *len)
{
    return file_read_limited(path, FILE_TEXT_MAX, data, len);
}

DIR *dir_open(const char *path)
{
    const char *rel = below_root(path);
    if (!rel) return opendir(path);
    int fd;
    if (open_confined(path, rel, O_RDONLY | O_DIRECTORY, &fd) != TD_OK) return NULL;
    DIR *d = fdopendir(fd);
    if (!d) close(fd);
    return d;
}
