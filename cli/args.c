#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const opt_spec *find(const args *a, const char *name)
{
    for (int i = 0; i < a->n_specs; i++)
        if (strcmp(a->specs[i].name, name) == 0) return &a->specs[i];
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
        char buf[64];
        if (eq) {
            size_t len = (size_t)(eq - name) < sizeof buf - 1 ? (size_t)(eq - name) : sizeof buf - 1;
            memcpy(buf, name, len);
            buf[len] = '\0';
            name = buf;
        }
        const opt_spec *sp = find(a, name);
        if (!sp) return TD_FAIL(TD_ERR_ARG, "%s: unknown option --%s (see tsedarts %s --help)", command, name, command);
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

void args_usage(const char *command, const char *synopsis, const opt_spec *specs, int n_specs)
{
    printf("usage: tsedarts %s %s\n\noptions:\n", command, synopsis);
    for (int i = 0; i < n_specs; i++) {
        char left[48];
        snprintf(left, sizeof left, "--%s%s", specs[i].name, specs[i].takes_value ? " VALUE" : "");
        printf("  %-26s %s\n", left, specs[i].help);
    }
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
