/* tsedarts info: parameter counts of the supernet (and, later, of the
 * evaluation network of a genotype). */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "tsedarts/evalnet.h"
#include "tsedarts/supernet.h"

static const opt_spec specs[] = {
    {"net", 1, "supernet (default) | eval | linear"},
    {"genotype", 1, "eval network: genotype NAME or FILE"},
    {"layers", 1, "number of cells (default 8)"},
    {"channels", 1, "initial channels C (default 16)"},
    {"classes", 1, "number of classes (default 10)"},
    {"in-channels", 1, "image channels (default 3)"},
    {"image-size", 1, "image height = width (default 32)"},
    {"help", 0, "show this help"},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

/* Counts of the evaluation network, with and without the auxiliary head. */
static int info_eval(args *a, int linear, const supernet_config *sc)
{
    evalnet_config c;
    memset(&c, 0, sizeof c);
    c.linear = linear;
    c.C = args_has(a, "channels") ? sc->C : 36;
    c.layers = args_has(a, "layers") ? sc->layers : 20;
    c.in_ch = sc->in_ch;
    c.hw = sc->hw;
    c.classes = sc->classes;
    if (!linear) {
        const char *name = args_str(a, "genotype", NULL);
        if (!name) {
            fprintf(stderr, "tsedarts: error: info: --net eval needs --genotype NAME|FILE\n");
            return 2;
        }
        td_status s = genotype_load(name, &c.geno);
        if (s != TD_OK) {
            td_error_print(s);
            return 1;
        }
    }
    size_t counts[2];
    for (int aux = 0; aux < 2; aux++) {
        c.auxiliary = aux;
        graph *g = graph_create();
        layer_builder b;
        layer_init(&b, g, 1, 1);
        net_io io;
        td_status s = evalnet_build(&b, &c, 1, &io);
        layer_free(&b);
        if (s != TD_OK) {
            td_error_print(s);
            graph_destroy(g);
            return 1;
        }
        counts[aux] = graph_param_count(g, ROLE_WEIGHT);
        graph_destroy(g);
        if (linear) {
            counts[1] = counts[0];
            break;
        }
    }
    if (linear)
        printf("linear classifier: %dx%dx%d input, %d classes\n  weights %zu\n", c.in_ch, c.hw, c.hw, c.classes, counts[0]);
    else
        printf("evaluation network %s: C=%d, %d layers, %dx%dx%d input, %d classes\n"
               "  weights without auxiliary head  %zu\n  weights with auxiliary head     %zu\n",
               c.geno.name, c.C, c.layers, c.in_ch, c.hw, c.hw, c.classes, counts[0], counts[1]);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "info", specs, N_SPECS, argc, argv);
    if (s == TD_OK) s = args_no_positionals(&a);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (args_has(&a, "help")) {
        args_usage("info", "--net supernet|eval|linear [--genotype G] [--layers N] [--channels C]", specs, N_SPECS);
        return 0;
    }
    static const char *const nets[] = {"supernet", "eval", "linear", NULL};
    int net = args_choice(&a, "net", "supernet", nets);
    supernet_config cfg;
    memset(&cfg, 0, sizeof cfg); /* every field, the search space too */
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
    if (net > 0) return info_eval(&a, net == 2, &cfg);
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
