/* <out>/slurm/: submissions.jsonl, one hash-chained JSON record per sbatch
 * or scancel (job ID, UTC time, the exact command), and its sha256sum
 * manifest, rewritten after every record. The root hash does not cover
 * it: the same results reached through another executor keep the same
 * root hash; verify checks this directory on its own. logs/ (job output)
 * and locks/ are not hashed: they change while jobs run. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slurm_records.h"
#include "tsedarts/file_lock.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

td_status slurm_dirs(const char *out_dir)
{
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/slurm/logs", out_dir));
    TD_CHECK(dir_create(path));
    TD_CHECK(path_format(path, sizeof path, "%s/slurm/locks", out_dir));
    return dir_create(path);
}

td_status slurm_lock(const char *out_dir, const char *name, int *fd)
{
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/slurm/locks/%s.lock", out_dir, name));
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) return TD_FAIL(TD_ERR_IO, "%s: cannot open the lock", path);
    file_lock_state got = file_lock_take(*fd);
    if (got != FILE_LOCK_FREE) {
        td_status s = got == FILE_LOCK_HELD ? TD_FAIL(TD_ERR_STATE, "%s is held by another process", path)
                                            : TD_FAIL(TD_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
        close(*fd);
        *fd = -1;
        return s;
    }
    return TD_OK;
}

void slurm_unlock(int fd)
{
    if (fd >= 0) close(fd); /* closing drops the lock */
}

td_status slurm_locks_idle(const char *out_dir)
{
    char dir[4400], path[4700];
    TD_CHECK(path_format(dir, sizeof dir, "%s/slurm/locks", out_dir));
    DIR *d = opendir(dir);
    if (!d) return TD_OK; /* never run under Slurm */
    td_status s = TD_OK;
    struct dirent *e;
    while (s == TD_OK && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".lock") != 0) continue;
        if (path_format(path, sizeof path, "%s/%s", dir, e->d_name) != TD_OK) continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) continue;
        file_lock_state st = file_lock_test(fd);
        if (st == FILE_LOCK_ERROR) s = TD_FAIL(TD_ERR_IO, "%s: cannot test the lock: %s", path, strerror(errno));
        if (st == FILE_LOCK_HELD)
            s = TD_FAIL(TD_ERR_STATE,
                        "%s: a Slurm job or submission is writing this tree (%s is held); a local protocol run does not "
                        "write it meanwhile: wait for the jobs (tsedarts protocol status) or cancel them (tsedarts "
                        "protocol cancel)",
                        out_dir, path);
        close(fd);
    }
    closedir(d);
    return s;
}

void slurm_utc_now(char buf[32])
{
    /* a record of when, for people; it is never part of a run's bits */
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* SHA-256 of the last line of the log, or 64 zeros for an empty one. */
static td_status last_line_hash(const char *path, char prev[SHA256_HEX_LEN])
{
    memset(prev, '0', 64);
    prev[64] = '\0';
    if (!file_exists(path)) return TD_OK;
    char *text;
    size_t len;
    TD_CHECK(file_read_all(path, &text, &len));
    if (len && text[len - 1] == '\n') {
        size_t start = len - 1;
        while (start > 0 && text[start - 1] != '\n') start--;
        sha256_buffer(text + start, len - 1 - start, prev);
    }
    free(text);
    return TD_OK;
}

td_status slurm_record(const char *out_dir, json_t *rec)
{
    char path[4400], dir[4400], prev[SHA256_HEX_LEN], when[32];
    TD_CHECK(path_format(dir, sizeof dir, "%s/slurm", out_dir));
    TD_CHECK(path_format(path, sizeof path, "%s/submissions.jsonl", dir));
    TD_CHECK(last_line_hash(path, prev));
    slurm_utc_now(when);
    json_t *line = json_object();
    json_object_set_new(line, "prev", json_string(prev));
    json_object_set_new(line, "time", json_string(when));
    json_object_update(line, rec);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!text) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    td_status s = file_append_line(path, text);
    free(text);
    char *listed[] = {"submissions.jsonl"};
    if (s == TD_OK) s = manifest_write_listed(dir, listed, 1);
    return s;
}
