/* tsedarts train: retrain a genotype from scratch and report test error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"
#include "tsedarts/train.h"
#include "tsedarts/backend_cpu.h"

static const opt_spec specs[] = {
    {"genotype", 1, "genotype NAME or FILE to train"},
    {"net", 1, "eval (default) | linear: a linear classifier baseline"},
    {"budget", 1, "smoke | mini | paper: preset sizes (flags given after it override)"},
    {"dataset", 1, "fashion-mnist (default) | cifar10:DIR | synthetic"},
    {"data-dir", 1, "Fashion-MNIST directory"},
    {"no-pad", 0, "keep Fashion-MNIST at 28x28 (then the auxiliary head cannot apply)"},
    {"layers", 1, "cells (default 20)"},
    {"channels", 1, "initial channels C (default 36)"},
    {"epochs", 1, "epochs (default 600)"},
    {"batch", 1, "batch size (default 96)"},
    {"seed", 1, "seed of initialisation, order, augmentation, drop path (default 0)"},
    {"subset", 1, "train on the first N images only"},
    {"valid-images", 1, "hold N training images out as a validation split (default 0)"},
    {"split-seed", 1, "seed choosing the held-out images (default 1)"},
    {"test-images", 1, "test images scored at the end (-1: all)"},
    {"no-auxiliary", 0, "train without the auxiliary head"},
    {"no-drop-path", 0, "train without drop path"},
    {"cutout", 1, "cutout square side, 0 for none (default 16)"},
    {"no-augment", 0, "no random crop or flip (cutout is set separately)"},
    {"dtype", 1, "f32 (default) | f64"},
    {"threads", 1, "OpenMP threads (default: all cores)"},
    {"out", 1, "output directory (required unless --resume)"},
    {"resume", 1, "continue the run in DIR"},
    {"stop-after", 1, "stop (checkpointed, as on SIGINT) after N steps; for testing resume"},
    {"quiet", 0, "no progress output"},
    {"help", 0, "show this help"},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

int cmd_train(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "train", specs, N_SPECS, argc, argv);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (args_has(&a, "help")) {
        args_usage("train", "--genotype NAME|FILE --out DIR [--budget smoke|mini|paper] [options]", specs, N_SPECS);
        return 0;
    }
    train_config cfg;
    train_config_defaults(&cfg);
    const char *resume = args_str(&a, "resume", NULL);
    if (resume) {
        char path[4200], *text = NULL;
        s = path_format(path, sizeof path, "%s/config.json", resume);
        if (s == TD_OK) s = file_read_all(path, &text, NULL);
        if (s == TD_OK) s = train_config_parse(text, &cfg);
        free(text);
        if (s != TD_OK) {
            td_error_print(s);
            return 1;
        }
        for (int i = 0; i < a.n; i++)
            if (strcmp(a.key[i], "threads") && strcmp(a.key[i], "quiet") && strcmp(a.key[i], "stop-after") &&
                strcmp(a.key[i], "resume")) {
                fprintf(stderr, "tsedarts: error: train: --%s cannot be combined with --resume (the run's config.json is used)\n",
                        a.key[i]);
                return 2;
            }
    } else {
        static const char *const nets[] = {"eval", "linear", NULL};
        cfg.net.linear = args_choice(&a, "net", "eval", nets);
        if (args_has(&a, "budget")) {
            s = train_config_budget(&cfg, args_str(&a, "budget", "paper"));
            if (s != TD_OK) {
                td_error_print(s);
                return 2;
            }
        }
        if (!cfg.net.linear) {
            const char *g = args_str(&a, "genotype", NULL);
            if (!g) {
                fprintf(stderr, "tsedarts: error: train: --genotype NAME|FILE is required (or --net linear)\n");
                return 2;
            }
            s = genotype_load(g, &cfg.net.geno);
            if (s != TD_OK) {
                td_error_print(s);
                return 1;
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
        cfg.net.layers = (int)args_int(&a, "layers", cfg.net.layers, 3, 200);
        cfg.net.C = (int)args_int(&a, "channels", cfg.net.C, 2, 2048);
        cfg.epochs = (int)args_int(&a, "epochs", cfg.epochs, 1, 100000);
        cfg.batch = (int)args_int(&a, "batch", cfg.batch, 1, 100000);
        cfg.seed = (uint64_t)args_int(&a, "seed", (long)cfg.seed, 0, 0x7fffffffL);
        cfg.subset = (int)args_int(&a, "subset", cfg.subset, 0, 100000000);
        cfg.valid_images = (int)args_int(&a, "valid-images", cfg.valid_images, 0, 100000000);
        cfg.split_seed = (uint64_t)args_int(&a, "split-seed", (long)cfg.split_seed, 0, 0x7fffffffL);
        cfg.test_images = (int)args_int(&a, "test-images", cfg.test_images, -1, 100000000);
        cfg.net.auxiliary = !args_has(&a, "no-auxiliary") && !cfg.net.linear;
        cfg.net.drop_path = !args_has(&a, "no-drop-path") && !cfg.net.linear;
        cfg.cutout = (int)args_int(&a, "cutout", cfg.cutout, 0, 1024);
        cfg.augment = !args_has(&a, "no-augment");
        static const char *const dts[] = {"f32", "f64", NULL};
        cfg.dt = args_choice(&a, "dtype", "f32", dts) ? DT_F64 : DT_F32;
        if (cfg.net.C % 2) {
            fprintf(stderr, "tsedarts: error: train: --channels must be even (FactorizedReduce halves it)\n");
            return 2;
        }
    }
    train_options opt;
    memset(&opt, 0, sizeof opt);
    opt.be = backend_cpu();
    opt.out_dir = resume ? resume : args_str(&a, "out", NULL);
    opt.resume = resume != NULL;
    opt.threads = (int)args_int(&a, "threads", 0, 0, 1024);
    opt.stop_after_steps = args_int(&a, "stop-after", 0, 0, 1L << 40);
    opt.quiet = args_has(&a, "quiet");
    if (a.error != TD_OK) {
        td_error_print(a.error);
        return 2;
    }
    if (!opt.out_dir) {
        fprintf(stderr, "tsedarts: error: train: --out DIR is required\n");
        return 2;
    }
    stop_install_handlers();
    train_result res;
    s = train_run(&cfg, &opt, &res);
    if (s == TD_ERR_INTERRUPTED) {
        fprintf(stderr, "tsedarts: %s\ntsedarts: continue with: tsedarts train --resume %s\n", td_error_message(), opt.out_dir);
        return 130;
    }
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    printf("test error %.4f (%.2f%%) on %d images, test loss %.4f\n", res.test_error, 100 * res.test_error,
           res.test_count, res.test_loss);
    if (res.valid_error >= 0) printf("held-out validation error %.4f\n", res.valid_error);
    printf("results in %s (%.1f s per epoch)\n", opt.out_dir, res.seconds_per_epoch);
    return 0;
}
