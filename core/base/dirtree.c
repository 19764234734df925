/* Scratch directories: made with mkdtemp, removed with library calls
 * (no shell), on the success path and the failure paths alike. */
#include "tsedarts/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsedarts/path.h"

td_status dir_make_temp(const char *tag, char **path)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *p = malloc(n);
    if (!p) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    td_status s = path_format(p, n, "%s/tsedarts-%s-XXXXXX", base, tag);
    if (s == TD_OK && !mkdtemp(p))
        s = TD_FAIL(TD_ERR_IO, "%s: cannot create a scratch directory: %s", p, strerror(errno));
    if (s != TD_OK) {
        free(p);
        return s;
    }
    *path = p;
    return TD_OK;
}

td_status dir_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return TD_OK;
        return TD_FAIL(TD_ERR_IO, "%s: cannot inspect: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) { /* a file, or a link (lstat: never its target) */
        if (unlink(path) != 0) return TD_FAIL(TD_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
        return TD_OK;
    }
    DIR *d = opendir(path);
    if (!d) return TD_FAIL(TD_ERR_IO, "%s: cannot list: %s", path, strerror(errno));
    td_status s = TD_OK;
    struct dirent *e;
    while (s == TD_OK && (e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]))) continue;
        char *child = path_join(path, n);
        s = child ? dir_remove_tree(child) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
        free(child);
    }
    closedir(d);
    if (s == TD_OK && rmdir(path) != 0)
        s = TD_FAIL(TD_ERR_IO, "%s: cannot remove the directory: %s", path, strerror(errno));
    return s;
}
