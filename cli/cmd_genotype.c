/* tsedarts genotype show NAME|FILE [--format text|python|dot] */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "tsedarts/genotype.h"

static const opt_spec specs[] = {
    {"format", 1, "text (default) | python | dot"},
    {"help", 0, "show this help"},
};

int cmd_genotype(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "genotype", specs, 2, argc, argv);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (args_has(&a, "help") || a.n_pos != 2 || strcmp(a.pos[0], "show") != 0) {
        args_usage("genotype", "show NAME|FILE [--format text|python|dot]", specs, 2);
        printf("\nknown genotypes are in %s\n", genotype_dir());
        return args_has(&a, "help") ? 0 : 2;
    }
    static const char *const formats[] = {"text", "python", "dot", NULL};
    int f = args_choice(&a, "format", "text", formats);
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
    char buf[8192];
    if (f == 0) {
        genotype_format(&g, buf, sizeof buf);
        printf("%s\n", buf);
        printf("# normal: depth %d, %d skip; reduce: depth %d, %d skip\n", genotype_depth(&g.normal),
               genotype_skip_count(&g.normal), genotype_depth(&g.reduce), genotype_skip_count(&g.reduce));
    } else if (f == 1) {
        genotype_format_python(&g, buf, sizeof buf);
        printf("%s = %s\n", g.name, buf);
    } else {
        genotype_format_dot(&g, buf, sizeof buf);
        fputs(buf, stdout);
    }
    return 0;
}
