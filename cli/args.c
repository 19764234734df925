#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/budget.h"

td_status opt_table_build(opt_table *t, const char *command, const opt_spec *own, int n_own, const field_desc *fields,
                          int n_fields)
{
    memset(t, 0, sizeof *t);
    t->specs = calloc((size_t)(n_own + n_fields), sizeof *t->specs);
    t->fields = calloc((size_t)(n_own + n_fields), sizeof *t->fields);
    t->names = calloc((size_t)(n_fields ? n_fields : 1), sizeof *t->names);
    if (!t->specs || !t->fields || !t->names) {
        opt_table_free(t);
        return TD_FAIL(TD_ERR_MEMORY, "%s: out of memory for the options", command);
    }
    for (int i = 0; i < n_own; i++) t->specs[t->n++] = own[i];
    for (int i = 0; i < n_fields; i++) {
        const char *flag = field_flag(&fields[i], t->names[i]);
        if (!flag[0]) continue;
        for (int k = 0; k < t->n; k++)
            if (!strcmp(t->specs[k].name, flag)) {
                td_status s = TD_FAIL(TD_ERR_STATE, "%s: --%s is both %s and config field %s", command, flag,
                                      t->fields[k] ? t->fields[k]->key : "an option", fields[i].key);
                opt_table_free(t);
                return s;
            }
        t->fields[t->n] = &fields[i];
        t->specs[t->n++] = (opt_spec){.name = flag, .takes_value = field_flag_takes_value(&fields[i]),
                                      .help = fields[i].help};
    }
    return TD_OK;
}

void opt_table_free(opt_table *t)
{
    free(t->specs);
    free(t->fields);
    free(t->names);
    memset(t, 0, sizeof *t);
}

static const opt_spec *find(const args *a, const char *name, size_t len)
{
    for (int i = 0; i < a->n_specs; i++)
        if (strlen(a->specs[i].name) == len && strncmp(a->specs[i].name, name, len) == 0) return &a->specs[i];
    return NULL;
}

td_status args_parse(args *a, const char *command, const opt_spec *specs, int n_specs, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->command = command;
    a->specs = specs;
    a->n_specs = n_specs;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) != 0 || s[2] == '\0') {
            if (a->n_pos == ARGS_MAX) return TD_FAIL(TD_ERR_ARG, "%s: too many arguments", command);
            a->pos[a->n_pos++] = s;
            continue;
        }
        const char *name = s + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const opt_spec *sp = find(a, name, len);
        if (!sp)
            return TD_FAIL(TD_ERR_ARG, "%s: unknown option --%.*s (see tsedarts %s --help)", command, (int)len, name,
                           command);
        name = sp->name;
        const char *val = "1";
        if (sp->takes_value) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return TD_FAIL(TD_ERR_ARG, "%s: option --%s needs a value", command, name);
        } else if (eq) {
            return TD_FAIL(TD_ERR_ARG, "%s: option --%s takes no value", command, name);
        }
        if (a->n == ARGS_MAX) return TD_FAIL(TD_ERR_ARG, "%s: too many options", command);
        a->key[a->n] = sp->name; /* stable storage */
        a->val[a->n++] = val;
    }
    return TD_OK;
}

static void usage_line(const opt_spec *sp, const field_desc *field)
{
    char *help = field ? field_help_text(field) : NULL;
    printf("  --%s%s", sp->name, sp->takes_value ? " VALUE" : "");
    int used = 2 + (int)strlen(sp->name) + (sp->takes_value ? 6 : 0);
    printf("%*s %s\n", used < 26 ? 26 - used : 0, "", help ? help : sp->help);
    free(help);
}

static void usage(const char *command, const char *synopsis, const opt_spec *specs, const field_desc *const *fields,
                  int n_specs)
{
    printf("usage: tsedarts %s %s\n\noptions:\n", command, synopsis);
    for (int i = 0; i < n_specs; i++)
        if (!fields || !fields[i]) usage_line(&specs[i], NULL);
    for (int i = 0, heading = 0; fields && i < n_specs; i++) {
        if (!fields[i]) continue;
        if (!heading++)
            printf("\nconfiguration (written to config.json; the defaults are the paper's, docs/budgets.md):\n");
        usage_line(&specs[i], fields[i]);
    }
}

void args_usage(const char *command, const char *synopsis, const opt_spec *specs, int n_specs)
{
    usage(command, synopsis, specs, NULL, n_specs);
}

void args_usage_table(const char *command, const char *synopsis, const opt_table *t)
{
    usage(command, synopsis, t->specs, t->fields, t->n);
}

void args_usage_budgets(void)
{
    printf("\nbudgets (--budget NAME sets the sizes of every run; options given with it override them):\n");
    for (int i = 0; i < budget_count; i++) printf("  %-26s %s\n", budgets[i].name, budgets[i].about);
}

td_status args_parse_table(args *a, const char *command, const opt_table *t, int argc, char **argv)
{
    td_status s = args_parse(a, command, t->specs, t->n, argc, argv);
    a->fields = (const field_desc *const *)t->fields;
    return s;
}

static const char *lookup(const args *a, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->key[i], name) == 0) v = a->val[i]; /* last one wins */
    return v;
}

int args_has(const args *a, const char *name) { return lookup(a, name) != NULL; }

const char *args_str(args *a, const char *name, const char *def)
{
    const char *v = lookup(a, name);
    return v ? v : def;
}

long args_int(args *a, const char *name, long def, long lo, long hi)
{
    const char *v = lookup(a, name);
    if (!v) return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        if (a->error == TD_OK)
            a->error = TD_FAIL(TD_ERR_ARG, "%s: --%s must be an integer in [%ld, %ld], got '%s'", a->command, name,
                               lo, hi, v);
        return def;
    }
    return x;
}

double args_double(args *a, const char *name, double def, double lo, double hi)
{
    const char *v = lookup(a, name);
    if (!v) return def;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !(x >= lo && x <= hi)) {
        if (a->error == TD_OK)
            a->error = TD_FAIL(TD_ERR_ARG, "%s: --%s must be a number in [%g, %g], got '%s'", a->command, name, lo,
                               hi, v);
        return def;
    }
    return x;
}

int args_choice(args *a, const char *name, const char *def, const char *const *choices)
{
    const char *v = args_str(a, name, def);
    for (int i = 0; choices[i]; i++)
        if (strcmp(choices[i], v) == 0) return i;
    if (a->error == TD_OK) {
        char list[256] = "";
        for (int i = 0; choices[i]; i++) {
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, choices[i], sizeof list - strlen(list) - 1);
        }
        a->error = TD_FAIL(TD_ERR_ARG, "%s: --%s must be one of {%s}, got '%s'", a->command, name, list, v);
    }
    return 0;
}

td_status args_apply_fields(const args *a, void *config)
{
    for (int i = 0; a->fields && i < a->n_specs; i++) {
        const opt_spec *sp = &a->specs[i];
        const char *v = a->fields[i] ? lookup(a, sp->name) : NULL;
        if (!v) continue;
        size_t len = strlen(a->command) + strlen(sp->name) + 8;
        char *where = malloc(len);
        if (!where) return TD_FAIL(TD_ERR_MEMORY, "%s: out of memory", a->command);
        snprintf(where, len, "%s: --%s", a->command, sp->name);
        td_status s = field_set_text(a->fields[i], config, v, where);
        free(where);
        if (s != TD_OK) return s;
    }
    return TD_OK;
}

const char *args_first_field(const args *a)
{
    for (int i = 0; i < a->n; i++)
        for (int k = 0; a->fields && k < a->n_specs; k++)
            if (a->fields[k] && a->key[i] == a->specs[k].name) return a->key[i];
    return NULL;
}

td_status args_no_positionals(const args *a)
{
    if (a->n_pos == 0) return TD_OK;
    return TD_FAIL(TD_ERR_ARG, "%s: unexpected argument '%s' (options start with --; see %s --help)", a->command,
                   a->pos[0], a->command);
}
