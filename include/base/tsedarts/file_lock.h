/* Whole-file writer locks that can be tested without being taken. A test
 * that took a shared lock, however briefly, would make a writer's attempt
 * at that moment fail as if another writer held the file. */
#ifndef TSEDARTS_FILE_LOCK_H
#define TSEDARTS_FILE_LOCK_H

/* What an attempt or a test found. */
typedef enum file_lock_state {
    FILE_LOCK_FREE,  /* taken (file_lock_take) or free (file_lock_test) */
    FILE_LOCK_HELD,  /* another open file holds it */
    FILE_LOCK_ERROR  /* errno says why */
} file_lock_state;

/* Takes the exclusive lock of fd's file (fd open for writing) without
 * waiting. It belongs to fd's open file: it is shared with fork children
 * and goes with the last descriptor of that open file, whoever closes it,
 * and when its holder dies. */
file_lock_state file_lock_take(int fd);

/* Whether another open file holds the lock of fd's file (fd may be
 * read-only); takes nothing. */
file_lock_state file_lock_test(int fd);

#endif
