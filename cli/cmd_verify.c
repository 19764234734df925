/* tsedarts verify DIR [--root-hash H] | verify RUN_DIR
 *   | verify --reevaluate RUN_DIR | verify --replay RUN_DIR [--epochs N|all] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"
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
    {"reevaluate", 1, "recompute this retraining run's test error from its final weights and compare with result.json"},
    {"replay", 1, "re-execute this run directory from its config and compare every record"},
    {"epochs", 1, "with --replay: how many epochs to replay (default 1), or 'all' (also compares the final files)"},
    {"device", 1, "with --replay or --reevaluate: the device to run on (default: the one the run records; one that "
                  "is not like it is refused)"},
    {"help", 0, "show this help"},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

static const char synopsis[] =
    "DIR [--root-hash HASH] | RUN_DIR | --reevaluate RUN_DIR [--device NAME] | --replay RUN_DIR [--epochs N|all] "
    "[--device NAME]";

/* Exit status of a re-execution: 0 passed, 1 failed, 3 not run here,
 * 128 + signal when stopped. */
static int reexecuted(td_status s, const char *what)
{
    if (s == TD_OK) return 0;
    if (s == TD_ERR_UNSUPPORTED) {
        printf("not run: %s\n", td_error_message());
        return 3;
    }
    printf("FAIL  %s: %s\n", what, td_error_message());
    return s == TD_ERR_INTERRUPTED ? stop_exit_status() : s == TD_ERR_ARG ? 2 : 1;
}

/* --epochs: a positive count, or "all". */
static int replay_epochs(args *a, int *epochs)
{
    const char *e = args_str(a, "epochs", NULL);
    if (!e) {
        *epochs = 1;
        return 1;
    }
    if (!strcmp(e, "all")) {
        *epochs = VERIFY_REPLAY_ALL;
        return 1;
    }
    char *end;
    long n = strtol(e, &end, 10);
    if (*end || end == e || n < 1 || n > 1000000) {
        fprintf(stderr, "tsedarts: error: verify: --epochs '%s': a positive number of epochs, or 'all'\n", e);
        return 0;
    }
    *epochs = (int)n;
    return 1;
}

int cmd_verify(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "verify", specs, N_SPECS, argc, argv);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    int replay = args_has(&a, "replay"), reevaluate = args_has(&a, "reevaluate");
    if (args_has(&a, "help") || (a.n_pos != 1 && !replay && !reevaluate)) {
        args_usage("verify", synopsis, specs, N_SPECS);
        return args_has(&a, "help") ? 0 : 2;
    }
    if (replay && reevaluate) {
        fprintf(stderr, "tsedarts: error: verify: --replay and --reevaluate are separate audits; run one at a time\n");
        return 2;
    }
    if (args_has(&a, "device") && !replay && !reevaluate) {
        fprintf(stderr, "tsedarts: error: verify: --device is for --replay and --reevaluate; an audit runs no graphs\n");
        return 2;
    }
    if (args_has(&a, "epochs") && !replay) {
        fprintf(stderr, "tsedarts: error: verify: --epochs is for --replay\n");
        return 2;
    }
    if ((replay || reevaluate) && a.n_pos) {
        fprintf(stderr, "tsedarts: error: verify: --%s takes one run directory; unexpected '%s'\n",
                replay ? "replay" : "reevaluate", a.pos[0]);
        return 2;
    }
    static const char *const run_marks[] = {"config.json"};
    if ((replay || reevaluate) &&
        not_auditable(args_str(&a, replay ? "replay" : "reevaluate", ""), run_marks, 1, "a run directory"))
        return 2;
    if (replay || reevaluate) {
        /* a stop request ends the run at its next step; the scratch
         * directory is then removed before the process exits */
        stop_install_handlers();
        if (reevaluate)
            return reexecuted(verify_reevaluate(args_str(&a, "reevaluate", ""), args_str(&a, "device", NULL), stdout),
                              "reevaluate");
        int epochs;
        if (!replay_epochs(&a, &epochs)) return 2;
        return reexecuted(verify_replay_epochs(args_str(&a, "replay", ""), args_str(&a, "device", NULL), epochs, stdout),
                          "replay");
    }
    const char *root_hash = args_str(&a, "root-hash", NULL);
    if (root_hash && (strlen(root_hash) != 64 || strspn(root_hash, "0123456789abcdefABCDEF") != 64)) {
        /* a typo is no verdict on the tree: never reported as another hash */
        fprintf(stderr, "tsedarts: error: verify: --root-hash '%s' is not a SHA-256 (64 hexadecimal digits)\n",
                root_hash);
        return 2;
    }
    verify_summary sum;
    static const char *const tree_marks[] = {"plan.json", "MANIFEST.sha256"};
    char path[4400];
    /* a results tree has a plan or a root manifest; a lone run directory
     * has neither, but its config.json */
    int lone_run = 1;
    for (int i = 0; i < 2 && lone_run; i++)
        lone_run = path_format(path, sizeof path, "%s/%s", a.pos[0], tree_marks[i]) == TD_OK && !file_exists(path);
    lone_run = lone_run && path_format(path, sizeof path, "%s/config.json", a.pos[0]) == TD_OK && file_exists(path);
    if (!lone_run && not_auditable(a.pos[0], tree_marks, 2, "a results tree written by `tsedarts protocol` nor a run directory"))
        return 2;
    if (lone_run) {
        if (args_has(&a, "root-hash")) {
            fprintf(stderr, "tsedarts: error: verify: %s is a run directory; --root-hash is for a results tree\n",
                    a.pos[0]);
            return 2;
        }
        s = verify_run(a.pos[0], stdout, &sum);
    } else {
        s = verify_tree(a.pos[0], root_hash, stdout, &sum);
    }
    return s == TD_OK ? 0 : 1;
}
