/* One writer per directory: an exclusive lock (file_lock.h) on
 * <dir>/.tsedarts-lock, which also names its holder. The kernel drops the
 * lock when its holder dies, however it dies, so a lock left by a dead
 * process is taken over by the next writer; the file is removed (while
 * still locked) when the holder lets go, so a finished directory holds no
 * lock. */
#include "tsedarts/dir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsedarts/file_lock.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

/* Who holds the lock, as its file says ("" when it cannot be read). */
static void holder_of(int fd, char *buf, size_t len)
{
    ssize_t n = pread(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

static void describe_self(const char *what, char *buf, size_t len)
{
    char host[256] = "?", when[32] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, len, "process %ld on %s since %s (%s)\n", (long)getpid(), host, when, what);
}

td_status dir_lock_take(const char *dir, const char *what, dir_lock *l)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    struct stat st;
    l->made_dir = stat(dir, &st) != 0;
    TD_CHECK(dir_create(dir));
    TD_CHECK(path_format(l->path, sizeof l->path, "%s/%s", dir, DIR_LOCK_NAME));
    /* a holder that lets go removes the file: a lock taken on the file it
     * removed would guard nothing, so the file locked must still be the
     * one at the path */
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) return TD_FAIL(TD_ERR_IO, "%s: cannot create the writer's lock: %s", l->path, strerror(errno));
        file_lock_state got = file_lock_take(fd);
        if (got == FILE_LOCK_ERROR) {
            td_status s = TD_FAIL(TD_ERR_IO, "%s: cannot lock: %s", l->path, strerror(errno));
            close(fd);
            return s;
        }
        if (got == FILE_LOCK_HELD) {
            char holder[512];
            holder_of(fd, holder, sizeof holder);
            close(fd);
            return TD_FAIL(TD_ERR_STATE,
                           "%s is being written by %s; one writer per directory: wait until it ends, or stop it "
                           "(its lock: %s)",
                           dir, holder[0] ? holder : "another process", l->path);
        }
        struct stat held, now;
        if (fstat(fd, &held) == 0 && lstat(l->path, &now) == 0 && held.st_ino == now.st_ino &&
            held.st_dev == now.st_dev) {
            char me[512];
            describe_self(what, me, sizeof me);
            size_t n = strlen(me);
            if (ftruncate(fd, 0) != 0 || pwrite(fd, me, n, 0) != (ssize_t)n) {
                td_status s = TD_FAIL(TD_ERR_IO, "%s: cannot write the writer's lock: %s", l->path, strerror(errno));
                close(fd);
                return s;
            }
            l->fd = fd;
            return TD_OK;
        }
        close(fd); /* its holder removed it meanwhile: try the new one */
    }
    return TD_FAIL(TD_ERR_STATE, "%s: the writer's lock keeps changing hands; try again", l->path);
}

td_status dir_lock_check_free(const char *dir, const char *what)
{
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/%s", dir, DIR_LOCK_NAME));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return TD_OK; /* no lock file: nobody holds it */
    td_status s = TD_OK;
    file_lock_state st = file_lock_test(fd);
    if (st == FILE_LOCK_ERROR) s = TD_FAIL(TD_ERR_IO, "%s: cannot test the lock: %s", path, strerror(errno));
    if (st == FILE_LOCK_HELD) {
        char holder[512];
        holder_of(fd, holder, sizeof holder);
        s = TD_FAIL(TD_ERR_STATE, "%s is being written by %s; %s does not write it meanwhile: wait until it ends, or stop it "
                    "(its lock: %s)",
                    dir, holder[0] ? holder : "another process", what, path);
    }
    close(fd);
    return s;
}

void dir_lock_release(dir_lock *l)
{
    if (l->fd < 0) return;
    unlink(l->path); /* while still held: nobody can lock the removed file in between */
    close(l->fd);
    l->fd = -1;
    if (l->made_dir) {
        /* a run refused before it wrote anything leaves no empty directory */
        char dir[sizeof l->path];
        snprintf(dir, sizeof dir, "%s", l->path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        rmdir(dir);
    }
}
