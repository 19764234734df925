/* Where a site's Slurm settings come from: a small key = value file and
 * flags of the same names; nothing here names a site. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/protocol_slurm.h"

static const char *const kind_names[SLURM_KINDS] = {"search", "select", "final", "report"};

void slurm_config_defaults(slurm_config *c)
{
    memset(c, 0, sizeof *c);
    for (int k = 0; k < SLURM_KINDS; k++) c->res[k].cpus = 1;
    /* the binary that submits is the one the jobs run: a site installs it
     * at the same path on every node */
    ssize_t n = readlink("/proc/self/exe", c->binary, sizeof c->binary - 1);
    c->binary[n > 0 ? n : 0] = '\0';
}

static td_status copy_value(char *dst, size_t len, const char *key, const char *value)
{
    if (strlen(value) >= len) return TD_FAIL(TD_ERR_ARG, "slurm config: %s is longer than %zu bytes", key, len - 1);
    memcpy(dst, value, strlen(value) + 1);
    return TD_OK;
}

static td_status set_resource(slurm_resources *r, const char *field, const char *key, const char *value)
{
    if (!strcmp(field, "mem")) return copy_value(r->mem, sizeof r->mem, key, value);
    if (!strcmp(field, "time")) return copy_value(r->time, sizeof r->time, key, value);
    if (strcmp(field, "cpus") && strcmp(field, "gpus"))
        return TD_FAIL(TD_ERR_ARG, "slurm config: unknown key '%s' (known: partition, account, extra, binary, "
                                   "[search.|select.|final.|report.]cpus|mem|time|gpus)", key);
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || *end || end == value || v < 0 || v > 4096)
        return TD_FAIL(TD_ERR_ARG, "slurm config: %s = '%s' is not a count", key, value);
    if (!strcmp(field, "cpus")) {
        if (v < 1) return TD_FAIL(TD_ERR_ARG, "slurm config: %s must be at least 1", key);
        r->cpus = (int)v;
    } else {
        r->gpus = (int)v;
    }
    return TD_OK;
}

td_status slurm_config_set(slurm_config *c, const char *key, const char *value)
{
    if (!strcmp(key, "partition")) return copy_value(c->partition, sizeof c->partition, key, value);
    if (!strcmp(key, "account")) return copy_value(c->account, sizeof c->account, key, value);
    if (!strcmp(key, "extra")) return copy_value(c->extra, sizeof c->extra, key, value);
    if (!strcmp(key, "binary")) return copy_value(c->binary, sizeof c->binary, key, value);
    const char *dot = strchr(key, '.');
    if (!dot) {
        for (int k = 0; k < SLURM_KINDS; k++) TD_CHECK(set_resource(&c->res[k], key, key, value));
        return TD_OK;
    }
    for (int k = 0; k < SLURM_KINDS; k++)
        if (strlen(kind_names[k]) == (size_t)(dot - key) && !strncmp(key, kind_names[k], (size_t)(dot - key)))
            return set_resource(&c->res[k], dot + 1, key, value);
    return TD_FAIL(TD_ERR_ARG, "slurm config: unknown kind of job in '%s' (search, select, final, report)", key);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

td_status slurm_config_read(slurm_config *c, const char *path)
{
    char *text;
    TD_CHECK(file_read_all(path, &text, NULL));
    td_status s = TD_OK;
    int lineno = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && s == TD_OK; l = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(l, '#');
        if (hash) *hash = '\0';
        l = trim(l);
        if (!*l) continue;
        char *eq = strchr(l, '=');
        if (!eq) {
            s = TD_FAIL(TD_ERR_ARG, "%s line %d: expected 'key = value'", path, lineno);
            break;
        }
        *eq = '\0';
        s = slurm_config_set(c, trim(l), trim(eq + 1));
        if (s != TD_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", td_error_message());
            s = TD_FAIL(s, "%s line %d: %s", path, lineno, why);
        }
    }
    free(text);
    return s;
}
