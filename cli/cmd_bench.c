/* tsedarts bench step: time of one search step, achieved GFLOP/s, peak
 * memory; bench tse-gradient: one exact against one first-order TSE
 * gradient; bench train: one retraining step of a genotype and the epoch
 * time it implies. Benchmarks: they print figures and assert nothing. */
#include <omp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "args.h"
#include "commands.h"
#include "device_arg.h"
#include "omp_regions.h"
#include "tsedarts/exec.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"

static const opt_spec specs[] = {
    {"algo", 1, "darts1 (default) | darts2 | tse"},
    {"batch", 1, "batch size (default 64)"},
    {"layers", 1, "cells (default 8)"},
    {"channels", 1, "initial channels (default 16)"},
    {"threads", 1, "OpenMP threads (default: all cores)"},
    DEVICE_OPT_SPEC,
    {"dtype", 1, "f32 (default) | f64"},
    {"steps", 1, "timed steps (default 5)"},
    {"tse-steps", 1, "tse-gradient: trajectory length T (default 100)"},
    {"genotype", 1, "train: genotype name or file (default DARTS_V2)"},
    {"warmup", 1, "untimed steps first (default 2: on a GPU the second is the one recorded)"},
    ACTIVATIONS_OPT_SPECS,
    {"profile", 0,
     "time every node and print the largest shares (runs are not recorded; a GPU times them by events on its "
     "stream, the CPU by the host clock)"},
    {"help", 0, "show this help"},
};
#define N_SPECS ((int)(sizeof specs / sizeof specs[0]))

/* How many calls the graphs made into the backend per step and, on a
 * backend that counts them, how many launches (total: every launch of the
 * step, the graphs' included; -1 where unknown). */
static void print_counts(const backend *be, int steps, double total)
{
    const exec_profile *p = exec_profile_get();
    double nodes = (double)p->launches / steps, calls = (double)p->dispatches / steps;
    if (!be->launches) {
        long started, forked;
        printf("  dispatches per step: %.0f (calls into the backend by graph nodes, a fused group counting one)\n", calls);
        if (exec_profile_regions(&started, &forked))
            printf("  OpenMP parallel regions per step: %.0f, %.0f of them on more than one thread (the step's, "
                   "optimisers and data included)\n",
                   (double)started / steps, (double)forked / steps);
        else
            printf("  OpenMP parallel regions: not counted by this build (GCC's libgomp only)\n");
        return;
    }
    if (total >= 0)
        printf("  launches per step: %.0f (kernels, each cuDNN or cuBLAS call counting one; %.0f by graph nodes, "
               "%.0f by optimisers and other flat operations)\n",
               total, nodes, total - nodes);
    else
        printf("  launches per step by graph nodes: %.0f (kernels, each cuDNN or cuBLAS call counting one; optimisers "
               "not counted)\n",
               nodes);
    printf("  graph nodes per step: %.0f calls into the backend, %.0f of %.0f runs replayed from recordings (%.0f "
           "launches)\n",
           calls, (double)p->replays / steps, (double)p->runs / steps, (double)p->replayed_launches / steps);
}

static void print_profile(int steps)
{
    const exec_profile *p = exec_profile_get();
    double total = 0;
    long launches = 0;
    for (int i = 0; i < OP_COUNT; i++) {
        total += p->seconds[i];
        launches += p->launches_by_op[i];
    }
    printf("  kernel profile (%.3f s in kernels per %s; %s; runs not recorded):\n", total / steps,
           steps > 1 ? "step" : "run",
           p->device_clock ? "device clock: events on the stream around each node, read once after each run"
                           : "host clock, with a synchronisation after each node");
    printf("    (GB/s: each node's inputs and output counted once, as if it ran alone; a fused or cached read "
           "can beat the machine's stream bandwidth)\n");
    if (launches)
        printf("    %-20s %8s %7s %10s %9s %8s %10s\n", "op", "s", "share", "calls", "GFLOP/s", "GB/s", "launches");
    else
        printf("    %-20s %8s %7s %10s %9s %8s\n", "op", "s", "share", "calls", "GFLOP/s", "GB/s");
    for (int shown = 0; shown < 24; shown++) {
        int best = -1;
        for (int i = 0; i < OP_COUNT; i++)
            if (p->seconds[i] > 0 && (best < 0 || p->seconds[i] > p->seconds[best])) best = i;
        if (best < 0) break;
        printf("    %-20s %8.4f %6.1f%% %10ld %9.2f %8.2f", op_name((op_kind)best), p->seconds[best] / steps,
               100 * p->seconds[best] / total, p->calls[best] / steps,
               p->gflop[best] > 0 ? p->gflop[best] / p->seconds[best] : 0.0, p->gbytes[best] / p->seconds[best]);
        if (launches) printf(" %10ld", p->launches_by_op[best] / steps);
        printf("\n");
        ((exec_profile *)p)->seconds[best] = -1;
    }
    printf("    convolutions by kind:\n");
    for (int op = 0; op < 3; op++)
        for (int c = 0; c < CONV_CLASS_COUNT; c++) {
            double s = p->conv_seconds[op][c];
            if (s <= 0) continue;
            printf("    %-20s %-13s %8.4f %6.1f%% %9.2f GFLOP/s %8.2f GB/s\n", op_name((op_kind)(OP_CONV2D + op)),
                   conv_class_name((conv_class)c), s / steps, 100 * s / total, p->conv_gflop[op][c] / s,
                   p->conv_gbytes[op][c] / s);
        }
    printf("    fused groups by kind (time and calls of every node each ran, charged to the group):\n");
    for (int k = FUSED_NONE + 1; k < FUSED_KIND_END; k++)
        if (p->fused_calls[k] > 0)
            printf("    %-20s %8.4f %6.1f%% %10ld\n", fused_kind_name((fused_kind)k), p->fused_seconds[k] / steps,
                   100 * p->fused_seconds[k] / total, p->fused_calls[k] / steps);
}

static int bench_tse_gradient(const search_config *cfg, const backend *be, int T, activation_policy keep, int prof)
{
    printf("bench tse-gradient: T=%d, batch %d, C=%d, %d layers, 3x32x32, %d threads, %s %s\n", T, cfg->batch, cfg->net.C,
           cfg->net.layers, omp_get_max_threads(), be->name, dtype_name(cfg->dt));
    fflush(stdout);
    exec_profile_enable(prof);
    tse_gradient_bench r;
    td_status s = search_bench_tse_gradient(cfg, be, T, keep, &r);
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("first-order TSE gradient: %.3f s (%.4f s per step)\n", r.first_order_s, r.first_order_s / T);
    printf("exact TSE gradient:       %.3f s (rollout %.3f s + reverse sweep %.3f s)\n", r.exact_s, r.exact_rollout_s,
           r.exact_s - r.exact_rollout_s);
    printf("exact / first order:      %.2fx time\n", r.first_order_s > 0 ? r.exact_s / r.first_order_s : 0);
    printf("memory: weight snapshots T|w| = %.1f MiB (|w| = %.2f MiB), activation arena %.0f MiB, peak resident %.0f MiB\n",
           r.snapshot_mib, r.param_mib, r.arena_mib, ru.ru_maxrss / 1024.0);
    printf("exact vs first order: cosine %.4f, norm ratio %.4f\n", r.cosine, r.norm_ratio);
    if (prof) print_profile(1);
    return 0;
}

static int bench_train(const char *geno, int batch, int layers, int C, dtype dt, const backend *be, int warmup, int steps,
                       int prof)
{
    train_config cfg;
    train_config_defaults(&cfg);
    td_status s = genotype_load(geno, &cfg.net.geno);
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    cfg.batch = batch;
    cfg.net.layers = layers;
    cfg.net.C = C;
    cfg.dt = dt;
    printf("bench train: %s, batch %d, C=%d, %d layers, 3x32x32, auxiliary head, drop path, %d threads, %s %s\n", geno,
           batch, C, layers, omp_get_max_threads(), be->name, dtype_name(dt));
    fflush(stdout);
    exec_profile_enable(prof);
    double med = 0, arena = 0;
    s = train_bench(&cfg, be, warmup, steps, &med, &arena);
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("train step: %.4f s/step (median of %d after %d warm-up)\n", med, steps, warmup);
    printf("  epoch: %.0f s on CIFAR-10 (50,000 images), %.0f s on Fashion-MNIST (60,000)\n",
           med * ((50000 + batch - 1) / batch), med * ((60000 + batch - 1) / batch));
    printf("  peak resident memory: %.0f MiB (activation arena %.0f MiB)\n", ru.ru_maxrss / 1024.0, arena);
    if (be->memory_peak) printf("  peak %s memory: %.0f MiB\n", be->name, be->memory_peak() / 1048576.0);
    print_counts(be, steps, -1);
    if (prof) print_profile(steps);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    args a;
    td_status s = args_parse(&a, "bench", specs, N_SPECS, argc, argv);
    if (s != TD_OK) {
        td_error_print(s);
        return 2;
    }
    exec_profile_count_regions(omp_regions_started, omp_regions_forked);
    int tse_grad = a.n_pos == 1 && strcmp(a.pos[0], "tse-gradient") == 0;
    int train = a.n_pos == 1 && strcmp(a.pos[0], "train") == 0;
    if (args_has(&a, "help") || a.n_pos != 1 || (strcmp(a.pos[0], "step") != 0 && !tse_grad && !train)) {
        args_usage("bench",
                   "step|tse-gradient|train [--algo A] [--genotype G] [--batch B] [--layers L] [--channels C] [--threads N] "
                   "[--device cpu|cuda]",
                   specs, N_SPECS);
        return args_has(&a, "help") ? 0 : 2;
    }
    search_config cfg;
    search_config_defaults(&cfg);
    static const char *const algos[] = {"darts1", "darts2", "tse", NULL};
    cfg.algo = (search_algo)args_choice(&a, "algo", "darts1", algos);
    cfg.batch = (int)args_int(&a, "batch", 64, 1, 4096);
    cfg.net.layers = (int)args_int(&a, "layers", 8, 3, 100);
    cfg.net.C = (int)args_int(&a, "channels", 16, 2, 1024);
    static const char *const dts[] = {"f32", "f64", NULL};
    cfg.dt = args_choice(&a, "dtype", "f32", dts) ? DT_F64 : DT_F32;
    int threads = (int)args_int(&a, "threads", 0, 0, 1024);
    /* on a device that records runs, the first step runs directly and the
     * second is recorded: the timed steps are replays */
    int steps = (int)args_int(&a, "steps", 5, 1, 1000), warmup = (int)args_int(&a, "warmup", 2, 0, 1000);
    int T = (int)args_int(&a, "tse-steps", 100, 1, 100000);
    activation_policy activations = cli_activations(&a);
    if (a.error != TD_OK) {
        td_error_print(a.error);
        return 2;
    }
    const backend *be = cli_device(&a, "bench", NULL);
    if (!be) return 2;
    if (threads > 0) omp_set_num_threads(threads);
    if (train)
        return bench_train(args_str(&a, "genotype", "DARTS_V2"), (int)args_int(&a, "batch", 96, 1, 4096),
                           (int)args_int(&a, "layers", 20, 3, 200), (int)args_int(&a, "channels", 36, 2, 2048), cfg.dt,
                           be, warmup, steps, args_has(&a, "profile"));
    if (tse_grad) return bench_tse_gradient(&cfg, be, T, activations, args_has(&a, "profile"));
    printf("bench step: %s, batch %d, C=%d, %d layers, 3x32x32, %d threads, %s %s\n", search_algo_name(cfg.algo),
           cfg.batch, cfg.net.C, cfg.net.layers, omp_get_max_threads(), be->name, dtype_name(cfg.dt));
    fflush(stdout);
    int prof = args_has(&a, "profile");
    exec_profile_enable(prof);
    search_bench_result r;
    s = search_bench(&cfg, be, warmup, steps, activations, &r);
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("step: %.4f s/step\n", r.median_s);
    printf("  median of %d (min %.4f, max %.4f) after %d warm-up\n", steps, r.min_s, r.max_s, warmup);
    printf("  convolution + matmul work: %.2f GFLOP/step, %.2f GFLOP/s\n", r.gflop_per_step,
           r.median_s > 0 ? r.gflop_per_step / r.median_s : 0);
    printf("  peak resident memory: %.0f MiB (activation arena %.0f MiB, parameters and optimiser state %.0f MiB)\n",
           ru.ru_maxrss / 1024.0, r.arena_mib, r.param_mib);
    if (be->memory_peak) printf("  peak %s memory: %.0f MiB\n", be->name, be->memory_peak() / 1048576.0);
    printf("  activations: %d of %d training graphs recompute their cells (%s)\n", r.graphs_recomputing, r.graphs,
           activations == ACTIVATIONS_KEEP        ? "--keep-activations"
           : activations == ACTIVATIONS_RECOMPUTE ? "--recompute"
           : be->device_memory                    ? "kept where they fit 75% of free device memory"
                                                  : "recomputed on the CPU by default");
    print_counts(be, steps, r.launches_per_step);
    if (prof) print_profile(steps);
    return 0;
}
