/* tsedarts info: parameter counts of the supernet (and, later, of the
 * evaluation network of a genotype). */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "tsedarts/supernet.h"

static const opt_spec specs[] = {
    {"net", 1, "supernet"},
    {"layers", 1, "number of cells (default 8)"},
    {"channels", 1, "initial channels C (default 16)"},
    {"classes", 1, "number of classes (default 10)"},
    {"in-channels", 1, "image channels (default 3)"},
    {"image-size", 1, "image height = width (default 32)"},
    {"help", 0, "show this help"},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

int cmd_info(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "info", specs, N_SPECS, argc, argv);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (args_has(&a, "help")) {
        args_usage("info", "--net supernet [--layers N] [--channels C]", specs, N_SPECS);
        return 0;
    }
    static const char *const nets[] = {"supernet", NULL};
    args_choice(&a, "net", "supernet", nets);
    supernet_config cfg;
    cfg.layers = (int)args_int(&a, "layers", 8, 3, 1000);
    cfg.C = (int)args_int(&a, "channels", 16, 2, 4096);
    cfg.classes = (int)args_int(&a, "classes", 10, 2, 100000);
    cfg.in_ch = (int)args_int(&a, "in-channels", 3, 1, 64);
    cfg.hw = (int)args_int(&a, "image-size", 32, 4, 4096);
    cfg.smooth = 0;
    if (a.error != TD_OK) {
        td_error_print(a.error);
        return 2;
    }
    if (cfg.C % 2) {
        fprintf(stderr, "tsedarts: error: info: --channels must be even (FactorizedReduce halves it)\n");
        return 2;
    }
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    net_io io;
    s = supernet_build(&b, &cfg, 1, &io);
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    printf("supernet: C=%d, %d layers, %dx%dx%d input, %d classes\n", cfg.C, cfg.layers, cfg.in_ch, cfg.hw, cfg.hw,
           cfg.classes);
    printf("  weights     %zu\n", graph_param_count(g, ROLE_WEIGHT));
    printf("  alphas      %zu\n", graph_param_count(g, ROLE_ALPHA));
    printf("  BN buffers  %zu (running mean and variance)\n", graph_param_count(g, ROLE_BNSTAT));
    layer_free(&b);
    graph_destroy(g);
    return 0;
}
