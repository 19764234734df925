/* tsedarts genotype show NAME|FILE [--format text|python|dot|svg|png] [--out FILE] */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "tsedarts/figures.h"
#include "tsedarts/genotype.h"

static const opt_spec specs[] = {
    {"format", 1, "text (default) | python | dot | svg | png (svg and png drawn by Graphviz dot)"},
    {"out", 1, "FILE to write instead of standard output"},
    {"help", 0, "show this help"},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

enum { FMT_TEXT, FMT_PYTHON, FMT_DOT, FMT_SVG, FMT_PNG };

int cmd_genotype(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "genotype", specs, N_SPECS, argc, argv);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (args_has(&a, "help") || a.n_pos != 2 || strcmp(a.pos[0], "show") != 0) {
        args_usage("genotype", "show NAME|FILE [--format text|python|dot|svg|png] [--out FILE]", specs, N_SPECS);
        printf("\nknown genotypes are in %s\n", genotype_dir());
        return args_has(&a, "help") ? 0 : 2;
    }
    static const char *const formats[] = {"text", "python", "dot", "svg", "png", NULL};
    int f = args_choice(&a, "format", "text", formats);
    const char *out = args_str(&a, "out", NULL);
    if (a.error != TD_OK) {
        td_error_print(a.error);
        return 2;
    }
    genotype g;
    s = genotype_load(a.pos[1], &g);
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    if (f == FMT_SVG || f == FMT_PNG) {
        s = figures_draw_genotype(&g, formats[f], out);
        if (s != TD_OK) {
            td_error_print(s);
            return s == TD_ERR_UNSUPPORTED ? 3 : 1;
        }
        return 0;
    }
    char buf[8192];
    if (f == FMT_TEXT) {
        genotype_format(&g, buf, sizeof buf);
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n, "\n# normal: depth %d, %d skip; reduce: depth %d, %d skip\n",
                 genotype_depth(&g.normal), genotype_skip_count(&g.normal), genotype_depth(&g.reduce),
                 genotype_skip_count(&g.reduce));
    } else if (f == FMT_PYTHON) {
        char py[8000];
        genotype_format_python(&g, py, sizeof py);
        snprintf(buf, sizeof buf, "%s = %s\n", g.name, py);
    } else {
        genotype_format_dot(&g, buf, sizeof buf);
    }
    FILE *o = out ? fopen(out, "w") : stdout;
    if (!o) {
        fprintf(stderr, "tsedarts: error: genotype: cannot write %s\n", out);
        return 1;
    }
    int bad = fputs(buf, o) < 0;
    if (out) bad |= fclose(o) != 0;
    if (bad) {
        fprintf(stderr, "tsedarts: error: genotype: writing %s failed\n", out ? out : "standard output");
        return 1;
    }
    return 0;
}
