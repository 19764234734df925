/* tsedarts search: architecture search with darts1, darts2, tse, tse-exact,
 * pdarts or tse-pdarts. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "device_arg.h"
#include "run_config.h"
#include "tsedarts/darts.h"
#include "tsedarts/data.h"
#include "tsedarts/dir_lock.h"
#include "tsedarts/figures.h"
#include "tsedarts/runtime.h"
#include "tsedarts/search.h"
#include "tsedarts/space.h"

/* The command's own options; every config field adds its flag (search_config.c). */
static const opt_spec own_specs[] = {
    {"budget", 1, "NAME: the sizes of a budget below"},
    DEVICE_OPT_SPEC,
    {"threads", 1, "OpenMP threads (default: all cores)"},
    {"out", 1, "output directory (required unless --resume)"},
    {"resume", 1, "continue the run in DIR from its last checkpoint"},
    {"stop-after", 1, "stop (checkpointed, as on SIGINT) after N units of work; for testing resume"},
    ACTIVATIONS_OPT_SPECS,
    {"print-config", 0, "print the config.json this run would write, then stop without running"},
    {"quiet", 0, "no progress output"},
    {"help", 0, "show this help"},
};
#define N_OWN ((int)(sizeof own_specs / sizeof own_specs[0]))

/* The config of a new run: defaults, the algorithm's defaults, then the
 * budget, then the flags. */
static int config_from_flags(args *a, search_config *cfg)
{
    td_status s = TD_OK;
    if (args_has(a, "algo")) {
        const char *name = args_str(a, "algo", "");
        int algo = search_algo_by_name(name);
        if (algo >= 0) cfg->algo = (search_algo)algo; /* an unknown name is reported with the other flags */
        search_config_algo_defaults(cfg);
    }
    if (args_has(a, "budget")) s = search_config_budget(cfg, args_str(a, "budget", ""), 0);
    if (s == TD_OK) s = args_apply_fields(a, cfg);
    if (s == TD_OK) s = search_config_check(cfg);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (cfg->net.space == SPACE_NB201 && !args_has(a, "layers")) cfg->net.layers = 5;
    if (search_algo_staged(cfg->algo) && cfg->net.space != SPACE_DARTS) {
        fprintf(stderr, "tsedarts: error: search: --algo %s searches the darts space only\n", search_algo_name(cfg->algo));
        return 2;
    }
    if (cfg->net.space != SPACE_NB201 && cfg->net.layers < 3) {
        fprintf(stderr, "tsedarts: error: search: --layers must be at least 3 (the supernet has two reduction cells)\n");
        return 2;
    }
    if (cfg->tse_analysis && cfg->algo != ALGO_TSE && cfg->algo != ALGO_TSE_EXACT) {
        fprintf(stderr, "tsedarts: error: search: --tse-analysis needs --algo tse or tse-exact\n");
        return 2;
    }
    if (cfg->net.C % 2 && cfg->net.space != SPACE_NB201) {
        fprintf(stderr, "tsedarts: error: search: --channels must be even (FactorizedReduce halves it)\n");
        return 2;
    }
    return 0;
}

/* search_config_parse for cli_config_from_run. */
static td_status parse_config(const char *json, void *config) { return search_config_parse(json, config); }

/* The image sizes are the dataset's: set here as the run will set them. */
static int print_config(search_config *cfg)
{
    char *json = NULL;
    td_status s = dataset_dims(cfg->dataset, cfg->pad32, &cfg->net.in_ch, &cfg->net.hw, &cfg->net.classes);
    if (s == TD_OK) s = search_config_json(cfg, &json);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    printf("%s\n", json);
    free(json);
    return 0;
}

/* Runs the search in opt->out_dir (locked) and prints what it found. */
static int run_and_report(const search_config *c, const search_options *o)
{
    search_config cfg = *c;
    search_options opt = *o;
    td_status s;
    search_result res;
    s = search_run(&cfg, &opt, &res);
    if (s == TD_ERR_INTERRUPTED) {
        fprintf(stderr, "tsedarts: %s\ntsedarts: continue with: tsedarts search --resume %s\n", td_error_message(),
                opt.out_dir);
        return stop_exit_status();
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
    fflush(stdout);
    if (figures_for_run(opt.out_dir, res.space == SPACE_NB201 ? NULL : &res.geno, stderr))
        printf("figures in %s: curves.svg%s (and .png)\n", opt.out_dir, res.space == SPACE_NB201 ? "" : ", genotype.svg");
    printf("results in %s (%.1f s, %.3f s per step)\n", opt.out_dir, res.seconds, res.seconds_per_step);
    return 0;
}

static int search_with(const opt_table *t, int argc, char **argv)
{
    args a;
    td_status s = args_parse_table(&a, "search", t, argc, argv);
    if (s == TD_OK) s = args_no_positionals(&a);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    if (args_has(&a, "help")) {
        args_usage_table("search", "--algo ALGO --out DIR [--budget NAME] [options]", t);
        args_usage_budgets();
        printf("\ndrnas and tse-drnas start from the DrNAS reference's defaults, not the ones above: C 36, 20 cells,\n"
               "batch 64, 50 epochs (two stages), lr 0.1 to 0, arch lr 6e-4; tse-drnas adds `none` to the ops.\n"
               "Their budgets use C a multiple of 12 (k = 6 and 4) and scale the warm-up as 10 of 25 epochs.\n");
        return 0;
    }
    search_config cfg;
    search_config_defaults(&cfg);
    const char *resume = args_str(&a, "resume", NULL);
    int rc = resume ? cli_config_from_run(&a, "search", resume, parse_config, &cfg) : config_from_flags(&a, &cfg);
    if (rc) return rc;
    if (args_has(&a, "print-config")) return print_config(&cfg);
    search_options opt;
    memset(&opt, 0, sizeof opt);
    opt.out_dir = resume ? resume : args_str(&a, "out", NULL);
    opt.resume = resume != NULL;
    opt.threads = (int)args_int(&a, "threads", 0, 0, 1024);
    opt.stop_after_units = args_int(&a, "stop-after", 0, 0, 1L << 40);
    opt.quiet = args_has(&a, "quiet");
    opt.activations = cli_activations(&a);
    if (a.error != TD_OK) {
        td_error_print(a.error);
        return 2;
    }
    opt.be = cli_device(&a, "search", resume);
    if (!opt.be) return 2;
    if (!opt.out_dir) {
        fprintf(stderr, "tsedarts: error: search: --out DIR is required (where config, metrics, checkpoints and results go)\n");
        return 2;
    }
    stop_install_handlers();
    /* one writer per run directory: a second search or train on it is
     * refused, naming the first */
    dir_lock lock;
    s = dir_lock_take(opt.out_dir, resume ? "tsedarts search --resume" : "tsedarts search", &lock);
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    rc = run_and_report(&cfg, &opt);
    dir_lock_release(&lock);
    return rc;
}

int cmd_search(int argc, char **argv)
{
    opt_table t;
    td_status s = opt_table_build(&t, "search", own_specs, N_OWN, search_config_fields, search_config_n_fields);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    int rc = search_with(&t, argc, argv);
    opt_table_free(&t);
    return rc;
}
