/* tsedarts search: architecture search with darts1, darts2, tse or tse-exact. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "tsedarts/darts.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"
#include "tsedarts/search.h"
#include "tsedarts/space.h"
#include "tsedarts/backend_cpu.h"

static const opt_spec specs[] = {
    {"algo", 1, "darts1 | darts2 | tse | tse-exact (default darts1)"},
    {"budget", 1, "smoke | mini | paper: preset sizes (flags given after it override)"},
    {"dataset", 1, "fashion-mnist (default) | cifar10:DIR | synthetic"},
    {"data-dir", 1, "Fashion-MNIST directory (default " "/usr/share/datasets/fashion-mnist)"},
    {"no-pad", 0, "keep Fashion-MNIST at 28x28 instead of zero-padding to 32x32"},
    {"space", 1, "darts (default) | s2 (skip_connect, sep_conv_3x3) | nb201 (NAS-Bench-201 cell and skeleton)"},
    {"layers", 1, "cells in the supernet (default 8; nb201: cells per stage, default 5)"},
    {"channels", 1, "initial channels C (default 16)"},
    {"epochs", 1, "epochs (default 50)"},
    {"batch", 1, "batch size (default 64)"},
    {"seed", 1, "seed of everything random (default 2)"},
    {"subset", 1, "use only the first N images of each half (default: all)"},
    {"eval-images", 1, "validation images scored per epoch (-1: all, 0: none)"},
    {"tse-steps", 1, "TSE: steps per architecture update T (default 100)"},
    {"tse-data", 1, "TSE: half (default) | all: images the weights train on"},
    {"tse-restore-momentum", 0, "TSE: restore SGD momentum after the rollout (NAS-Bench-201 code)"},
    {"tse-analysis", 0, "TSE: also form the exact and first-order gradients and log their cosine per update"},
    {"hessian-every", 1, "log the largest eigenvalue of the architecture Hessian every K epochs (0: never)"},
    {"hessian-lanczos", 1, "estimate it with K Lanczos steps instead of the full Hessian (224 HVPs)"},
    {"dtype", 1, "f32 (default) | f64"},
    {"threads", 1, "OpenMP threads (default: all cores)"},
    {"out", 1, "output directory (required unless --resume)"},
    {"resume", 1, "continue the run in DIR from its last checkpoint"},
    {"stop-after", 1, "stop (checkpointed, as on SIGINT) after N units of work; for testing resume"},
    {"keep-activations", 0, "store every activation instead of recomputing (more memory, same results)"},
    {"quiet", 0, "no progress output"},
    {"help", 0, "show this help"},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

int cmd_search(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "search", specs, N_SPECS, argc, argv);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (args_has(&a, "help")) {
        args_usage("search", "--algo ALGO --out DIR [--budget smoke|mini|paper] [options]", specs, N_SPECS);
        return 0;
    }
    search_config cfg;
    search_config_defaults(&cfg);
    const char *resume = args_str(&a, "resume", NULL);
    if (resume) {
        char path[4200], *text = NULL;
        s = path_format(path, sizeof path, "%s/config.json", resume);
        if (s == TD_OK) s = file_read_all(path, &text, NULL);
        if (s == TD_OK) s = search_config_parse(text, &cfg);
        free(text);
        if (s != TD_OK) {
            td_error_print(s);
            return 1;
        }
        const char *fixed[] = {"algo", "budget", "dataset", "data-dir", "no-pad", "layers", "channels", "epochs",
                               "batch", "seed", "subset", "eval-images", "tse-steps", "tse-data",
                               "tse-restore-momentum", "tse-analysis", "space", "hessian-every", "hessian-lanczos",
                               "dtype", "out"};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            if (args_has(&a, fixed[i])) {
                fprintf(stderr, "tsedarts: error: search: --%s cannot be combined with --resume (the run's config.json is used)\n",
                        fixed[i]);
                return 2;
            }
    } else {
        static const char *const algos[] = {"darts1", "darts2", "tse", "tse-exact", NULL};
        cfg.algo = (search_algo)args_choice(&a, "algo", "darts1", algos);
        if (args_has(&a, "budget")) {
            s = search_config_budget(&cfg, args_str(&a, "budget", "paper"));
            if (s != TD_OK) {
                td_error_print(s);
                return 2;
            }
        }
        s = path_format(cfg.dataset, sizeof cfg.dataset, "%s", args_str(&a, "dataset", "fashion-mnist"));
        if (s == TD_OK && args_has(&a, "data-dir"))
            s = path_format(cfg.data_dir, sizeof cfg.data_dir, "%s", args_str(&a, "data-dir", ""));
        if (s != TD_OK) {
            td_error_print(s);
            return 2;
        }
        cfg.pad32 = !args_has(&a, "no-pad");
        static const char *const spaces[] = {"darts", "s2", "nb201", NULL};
        cfg.net.space = args_choice(&a, "space", "darts", spaces);
        if (cfg.net.space == SPACE_NB201 && !args_has(&a, "layers")) cfg.net.layers = 5;
        cfg.net.layers = (int)args_int(&a, "layers", cfg.net.layers, cfg.net.space == SPACE_NB201 ? 1 : 3, 100);
        cfg.net.C = (int)args_int(&a, "channels", cfg.net.C, 2, 1024);
        cfg.epochs = (int)args_int(&a, "epochs", cfg.epochs, 1, 100000);
        cfg.batch = (int)args_int(&a, "batch", cfg.batch, 1, 100000);
        cfg.seed = (uint64_t)args_int(&a, "seed", (long)cfg.seed, 0, 0x7fffffffL);
        cfg.subset = (int)args_int(&a, "subset", cfg.subset, 0, 10000000);
        cfg.eval_images = (int)args_int(&a, "eval-images", cfg.eval_images, -1, 10000000);
        cfg.tse_steps = (int)args_int(&a, "tse-steps", cfg.tse_steps, 1, 100000);
        static const char *const halves[] = {"half", "all", NULL};
        cfg.tse_all_data = args_choice(&a, "tse-data", "half", halves);
        cfg.tse_restore_momentum = args_has(&a, "tse-restore-momentum");
        cfg.tse_analysis = args_has(&a, "tse-analysis");
        cfg.hessian_every = (int)args_int(&a, "hessian-every", 0, 0, 100000);
        cfg.hessian_lanczos = (int)args_int(&a, "hessian-lanczos", 0, 0, 100000);
        if (cfg.tse_analysis && cfg.algo != ALGO_TSE && cfg.algo != ALGO_TSE_EXACT) {
            fprintf(stderr, "tsedarts: error: search: --tse-analysis needs --algo tse or tse-exact\n");
            return 2;
        }
        static const char *const dts[] = {"f32", "f64", NULL};
        cfg.dt = args_choice(&a, "dtype", "f32", dts) ? DT_F64 : DT_F32;
        if (cfg.net.C % 2 && cfg.net.space != SPACE_NB201) {
            fprintf(stderr, "tsedarts: error: search: --channels must be even (FactorizedReduce halves it)\n");
            return 2;
        }
    }
    search_options opt;
    memset(&opt, 0, sizeof opt);
    opt.be = backend_cpu();
    opt.out_dir = resume ? resume : args_str(&a, "out", NULL);
    opt.resume = resume != NULL;
    opt.threads = (int)args_int(&a, "threads", 0, 0, 1024);
    opt.stop_after_units = args_int(&a, "stop-after", 0, 0, 1L << 40);
    opt.quiet = args_has(&a, "quiet");
    opt.keep_activations = args_has(&a, "keep-activations");
    if (a.error != TD_OK) {
        td_error_print(a.error);
        return 2;
    }
    if (!opt.out_dir) {
        fprintf(stderr, "tsedarts: error: search: --out DIR is required (where config, metrics, checkpoints and results go)\n");
        return 2;
    }
    stop_install_handlers();
    search_result res;
    s = search_run(&cfg, &opt, &res);
    if (s == TD_ERR_INTERRUPTED) {
        fprintf(stderr, "tsedarts: %s\ntsedarts: continue with: tsedarts search --resume %s\n", td_error_message(),
                opt.out_dir);
        return 130;
    }
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    if (res.space == SPACE_NB201) {
        printf("architecture (NAS-Bench-201): %s\n", res.arch);
    } else {
        char py[2048];
        genotype_format_python(&res.geno, py, sizeof py);
        printf("genotype: %s\n%s\n", res.arch, py);
        printf("normal cell: depth %d, %d skip connections; reduce cell: depth %d, %d skip connections\n",
               genotype_depth(&res.geno.normal), genotype_skip_count(&res.geno.normal), genotype_depth(&res.geno.reduce),
               genotype_skip_count(&res.geno.reduce));
    }
    printf("results in %s (%.1f s, %.3f s per step)\n", opt.out_dir, res.seconds, res.seconds_per_step);
    return 0;
}
