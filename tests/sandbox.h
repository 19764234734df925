/* Test helpers for files and child programs without a shell: scratch
 * directories made by mkdtemp, trees copied and removed by library calls,
 * programs started with fork and exec. */
#ifndef TSEDARTS_TEST_SANDBOX_H
#define TSEDARTS_TEST_SANDBOX_H

#include <sys/types.h>

#include "tsedarts/status.h"

/* A new directory "$TMPDIR/tsedarts-<tag>-XXXXXX" (malloc'd, never NULL:
 * the process aborts if it cannot be made). Every one is removed when the
 * test process exits, unless TSEDARTS_KEEP_SCRATCH is set. */
char *sandbox_dir(const char *tag);

/* Copies the tree at src to dst (created; must not exist): directories and
 * regular files, byte for byte. */
td_status sandbox_copy_tree(const char *src, const char *dst);

/* Number of entries in dir other than . and .. (fails the test when dir
 * cannot be listed). */
int sandbox_entries(const char *dir);

/* Runs argv (argv[0] a path, or a name looked up in PATH) with stdout and
 * stderr sent to out_path (NULL: discarded). Returns its exit status, or
 * -1 when it could not start or did not exit normally. */
int sandbox_run(const char *const *argv, const char *out_path);

/* Starts argv (stdout and stderr discarded) with the hold hook armed
 * (runtime.h, test_hold_point): TSEDARTS_TEST_HOLD_FILE=hold_file,
 * TSEDARTS_TEST_HOLD_AFTER=after. Returns its pid once it holds: it has
 * run `after` units (steps) and waits there, so a signal sent now finds
 * it mid-run, however busy the machine. Fails the test if the program
 * ends first. hold_file must not exist. */
pid_t sandbox_start_held(const char *const *argv, long after, const char *hold_file);

/* A Python that imports torch (Debian's python3-torch), or NULL. */
const char *sandbox_python_with_torch(void);

/* For the tests against PyTorch: a Python with torch; where there is none
 * the calling test is skipped (not run), or, with TSEDARTS_REQUIRE_ORACLE=1
 * in the environment (CI sets it), fails, so the one check against an
 * independent implementation cannot drop out unnoticed. */
const char *sandbox_oracle_python(void);

/* For the figure tests: the Python with matplotlib (figures_python()) and
 * Graphviz's dot both run; where either does not, the calling test is
 * skipped (not run), or, with TSEDARTS_REQUIRE_PLOTS=1 (CI sets it),
 * fails, so the figures cannot drop out of CI unnoticed. */
void sandbox_require_plots(void);

#endif
