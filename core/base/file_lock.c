/* file_lock.h: open-file-description locks (fcntl F_OFD_SETLK and
 * F_OFD_GETLK, Linux 3.15 on, and NFS), whose test takes nothing. Where
 * the kernel lacks them (EINVAL), flock, and a test that takes a shared
 * flock for a moment: the one race left there is a writer refused while
 * a test runs. */
#define _GNU_SOURCE /* F_OFD_* */
#include "tsedarts/file_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>

static struct flock whole_file(short type)
{
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = type;
    l.l_whence = SEEK_SET; /* l_start 0, l_len 0: the whole file, however long */
    return l;
}

static int busy(int e) { return e == EAGAIN || e == EACCES || e == EWOULDBLOCK; }

file_lock_state file_lock_take(int fd)
{
    struct flock l = whole_file(F_WRLCK);
    if (fcntl(fd, F_OFD_SETLK, &l) == 0) return FILE_LOCK_FREE;
    if (errno != EINVAL) return busy(errno) ? FILE_LOCK_HELD : FILE_LOCK_ERROR;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return FILE_LOCK_FREE;
    return busy(errno) ? FILE_LOCK_HELD : FILE_LOCK_ERROR;
}

file_lock_state file_lock_test(int fd)
{
    struct flock l = whole_file(F_WRLCK);
    if (fcntl(fd, F_OFD_GETLK, &l) == 0) return l.l_type == F_UNLCK ? FILE_LOCK_FREE : FILE_LOCK_HELD;
    if (errno != EINVAL) return FILE_LOCK_ERROR;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) return busy(errno) ? FILE_LOCK_HELD : FILE_LOCK_ERROR;
    flock(fd, LOCK_UN);
    return FILE_LOCK_FREE;
}
