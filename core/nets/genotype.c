#include "tsedarts/genotype.h"

#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/darts.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

#ifndef TSEDARTS_GENOTYPE_SOURCE_DIR
#define TSEDARTS_GENOTYPE_SOURCE_DIR "genotypes"
#endif

/* ------------------------------------------------------------ derive */

static void derive_cell(const double *alpha, genotype_cell *cell)
{
    double w[DARTS_EDGES][DOP_COUNT];
    for (int r = 0; r < DARTS_EDGES; r++) {
        double mx = alpha[r * DOP_COUNT], sum = 0;
        for (int k = 1; k < DOP_COUNT; k++) mx = alpha[r * DOP_COUNT + k] > mx ? alpha[r * DOP_COUNT + k] : mx;
        for (int k = 0; k < DOP_COUNT; k++) sum += (w[r][k] = exp(alpha[r * DOP_COUNT + k] - mx));
        for (int k = 0; k < DOP_COUNT; k++) w[r][k] /= sum;
    }
    int row = 0;
    for (int i = 0; i < DARTS_NODES; i++) {
        int n_in = 2 + i;
        double strength[5];
        for (int j = 0; j < n_in; j++) {
            strength[j] = -1;
            for (int k = 0; k < DOP_COUNT; k++)
                if (k != DOP_NONE && w[row + j][k] > strength[j]) strength[j] = w[row + j][k];
        }
        /* Top two by strength; a strictly larger one displaces, so ties keep
         * the lower input index (a stable sort, as the reference). */
        int first = 0;
        for (int j = 1; j < n_in; j++)
            if (strength[j] > strength[first]) first = j;
        int second = first == 0 ? 1 : 0;
        for (int j = 0; j < n_in; j++)
            if (j != first && strength[j] > strength[second]) second = j;
        int kept[2] = {first, second};
        for (int e = 0; e < 2; e++) {
            int j = kept[e], best = -1;
            for (int k = 0; k < DOP_COUNT; k++)
                if (k != DOP_NONE && (best < 0 || w[row + j][k] > w[row + j][best])) best = k;
            cell->op[2 * i + e] = best;
            cell->input[2 * i + e] = j;
        }
        row += n_in;
    }
}

void genotype_derive(const double *alphas_normal, const double *alphas_reduce, const char *name, genotype *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name ? name : "searched");
    derive_cell(alphas_normal, &out->normal);
    derive_cell(alphas_reduce, &out->reduce);
}

/* ------------------------------------------------------------ metrics */

int genotype_depth(const genotype_cell *c)
{
    int d[2 + DARTS_NODES] = {0, 0};
    int deepest = 0;
    for (int i = 0; i < DARTS_NODES; i++) {
        int a = d[c->input[2 * i]], b = d[c->input[2 * i + 1]];
        d[2 + i] = 1 + (a > b ? a : b);
        if (d[2 + i] > deepest) deepest = d[2 + i];
    }
    return deepest + 1; /* every node has an edge to the output concat */
}

int genotype_skip_count(const genotype_cell *c)
{
    int n = 0;
    for (int i = 0; i < GENOTYPE_OPS; i++) n += c->op[i] == DOP_SKIP_CONNECT;
    return n;
}

int genotype_param_free_count(const genotype_cell *c)
{
    int n = 0;
    for (int i = 0; i < GENOTYPE_OPS; i++)
        n += c->op[i] == DOP_SKIP_CONNECT || c->op[i] == DOP_MAX_POOL_3X3 || c->op[i] == DOP_AVG_POOL_3X3;
    return n;
}

/* ------------------------------------------------------------ format */

static size_t put(char *buf, size_t len, size_t at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t put(char *buf, size_t len, size_t at, const char *fmt, ...)
{
    if (at >= len) return at;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + at, len - at, fmt, ap);
    va_end(ap);
    return n < 0 ? at : at + (size_t)n;
}

void genotype_format(const genotype *g, char *buf, size_t len)
{
    size_t at = put(buf, len, 0, "%s", g->name);
    const genotype_cell *cells[2] = {&g->normal, &g->reduce};
    const char *names[2] = {"normal", "reduce"};
    for (int c = 0; c < 2; c++) {
        at = put(buf, len, at, " | %s:", names[c]);
        for (int i = 0; i < GENOTYPE_OPS; i++)
            at = put(buf, len, at, " %s:%d", darts_op_name(cells[c]->op[i]), cells[c]->input[i]);
    }
    put(buf, len, at, " | concat 2-5");
}

void genotype_format_python(const genotype *g, char *buf, size_t len)
{
    size_t at = put(buf, len, 0, "Genotype(");
    const genotype_cell *cells[2] = {&g->normal, &g->reduce};
    const char *names[2] = {"normal", "reduce"};
    for (int c = 0; c < 2; c++) {
        at = put(buf, len, at, "%s%s=[", c ? ", " : "", names[c]);
        for (int i = 0; i < GENOTYPE_OPS; i++)
            at = put(buf, len, at, "%s('%s', %d)", i ? ", " : "", darts_op_name(cells[c]->op[i]), cells[c]->input[i]);
        at = put(buf, len, at, "], %s_concat=[2, 3, 4, 5]", names[c]);
    }
    put(buf, len, at, ")");
}

void genotype_format_dot(const genotype *g, char *buf, size_t len)
{
    size_t at = put(buf, len, 0,
                    "digraph \"%s\" {\n  rankdir=LR;\n  graph [fontname=\"DejaVu Sans\", fontsize=14];\n"
                    "  node [shape=box, style=\"filled,rounded\", fontname=\"DejaVu Sans\", fontsize=13, penwidth=1.2];\n"
                    "  edge [fontname=\"DejaVu Sans\", fontsize=10];\n",
                    g->name);
    /* dot stacks the clusters of a left-to-right graph bottom-up in the
     * order given: the reduction cell comes first so the normal one is on top */
    const genotype_cell *cells[2] = {&g->reduce, &g->normal};
    const char *names[2] = {"reduce", "normal"}, *titles[2] = {"reduction cell", "normal cell"};
    for (int c = 0; c < 2; c++) {
        const char *p = names[c];
        at = put(buf, len, at, "  subgraph cluster_%s {\n    label=\"%s\";\n", p, titles[c]);
        at = put(buf, len, at, "    \"%s_c_k-2\" [label=\"c_{k-2}\", fillcolor=darkseagreen2];\n", p);
        at = put(buf, len, at, "    \"%s_c_k-1\" [label=\"c_{k-1}\", fillcolor=darkseagreen2];\n", p);
        for (int i = 0; i < DARTS_NODES; i++) at = put(buf, len, at, "    \"%s_%d\" [label=\"%d\", fillcolor=lightblue];\n", p, i, i);
        at = put(buf, len, at, "    \"%s_c_k\" [label=\"c_{k}\", fillcolor=palegoldenrod];\n", p);
        for (int i = 0; i < GENOTYPE_OPS; i++) {
            int in = cells[c]->input[i];
            char src[32];
            if (in == 0)
                snprintf(src, sizeof src, "%s_c_k-2", p);
            else if (in == 1)
                snprintf(src, sizeof src, "%s_c_k-1", p);
            else
                snprintf(src, sizeof src, "%s_%d", p, in - 2);
            at = put(buf, len, at, "    \"%s\" -> \"%s_%d\" [label=\"%s\"];\n", src, p, i / 2, darts_op_name(cells[c]->op[i]));
        }
        for (int i = 0; i < DARTS_NODES; i++) at = put(buf, len, at, "    \"%s_%d\" -> \"%s_c_k\";\n", p, i, p);
        at = put(buf, len, at, "  }\n");
    }
    put(buf, len, at, "}\n");
}

/* ------------------------------------------------------------- parse */

static const char *skip_space(const char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    return s;
}

/* Parses "<label>: op:in op:in ..." up to the next '|' into a cell. */
static td_status parse_cell(const char **sp, const char *label, const char *where, const char *name, genotype_cell *cell)
{
    const char *s = skip_space(*sp);
    size_t ll = strlen(label);
    if (strncmp(s, label, ll) != 0 || s[ll] != ':')
        return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: expected '%s:' section", where, name, label);
    s += ll + 1;
    for (int i = 0; i < GENOTYPE_OPS; i++) {
        s = skip_space(s);
        char op[32];
        int n = 0;
        while (*s && (isalnum((unsigned char)*s) || *s == '_') && n < 31) op[n++] = *s++;
        op[n] = '\0';
        if (n == 0 || *s != ':')
            return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: %s cell has %d op:input pairs, expected 8", where, name,
                           label, i);
        s++;
        int k = darts_op_by_name(op);
        if (k < 0)
            return TD_FAIL(TD_ERR_FORMAT,
                           "%s: genotype %s: %s cell, pair %d: unknown op '%s' (known: max_pool_3x3, avg_pool_3x3, "
                           "skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5)",
                           where, name, label, i + 1, op);
        if (k == DOP_NONE)
            return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: %s cell, pair %d: 'none' cannot be a chosen op", where,
                           name, label, i + 1);
        char *end;
        long in = strtol(s, &end, 10);
        if (end == s)
            return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: %s cell, pair %d: missing input index after '%s:'", where,
                           name, label, i + 1, op);
        int node = i / 2;
        if (in < 0 || in > node + 1)
            return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: %s cell, pair %d (node %d): input %ld is outside 0..%d",
                           where, name, label, i + 1, node + 2, in, node + 1);
        s = end;
        cell->op[i] = k;
        cell->input[i] = (int)in;
    }
    s = skip_space(s);
    if (*s && *s != '|')
        return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: %s cell has more than 8 op:input pairs", where, name, label);
    *sp = s;
    return TD_OK;
}

td_status genotype_parse(const char *line, const char *where, genotype *out)
{
    memset(out, 0, sizeof *out);
    const char *s = skip_space(line);
    const char *bar = strchr(s, '|');
    if (!bar) return TD_FAIL(TD_ERR_FORMAT, "%s: not a genotype line (expected 'NAME | normal: ... | reduce: ... | concat 2-5')", where);
    size_t nl = (size_t)(bar - s);
    while (nl && isspace((unsigned char)s[nl - 1])) nl--;
    if (nl == 0 || nl >= sizeof out->name) return TD_FAIL(TD_ERR_FORMAT, "%s: genotype name is empty or too long", where);
    memcpy(out->name, s, nl);
    out->name[nl] = '\0';
    for (size_t i = 0; i < nl; i++)
        if (!isalnum((unsigned char)out->name[i]) && out->name[i] != '_' && out->name[i] != '-' && out->name[i] != '.')
            return TD_FAIL(TD_ERR_FORMAT, "%s: genotype name '%s' may only hold letters, digits, '_', '-', '.'", where,
                           out->name);
    s = bar + 1;
    TD_CHECK(parse_cell(&s, "normal", where, out->name, &out->normal));
    if (*s != '|') return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: missing '| reduce:' section", where, out->name);
    s++;
    TD_CHECK(parse_cell(&s, "reduce", where, out->name, &out->reduce));
    if (*s != '|') return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: missing '| concat 2-5'", where, out->name);
    s = skip_space(s + 1);
    if (strncmp(s, "concat", 6) != 0)
        return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: missing '| concat 2-5'", where, out->name);
    s = skip_space(s + 6);
    if (strncmp(s, "2-5", 3) != 0)
        return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: only 'concat 2-5' is supported", where, out->name);
    s = skip_space(s + 3);
    if (*s) return TD_FAIL(TD_ERR_FORMAT, "%s: genotype %s: unexpected text after 'concat 2-5': '%s'", where, out->name, s);
    return TD_OK;
}

/* ------------------------------------------------------------- load */

const char *genotype_dir(void)
{
    const char *env = getenv("TSEDARTS_GENOTYPE_DIR");
    return env && *env ? env : TSEDARTS_GENOTYPE_SOURCE_DIR;
}

/* A genotype file holds one line of under 400 characters and comments: a
 * file past this is not one, and is not read. */
#define GENOTYPE_FILE_MAX ((size_t)1 << 20)

static td_status parse_file(const char *path, genotype *out)
{
    char *text;
    TD_CHECK(file_read_limited(path, GENOTYPE_FILE_MAX, &text, NULL));
    td_status s = TD_FAIL(TD_ERR_FORMAT, "%s: no genotype line in the file", path);
    int lineno = 0, found = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        lineno++;
        const char *t = skip_space(line);
        if (!*t || *t == '#') continue;
        char where[4200];
        snprintf(where, sizeof where, "%s line %d", path, lineno);
        if (found) {
            s = TD_FAIL(TD_ERR_FORMAT, "%s: more than one genotype in the file", where);
            break;
        }
        s = genotype_parse(t, where, out);
        found = 1;
        if (s != TD_OK) break;
    }
    free(text);
    return s;
}

td_status genotype_load(const char *name_or_file, genotype *out)
{
    if (file_exists(name_or_file)) return parse_file(name_or_file, out);
    if (strchr(name_or_file, '/'))
        return TD_FAIL(TD_ERR_IO, "genotype file %s does not exist", name_or_file);
    char path[4096];
    TD_CHECK(path_format(path, sizeof path, "%s/%s.genotype", genotype_dir(), name_or_file));
    if (file_exists(path)) {
        TD_CHECK(parse_file(path, out));
        if (strcmp(out->name, name_or_file) != 0)
            return TD_FAIL(TD_ERR_FORMAT, "%s: holds genotype %s, not %s", path, out->name, name_or_file);
        return TD_OK;
    }
    char known[1024] = "";
    DIR *d = opendir(genotype_dir());
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 9 && strcmp(e->d_name + l - 9, ".genotype") == 0) {
                if (known[0]) strncat(known, ", ", sizeof known - strlen(known) - 1);
                strncat(known, e->d_name, l - 9 < sizeof known - strlen(known) - 1 ? l - 9 : 0);
            }
        }
        closedir(d);
    }
    return TD_FAIL(TD_ERR_ARG, "unknown genotype '%s': not a file, and not in %s (known: %s)", name_or_file,
                   genotype_dir(), known[0] ? known : "none");
}
