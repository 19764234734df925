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
