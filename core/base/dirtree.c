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

typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static td_status name_list_add(name_list *l, const char *name)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    l->n++;
    return TD_OK;
}

/* rel: the path of dir relative to the walk's root ("" at the root). */
static td_status walk(const char *root, const char *rel, name_list *l)
{
    char *dir = *rel ? path_join(root, rel) : strdup(root);
    if (!dir) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    DIR *d = dir_open(dir);
    td_status s = d ? TD_OK : TD_FAIL(TD_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    struct dirent *e;
    while (s == TD_OK && (e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]))) continue;
        char *child_rel = *rel ? path_join(rel, n) : strdup(n);
        char *child = child_rel ? path_join(root, child_rel) : NULL;
        struct stat st;
        if (!child) s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
        else if (lstat(child, &st) != 0) s = TD_FAIL(TD_ERR_IO, "%s: cannot inspect: %s", child, strerror(errno));
        else if (S_ISDIR(st.st_mode)) s = walk(root, child_rel, l);
        else if (S_ISREG(st.st_mode)) s = name_list_add(l, child_rel);
        else
            /* a link could make a hash stand for a file outside the tree */
            s = TD_FAIL(TD_ERR_CHECK, "%s: a link or special file, which a results tree does not hold", child);
        free(child);
        free(child_rel);
    }
    if (d) closedir(d);
    free(dir);
    return s;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

td_status dir_list_files(const char *dir, char ***names, int *n)
{
    name_list l = {0};
    td_status s = walk(dir, "", &l);
    if (s != TD_OK) {
        dir_list_free(l.v, l.n);
        return s;
    }
    if (l.n) qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_names);
    *names = l.v;
    *n = l.n;
    return TD_OK;
}

void dir_list_free(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}
