/* The engine keeps its hands off backend memory: every search algorithm,
 * the Hessian diagnostic, retraining and a stop/resume run on a backend
 * whose memory faults when the host touches it (fenced_backend.c), and
 * write the same files, byte for byte, as on the CPU. A GPU run goes
 * through the same calls, so what passes here cannot fail there by a stray
 * host read. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fenced_backend.h"
#include "quiet_runs.h"
#include "sandbox.h"
#include "tse_fixture.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"

static void small_search(search_config *c, search_algo algo)
{
    quiet_tiny_search_config(c, algo);
    c->epochs = 1;
    c->subset = 24; /* three steps: stopped after two units, resumed for the rest */
    c->eval_images = 8;
    c->tse_steps = 2;
}

static char *dir_for(const char *tag, const char *side)
{
    char name[64];
    snprintf(name, sizeof name, "fenced-%s-%s", tag, side);
    return sandbox_dir(name);
}

static void search_both(search_algo algo, const char *tag, int hessian)
{
    search_config c;
    small_search(&c, algo);
    c.hessian_every = hessian;
    c.hessian_lanczos = hessian ? 4 : 0; /* four Lanczos steps: the HVP path, not the 224 of the full Hessian */
    char *cpu = dir_for(tag, "cpu"), *fenced = dir_for(tag, "fenced");
    cr_assert_eq(quiet_search(backend_cpu(), &c, cpu, 0, 0), TD_OK, "%s", td_error_message());
    /* stopped after two units of work and resumed: the resume path too */
    cr_assert_eq(quiet_search(backend_fenced(), &c, fenced, 0, 2), TD_ERR_INTERRUPTED, "%s", td_error_message());
    cr_assert_eq(quiet_search(backend_fenced(), &c, fenced, 1, 0), TD_OK, "%s", td_error_message());
    const char *files[] = {"weights.safetensors", "alphas.safetensors", "metrics.jsonl", "genotype.txt",
                           "result.json", NULL};
    expect_same_run_files(cpu, fenced, files, "the CPU and the fenced backend");
    free(cpu);
    free(fenced);
}

/* On a device the training graphs keep their activations where they fit
 * and recompute them where they do not: the decision is taken (seen in a
 * benchmark's count), and either way the files are the CPU's, which
 * recomputes by default. */
static void keep_or_recompute(search_algo algo, const char *tag)
{
    search_config c;
    small_search(&c, algo);
    search_bench_result r;
    fenced_set_free_memory((size_t)1 << 50);
    cr_assert_eq(search_bench(&c, backend_fenced(), 0, 1, ACTIVATIONS_AUTO, &r), TD_OK, "%s", td_error_message());
    cr_expect(r.graphs > 0 && r.graphs_recomputing == 0, "%s: %d of %d graphs recompute with memory to spare", tag,
              r.graphs_recomputing, r.graphs);
    fenced_set_free_memory(0);
    cr_assert_eq(search_bench(&c, backend_fenced(), 0, 1, ACTIVATIONS_AUTO, &r), TD_OK, "%s", td_error_message());
    cr_expect(r.graphs_recomputing > 0, "%s: no graph recomputes with no memory free", tag);
    char *cpu = dir_for(tag, "cpu-recomputed"), *tight = dir_for(tag, "tight"), *roomy = dir_for(tag, "roomy");
    cr_assert_eq(quiet_search(backend_cpu(), &c, cpu, 0, 0), TD_OK, "%s", td_error_message());
    cr_assert_eq(quiet_search(backend_fenced(), &c, tight, 0, 0), TD_OK, "%s", td_error_message());
    fenced_set_free_memory((size_t)1 << 50);
    cr_assert_eq(quiet_search(backend_fenced(), &c, roomy, 0, 0), TD_OK, "%s", td_error_message());
    const char *files[] = {"weights.safetensors", "alphas.safetensors", "metrics.jsonl", "genotype.txt",
                           "result.json", NULL};
    expect_same_run_files(cpu, tight, files, "the CPU and the fenced backend");
    expect_same_run_files(cpu, roomy, files, "the CPU and the fenced backend");
    free(cpu);
    free(tight);
    free(roomy);
}

Test(fenced, darts1_keeps_or_recomputes_to_the_same_bits) { keep_or_recompute(ALGO_DARTS1, "keep-darts1"); }
Test(fenced, darts2_keeps_or_recomputes_to_the_same_bits) { keep_or_recompute(ALGO_DARTS2, "keep-darts2"); }
Test(fenced, tse_keeps_or_recomputes_to_the_same_bits) { keep_or_recompute(ALGO_TSE, "keep-tse"); }

Test(fenced, darts1) { search_both(ALGO_DARTS1, "darts1", 0); }
Test(fenced, darts2) { search_both(ALGO_DARTS2, "darts2", 0); }
Test(fenced, tse) { search_both(ALGO_TSE, "tse", 0); }
Test(fenced, tse_exact) { search_both(ALGO_TSE_EXACT, "tse-exact", 0); }
Test(fenced, darts1_with_hessian_diagnostic) { search_both(ALGO_DARTS1, "hessian", 1); }

Test(fenced, train)
{
    train_config c;
    train_config_defaults(&c);
    cr_assert_eq(genotype_load("DARTS_V2", &c.net.geno), TD_OK, "%s", td_error_message());
    snprintf(c.dataset, sizeof c.dataset, "synthetic");
    c.net.C = 4;
    c.net.layers = 5;
    c.batch = 8;
    c.epochs = 1;
    c.subset = 24;
    c.test_images = 16;
    char *cpu = dir_for("train", "cpu"), *fenced = dir_for("train", "fenced");
    cr_assert_eq(quiet_train(backend_cpu(), &c, cpu, 0, 0), TD_OK, "%s", td_error_message());
    cr_assert_eq(quiet_train(backend_fenced(), &c, fenced, 0, 0), TD_OK, "%s", td_error_message());
    const char *files[] = {"weights.safetensors", "metrics.jsonl", "result.json", NULL};
    expect_same_run_files(cpu, fenced, files, "the CPU and the fenced backend");
    free(cpu);
    free(fenced);
}

Test(fenced, exact_tse_gradient)
{
    tse_fixture fc, ff;
    fixture_init(&fc, 0, 1, 2, 0.01, 0.9, 0.01, DT_F64);
    fixture_init_on(&ff, backend_fenced(), 0, 1, 2, 0.01, 0.9, 0.01, DT_F64);
    size_t n = fixture_n_alpha(&fc);
    double *alphas = calloc(n, sizeof *alphas), *e1 = calloc(n, sizeof *e1), *f1 = calloc(n, sizeof *f1);
    double *e2 = calloc(n, sizeof *e2), *f2 = calloc(n, sizeof *f2);
    for (size_t i = 0; i < n; i++) alphas[i] = 0.1 * (double)(i % 7) - 0.3;
    fixture_gradients(&fc, alphas, e1, f1);
    fixture_gradients(&ff, alphas, e2, f2);
    cr_expect(!memcmp(e1, e2, n * sizeof *e1), "exact TSE gradients differ");
    cr_expect(!memcmp(f1, f2, n * sizeof *f1), "first-order TSE gradients differ");
    free(alphas);
    free(e1);
    free(f1);
    free(e2);
    free(f2);
    fixture_free(&fc);
    fixture_free(&ff);
}
