/* Command-line options: "--name value" and "--flag", checked against the
 * options a command accepts, with typed getters that name the bad option.
 * A command's options are its own plus one per field of its config table
 * (fields.h), whose flag, help and parsing come from that table. */
#ifndef TSEDARTS_CLI_ARGS_H
#define TSEDARTS_CLI_ARGS_H

#include "tsedarts/fields.h"
#include "tsedarts/status.h"

typedef struct opt_spec {
    const char *name; /* without the leading dashes */
    int takes_value;
    const char *help;
} opt_spec;

/* A command's own options followed by its config fields' flags. */
typedef struct opt_table {
    opt_spec *specs;
    const field_desc **fields;     /* per spec: the field it sets, NULL for the command's own */
    int n;
    char (*names)[FIELD_FLAG_MAX]; /* the fields' flags */
} opt_table;

/* Fails (naming both) if a field's flag is also one of the command's own. */
td_status opt_table_build(opt_table *t, const char *command, const opt_spec *own, int n_own, const field_desc *fields,
                          int n_fields);
void opt_table_free(opt_table *t);

#define ARGS_MAX 64

typedef struct args {
    const char *command;
    const opt_spec *specs;
    const field_desc *const *fields; /* parallel to specs; NULL: no config fields */
    int n_specs;
    const char *key[ARGS_MAX];
    const char *val[ARGS_MAX];
    int n;
    const char *pos[ARGS_MAX];
    int n_pos;
    td_status error; /* first getter error */
} args;

td_status args_parse(args *a, const char *command, const opt_spec *specs, int n_specs, int argc, char **argv);
td_status args_parse_table(args *a, const char *command, const opt_table *t, int argc, char **argv);
void args_usage(const char *command, const char *synopsis, const opt_spec *specs, int n_specs);
/* The command's own options, then the config fields' ones under their own
 * heading with their choices and defaults. */
void args_usage_table(const char *command, const char *synopsis, const opt_table *t);
/* The budgets (budget.h) with one line each, for commands taking --budget. */
void args_usage_budgets(void);

/* For commands that take no positional arguments: an error naming the
 * first one given (a stray word is a mistake, not something to ignore). */
td_status args_no_positionals(const args *a);

int args_has(const args *a, const char *name);
const char *args_str(args *a, const char *name, const char *def);
long args_int(args *a, const char *name, long def, long lo, long hi);
double args_double(args *a, const char *name, double def, double lo, double hi);
/* One of choices (NULL-terminated); returns its index. */
int args_choice(args *a, const char *name, const char *def, const char *const *choices);

/* Sets each field whose flag was given (the last value of a repeated flag),
 * in table order; the first bad value is the error. */
td_status args_apply_fields(const args *a, void *config);
/* The first option given that sets a config field, or NULL. */
const char *args_first_field(const args *a);

#endif
