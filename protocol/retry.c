/* A run that failed (failure.json) is tried again when the protocol is run
 * again: a full disk or a killed node is not a verdict on the run. The
 * failed attempt is not deleted: its files move to attempts/<n>/ inside
 * the run directory, where the run's manifest covers them, so the tree
 * shows every failure it went through. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol_internal.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

/* Moves the files of the failed attempt in dir into attempts/<n>/, n one
 * more than any attempt kept there; the run's manifests go (they are
 * written again when the run ends). */
static td_status set_aside(const char *dir)
{
    char attempts[4400], slot[4600], path[4600];
    TD_CHECK(path_format(attempts, sizeof attempts, "%s/attempts", dir));
    int n = 1;
    for (;; n++) {
        TD_CHECK(path_format(slot, sizeof slot, "%s/%d", attempts, n));
        if (!file_exists(slot)) break;
    }
    TD_CHECK(dir_create(slot));
    DIR *d = opendir(dir);
    if (!d) return TD_FAIL(TD_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    td_status s = TD_OK;
    struct dirent *e;
    while (s == TD_OK && (e = readdir(d))) {
        const char *name = e->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "attempts")) continue;
        s = path_format(path, sizeof path, "%s/%s", dir, name);
        if (s != TD_OK) break;
        if (!strcmp(name, "manifest.sha256") || !strcmp(name, "host.sha256")) {
            if (unlink(path) != 0) s = TD_FAIL(TD_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
            continue;
        }
        char to[4800];
        s = path_format(to, sizeof to, "%s/%s", slot, name);
        if (s == TD_OK && rename(path, to) != 0)
            s = TD_FAIL(TD_ERR_IO, "%s: cannot move to %s: %s", path, to, strerror(errno));
    }
    closedir(d);
    return s;
}

td_status protocol_retry_failures(const char *out_dir, int quiet)
{
    char runs[4400];
    TD_CHECK(path_format(runs, sizeof runs, "%s/runs", out_dir));
    DIR *d = opendir(runs);
    if (!d) return TD_OK; /* nothing has run yet */
    td_status s = TD_OK;
    int n = 0;
    struct dirent *e;
    while (s == TD_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dir[4400], failure[4600];
        s = path_format(dir, sizeof dir, "%s/%s", runs, e->d_name);
        if (s == TD_OK) s = path_format(failure, sizeof failure, "%s/failure.json", dir);
        if (s == TD_OK && file_exists(failure)) {
            s = set_aside(dir);
            n++;
        }
    }
    closedir(d);
    if (s == TD_OK && n && !quiet)
        printf("trying %d failed run(s) again; each failed attempt is kept in runs/<hash>/attempts/\n", n);
    return s;
}
