/* --device for every command that runs graphs. */
#ifndef TSEDARTS_CLI_DEVICE_ARG_H
#define TSEDARTS_CLI_DEVICE_ARG_H

#include "args.h"
#include "tsedarts/device.h"

#define DEVICE_OPT_SPEC {"device", 1, DEVICE_HELP}

/* The backend --device names (cpu when absent; for a resumed run, the
 * device its env.json records), or NULL after printing why. */
const backend *cli_device(args *a, const char *command, const char *resume_dir);

#endif
