/* tsedarts verify DIR [--root-hash H] | verify --replay RUN_DIR */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/verify.h"

/* A path that cannot be what the command audits is a usage error (exit 2),
 * told apart from an audit that fails (exit 1). */
static int not_auditable(const char *dir, const char *const *marks, int n, const char *what)
{
    char path[4400];
    if (!file_exists(dir)) {
        fprintf(stderr, "tsedarts: error: verify: %s: no such directory\n", dir);
        return 1;
    }
    for (int i = 0; i < n; i++)
        if (path_format(path, sizeof path, "%s/%s", dir, marks[i]) == TD_OK && file_exists(path)) return 0;
    fprintf(stderr, "tsedarts: error: verify: %s is not %s (it has no %s)\n", dir, what, marks[0]);
    return 1;
}

static const opt_spec specs[] = {
    {"root-hash", 1, "the published root hash to compare with"},
    {"replay", 1, "re-execute the first epoch of this run directory and compare"},
    {"device", 1, "with --replay: the device to replay on (default: the one the run records; one that is not like it is refused)"},
    {"help", 0, "show this help"},
};

int cmd_verify(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "verify", specs, 4, argc, argv);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (args_has(&a, "help") || (a.n_pos != 1 && !args_has(&a, "replay"))) {
        args_usage("verify", "DIR [--root-hash HASH] | --replay RUN_DIR [--device NAME]", specs, 4);
        return args_has(&a, "help") ? 0 : 2;
    }
    if (args_has(&a, "device") && !args_has(&a, "replay")) {
        fprintf(stderr, "tsedarts: error: verify: --device is for --replay; an audit runs no graphs\n");
        return 2;
    }
    if (args_has(&a, "replay")) {
        if (a.n_pos) {
            fprintf(stderr, "tsedarts: error: verify: --replay takes one run directory; unexpected '%s'\n", a.pos[0]);
            return 2;
        }
        static const char *const run_marks[] = {"config.json"};
        if (not_auditable(args_str(&a, "replay", ""), run_marks, 1, "a run directory")) return 2;
        s = verify_replay(args_str(&a, "replay", ""), args_str(&a, "device", NULL), stdout);
        if (s == TD_ERR_UNSUPPORTED) {
            printf("not run: %s\n", td_error_message());
            return 3;
        }
        if (s != TD_OK) {
            printf("FAIL  replay: %s\n", td_error_message());
            return 1;
        }
        return 0;
    }
    static const char *const tree_marks[] = {"plan.json", "MANIFEST.sha256"};
    if (not_auditable(a.pos[0], tree_marks, 2, "a results tree written by `tsedarts protocol`")) return 2;
    verify_summary sum;
    s = verify_tree(a.pos[0], args_str(&a, "root-hash", NULL), stdout, &sum);
    return s == TD_OK ? 0 : 1;
}
