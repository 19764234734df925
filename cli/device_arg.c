#include "device_arg.h"

#include <stdio.h>
#include <stdlib.h>

#include "tsedarts/rundir.h"

const backend *cli_device(args *a, const char *command, const char *resume_dir)
{
    const backend *be = NULL;
    char *recorded = NULL;
    const char *name = args_str(a, "device", "cpu");
    if (resume_dir && !args_has(a, "device")) {
        td_status s = rundir_recorded_device(resume_dir, &recorded);
        if (s != TD_OK) {
            fprintf(stderr, "tsedarts: error: %s: %s\n", command, td_error_message());
            return NULL;
        }
        name = recorded;
    }
    td_status s = device_open(name, &be);
    if (s != TD_OK) fprintf(stderr, "tsedarts: error: %s: --device: %s\n", command, td_error_message());
    free(recorded);
    return s == TD_OK ? be : NULL;
}

activation_policy cli_activations(args *a)
{
    int keep = args_has(a, "keep-activations"), recompute = args_has(a, "recompute");
    if (keep && recompute && a->error == TD_OK)
        a->error = TD_FAIL(TD_ERR_ARG, "--keep-activations and --recompute ask for opposite things: give one");
    return keep ? ACTIVATIONS_KEEP : recompute ? ACTIVATIONS_RECOMPUTE : ACTIVATIONS_AUTO;
}
