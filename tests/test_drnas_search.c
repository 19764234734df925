/* DrNAS and TSE-DrNAS searches: the rules between and after the stages
 * (pruning, widening, learning rate, genotype), end-to-end runs, and
 * resume bit-identical across the stage boundary. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#include "tsedarts/backend_cpu.h"
#include "tsedarts/drnas_search.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"
#include "tsedarts/search_internal.h"

/* --- pruning ------------------------------------------------------------- */

Test(drnas_rules, prune_keeps_the_top_alphas_first_index_on_ties)
{
    double a[2 * 7] = {0.1, 0.5, 0.5, -1, 0.5, 0.2, 0.3, /* ties: ops 1, 2, 4 then 6 */
                       0, 0, 0, 0, 0, 0, 0};            /* all tied: the first four */
    unsigned char keep[2 * DOP_COUNT];
    drnas_prune(a, 2, 7, 4, keep);
    static const unsigned char want[2][7] = {{0, 1, 1, 0, 1, 0, 1}, {1, 1, 1, 1, 0, 0, 0}};
    for (int r = 0; r < 2; r++)
        for (int o = 0; o < 7; o++) {
            cr_expect_eq(keep[r * DOP_COUNT + o], want[r][o], "row %d op %d", r, o);
            if (!want[r][o]) cr_expect_eq(a[r * 7 + o], 0.0, "pruned alpha row %d op %d not zeroed", r, o);
        }
    cr_expect_eq(a[1], 0.5, "a kept alpha changed");
}

/* --- learning rate ------------------------------------------------------- */

/* docs/numerics.md s.6.3's figures, given to 3 significant digits. */
Test(drnas_rules, learning_rate_as_run_and_intended)
{
    search_config c;
    search_config_defaults(&c);
    c.algo = ALGO_DRNAS;
    search_config_algo_defaults(&c);
    cr_assert_eq(drnas_stage1_epochs(&c), 25);
    static const struct {
        int e;
        double as_run, intended;
    } want[] = {{0, 0.1, 0.1}, {24, 0.0531, 0.0531}, {25, 0.1, 0.05}, {26, 0.0937, 0.0469},
                {35, 0.0412, 0.0206}, {49, 1.97e-4, 9.9e-5}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        c.drnas_lr_schedule = DRNAS_AS_RUN;
        double r = drnas_lr(&c, want[i].e);
        cr_expect(fabs(r - want[i].as_run) <= 6e-3 * want[i].as_run, "as run, epoch %d: %g", want[i].e, r);
        c.drnas_lr_schedule = DRNAS_INTENDED;
        r = drnas_lr(&c, want[i].e);
        cr_expect(fabs(r - want[i].intended) <= 6e-3 * want[i].intended, "intended, epoch %d: %g", want[i].e, r);
    }
}

/* --- genotype ------------------------------------------------------------ */

Test(drnas_rules, genotype_uses_the_kept_ops_softmax_and_skips_none)
{
    int n = 7;
    double a[DRNAS_ROWS * 8];
    unsigned char keep[DRNAS_ROWS * DOP_COUNT];
    memset(keep, 1, sizeof keep);
    for (int i = 0; i < DRNAS_ROWS * n; i++) a[i] = 0;
    /* node 2 (rows 0-1): row 1's dil_conv_5x5 (column 6) is the strongest */
    a[1 * n + 6] = 2.0;
    a[0 * n + 3] = 1.0; /* sep_conv_3x3 */
    /* node 3 (rows 2-4): row 4 has the largest alpha, but on a pruned op */
    a[4 * n + 0] = 5.0;
    keep[4 * DOP_COUNT + 0] = 0;
    a[2 * n + 1] = 1.5; /* avg_pool_3x3 */
    a[3 * n + 2] = 1.2; /* skip_connect */
    genotype g;
    drnas_derive(a, 0, 1, keep, &g);
    cr_expect_eq(g.normal.op[0], DOP_DIL_CONV_5X5);
    cr_expect_eq(g.normal.input[0], 1);
    cr_expect_eq(g.normal.op[1], DOP_SEP_CONV_3X3);
    cr_expect_eq(g.normal.input[1], 0);
    cr_expect_eq(g.normal.op[2], DOP_AVG_POOL_3X3);
    cr_expect_eq(g.normal.input[2], 0);
    cr_expect_eq(g.normal.op[3], DOP_SKIP_CONNECT);
    cr_expect_eq(g.normal.input[3], 1);
    /* unmasked, the pruned max_pool on input 2 wins node 3 */
    drnas_derive(a, 0, 0, keep, &g);
    cr_expect_eq(g.normal.op[2], DOP_MAX_POOL_3X3);
    cr_expect_eq(g.normal.input[2], 2);
    /* with none (8 columns): a dominant none is never chosen nor ranks */
    n = 8;
    for (int i = 0; i < DRNAS_ROWS * n; i++) a[i] = 0;
    a[0 * n + 0] = 9.0; /* none on row 0 */
    a[0 * n + 4] = 0.5; /* sep_conv_3x3 on row 0 */
    a[1 * n + 5] = 1.0; /* sep_conv_5x5 on row 1 */
    drnas_derive(a, 1, 0, keep, &g);
    cr_expect_eq(g.normal.op[0], DOP_SEP_CONV_5X5);
    cr_expect_eq(g.normal.input[0], 1);
    cr_expect_neq(g.normal.op[1], DOP_NONE);
    for (int i = 0; i < GENOTYPE_OPS; i++) cr_expect_neq(g.reduce.op[i], DOP_NONE);
}

/* --- the KL regulariser ------------------------------------------------- */

/* KL(Dir(2, 1) || Dir(1, 1)) = ln 2 - 1/2; zero at beta = 1 (alpha = 0);
 * the gradient against central differences of the value (h = 1e-5 in
 * f64: truncation about h^2 times the third derivative, rounding about
 * 1e-16 / h, both far below the 1e-7 bar; a missing term in the gradient
 * is an error of order 1). */
Test(drnas_rules, kl_regulariser_value_and_gradient)
{
    double a[2] = {1.0, 0.0}; /* beta = (2, 1) */
    cr_expect(fabs(drnas_kl(a, 1, 2) - (log(2.0) - 0.5)) < 1e-12, "KL %.15g", drnas_kl(a, 1, 2));
    double zero[7] = {0};
    cr_expect(fabs(drnas_kl(zero, 1, 7)) < 1e-12);
    double al[3 * 7], g[3 * 7] = {0};
    philox_stream s;
    philox_stream_init(&s, 8, PURPOSE_TEST, 0);
    for (int i = 0; i < 21; i++) al[i] = 1.5 * philox_next_normal(&s);
    drnas_kl_add_grad(al, 3, 7, 2.0, g);
    double worst = 0;
    for (int i = 0; i < 21; i++) {
        const double h = 1e-5, keep = al[i];
        al[i] = keep + h;
        double up = drnas_kl(al, 3, 7);
        al[i] = keep - h;
        double down = drnas_kl(al, 3, 7);
        al[i] = keep;
        double fd = 2.0 * (up - down) / (2 * h);
        worst = fmax(worst, fabs(fd - g[i]) / fmax(fabs(fd), 1e-3));
    }
    fprintf(stderr, "KL gradient against central differences: worst relative error %.3g\n", worst);
    cr_expect_leq(worst, 1e-7);
}

/* --- widening ------------------------------------------------------------ */

static graph *layout(int C, int k)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    drnas_net_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.net = (supernet_config){.C = C, .layers = 3, .in_ch = 3, .hw = 8, .classes = 10};
    cfg.k = k;
    drnas_io io;
    cr_assert_eq(drnas_supernet_build(&b, &cfg, 2, &io), TD_OK, "%s", td_error_message());
    layer_free(&b);
    return g;
}

static const param *named(const graph *g, const char *name)
{
    int p = graph_find_param(g, name);
    cr_assert_geq(p, 0, "no parameter %s", name);
    return &g->params[p];
}

/* Which old slice (rows of `per` values) equals the new one; -1 if none. */
static int source_row(const double *old, int rows, const double *row, int per)
{
    for (int r = 0; r < rows; r++)
        if (!memcmp(old + (size_t)r * per, row, (size_t)per * sizeof *row)) return r;
    return -1;
}

/* Every old value is distinct, so a copied channel names its source. The
 * separable convolution of a stride-1 edge: op.1's appended filters are
 * copies a_i; op.2 takes the same a_i as input columns and its own b_i as
 * rows; op.3's statistics follow b_i; momentum moves with the weights. */
Test(drnas_rules, widening_copies_the_drawn_channels_consistently)
{
    graph *from = layout(8, 4), *to = layout(8, 2);
    size_t nw = graph_param_count(from, ROLE_WEIGHT), nb = graph_param_count(from, ROLE_BNSTAT);
    size_t nw2 = graph_param_count(to, ROLE_WEIGHT), nb2 = graph_param_count(to, ROLE_BNSTAT);
    double *w = malloc(nw * sizeof *w), *mom = malloc(nw * sizeof *mom), *bn = malloc(nb * sizeof *bn);
    double *w2 = calloc(nw2, sizeof *w2), *mom2 = calloc(nw2, sizeof *mom2), *bn2 = calloc(nb2, sizeof *bn2);
    for (size_t i = 0; i < nw; i++) w[i] = (double)i, mom[i] = -(double)i - 1;
    for (size_t i = 0; i < nb; i++) bn[i] = 0.5 + (double)i;
    cr_assert_eq(drnas_widen(from, to, 2, w, w2, mom, mom2, bn, bn2), TD_OK, "%s", td_error_message());
    const char *cell = "cells.0._ops.0._ops.3"; /* sep_conv_3x3, stride 1, 2 -> 4 channels */
    char name[128];
    snprintf(name, sizeof name, "%s.op.1.weight", cell);
    const param *dw_o = named(from, name), *dw_n = named(to, name);
    snprintf(name, sizeof name, "%s.op.2.weight", cell);
    const param *pw_o = named(from, name), *pw_n = named(to, name);
    snprintf(name, sizeof name, "%s.op.3.running_mean", cell);
    const param *bn_o = named(from, name), *bn_n = named(to, name);
    cr_assert_eq(dw_o->shape.n, 2);
    cr_assert_eq(dw_n->shape.n, 4);
    int a[4], bl[4];
    for (int i = 0; i < 4; i++) {
        a[i] = source_row(w + dw_o->offset, 2, w2 + dw_n->offset + (size_t)i * 9, 9);
        cr_expect(i < 2 ? a[i] == i : a[i] >= 0, "op.1 filter %d is not an old filter (%d)", i, a[i]);
        cr_expect_eq(source_row(mom + dw_o->offset, 2, mom2 + dw_n->offset + (size_t)i * 9, 9), a[i],
                     "momentum of op.1 filter %d moved apart", i);
    }
    /* op.2 (4, 4): row i is old row b_i with columns permuted by a */
    for (int i = 0; i < 4; i++) {
        double want[4];
        bl[i] = -1;
        for (int r = 0; r < 2 && bl[i] < 0; r++) {
            for (int j = 0; j < 4; j++) want[j] = w[pw_o->offset + (size_t)r * 2 + a[j]];
            if (!memcmp(want, w2 + pw_n->offset + (size_t)i * 4, sizeof want)) bl[i] = r;
        }
        cr_expect(i < 2 ? bl[i] == i : bl[i] >= 0, "op.2 row %d does not follow op.1's copies", i);
        if (bl[i] >= 0)
            cr_expect_eq(bn2[bn_n->offset + i], bn[bn_o->offset + bl[i]], "op.3 statistic %d does not follow op.2", i);
    }
    /* outside the mixed ops: copied unchanged */
    const param *stem_o = named(from, "stem.0.weight"), *stem_n = named(to, "stem.0.weight");
    cr_expect(!memcmp(w + stem_o->offset, w2 + stem_n->offset, shape_numel(stem_o->shape) * sizeof *w));
    /* a different seed draws other copies somewhere */
    double *w3 = calloc(nw2, sizeof *w3), *mom3 = calloc(nw2, sizeof *mom3), *bn3 = calloc(nb2, sizeof *bn3);
    cr_assert_eq(drnas_widen(from, to, 3, w, w3, mom, mom3, bn, bn3), TD_OK);
    cr_expect(memcmp(w2, w3, nw2 * sizeof *w2) != 0, "the seed does not reach the widening");
    free(w), free(mom), free(bn), free(w2), free(mom2), free(bn2), free(w3), free(mom3), free(bn3);
    graph_destroy(from);
    graph_destroy(to);
}

/* --- searches ------------------------------------------------------------ */

/* The smallest DrNAS run: C=8 with k 4 then 2 (the reference's 6 and 4
 * need C=12), 3 cells, 8x8 images, 2 steps per epoch, one epoch per
 * stage. */
static dataset small_set;
static void load_small_set(void) { cr_assert_eq(dataset_synthetic(32, 3, 8, 10, 7, 0, &small_set), TD_OK); }
static void free_small_set(void) { dataset_free(&small_set); }

static void small_config(search_config *c, search_algo algo)
{
    search_config_defaults(c);
    c->algo = algo;
    search_config_algo_defaults(c);
    snprintf(c->dataset, sizeof c->dataset, "synthetic");
    c->net.C = 8;
    c->net.layers = 3;
    c->drnas_k1 = 4;
    c->drnas_k2 = 2;
    c->drnas_warmup = 0;
    c->batch = 8;
    c->epochs = 2;
    c->subset = 16;
    c->eval_images = 8;
    c->tse_steps = 1;
}

static void out_dir(char *buf, size_t len, const char *tag)
{
    char *dir = sandbox_dir(tag);
    cr_assert_eq(path_format(buf, len, "%s", dir), TD_OK, "%s", td_error_message());
    free(dir);
}

static int run_threads = 2;

static void run(const search_config *c, const char *dir, int resume, long stop_after, search_result *r)
{
    search_options o;
    memset(&o, 0, sizeof o);
    o.threads = run_threads;
    o.be = backend_cpu();
    o.out_dir = dir;
    o.resume = resume;
    o.stop_after_units = stop_after;
    o.quiet = 1;
    o.train_set = &small_set;
    search_result tmp;
    td_status s = search_run(c, &o, r ? r : &tmp);
    if (stop_after)
        cr_assert_eq(s, TD_ERR_INTERRUPTED, "%s", td_error_message());
    else
        cr_assert_eq(s, TD_OK, "%s", td_error_message());
}

static char *read_in(const char *dir, const char *file)
{
    char path[600], *text;
    cr_assert_eq(path_format(path, sizeof path, "%s/%s", dir, file), TD_OK);
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK, "%s", td_error_message());
    return text;
}

/* arch_steps of each epoch record, in order */
static int arch_steps_per_epoch(const char *dir, long *out, int max)
{
    char *text = read_in(dir, "metrics.jsonl");
    int n = 0;
    for (char *at = strstr(text, "\"arch_steps\":"); at && n < max; at = strstr(at + 1, "\"arch_steps\":"))
        out[n++] = atol(at + 13);
    free(text);
    return n;
}

static void expect_valid_genotype(const char *dir, const search_result *r)
{
    char *text = read_in(dir, "genotype.txt");
    char *line = strstr(text, "searched |");
    cr_assert(line, "no genotype in %s", text);
    if (strchr(line, '\n')) *strchr(line, '\n') = '\0';
    genotype g;
    cr_expect_eq(genotype_parse(line, "genotype.txt", &g), TD_OK, "%s", td_error_message());
    for (int i = 0; i < GENOTYPE_OPS; i++) cr_expect_neq(r->geno.normal.op[i], DOP_NONE);
    free(text);
}

Test(drnas_search, drnas_end_to_end, .init = load_small_set, .fini = free_small_set)
{
    search_config c;
    small_config(&c, ALGO_DRNAS);
    char a[256];
    out_dir(a, sizeof a, "drnas");
    search_result r;
    run(&c, a, 0, 0, &r);
    expect_valid_genotype(a, &r);
    long steps[4];
    cr_assert_eq(arch_steps_per_epoch(a, steps, 4), 2);
    cr_expect_eq(steps[0], 2, "one architecture step per step");
    cr_expect_eq(steps[1], 4);
    /* stage 2 keeps 4 of 7 ops per row: in the last record's softmax
     * every row has exactly 3 zeros, stage 1's none */
    char *text = read_in(a, "metrics.jsonl");
    char *first_end = strchr(text, '\n');
    cr_assert(first_end);
    *first_end = '\0';
    for (int rec = 0; rec < 2; rec++) {
        json_t *o = json_loads(rec ? first_end + 1 : text, 0, NULL);
        cr_assert(o, "record %d is not JSON", rec);
        json_t *rows = json_object_get(o, "softmax_normal");
        cr_assert_eq(json_array_size(rows), 14);
        int zeros = 0;
        for (size_t r = 0; r < 14; r++) {
            json_t *row = json_array_get(rows, r);
            cr_assert_eq(json_array_size(row), 7);
            for (size_t k = 0; k < 7; k++) zeros += json_real_value(json_array_get(row, k)) == 0.0;
        }
        cr_expect_eq(zeros, rec ? 14 * 3 : 0, "record %d: %d zeros in the softmax", rec, zeros);
        json_decref(o);
    }
    free(text);
}

Test(drnas_search, tse_drnas_as_run_end_to_end, .init = load_small_set, .fini = free_small_set)
{
    search_config c;
    small_config(&c, ALGO_TSE_DRNAS);
    cr_assert_eq(c.drnas_with_none, 1);
    char a[256];
    out_dir(a, sizeof a, "tse-drnas");
    search_result r;
    run(&c, a, 0, 0, &r);
    expect_valid_genotype(a, &r);
    /* T = 1: an update before every step but the very first (no sum yet) */
    long steps[4];
    cr_assert_eq(arch_steps_per_epoch(a, steps, 4), 2);
    cr_expect_eq(steps[0], 1);
    cr_expect_eq(steps[1], 3);
}

Test(drnas_search, tse_drnas_intended_end_to_end, .init = load_small_set, .fini = free_small_set)
{
    search_config c;
    small_config(&c, ALGO_TSE_DRNAS);
    c.tse_drnas_form = DRNAS_INTENDED;
    c.tse_steps = 2;
    char a[256];
    out_dir(a, sizeof a, "tse-drnas-intended");
    search_result r;
    run(&c, a, 0, 0, &r);
    expect_valid_genotype(a, &r);
    long steps[4];
    cr_assert_eq(arch_steps_per_epoch(a, steps, 4), 2);
    cr_expect_eq(steps[0], 1, "one update per chunk of 2 steps");
    cr_expect_eq(steps[1], 2);
}

/* --- steps by hand --------------------------------------------------------- */

/* A DrNAS search state in f64 on a set of 64 images (32 per half, 4 steps
 * of 8 per epoch), stage 1 of 4 epochs, ready to run units by hand. */
static dataset hand_set;
static void load_hand_set(void) { cr_assert_eq(dataset_synthetic(64, 3, 8, 10, 7, 0, &hand_set), TD_OK); }
static void free_hand_set(void) { dataset_free(&hand_set); }

static search_state *open_hand_state(search_algo algo, int T)
{
    search_state *st = calloc(1, sizeof *st);
    small_config(&st->cfg, algo);
    st->cfg.dt = DT_F64;
    st->cfg.subset = 32;
    st->cfg.epochs = 4;
    st->cfg.tse_steps = T;
    st->opt.be = backend_cpu();
    st->opt.quiet = 1;
    st->opt.train_set = &hand_set;
    cr_assert_eq(search_load_data(st), TD_OK, "%s", td_error_message());
    cr_assert_eq(drnas_stage_hooks.create_model(st, 0), TD_OK, "%s", td_error_message());
    cr_assert_eq(search_alloc_buffers(st), TD_OK, "%s", td_error_message());
    cr_assert_eq(model_init_params(&st->m, st->cfg.seed), TD_OK, "%s", td_error_message());
    search_epoch_orders(st, 0);
    cr_assert_eq(search_steps_per_epoch(st), 4);
    return st;
}

static void close_hand_state(search_state *st)
{
    search_free_state(st);
    free(st);
}

/* One Adam step as PyTorch states it (weight decay added to the gradient,
 * bias corrections on the step size and on sqrt(v)), written here apart
 * from the backend's. */
static void adam_by_hand(const search_config *c, long step, const double *g, double *p, double *m, double *v, size_t n)
{
    double bc1 = 1.0 - pow(c->arch_beta1, (double)step), bc2 = 1.0 - pow(c->arch_beta2, (double)step);
    for (size_t i = 0; i < n; i++) {
        double gi = g[i] + c->arch_weight_decay * p[i];
        m[i] = c->arch_beta1 * m[i] + (1 - c->arch_beta1) * gi;
        v[i] = c->arch_beta2 * v[i] + (1 - c->arch_beta2) * gi * gi;
        p[i] -= c->arch_lr / bc1 * (m[i] / (sqrt(v[i]) / sqrt(bc2) + c->arch_eps));
    }
}

/* As-run TSE-DrNAS, T = 2, over 6 steps (chunks {0,1} {2,3} of epoch 0,
 * then {0,1} of epoch 1): no step before any sum exists, none inside a
 * chunk, and at each later chunk start exactly one Adam step on the sum
 * of the architecture gradients of the previous chunk's two training
 * steps, value for value, the chunk across the epoch boundary included. */
Test(drnas_search, tse_drnas_as_run_step_is_adam_on_the_previous_chunk_sum, .init = load_hand_set,
     .fini = free_hand_set)
{
    search_state *st = open_hand_state(ALGO_TSE_DRNAS, 2);
    model *m = &st->m;
    size_t na = m->n[ROLE_ALPHA];
    double *g[6], *p = malloc(na * 8), *mm = calloc(na, 8), *vv = calloc(na, 8), *sum = malloc(na * 8);
    memcpy(p, m->role[ROLE_ALPHA], na * 8);
    long adam_steps = 0;
    for (int k = 0; k < 6; k++) {
        int epoch = k / 4, t = k % 4;
        if (t == 0 && epoch != st->epoch) {
            st->epoch = epoch;
            search_epoch_orders(st, epoch);
        }
        if (t % 2 == 0 && k > 0) {
            /* the chunk that just ended: gradients k-2 and k-1, summed from 0 */
            for (size_t i = 0; i < na; i++) sum[i] = 0.0 + g[k - 2][i] + g[k - 1][i];
            adam_by_hand(&st->cfg, ++adam_steps, sum, p, mm, vv, na);
        }
        cr_assert_eq(search_tse_drnas.run_unit(st, t, 0.05), TD_OK, "%s", td_error_message());
        g[k] = malloc(na * 8);
        memcpy(g[k], m->role[ROLE_GRAD_ALPHA], na * 8);
        cr_expect_eq(st->arch_steps, adam_steps, "step %d: %ld architecture steps, want %ld", k, st->arch_steps,
                     adam_steps);
        size_t differ = 0;
        for (size_t i = 0; i < na; i++) differ += memcmp(&p[i], &((double *)m->role[ROLE_ALPHA])[i], 8) != 0;
        cr_expect_eq(differ, 0, "step %d: %zu of %zu alphas are not one Adam step on the previous chunk's sum", k,
                     differ, na);
        cr_expect(memcmp(mm, st->adam_m, na * 8) == 0 && memcmp(vv, st->adam_v, na * 8) == 0,
                  "step %d: Adam's moments differ", k);
    }
    cr_expect_eq(adam_steps, 2, "steps at the starts of chunk 2 and of epoch 1's first chunk");
    for (int k = 0; k < 6; k++) free(g[k]);
    free(p), free(mm), free(vv), free(sum);
    close_hand_state(st);
}

/* DrNAS's architecture batches are drawn with replacement: an image drawn
 * in two steps of one epoch is cropped and flipped anew each time (keyed
 * by the draw, not by (epoch, image) as the per-epoch batches are). */
Test(drnas_search, an_image_drawn_twice_for_the_alphas_is_augmented_anew, .init = load_hand_set,
     .fini = free_hand_set)
{
    search_state *st = open_hand_state(ALGO_DRNAS, 1);
    int B = st->cfg.batch, found = 0, differ = 0;
    size_t img = (size_t)st->train.c * st->train.h * st->train.w;
    int *first = malloc((size_t)B * sizeof *first);
    double *x0 = malloc((size_t)B * img * 8);
    cr_assert_eq(drnas_arch_batch(st, 0), B);
    memcpy(first, st->batch_ids, (size_t)B * sizeof *first);
    memcpy(x0, st->images, (size_t)B * img * 8);
    for (int t = 1; t < 4; t++) {
        cr_assert_eq(drnas_arch_batch(st, t), B);
        for (int i = 0; i < B; i++)
            for (int j = 0; j < B; j++)
                if (st->batch_ids[i] == first[j]) {
                    found++;
                    differ += memcmp((double *)st->images + (size_t)i * img, x0 + (size_t)j * img, img * 8) != 0;
                }
    }
    cr_assert_gt(found, 0, "no image came back in 4 draws of 8 from 32");
    cr_expect_geq(differ, found - 1, "%d of %d repeated images kept their first crop and flip", found - differ, found);
    free(first);
    free(x0);
    close_hand_state(st);
}

/* Warm-up in each stage: 4 epochs, 2 per stage, the first of each stage
 * without architecture steps. DrNAS steps the alphas every step; as-run
 * TSE-DrNAS (T = 1) at every chunk start of an architecture epoch, the
 * first of them with the sum the warm-up epoch's last step left. */
Test(drnas_search, warm_up_in_each_stage, .init = load_small_set, .fini = free_small_set)
{
    for (int algo = ALGO_DRNAS; algo <= ALGO_TSE_DRNAS; algo++) {
        search_config c;
        small_config(&c, (search_algo)algo);
        c.epochs = 4;
        c.drnas_warmup = 1;
        char a[256];
        out_dir(a, sizeof a, "warmup");
        run(&c, a, 0, 0, NULL);
        long steps[8];
        cr_assert_eq(arch_steps_per_epoch(a, steps, 8), 4);
        static const long want[4] = {0, 2, 2, 4};
        for (int e = 0; e < 4; e++)
            cr_expect_eq(steps[e], want[e], "%s: %ld architecture steps after epoch %d", search_algo_name(c.algo),
                         steps[e], e + 1);
    }
}

static void expect_same(const char *a, const char *b)
{
    static const char *const files[] = {"metrics.jsonl", "alphas.safetensors", "weights.safetensors", "genotype.txt",
                                        "checkpoint.bin"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char pa[600], pb[600], *ta, *tb;
        size_t la, lb;
        cr_assert_eq(path_format(pa, sizeof pa, "%s/%s", a, files[i]), TD_OK);
        cr_assert_eq(path_format(pb, sizeof pb, "%s/%s", b, files[i]), TD_OK);
        cr_assert_eq(file_read_all(pa, &ta, &la), TD_OK, "%s", td_error_message());
        cr_assert_eq(file_read_all(pb, &tb, &lb), TD_OK, "%s", td_error_message());
        cr_expect(la == lb && memcmp(ta, tb, la) == 0, "%s differs between %s and %s", files[i], a, b);
        free(ta);
        free(tb);
    }
}

/* 2 units per epoch: a stop after 2 units lands right after the stage
 * transition, one after 1 unit inside stage 1, then inside stage 2. One
 * resumed part runs on 1 thread, the rest on 2. */
static void resume_across_the_stages(search_algo algo)
{
    search_config c;
    small_config(&c, algo);
    char a[256], b[256], d[256];
    out_dir(a, sizeof a, "whole");
    out_dir(b, sizeof b, "boundary");
    out_dir(d, sizeof d, "inside");
    run(&c, a, 0, 0, NULL);
    run(&c, b, 0, 2, NULL);
    run_threads = 1; /* and another thread count */
    run(&c, b, 1, 0, NULL);
    run_threads = 2;
    expect_same(a, b);
    run(&c, d, 0, 1, NULL);
    run(&c, d, 1, 2, NULL);
    run(&c, d, 1, 0, NULL);
    expect_same(a, d);
}

Test(drnas_search, drnas_resume_bit_identical_across_the_stages, .init = load_small_set, .fini = free_small_set)
{
    resume_across_the_stages(ALGO_DRNAS);
}
Test(drnas_search, tse_drnas_resume_bit_identical_across_the_stages, .init = load_small_set, .fini = free_small_set)
{
    resume_across_the_stages(ALGO_TSE_DRNAS);
}

/* SIGKILL once the first checkpoint exists (written after the stage
 * transition) plus a little more work, then --resume: same final files.
 * 6 steps per epoch, so the kill lands inside stage 2, where the run is
 * held until it comes. */
Test(drnas_search, sigkill_in_stage_two_then_resume_is_bit_identical, .timeout = 300)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    char a[256], b[256];
    out_dir(a, sizeof a, "kill-ref");
    out_dir(b, sizeof b, "kill");
    const char *args[] = {bin,         "search",  "--algo",         "drnas",  "--dataset",    "synthetic",
                          "--channels", "8",      "--drnas-k1",     "4",      "--drnas-k2",   "2",
                          "--layers",   "3",      "--batch",        "8",      "--epochs",     "2",
                          "--subset",   "48",     "--eval-images",  "8",      "--drnas-warmup", "0",
                          "--quiet",    "--out",  a,                NULL};
    cr_assert_eq(sandbox_run(args, NULL), 0);
    args[sizeof args / sizeof args[0] - 2] = b;
    /* held after stage 1 (6 steps) and 2 steps of stage 2 */
    char hold[300], ck[300], res[300];
    char *holds = sandbox_dir("hold");
    cr_assert_eq(path_format(hold, sizeof hold, "%s/hold", holds), TD_OK);
    free(holds);
    cr_assert_eq(path_format(ck, sizeof ck, "%s/checkpoint.bin", b), TD_OK);
    cr_assert_eq(path_format(res, sizeof res, "%s/result.json", b), TD_OK);
    pid_t pid = sandbox_start_held(args, 8, hold);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the run was not killed");
    cr_assert(file_exists(ck), "no checkpoint was written before the kill");
    cr_assert(!file_exists(res), "the run finished before the kill");
    const char *resume[] = {bin, "search", "--resume", b, "--quiet", NULL};
    cr_assert_eq(sandbox_run(resume, NULL), 0, "resume failed");
    expect_same(a, b);
}

/* The checker must be able to fail: another seed gives other files. */
Test(drnas_search, another_seed_differs, .init = load_small_set, .fini = free_small_set)
{
    search_config c;
    small_config(&c, ALGO_DRNAS);
    char a[256], b[256];
    out_dir(a, sizeof a, "seed2");
    out_dir(b, sizeof b, "seed3");
    run(&c, a, 0, 0, NULL);
    c.seed = 3;
    run(&c, b, 0, 0, NULL);
    char pa[600], pb[600], *ta, *tb;
    size_t la, lb;
    cr_assert_eq(path_format(pa, sizeof pa, "%s/alphas.safetensors", a), TD_OK);
    cr_assert_eq(path_format(pb, sizeof pb, "%s/alphas.safetensors", b), TD_OK);
    cr_assert_eq(file_read_all(pa, &ta, &la), TD_OK);
    cr_assert_eq(file_read_all(pb, &tb, &lb), TD_OK);
    cr_expect(la != lb || memcmp(ta, tb, la) != 0, "two seeds gave the same alphas");
    free(ta);
    free(tb);
}

Test(drnas_search, kl_regulariser_changes_the_search_and_is_refused_for_tse_drnas, .init = load_small_set,
     .fini = free_small_set)
{
    search_config c;
    small_config(&c, ALGO_DRNAS);
    char a[256], b[256];
    out_dir(a, sizeof a, "l2");
    out_dir(b, sizeof b, "kl");
    run(&c, a, 0, 0, NULL);
    c.drnas_reg = DRNAS_REG_KL;
    c.arch_weight_decay = 1.0; /* a scale that shows in two steps */
    run(&c, b, 0, 0, NULL);
    char pa[600], pb[600], *ta, *tb;
    size_t la, lb;
    cr_assert_eq(path_format(pa, sizeof pa, "%s/alphas.safetensors", a), TD_OK);
    cr_assert_eq(path_format(pb, sizeof pb, "%s/alphas.safetensors", b), TD_OK);
    cr_assert_eq(file_read_all(pa, &ta, &la), TD_OK);
    cr_assert_eq(file_read_all(pb, &tb, &lb), TD_OK);
    cr_expect(la == lb && memcmp(ta, tb, la) != 0, "the KL regulariser left the alphas as L2 did");
    free(ta);
    free(tb);
    small_config(&c, ALGO_TSE_DRNAS);
    c.drnas_reg = DRNAS_REG_KL;
    char d[256];
    out_dir(d, sizeof d, "kl-tse");
    search_options o;
    memset(&o, 0, sizeof o);
    o.be = backend_cpu();
    o.out_dir = d;
    o.quiet = 1;
    o.train_set = &small_set;
    search_result r;
    cr_expect_eq(search_run(&c, &o, &r), TD_ERR_UNSUPPORTED);
    cr_expect(strstr(td_error_message(), "drnas only") != NULL, "%s", td_error_message());
}

/* A config DrNAS cannot run is refused before the run directory is
 * written, naming the option, so the same directory can be used again. */
Test(drnas_search, bad_channels_refused_before_anything_is_written, .init = load_small_set, .fini = free_small_set)
{
    search_config c;
    small_config(&c, ALGO_DRNAS);
    c.net.C = 10;
    char a[256], path[600];
    out_dir(a, sizeof a, "bad");
    search_options o;
    memset(&o, 0, sizeof o);
    o.be = backend_cpu();
    o.out_dir = a;
    o.quiet = 1;
    o.train_set = &small_set;
    search_result r;
    cr_expect_eq(search_run(&c, &o, &r), TD_ERR_ARG);
    cr_expect(strstr(td_error_message(), "--channels 10") != NULL, "%s", td_error_message());
    cr_assert_eq(path_format(path, sizeof path, "%s/config.json", a), TD_OK);
    cr_expect(!file_exists(path), "config.json written for a refused run");
}

/* The command line: drnas starts from the reference's defaults, the
 * budget adapts the sizes, and flags still win over both. */
Test(drnas_search, command_line_defaults_budget_and_flags)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    char *dir = sandbox_dir("drnas-cli"), out[600];
    cr_assert_eq(path_format(out, sizeof out, "%s/config.txt", dir), TD_OK);
    const char *paper[] = {bin, "search", "--algo", "drnas", "--print-config", NULL};
    cr_assert_eq(sandbox_run(paper, out), 0);
    char *text = NULL;
    cr_assert_eq(file_read_all(out, &text, NULL), TD_OK);
    static const char *const want[] = {"\"channels\":36", "\"layers\":20", "\"batch\":64", "\"epochs\":50",
                                       "\"lr_max\":0.1", "\"lr_min\":0.0", "\"arch_lr\":0.0005999"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(strstr(text, want[i]) != NULL, "%s missing from %s", want[i], text);
    cr_expect(strstr(text, "drnas_with_none") == NULL, "drnas has no none: %s", text);
    free(text);
    const char *smoke[] = {bin, "search", "--algo", "tse-drnas", "--budget", "smoke", "--lr-max", "0.2", "--print-config",
                           NULL};
    cr_assert_eq(sandbox_run(smoke, out), 0);
    cr_assert_eq(file_read_all(out, &text, NULL), TD_OK);
    static const char *const want2[] = {"\"channels\":12", "\"epochs\":2", "\"drnas_warmup\":0",
                                        "\"drnas_with_none\":1", "\"lr_max\":0.2"};
    for (size_t i = 0; i < sizeof want2 / sizeof want2[0]; i++)
        cr_expect(strstr(text, want2[i]) != NULL, "%s missing from %s", want2[i], text);
    free(text);
    const char *bad[] = {bin, "search", "--algo", "drnas", "--channels", "16", "--print-config", NULL};
    cr_expect_eq(sandbox_run(bad, out), 2, "C=16 does not split by 6 and was accepted");
    free(dir);
}
