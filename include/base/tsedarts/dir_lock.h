/* One writer per directory (a results tree, a run directory): a second
 * writer is refused with a message naming the holder, and a lock whose
 * holder died is taken over. */
#ifndef TSEDARTS_DIR_LOCK_H
#define TSEDARTS_DIR_LOCK_H

#include "tsedarts/status.h"

/* The lock's file, in the directory while a writer holds it (or after one
 * died); manifests leave it out. */
#define DIR_LOCK_NAME ".tsedarts-lock"

typedef struct dir_lock {
    int fd; /* -1 when not held */
    int made_dir;
    char path[4400];
} dir_lock;

/* Creates dir if needed and takes its lock; `what` says what the holder
 * does ("tsedarts search"), for the message another writer gets.
 * TD_ERR_STATE, naming the holder, when a live process holds it. Child
 * processes (fork) share the lock until the last of them exits. */
td_status dir_lock_take(const char *dir, const char *what, dir_lock *l);
/* TD_OK when no live process holds dir's lock (or dir has none), without
 * taking it; otherwise TD_ERR_STATE naming the holder and saying that
 * `what` ("a Slurm job") waits for it. For writers that share a directory
 * with each other but not with its one-writer holder. */
td_status dir_lock_check_free(const char *dir, const char *what);
/* Removes the lock file and lets go; an empty directory that the lock
 * created goes too. Safe on a lock not held. */
void dir_lock_release(dir_lock *l);

#endif
