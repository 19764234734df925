/* tsedarts protocol plan|run|status|report|run-one|cancel darts_space */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "tsedarts/budget.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/protocol.h"
#include "tsedarts/protocol_estimate.h"
#include "tsedarts/protocol_slurm.h"
#include "tsedarts/runtime.h"
#include "tsedarts/device.h"

static const opt_spec specs[] = {
    {"budget", 1, "NAME: one of the budgets below (default mini)"},
    {"dataset", 1, "fashion-mnist (default) | cifar10:DIR | synthetic"},
    {"data-dir", 1, "Fashion-MNIST directory"},
    {"methods", 1,
     "comma list of darts1,darts2,tse,tse-drnas,tse-pdarts,tse20,darts1-20 (default: these seven, Table 2's rows) "
     "and the extra rows drnas,pdarts"},
    {"selection", 1, "valid (default: held-out split of the training set) | test (flagged)"},
    {"jobs", 1, "runs at once, each in its own process (default: one per device)"},
    {"device", 1, DEVICE_LIST_HELP},
    {"threads", 1, "OpenMP threads in all (default: all cores)"},
    {"out", 1, "results directory (required)"},
    {"stop-after-runs", 1, "stop after N runs have completed (for testing resume)"},
    {"quiet", 0, "no progress output (and no estimate before the start)"},
    {"no-estimate", 0, "run: start without timing the runs first (the time left comes from the runs that finish)"},
    {"json", 0, "plan: print the plan itself (JSON) instead of its cost"},
    {"remeasure", 0, "plan, run: time every kind of run afresh, replacing the timings kept for this device model"},
    {"executor", 1, "local (default: runs here) | slurm (submits job arrays; see README)"},
    {"slurm-config", 1, "FILE of key = value lines: partition, account, extra, binary, [search.|select.|final.|report.]cpus|mem|time|gpus"},
    {"partition", 1, "slurm partition (overrides the config file)"},
    {"account", 1, "slurm account (overrides the config file)"},
    {"sbatch-extra", 1, "more sbatch options, space-separated (overrides the config file)"},
    {"wait", 0, "slurm: return when the protocol's jobs have ended"},
    {"slot", 1, "run-one: METHOD/STAGE[/TASK] (stage search|select|final; TASK default $SLURM_ARRAY_TASK_ID)"},
    {"help", 0, "show this help"},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

static int finish(td_status s)
{
    if (s == TD_OK) return 0;
    td_error_print(s);
    return 1;
}

/* The config file first, then the flags of the same names over it. */
static td_status slurm_options(args *a, slurm_config *c)
{
    slurm_config_defaults(c);
    if (args_has(a, "slurm-config")) TD_CHECK(slurm_config_read(c, args_str(a, "slurm-config", "")));
    static const char *const flags[][2] = {{"partition", "partition"}, {"account", "account"}, {"sbatch-extra", "extra"}};
    for (int i = 0; i < 3; i++)
        if (args_has(a, flags[i][0])) TD_CHECK(slurm_config_set(c, flags[i][1], args_str(a, flags[i][0], "")));
    return TD_OK;
}

/* One planned run, as a Slurm job task runs it. */
static int run_one(args *a, const protocol_options *o)
{
    const char *slot = args_str(a, "slot", NULL);
    char method[64], stage[16];
    int task = -1, n = slot ? sscanf(slot, "%63[^/]/%15[^/]/%d", method, stage, &task) : 0;
    const char *env = getenv("SLURM_ARRAY_TASK_ID");
    if (n == 2 && env) task = atoi(env);
    int st = -1;
    for (int i = 0; n >= 2 && i < PROTOCOL_STAGES; i++)
        if (!strcmp(stage, protocol_stage_name((protocol_stage)i))) st = i;
    if (st < 0 || task < 0) {
        fprintf(stderr, "tsedarts: error: protocol run-one: --slot METHOD/search|select|final[/TASK] is required "
                        "(TASK from SLURM_ARRAY_TASK_ID when left out)\n");
        return 2;
    }
    stop_install_handlers();
    if (o->threads > 0) omp_set_num_threads(o->threads);
    td_status s = protocol_run_one(o, method, (protocol_stage)st, task);
    if (s == TD_ERR_INTERRUPTED) {
        fprintf(stderr, "tsedarts: %s\ntsedarts: its checkpoint is kept; resubmit to continue\n", td_error_message());
        return 130;
    }
    return finish(s);
}

int cmd_protocol(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "protocol", specs, N_SPECS, argc, argv);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    static const char *const verbs[] = {"plan", "run", "status", "report", "run-one", "cancel", NULL};
    if (args_has(&a, "help") || a.n_pos != 2) {
        args_usage("protocol", "plan|run|status|report|run-one|cancel darts_space --out DIR [--budget NAME] [options]", specs, N_SPECS);
        if (args_has(&a, "help")) args_usage_budgets();
        return args_has(&a, "help") ? 0 : 2;
    }
    int verb = -1;
    for (int i = 0; verbs[i]; i++)
        if (!strcmp(a.pos[0], verbs[i])) verb = i;
    if (verb < 0 || strcmp(a.pos[1], "darts_space")) {
        fprintf(stderr, "tsedarts: error: protocol: expected 'plan|run|status|report|run-one|cancel darts_space', got '%s %s'\n",
                a.pos[0], a.pos[1]);
        return 2;
    }
    protocol_request req;
    protocol_request_defaults(&req);
    const budget *b;
    s = budget_find(args_str(&a, "budget", req.budget), &b);
    if (s == TD_OK) s = path_format(req.budget, sizeof req.budget, "%s", b->name);
    if (s == TD_OK) s = path_format(req.dataset, sizeof req.dataset, "%s", args_str(&a, "dataset", "fashion-mnist"));
    if (s == TD_OK && args_has(&a, "data-dir"))
        s = path_format(req.data_dir, sizeof req.data_dir, "%s", args_str(&a, "data-dir", ""));
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    static const char *const sels[] = {"valid", "test", NULL};
    req.selection = (selection_rule)args_choice(&a, "selection", "valid", sels);
    req.jobs = (int)args_int(&a, "jobs", 1, 1, 64);
    if (args_has(&a, "methods") || b->methods) {
        s = protocol_parse_methods(&req, args_str(&a, "methods", b->methods));
        if (s != TD_OK) {
            td_error_print(s);
            return 2;
        }
    }
    protocol_options o;
    memset(&o, 0, sizeof o);
    o.out_dir = args_str(&a, "out", NULL);
    o.threads = (int)args_int(&a, "threads", 0, 0, 1024);
    o.stop_after_runs = args_int(&a, "stop-after-runs", 0, 0, 1000000);
    o.quiet = args_has(&a, "quiet");
    o.device = args_str(&a, "device", "cpu");
    device_list devices;
    /* the device matters to what runs; cuda:all is counted where it is used */
    if (a.error == TD_OK && (verb == 0 || verb == 1 || verb == 4) && strcmp(o.device, "cuda:all"))
        a.error = device_list_parse(o.device, &devices);
    if (a.error != TD_OK) {
        td_error_print(a.error);
        return 2;
    }
    static const char *const executors[] = {"local", "slurm", NULL};
    int slurm = args_choice(&a, "executor", "local", executors) == 1;
    if (verb == 0 && !args_has(&a, "json")) {
        /* the cost before the start: every kind of run timed on the device */
        if (o.threads > 0) omp_set_num_threads(o.threads);
        protocol_estimate *e = malloc(sizeof *e);
        s = e ? protocol_estimate_make(&req, &o, args_has(&a, "remeasure"), e) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
        if (s == TD_OK) protocol_estimate_print(e, &req, slurm, stdout);
        free(e);
        return finish(s);
    }
    if (verb == 0) {
        char *plan;
        s = protocol_plan_json(&req, &plan);
        if (s != TD_OK) {
            td_error_print(s);
            return 1;
        }
        char hash[SHA256_HEX_LEN];
        sha256_buffer(plan, strlen(plan), hash);
        printf("%s\n", plan);
        fprintf(stderr, "plan sha256 %s (budget %s%s)\n", hash, req.budget,
                b->spec ? ": the paper's settings (docs/budgets.md)" : ": scaled down, not comparable to the paper");
        free(plan);
        return 0;
    }
    if (!o.out_dir) {
        fprintf(stderr, "tsedarts: error: protocol: --out DIR is required\n");
        return 2;
    }
    char root[SHA256_HEX_LEN], slurm_dir[4400];
    if (a.error != TD_OK) {
        td_error_print(a.error);
        return 2;
    }
    if (verb == 4) return run_one(&a, &o);
    if (verb == 5) return finish(slurm_cancel(o.out_dir));
    if (verb == 2) {
        s = path_format(slurm_dir, sizeof slurm_dir, "%s/slurm", o.out_dir);
        if (s == TD_OK) s = file_exists(slurm_dir) ? slurm_status(o.out_dir) : protocol_status(o.out_dir);
    } else if (verb == 1 && slurm) {
        slurm_config sc;
        s = slurm_options(&a, &sc);
        if (s == TD_OK) s = slurm_submit(&req, &o, &sc, args_has(&a, "wait"), root);
        if (s == TD_OK && root[0]) printf("protocol finished; report: %s/report.md (one page: report.html)\nroot hash %s\n", o.out_dir, root);
    } else if (verb == 3) {
        s = protocol_report(o.out_dir, root);
        if (s == TD_OK) printf("report written to %s/report.md and report.html\nroot hash %s\n", o.out_dir, root);
    } else {
        stop_install_handlers();
        if (o.threads > 0) omp_set_num_threads(o.threads);
        /* what it will cost, said before it starts, and the time left on
         * the progress line */
        protocol_estimate *e = NULL;
        if (!o.quiet && !args_has(&a, "no-estimate")) {
            e = malloc(sizeof *e);
            s = e ? protocol_estimate_make(&req, &o, args_has(&a, "remeasure"), e)
                  : TD_FAIL(TD_ERR_MEMORY, "out of memory");
            if (s == TD_OK) {
                protocol_estimate_print_start(e, &req, o.out_dir, stderr);
                o.estimate = e;
            } else if (s == TD_ERR_INTERRUPTED || stop_requested()) {
                free(e);
                fprintf(stderr, "tsedarts: stopped before the protocol started\n");
                return stop_exit_status();
            } else {
                fprintf(stderr, "tsedarts: no estimate (%s); starting without one\n", td_error_message());
            }
        }
        double t0 = now_seconds();
        s = protocol_run(&req, &o, root);
        free(e);
        if (s == TD_ERR_INTERRUPTED) {
            fprintf(stderr, "tsedarts: %s\ntsedarts: continue with the same command\n", td_error_message());
            return stop_exit_status();
        }
        if (s == TD_OK) {
            char d[32];
            format_duration(now_seconds() - t0, d, sizeof d);
            printf("protocol finished in %s; report: %s/report.md (one page: report.html)\nroot hash %s\n", d, o.out_dir, root);
        }
    }
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    return 0;
}
