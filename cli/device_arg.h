/* --device for every command that runs graphs. */
#ifndef TSEDARTS_CLI_DEVICE_ARG_H
#define TSEDARTS_CLI_DEVICE_ARG_H

#include "args.h"
#include "tsedarts/device.h"
#include "tsedarts/model.h"

#define DEVICE_OPT_SPEC {"device", 1, DEVICE_HELP}

/* The backend --device names (cpu when absent; for a resumed run, the
 * device its env.json records), or NULL after printing why. */
const backend *cli_device(args *a, const char *command, const char *resume_dir);

/* --keep-activations and --recompute: what training graphs store (the same
 * bits either way). */
#define ACTIVATIONS_OPT_SPECS                                                                                     \
    {"keep-activations", 0, "store every activation (more memory, less time; the same results)"},                \
    {"recompute", 0, "recompute cells' activations in the backward pass (less memory; the same results). "     \
                     "Default: recompute on the CPU; on a GPU keep them when they fit 75% of its free memory"}

/* The policy the two options ask for (auto when neither); both is an
 * error, set in a->error. */
activation_policy cli_activations(args *a);

#endif
