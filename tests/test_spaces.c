/* The S2 and NAS-Bench-201 search spaces: genotype rules and text, and
 * whole searches in each (finish, stay in the space, resume bit-identical). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

#include "tsedarts/darts.h"
#include "tsedarts/data.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/search.h"
#include "tsedarts/space.h"
#include "tsedarts/backend_cpu.h"

Test(spaces, names_round_trip)
{
    for (int s = 0; s < SPACE_COUNT; s++) cr_expect_eq(space_by_name(space_name(s)), s);
    cr_expect_eq(space_by_name("nasbench"), -1);
    cr_expect_eq(space_ops(SPACE_S2), 2);
    cr_expect_eq(space_darts_op(SPACE_S2, 0), DOP_SKIP_CONNECT);
    cr_expect_eq(space_darts_op(SPACE_S2, 1), DOP_SEP_CONV_3X3);
}

/* argmax per edge, none included; ties keep the first op */
Test(spaces, nb201_genotype_rule_and_text)
{
    double a[NB201_EDGES * NB_OP_COUNT] = {0};
    int want[NB201_EDGES] = {NB_NONE, NB_CONV_3X3, NB_SKIP_CONNECT, NB_AVG_POOL_3X3, NB_CONV_1X1, NB_NONE};
    for (int e = 0; e < NB201_EDGES; e++) a[e * NB_OP_COUNT + want[e]] = 0.5 + e;
    a[5 * NB_OP_COUNT + NB_CONV_1X1] = 5.5; /* a tie with none on edge 5 */
    int ops[NB201_EDGES];
    nb201_derive(a, ops);
    for (int e = 0; e < NB201_EDGES; e++) cr_expect_eq(ops[e], want[e], "edge %d", e);
    char text[256];
    nb201_format(ops, text, sizeof text);
    cr_expect_str_eq(text, "|none~0|+|nor_conv_3x3~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|");
}

static void tiny(search_config *c, int space, search_algo algo)
{
    search_config_defaults(c);
    c->algo = algo;
    snprintf(c->dataset, sizeof c->dataset, "synthetic");
    c->net.space = space;
    c->net.C = 4;
    c->net.layers = space == SPACE_NB201 ? 1 : 3;
    c->batch = 8;
    c->epochs = 2;
    c->subset = 24;
    c->eval_images = 8;
    c->tse_steps = 2;
    c->net.hw = 8;
}

/* 8x8 synthetic images keep these searches to seconds */
static dataset small_set;
static void load_small_set(void) { cr_assert_eq(dataset_synthetic(96, 3, 8, 10, 7, 0, &small_set), TD_OK); }
static void free_small_set(void) { dataset_free(&small_set); }

/* Runs a search in a new directory named after tag, or resumes the one in
 * resume_dir; returns the directory (malloc'd). */
static char *run_search(const search_config *c, const char *tag, long stop_after, const char *resume_dir)
{
    int resume = resume_dir != NULL;
    char *dir = resume ? strdup(resume_dir) : sandbox_dir(tag);
    search_options o;
    memset(&o, 0, sizeof o);
    o.be = backend_cpu();
    o.out_dir = dir;
    o.quiet = 1;
    o.resume = resume;
    o.stop_after_units = stop_after;
    o.train_set = &small_set;
    search_result r;
    td_status s = search_run(c, &o, &r);
    cr_assert_eq(s, stop_after ? TD_ERR_INTERRUPTED : TD_OK, "%s", td_error_message());
    return dir;
}

static char *read_file_in(const char *dir, const char *name)
{
    char path[400], *text = NULL;
    cr_assert_eq(path_format(path, sizeof path, "%s/%s", dir, name), TD_OK, "%s", td_error_message());
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK, "%s", td_error_message());
    return text;
}

Test(spaces, s2_search_stays_in_its_ops, .init = load_small_set, .fini = free_small_set)
{
    search_config c;
    tiny(&c, SPACE_S2, ALGO_TSE_EXACT);
    char *dir = run_search(&c, "spaces-s2", 0, NULL);
    char *g = read_file_in(dir, "genotype.txt");
    const char *line = strstr(g, "normal:");
    cr_assert(line, "%s", g);
    /* every op named is one of the two */
    for (int op = 0; op < DOP_COUNT; op++)
        if (op != DOP_SKIP_CONNECT && op != DOP_SEP_CONV_3X3 && op != DOP_NONE)
            cr_expect_null(strstr(line, darts_op_name(op)), "%s in an S2 genotype: %s", darts_op_name(op), line);
    char *cfg = read_file_in(dir, "config.json");
    cr_expect(strstr(cfg, "\"space\":\"s2\"") != NULL, "%s", cfg);
    free(g);
    free(cfg);
    free(dir);
}

Test(spaces, nb201_search_resumes_bit_identical, .init = load_small_set, .fini = free_small_set)
{
    search_config c;
    tiny(&c, SPACE_NB201, ALGO_DARTS1);
    char *a = run_search(&c, "spaces-nb-a", 0, NULL);
    char *b = run_search(&c, "spaces-nb-b", 2, NULL);
    free(run_search(&c, NULL, 0, b));
    const char *files[] = {"metrics.jsonl", "alphas.safetensors", "weights.safetensors", "genotype.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *ta = read_file_in(a, files[i]), *tb = read_file_in(b, files[i]);
        cr_expect_str_eq(ta, tb, "%s differs", files[i]);
        free(ta);
        free(tb);
    }
    char *g = read_file_in(a, "genotype.txt");
    /* |op~0|+|op~0|op~1|+|op~0|op~1|op~2| */
    const char *arch = strchr(g, '\n') + 1;
    int bars = 0, tildes = 0;
    for (const char *p = arch; *p && *p != '\n'; p++) bars += *p == '|', tildes += *p == '~';
    cr_expect_eq(tildes, 6, "%s", arch);
    cr_expect_eq(bars, 9, "%s", arch);
    char *m = read_file_in(a, "metrics.jsonl");
    cr_expect(strstr(m, "\"softmax\":[[") != NULL, "one softmax matrix for the one cell type");
    free(m);
    free(g);
    free(a);
    free(b);
}
