/* PDARTS and TSE-PDARTS: the stage-1 supernet's size, per-edge op lists,
 * skip dropout, the schedules, op dropping and the final derivation on
 * hand-made alpha tables, and whole staged searches: valid genotypes,
 * bit-identical repeats and resumes across stage boundaries. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

#include "tsedarts/backend_cpu.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/params.h"
#include "tsedarts/path.h"
#include "tsedarts/pdarts.h"
#include "tsedarts/search_internal.h"

/* ------------------------------------------------------------ supernet */

static supernet_stage stage_net(int C, int layers, int hw)
{
    supernet_stage s = {.cfg = {.C = C, .layers = layers, .in_ch = 3, .hw = hw, .classes = 10, .space = SPACE_DARTS}};
    pdarts_full_ops(&s.edges);
    return s;
}

static size_t count_of(const supernet_stage *s, value_role role, int train, net_io *io)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, train, train);
    cr_assert_eq(supernet_stage_build_fn(&b, s, 2, io), TD_OK, "%s", td_error_message());
    size_t n = graph_param_count(g, role);
    layer_free(&b);
    graph_destroy(g);
    return n;
}

/* docs/numerics.md s.7.1: C=16, 5 cells, 8 ops, CIFAR-10 */
Test(pdarts, stage1_supernet_weight_count)
{
    supernet_stage c = stage_net(16, 5, 32);
    net_io io;
    cr_expect_eq(count_of(&c, ROLE_WEIGHT, 1, &io), 1275834);
    cr_expect_eq(count_of(&c, ROLE_ALPHA, 1, &io), 2 * 14 * 8);
    /* the full op list is the DARTS supernet itself */
    supernet_stage d = c;
    d.edges.n_ops = 0;
    cr_expect_eq(count_of(&d, ROLE_WEIGHT, 1, &io), 1275834);
}

Test(pdarts, op_lists_set_alpha_columns_and_modules)
{
    supernet_stage c = stage_net(4, 5, 8);
    net_io io;
    size_t full = count_of(&c, ROLE_WEIGHT, 1, &io);
    /* every edge keeps none, max_pool_3x3 and skip_connect: no weights in
     * any mixed op but the FactorizedReduce skips of reduction edges */
    c.edges.n_ops = 3;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < DARTS_EDGES; e++) {
            c.edges.ops[t][e][0] = DOP_NONE;
            c.edges.ops[t][e][1] = DOP_MAX_POOL_3X3;
            c.edges.ops[t][e][2] = DOP_SKIP_CONNECT;
        }
    cr_expect_eq(count_of(&c, ROLE_ALPHA, 1, &io), 2 * 14 * 3);
    size_t few = count_of(&c, ROLE_WEIGHT, 1, &io);
    cr_expect_lt(few, full);
    /* a list out of PRIMITIVES order is refused, naming the edge */
    c.edges.ops[1][5][1] = DOP_SKIP_CONNECT;
    c.edges.ops[1][5][2] = DOP_MAX_POOL_3X3;
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    cr_expect_neq(supernet_stage_build_fn(&b, &c, 2, &io), TD_OK);
    cr_expect(strstr(td_error_message(), "reduce edge 5") != NULL, "%s", td_error_message());
    layer_free(&b);
    graph_destroy(g);
}

/* Masks: one per stride-1 skip in training graphs only, none in eval
 * graphs; the count follows from the cell layout. */
Test(pdarts, skip_dropout_masks_only_in_training_graphs)
{
    supernet_stage c = stage_net(4, 5, 8);
    c.edges.skip_dropout = 1;
    net_io io;
    count_of(&c, ROLE_WEIGHT, 1, &io);
    /* 3 normal cells x 14 edges + 2 reduction cells x 6 stride-1 edges */
    cr_expect_eq(io.n_skip_masks, 3 * 14 + 2 * 6);
    /* batch 2; cell 0 (normal) 4x8x8, cells 1 (reduce) and 2 8x4x4, cells 3
     * (reduce) and 4 16x2x2: a reduction halves the elements */
    cr_expect_eq(io.skip_mask_numel, (size_t)(14 * 512 + 6 * 256 + 14 * 256 + 6 * 128 + 14 * 128), "numel %zu",
                 io.skip_mask_numel);
    count_of(&c, ROLE_WEIGHT, 0, &io);
    cr_expect_eq(io.skip_mask, -1);
    cr_expect_eq(io.n_skip_masks, 0);
}

/* max |a - b| / max |a| over n doubles */
static double rel_diff(const double *a, const double *b, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        m = fmax(m, fabs(a[i]));
    }
    return m > 0 ? d / m : d;
}

/* An all-ones mask is the network without dropout: the same loss bit for
 * bit (x * 1 = x); the gradients to rounding only, since the dropout node
 * changes the order in which a state's cotangents are summed. A mask with
 * zeros changes the loss. */
Test(pdarts, skip_dropout_with_ones_is_identity)
{
    supernet_stage plain = stage_net(4, 3, 8), dropped = plain;
    dropped.edges.skip_dropout = 1;
    model a, b;
    cr_assert_eq(model_create(&a, backend_cpu(), DT_F64, supernet_stage_build_fn, &plain), TD_OK);
    cr_assert_eq(model_create(&b, backend_cpu(), DT_F64, supernet_stage_build_fn, &dropped), TD_OK);
    cr_assert_eq(a.n[ROLE_WEIGHT], b.n[ROLE_WEIGHT]);
    cr_assert_eq(model_init_params(&a, 3), TD_OK);
    cr_assert_eq(model_init_params(&b, 3), TD_OK);
    graph_kind k = {.grad_w = 1, .grad_a = 1, .train_bn = 1};
    net_exec *ea, *eb;
    cr_assert_eq(net_exec_create(&a, k, 2, &ea), TD_OK);
    cr_assert_eq(net_exec_create(&b, k, 2, &eb), TD_OK);
    cr_assert_gt(eb->io.skip_mask_numel, 0);
    double img[2 * 3 * 8 * 8];
    int32_t lab[2] = {1, 7};
    for (int i = 0; i < 2 * 3 * 8 * 8; i++) img[i] = sin(0.37 * i);
    double *mask = malloc(eb->io.skip_mask_numel * sizeof *mask);
    for (size_t i = 0; i < eb->io.skip_mask_numel; i++) mask[i] = 1.0;
    cr_assert_eq(net_exec_run(&a, ea, img, lab, NULL), TD_OK);
    cr_assert_eq(net_exec_run(&b, eb, img, lab, mask), TD_OK);
    double la = net_exec_loss(ea, DT_F64), lb = net_exec_loss(eb, DT_F64);
    cr_expect(la == lb, "loss %.17g with an all-ones mask, %.17g without dropout", lb, la);
    /* f64 sums of a few terms in another order: 1e-12 relative is a
     * thousand times the rounding seen, far below any missed mask */
    double da = rel_diff(a.role[ROLE_GRAD_ALPHA], b.role[ROLE_GRAD_ALPHA], a.n[ROLE_ALPHA]);
    double dw = rel_diff(a.role[ROLE_GRAD_WEIGHT], b.role[ROLE_GRAD_WEIGHT], a.n[ROLE_WEIGHT]);
    cr_expect_lt(da, 1e-12, "alpha gradients differ by %g relative", da);
    cr_expect_lt(dw, 1e-12, "weight gradients differ by %g relative", dw);
    for (size_t i = 0; i < eb->io.skip_mask_numel; i++) mask[i] = i % 2 ? 2.0 : 0.0; /* p = 0.5 */
    cr_assert_eq(net_exec_run(&b, eb, img, lab, mask), TD_OK);
    cr_expect(net_exec_loss(eb, DT_F64) != la, "dropping half the skip inputs must change the loss");
    free(mask);
    net_exec_destroy(ea);
    net_exec_destroy(eb);
    model_destroy(&a);
    model_destroy(&b);
}

/* ------------------------------------------------------------ schedules */

/* The reference's expressions in double: 1e-16 absolute on values below
 * 1 leaves room for a rounding or two, not for a wrong formula. */
Test(pdarts, skip_dropout_schedule)
{
    cr_expect_float_eq(pdarts_skip_dropout_p(0.1, 0, 25, 10), 0.096, 1e-16);
    cr_expect_float_eq(pdarts_skip_dropout_p(0.1, 9, 25, 10), 0.060, 1e-16);
    cr_expect_float_eq(pdarts_skip_dropout_p(0.4, 10, 25, 10), 0.4, 1e-16);
    cr_expect_float_eq(pdarts_skip_dropout_p(0.7, 24, 25, 10), 0.7 * exp(-2.8), 1e-16);
    cr_expect_float_eq(pdarts_skip_dropout_p(0.7, 24, 25, 10), 0.0426, 1e-4); /* 0.061 p0 (s.7.1) */
    cr_expect_eq(pdarts_skip_dropout_p(0.0, 3, 25, 10), 0.0);
}

Test(pdarts, stage_learning_rate_forms)
{
    /* PyTorch >= 1.1: epoch e runs at the value of e + 1, the last at 0 */
    double pi = 3.14159265358979323846;
    cr_expect_float_eq(pdarts_lr(0.025, 0, 0, 25, PDARTS_LR_TORCH11), 0.0125 * (1 + cos(pi / 25)), 1e-17);
    cr_expect_eq(pdarts_lr(0.025, 0, 24, 25, PDARTS_LR_TORCH11), 0.0);
    /* PyTorch 0.4: 0.025 ... 9.9e-5 */
    cr_expect_eq(pdarts_lr(0.025, 0, 0, 25, PDARTS_LR_TORCH04), 0.025);
    cr_expect_float_eq(pdarts_lr(0.025, 0, 24, 25, PDARTS_LR_TORCH04), 9.86e-5, 1e-7);
}

/* ------------------------------------------------------------ dropping */

static void fill(double *a, int n, const double *row_values, int row)
{
    for (int k = 0; k < n; k++) a[row * n + k] = row_values[k];
}

Test(pdarts, op_dropping_iterative_argmin_first_on_ties)
{
    supernet_stage c = stage_net(4, 5, 8);
    supernet_edge_ops next, last;
    double a[2 * 14 * 8];
    for (int i = 0; i < 2 * 14 * 8; i++) a[i] = 0.01 * ((i * 7) % 11); /* distinct within rows */
    static const double ties[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    static const double none_high[8] = {5, 0, 1, 2, 3, 4, -1, 0.5};
    static const double mid_ties[8] = {1, 1, 0, 0, 2, 2, 0, 3};
    fill(a, 8, ties, 0);
    fill(a, 8, none_high, 1);
    fill(a, 8, mid_ties, 14 + 3); /* reduce row 3 */
    cr_assert_eq(pdarts_drop_ops(&c.edges, a, 3, &next), TD_OK);
    cr_assert_eq(next.n_ops, 5);
    static const signed char keep0[5] = {3, 4, 5, 6, 7}, keep1[5] = {0, 2, 3, 4, 5}, keep_r3[5] = {0, 1, 4, 5, 7};
    cr_expect(memcmp(next.ops[0][0], keep0, 5) == 0, "all tied: the first three go");
    cr_expect(memcmp(next.ops[0][1], keep1, 5) == 0, "none survives when it is strong");
    cr_expect(memcmp(next.ops[1][3], keep_r3, 5) == 0, "ties among the weakest: first index first");
    /* stage 2 -> 3: columns now name the survivors */
    double b[2 * 14 * 5];
    for (int i = 0; i < 2 * 14 * 5; i++) b[i] = 0;
    static const double row[5] = {0.3, -2, 0.1, -1, 0.2}; /* drop columns 1 and 3 */
    fill(b, 5, row, 1);
    cr_assert_eq(pdarts_drop_ops(&next, b, 2, &last), TD_OK);
    cr_assert_eq(last.n_ops, 3);
    static const signed char keep_last1[3] = {0, 3, 5}, keep_last0[3] = {5, 6, 7};
    cr_expect(memcmp(last.ops[0][1], keep_last1, 3) == 0, "%d %d %d", last.ops[0][1][0],
              last.ops[0][1][1], last.ops[0][1][2]);
    cr_expect(memcmp(last.ops[0][0], keep_last0, 3) == 0);
    /* nothing left to keep is refused */
    cr_expect_neq(pdarts_drop_ops(&last, b, 3, &next), TD_OK);
}

/* ------------------------------------------------------------ derivation */

static void set_ops(supernet_edge_ops *c, int t, int e, int o0, int o1, int o2)
{
    c->ops[t][e][0] = (signed char)o0;
    c->ops[t][e][1] = (signed char)o1;
    c->ops[t][e][2] = (signed char)o2;
}

static void set_row(double *a, int t, int e, double x0, double x1, double x2)
{
    double *r = a + (t * 14 + e) * 3;
    r[0] = x0;
    r[1] = x1;
    r[2] = x2;
}

static void expect_cell(const genotype_cell *c, const int *ops, const int *inputs, const char *what)
{
    for (int k = 0; k < 8; k++) {
        cr_expect_eq(c->op[k], ops[k], "%s slot %d: op %s, expected %s", what, k, darts_op_name(c->op[k]),
                     darts_op_name(ops[k]));
        cr_expect_eq(c->input[k], inputs[k], "%s slot %d: input %d, expected %d", what, k, c->input[k], inputs[k]);
    }
}

/* The table worked through by hand in the comments: normal rows choose
 * between skip_connect and two convolutions, four strong skips; reduce
 * rows hold none, max_pool and skip_connect. */
static void stage3_table(supernet_edge_ops *c, double *a)
{
    memset(c, 0, sizeof *c);
    c->n_ops = 3;
    for (int e = 0; e < 14; e++) {
        set_ops(c, 0, e, DOP_SKIP_CONNECT, DOP_SEP_CONV_3X3, DOP_SEP_CONV_5X5);
        set_row(a, 0, e, 0, 2, 0); /* sep_conv_3x3, p = e^2/(e^2+2) = 0.787 */
        set_ops(c, 1, e, DOP_NONE, DOP_MAX_POOL_3X3, DOP_SKIP_CONNECT);
        set_row(a, 1, e, 5, 1, 1); /* none ignored; max and skip tie: skip (the later) stays */
    }
    /* strong skips (p 0.909 and up) on rows 0, 1, 4, 13 */
    set_row(a, 0, 0, 3.0, 0, 0);
    set_row(a, 0, 1, 3.3, 0, 0);
    set_row(a, 0, 4, 3.1, 0, 0);
    set_row(a, 0, 13, 3.2, 0, 0);
    set_row(a, 1, 1, 5, 2, 1); /* max_pool */
    set_row(a, 1, 5, 0, 3, 0); /* max_pool, and the strongest edge of node 2 */
}

Test(pdarts, derivation_ties_none_and_edge_order)
{
    supernet_edge_ops c;
    double a[2 * 14 * 3];
    stage3_table(&c, a);
    genotype g;
    int removed;
    cr_assert_eq(pdarts_derive(&c, a, 8, "t", &g, &removed), TD_OK, "%s", td_error_message());
    cr_expect_eq(removed, 0);
    /* node 1: row 4 strongest, rows 2 and 3 tie: the higher (3) wins; node
     * 2: all tie: rows 7, 8; node 3: row 13, then row 12 of the tied ones */
    const int S = DOP_SKIP_CONNECT, S3 = DOP_SEP_CONV_3X3, M = DOP_MAX_POOL_3X3;
    int n_ops[8] = {S, S, S3, S, S3, S3, S3, S}, n_in[8] = {0, 1, 1, 2, 2, 3, 3, 4};
    expect_cell(&g.normal, n_ops, n_in, "normal");
    /* reduce: none never chosen nor ranked; node 2 keeps rows 5 and 8,
     * listed by input (0, then 3) */
    int r_ops[8] = {S, M, S, S, M, S, S, S}, r_in[8] = {0, 1, 1, 2, 0, 3, 3, 4};
    expect_cell(&g.reduce, r_ops, r_in, "reduce");
}

Test(pdarts, derivation_skip_limit)
{
    supernet_edge_ops c;
    double a[2 * 14 * 3];
    stage3_table(&c, a);
    genotype g;
    int removed;
    cr_assert_eq(pdarts_derive(&c, a, 2, "t", &g, &removed), TD_OK);
    /* round 1: row 0 (3.0) loses its skip: sep_conv_5x5 (tie with 3x3, the
     * later stays); round 2: row 4 (3.1): its edge drops out of node 1's
     * top two, rows 2 and 3 (sep_conv_3x3) take its place; 2 skips remain */
    cr_expect_eq(removed, 2);
    cr_expect_eq(genotype_skip_count(&g.normal), 2);
    const int S = DOP_SKIP_CONNECT, S3 = DOP_SEP_CONV_3X3, S5 = DOP_SEP_CONV_5X5;
    int n_ops[8] = {S5, S, S3, S3, S3, S3, S3, S}, n_in[8] = {0, 1, 0, 1, 2, 3, 3, 4};
    expect_cell(&g.normal, n_ops, n_in, "normal");
    cr_expect_eq(genotype_skip_count(&g.reduce), 6, "the reduce cell has no limit");
    /* with M = 0 every skip goes */
    cr_assert_eq(pdarts_derive(&c, a, 0, "t", &g, &removed), TD_OK);
    cr_expect_eq(genotype_skip_count(&g.normal), 0);
    cr_expect_eq(removed, 4);
}

/* ------------------------------------------------------------ searches */

/* Three stages of 3, 4, 5 cells, 2 epochs each (one warm-up epoch for
 * pdarts), 2 steps an epoch, on 8x8 synthetic images (fast enough for CI's
 * two cores). */
static dataset small_images;

static const dataset *small_set(void)
{
    if (!small_images.n)
        cr_assert_eq(dataset_synthetic(64, 3, 8, 10, 7, 0, &small_images), TD_OK, "%s", td_error_message());
    return &small_images;
}

static void staged_config(search_config *c, search_algo algo)
{
    search_config_defaults(c);
    c->algo = algo;
    search_config_algo_defaults(c);
    snprintf(c->dataset, sizeof c->dataset, "synthetic");
    c->net.C = 4;
    c->net.layers = 3;
    c->pdarts_add_layers = 1;
    c->batch = 8;
    c->epochs = 2;
    if (algo == ALGO_PDARTS) c->warmup_epochs = 1;
    c->subset = 16;
    c->eval_images = 8;
    c->tse_steps = 2;
}

static void out_dir(char *buf, size_t len, const char *tag)
{
    char *dir = sandbox_dir(tag);
    cr_assert_eq(path_format(buf, len, "%s", dir), TD_OK, "%s", td_error_message());
    free(dir);
}

static void run_on(const search_config *c, const char *dir, int resume, long stop_units, int stop_epochs, int threads,
                   search_result *r)
{
    search_options o;
    memset(&o, 0, sizeof o);
    o.be = backend_cpu();
    o.out_dir = dir;
    o.resume = resume;
    o.stop_after_units = stop_units;
    o.stop_after_epochs = stop_epochs;
    o.quiet = 1;
    o.threads = threads;
    o.train_set = small_set();
    td_status s = search_run(c, &o, r);
    if (stop_units || stop_epochs)
        cr_assert_eq(s, TD_ERR_INTERRUPTED, "%s", td_error_message());
    else
        cr_assert_eq(s, TD_OK, "%s", td_error_message());
}

static void run(const search_config *c, const char *dir, int resume, long stop_units, int stop_epochs,
                search_result *r)
{
    run_on(c, dir, resume, stop_units, stop_epochs, 2, r);
}

static char *read_file(const char *dir, const char *name)
{
    char p[600], *t;
    size_t len;
    cr_assert_eq(path_format(p, sizeof p, "%s/%s", dir, name), TD_OK);
    cr_assert_eq(file_read_all(p, &t, &len), TD_OK, "%s", td_error_message());
    return t;
}

static void expect_same_files(const char *a, const char *b)
{
    static const char *const files[] = {"metrics.jsonl", "alphas.safetensors", "weights.safetensors", "genotype.txt",
                                        "result.json", "checkpoint.bin"};
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

static int count_of_text(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++) n++;
    return n;
}

static void expect_valid_genotype(const search_result *r, int max_skip)
{
    for (int k = 0; k < 8; k++) {
        int node = k / 2;
        cr_expect(r->geno.normal.op[k] > DOP_NONE && r->geno.normal.op[k] < DOP_COUNT);
        cr_expect(r->geno.reduce.op[k] > DOP_NONE && r->geno.reduce.op[k] < DOP_COUNT);
        cr_expect(r->geno.normal.input[k] >= 0 && r->geno.normal.input[k] < node + 2);
        cr_expect(r->geno.reduce.input[k] >= 0 && r->geno.reduce.input[k] < node + 2);
    }
    cr_expect_leq(genotype_skip_count(&r->geno.normal), max_skip);
    genotype back;
    cr_expect_eq(genotype_parse(r->arch, "result", &back), TD_OK, "%s", td_error_message());
}

/* A whole search, its log (epochs of every stage, two stage records, the
 * op lists 8 -> 5 -> 3), then the same search stopped inside stage 1,
 * again across the boundary into stage 2, at the boundary of stages 2
 * and 3 by epoch count, and finished, on one thread and two by turns:
 * every file bit-identical. */
static void staged_search_resumes(search_algo algo, int units_per_epoch)
{
    search_config c;
    staged_config(&c, algo);
    char a[256], d[256];
    out_dir(a, sizeof a, algo == ALGO_PDARTS ? "pdarts-a" : "tse-pdarts-a");
    out_dir(d, sizeof d, algo == ALGO_PDARTS ? "pdarts-d" : "tse-pdarts-d");
    search_result r;
    run(&c, a, 0, 0, 0, &r);
    expect_valid_genotype(&r, c.max_skip);
    cr_expect_eq(r.epochs_done, 6);
    char *log = read_file(a, "metrics.jsonl");
    long want;
    cr_assert_eq(search_expected_records(&c, small_set()->n, &want), TD_OK, "%s", td_error_message());
    cr_expect_eq(count_of_text(log, "\n"), want);
    cr_expect_eq(count_of_text(log, "\"record\":\"pdarts_stage\""), 2);
    free(log);
    char *res = read_file(a, "result.json");
    cr_expect(strstr(res, "\"derivation\": \"pdarts\"") != NULL, "%s", res);
    cr_expect_eq(count_of_text(res, "\"layers\""), 3, "three stages recorded: %s", res);
    free(res);
    int U = units_per_epoch, E = c.epochs;
    run_on(&c, d, 0, U + 1, 0, 1, &r); /* inside stage 1's second epoch */
    run_on(&c, d, 1, U, 0, 2, &r);     /* across the boundary into stage 2 */
    run_on(&c, d, 1, 0, 2 * E, 1, &r); /* at the start of stage 3 */
    run_on(&c, d, 1, 0, 0, 2, &r);
    expect_same_files(a, d);
}

Test(pdarts, smoke_search_resumes_across_stages_bit_identical) { staged_search_resumes(ALGO_PDARTS, 2); }
Test(pdarts, tse_smoke_search_resumes_across_stages_bit_identical) { staged_search_resumes(ALGO_TSE_PDARTS, 4); }

/* Skip dropout reaches the search: with p0 = 0 in every stage the same
 * search ends elsewhere. */
Test(pdarts, skip_dropout_changes_the_search)
{
    search_config c, z;
    staged_config(&c, ALGO_PDARTS);
    z = c;
    z.skip_dropout[0] = z.skip_dropout[1] = z.skip_dropout[2] = 0;
    char a[256], b[256];
    out_dir(a, sizeof a, "pdarts-p");
    out_dir(b, sizeof b, "pdarts-p0");
    search_result r;
    c.epochs = z.epochs = 1;
    c.warmup_epochs = z.warmup_epochs = 0;
    run(&c, a, 0, 0, 0, &r);
    run(&z, b, 0, 0, 0, &r);
    char pa[600], pb[600], *ta, *tb;
    size_t la, lb;
    cr_assert_eq(path_format(pa, sizeof pa, "%s/alphas.safetensors", a), TD_OK);
    cr_assert_eq(path_format(pb, sizeof pb, "%s/alphas.safetensors", b), TD_OK);
    cr_assert_eq(file_read_all(pa, &ta, &la), TD_OK, "%s", td_error_message());
    cr_assert_eq(file_read_all(pb, &tb, &lb), TD_OK, "%s", td_error_message());
    cr_expect(la != lb || memcmp(ta, tb, la) != 0, "skip dropout had no effect on the alphas");
    free(ta);
    free(tb);
}

/* ------------------------------------------------------------ configs */

/* docs/numerics.md s.7.5 and s.8.2 at the paper budget; the smoke
 * budget keeps an architecture epoch in every stage. */
Test(pdarts, algorithm_defaults_and_budgets)
{
    search_config c;
    search_config_defaults(&c);
    c.algo = ALGO_PDARTS;
    search_config_algo_defaults(&c);
    cr_assert_eq(search_config_budget(&c, "paper", 0), TD_OK, "%s", td_error_message());
    cr_expect_eq(c.net.C, 16);
    cr_expect_eq(c.net.layers, 5);
    cr_expect_eq(c.pdarts_add_layers, 6);
    cr_expect_eq(c.epochs, 25);
    cr_expect_eq(search_total_epochs(&c), 75);
    cr_expect_eq(c.warmup_epochs, 10);
    cr_expect_eq(c.batch, 96);
    cr_expect_eq(c.arch_lr, 6e-4);
    cr_expect_eq(c.arch_grad_clip, 5.0);
    cr_expect_eq(c.lr_min, 0.0);
    /* the published 0.0 / 0.4 / 0.7, not the reference README's 0.1 for stage 1 */
    cr_expect(c.skip_dropout[0] == 0 && c.skip_dropout[1] == 0.4 && c.skip_dropout[2] == 0.7);
    cr_expect_eq(c.max_skip, 2);
    search_config_defaults(&c);
    c.algo = ALGO_TSE_PDARTS;
    search_config_algo_defaults(&c);
    cr_assert_eq(search_config_budget(&c, "paper", 0), TD_OK);
    cr_expect_eq(c.batch, 64);
    cr_expect_eq(c.arch_lr, 3e-4);
    cr_expect_eq(c.warmup_epochs, 0);
    cr_expect_eq(c.arch_grad_clip, 0.0);
    cr_expect(c.skip_dropout[0] == 0 && c.skip_dropout[1] == 0 && c.skip_dropout[2] == 0);
    cr_expect_eq(c.tse_steps, 100);
    const char *names[] = {"smoke", "tiny", "mini"};
    for (int i = 0; i < 3; i++) {
        search_config_defaults(&c);
        c.algo = ALGO_PDARTS;
        search_config_algo_defaults(&c);
        cr_assert_eq(search_config_budget(&c, names[i], 0), TD_OK);
        cr_expect_lt(c.warmup_epochs, c.epochs, "%s: no architecture epoch left", names[i]);
        cr_expect_geq(c.net.layers, 3, "%s", names[i]);
    }
}

/* A kill between a stage's end (its epoch record and the pdarts_stage
 * record already in the log) and the checkpoint that holds the next stage:
 * stopped before the stage's last unit, the log then carries those two
 * records as the killed run left them. Resume cuts the log back to its
 * checkpoint and ends bit-identical. */
Test(pdarts, kill_during_stage_transition_resumes_bit_identical)
{
    search_config c;
    staged_config(&c, ALGO_PDARTS);
    char a[256], d[256];
    out_dir(a, sizeof a, "pdarts-whole");
    out_dir(d, sizeof d, "pdarts-killed");
    search_result r;
    run(&c, a, 0, 0, 0, &r);
    int U = 2, E = c.epochs;
    run(&c, d, 0, (long)U * E - 1, 0, &r);
    char *log = read_file(a, "metrics.jsonl"), *end = log;
    for (int i = 0; i < E + 1; i++) end = strchr(end, '\n') + 1; /* E epoch records, the stage record */
    cr_expect(strstr(log, "\"record\":\"pdarts_stage\"") < end, "the stage record ends stage 1");
    char path[600];
    cr_assert_eq(path_format(path, sizeof path, "%s/metrics.jsonl", d), TD_OK);
    *end = '\0';
    cr_assert_eq(file_write_text_atomic(path, log), TD_OK, "%s", td_error_message());
    free(log);
    run(&c, d, 1, 0, 0, &r);
    expect_same_files(a, d);
}

/* From the command line: PDARTS' skip dropout is the published 0.0 / 0.4 /
 * 0.7 (stage 1 at 0 leaves the optional key out of config.json), and the
 * reference README's 0.1 for stage 1 is one flag away. */
Test(pdarts, command_line_skip_dropout_default_and_flag)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    char *dir = sandbox_dir("pdarts-cli"), out[600];
    cr_assert_eq(path_format(out, sizeof out, "%s/config.txt", dir), TD_OK);
    const char *plain[] = {bin, "search", "--algo", "pdarts", "--print-config", NULL};
    cr_assert_eq(sandbox_run(plain, out), 0);
    char *text = NULL;
    cr_assert_eq(file_read_all(out, &text, NULL), TD_OK);
    cr_expect(strstr(text, "\"skip_dropout1\"") == NULL, "stage 1 has skip dropout by default: %s", text);
    cr_expect(strstr(text, "\"skip_dropout2\":0.4") != NULL, "%s", text);
    cr_expect(strstr(text, "\"skip_dropout3\":0.69999") != NULL, "%s", text);
    free(text);
    const char *readme[] = {bin, "search", "--algo", "pdarts", "--skip-dropout1", "0.1", "--print-config", NULL};
    cr_assert_eq(sandbox_run(readme, out), 0);
    cr_assert_eq(file_read_all(out, &text, NULL), TD_OK);
    cr_expect(strstr(text, "\"skip_dropout1\":0.1") != NULL, "--skip-dropout1 0.1 not applied: %s", text);
    free(text);
    free(dir);
}
