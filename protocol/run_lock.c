/* Which runs are under way, for `protocol status` from another process:
 * the process executing a run holds a read lock on its run directory
 * (an open-file-description lock, which no other close in that process
 * releases), and status asks whether anyone holds one. No file is written:
 * everything in a run directory is hashed. The lock covers one byte far
 * past anything a directory holds, so it meets no other lock on it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "run_internal.h"

#define RUN_LOCK_BYTE ((off_t)1 << 40)

static void lock_range(struct flock *l, short type)
{
    memset(l, 0, sizeof *l);
    l->l_type = type;
    l->l_whence = SEEK_SET;
    l->l_start = RUN_LOCK_BYTE;
    l->l_len = 1;
}

td_status run_lock_take(const char *dir, int *fd)
{
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) return TD_FAIL(TD_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    struct flock l;
    lock_range(&l, F_RDLCK);
    /* a file system without such locks only loses status's "under way" */
    if (fcntl(*fd, F_OFD_SETLK, &l) != 0 && errno != EINVAL && errno != ENOLCK && errno != EOPNOTSUPP &&
        errno != EAGAIN) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return TD_FAIL(TD_ERR_IO, "%s: cannot lock: %s", dir, strerror(e));
    }
    return TD_OK;
}

void run_lock_release(int fd)
{
    if (fd >= 0) close(fd);
}

int run_lock_held(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct flock l;
    lock_range(&l, F_WRLCK);
    int held = fcntl(fd, F_OFD_GETLK, &l) == 0 && l.l_type != F_UNLCK;
    close(fd);
    return held;
}
