/* tsedarts train: retrain a genotype from scratch and report test error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "device_arg.h"
#include "run_config.h"
#include "tsedarts/data.h"
#include "tsedarts/dir_lock.h"
#include "tsedarts/figures.h"
#include "tsedarts/runtime.h"
#include "tsedarts/train.h"

/* The command's own options; every config field adds its flag (train_config.c). */
static const opt_spec own_specs[] = {
    {"budget", 1, "NAME: the sizes of a budget below"},
    DEVICE_OPT_SPEC,
    {"threads", 1, "OpenMP threads (default: all cores)"},
    {"out", 1, "output directory (required unless --resume)"},
    {"resume", 1, "continue the run in DIR"},
    {"stop-after", 1, "stop (checkpointed, as on SIGINT) after N steps; for testing resume"},
    {"print-config", 0, "print the config.json this run would write, then stop without running"},
    {"quiet", 0, "no progress output"},
    {"help", 0, "show this help"},
};
#define N_OWN ((int)(sizeof own_specs / sizeof own_specs[0]))

/* The config of a new run: defaults, then the budget (for --net linear,
 * the budget's baseline, as the protocol runs it), then the flags. */
static int config_from_flags(args *a, train_config *cfg)
{
    td_status s = TD_OK;
    int linear = args_has(a, "net") && !strcmp(args_str(a, "net", ""), "linear");
    if (args_has(a, "budget"))
        s = linear ? train_config_baseline(cfg, args_str(a, "budget", "")) : train_config_budget(cfg, args_str(a, "budget", ""), 0);
    if (s == TD_OK) s = args_apply_fields(a, cfg);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (!cfg->net.linear && !args_has(a, "genotype")) {
        fprintf(stderr, "tsedarts: error: train: --genotype NAME|FILE is required (or --net linear)\n");
        return 2;
    }
    /* a linear classifier has no auxiliary head and no cells to drop */
    if (cfg->net.linear) cfg->net.auxiliary = cfg->net.drop_path = 0;
    if (cfg->net.C % 2) {
        fprintf(stderr, "tsedarts: error: train: --channels must be even (FactorizedReduce halves it)\n");
        return 2;
    }
    return 0;
}

/* train_config_parse for cli_config_from_run. */
static td_status parse_config(const char *json, void *config) { return train_config_parse(json, config); }

/* The image sizes are the dataset's: set here as the run will set them. */
static int print_config(train_config *cfg)
{
    char *json = NULL;
    td_status s = dataset_dims(cfg->dataset, cfg->pad32, &cfg->net.in_ch, &cfg->net.hw, &cfg->net.classes);
    if (s == TD_OK) s = train_config_json(cfg, &json);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    printf("%s\n", json);
    free(json);
    return 0;
}

/* Runs the retraining in opt->out_dir (locked) and prints its results. */
static int run_and_report(const train_config *c, const train_options *o)
{
    train_config cfg = *c;
    train_options opt = *o;
    td_status s;
    train_result res;
    s = train_run(&cfg, &opt, &res);
    if (s == TD_ERR_INTERRUPTED) {
        fprintf(stderr, "tsedarts: %s\ntsedarts: continue with: tsedarts train --resume %s\n", td_error_message(), opt.out_dir);
        return stop_exit_status();
    }
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    printf("test error %.4f (%.2f%%) on %d images, test loss %.4f\n", res.test_error, 100 * res.test_error,
           res.test_count, res.test_loss);
    if (res.valid_error >= 0) printf("held-out validation error %.4f\n", res.valid_error);
    fflush(stdout);
    if (figures_for_run(opt.out_dir, NULL, stderr)) printf("curves in %s/curves.svg and .png\n", opt.out_dir);
    printf("results in %s (%.1f s per epoch)\n", opt.out_dir, res.seconds_per_epoch);
    return 0;
}

static int train_with(const opt_table *t, int argc, char **argv)
{
    args a;
    td_status s = args_parse_table(&a, "train", t, argc, argv);
    if (s == TD_OK) s = args_no_positionals(&a);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (args_has(&a, "help")) {
        args_usage_table("train", "--genotype NAME|FILE --out DIR [--budget NAME] [options]", t);
        args_usage_budgets();
        return 0;
    }
    train_config cfg;
    train_config_defaults(&cfg);
    const char *resume = args_str(&a, "resume", NULL);
    int rc = resume ? cli_config_from_run(&a, "train", resume, parse_config, &cfg) : config_from_flags(&a, &cfg);
    if (rc) return rc;
    if (args_has(&a, "print-config")) return print_config(&cfg);
    train_options opt;
    memset(&opt, 0, sizeof opt);
    opt.out_dir = resume ? resume : args_str(&a, "out", NULL);
    opt.resume = resume != NULL;
    opt.threads = (int)args_int(&a, "threads", 0, 0, 1024);
    opt.stop_after_steps = args_int(&a, "stop-after", 0, 0, 1L << 40);
    opt.quiet = args_has(&a, "quiet");
    if (a.error != TD_OK) {
        td_error_print(a.error);
        return 2;
    }
    opt.be = cli_device(&a, "train", resume);
    if (!opt.be) return 2;
    if (!opt.out_dir) {
        fprintf(stderr, "tsedarts: error: train: --out DIR is required\n");
        return 2;
    }
    stop_install_handlers();
    /* one writer per run directory: a second train or search on it is
     * refused, naming the first */
    dir_lock lock;
    s = dir_lock_take(opt.out_dir, resume ? "tsedarts train --resume" : "tsedarts train", &lock);
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    rc = run_and_report(&cfg, &opt);
    dir_lock_release(&lock);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    opt_table t;
    td_status s = opt_table_build(&t, "train", own_specs, N_OWN, train_config_fields, train_config_n_fields);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    int rc = train_with(&t, argc, argv);
    opt_table_free(&t);
    return rc;
}
