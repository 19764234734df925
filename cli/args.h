/* Command-line options: "--name value" and "--flag", checked against the
 * options a command accepts, with typed getters that name the bad option. */
#ifndef TSEDARTS_CLI_ARGS_H
#define TSEDARTS_CLI_ARGS_H

#include "tsedarts/status.h"

typedef struct opt_spec {
    const char *name; /* without the leading dashes */
    int takes_value;
    const char *help;
} opt_spec;

#define ARGS_MAX 64

typedef struct args {
    const char *command;
    const opt_spec *specs;
    int n_specs;
    const char *key[ARGS_MAX];
    const char *val[ARGS_MAX];
    int n;
    const char *pos[ARGS_MAX];
    int n_pos;
    td_status error; /* first getter error */
} args;

td_status args_parse(args *a, const char *command, const opt_spec *specs, int n_specs, int argc, char **argv);
void args_usage(const char *command, const char *synopsis, const opt_spec *specs, int n_specs);

int args_has(const args *a, const char *name);
const char *args_str(args *a, const char *name, const char *def);
long args_int(args *a, const char *name, long def, long lo, long hi);
double args_double(args *a, const char *name, double def, double lo, double hi);
/* One of choices (NULL-terminated); returns its index. */
int args_choice(args *a, const char *name, const char *def, const char *const *choices);

#endif
