/* Whether a results tree is finished and as its last report left it: the
 * same plan, every run done and none failed, each run's files as its
 * manifests list them, and the root manifests as they would be written
 * again. Such a tree is left alone by `protocol run` (it only reads, so a
 * read-only tree passes); `protocol report` is the way to rewrite its
 * report and figures. */
#include <stdlib.h>
#include <string.h>

#include "protocol_internal.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

td_status protocol_tree_finished(const protocol_request *req, const char *out_dir, char root_hash[SHA256_HEX_LEN],
                                 int *finished)
{
    *finished = 0;
    char path[4400], *plan = NULL, *have = NULL;
    TD_CHECK(path_format(path, sizeof path, "%s/plan.json", out_dir));
    if (!file_exists(path)) return TD_OK;
    td_status s = protocol_plan_json(req, &plan);
    /* a different plan is refused by the run itself, with its message */
    int same = s == TD_OK && file_read_all(path, &have, NULL) == TD_OK && !strcmp(have, plan);
    free(plan);
    free(have);
    if (s != TD_OK || !same) return s;
    protocol_run_info *runs = NULL;
    int n = 0;
    /* anything unreadable or unfinished: not finished; the run says why */
    if (protocol_tree_runs(out_dir, &runs, &n) != TD_OK) return TD_OK;
    int all = 1;
    for (int i = 0; all && i < n; i++) {
        char dir[4400];
        all = runs[i].done && !runs[i].failed && runs[i].hash[0] &&
              path_format(dir, sizeof dir, "%s/runs/%s", out_dir, runs[i].hash) == TD_OK && manifest_check(dir) == TD_OK;
    }
    free(runs);
    if (all && manifest_check_root(out_dir, root_hash) == TD_OK) *finished = 1;
    td_error_clear();
    return TD_OK;
}
