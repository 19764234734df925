/* Genotype derivation (docs/numerics.md s.1.5: ties, none excluded), the canonical
 * format, parsing errors, depth and skip count, the known genotypes. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/darts.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"

static void set_row(double *a, int row, const double *v)
{
    for (int k = 0; k < DOP_COUNT; k++) a[row * DOP_COUNT + k] = v[k];
}

Test(genotype, derivation_excludes_none_and_breaks_ties_by_index)
{
    double n[DARTS_EDGES * DOP_COUNT] = {0}, r[DARTS_EDGES * DOP_COUNT] = {0};
    /* node 2 (rows 0-1): row 0 dominated by none, which must not count:
     * its best real op is weak, so input 1 ranks first. */
    double none_heavy[8] = {9, 0.1, 0, 0, 0, 0, 0, 0};
    double sep5[8] = {0, 0, 0, 0, 0, 2, 0, 0};
    set_row(n, 0, none_heavy);
    set_row(n, 1, sep5);
    /* node 3 (rows 2-4): all equal -> inputs 0 and 1 (lower first), op =
     * max_pool_3x3 (lowest index after none) */
    /* node 4 (rows 5-8): input 3 strongest (skip), then a tie between
     * inputs 0 and 2 -> input 0 */
    double skip[8] = {0, 0, 0, 3, 0, 0, 0, 0}, dil[8] = {0, 0, 0, 0, 0, 0, 1, 0};
    set_row(n, 5, dil);
    set_row(n, 7, dil);
    set_row(n, 8, skip);
    /* node 5 (rows 9-13): a tie between two ops inside the kept edge 4 */
    double two[8] = {0, 0, 0, 0, 1.5, 1.5, 0, 0};
    set_row(n, 13, two);
    genotype g;
    genotype_derive(n, r, "t", &g);
    cr_expect_eq(g.normal.input[0], 1);
    cr_expect_eq(g.normal.op[0], DOP_SEP_CONV_5X5);
    cr_expect_eq(g.normal.input[1], 0);
    cr_expect_eq(g.normal.op[1], DOP_MAX_POOL_3X3, "none must be excluded: got %s", darts_op_name(g.normal.op[1]));
    cr_expect_eq(g.normal.input[2], 0);
    cr_expect_eq(g.normal.input[3], 1);
    cr_expect_eq(g.normal.op[2], DOP_MAX_POOL_3X3);
    cr_expect_eq(g.normal.input[4], 3);
    cr_expect_eq(g.normal.op[4], DOP_SKIP_CONNECT);
    cr_expect_eq(g.normal.input[5], 0);
    cr_expect_eq(g.normal.op[5], DOP_DIL_CONV_3X3);
    cr_expect_eq(g.normal.input[6], 4);
    cr_expect_eq(g.normal.op[6], DOP_SEP_CONV_3X3, "op tie must pick the lower index");
    cr_expect_eq(genotype_skip_count(&g.normal), 1);
}

Test(genotype, depth_and_skip_count)
{
    genotype g;
    cr_assert_eq(genotype_load("DARTS_V2", &g), TD_OK, "%s", td_error_message());
    /* DARTS_V2 normal: nodes 2,3,4 read only inputs; node 5 reads node 2 */
    cr_expect_eq(genotype_depth(&g.normal), 3);
    cr_expect_eq(genotype_skip_count(&g.normal), 2);
    genotype chain;
    cr_assert_eq(genotype_parse("chain | normal: sep_conv_3x3:0 sep_conv_3x3:1 sep_conv_3x3:2 sep_conv_3x3:0 "
                                "sep_conv_3x3:3 sep_conv_3x3:0 sep_conv_3x3:4 sep_conv_3x3:0 | reduce: "
                                "max_pool_3x3:0 max_pool_3x3:1 max_pool_3x3:0 max_pool_3x3:1 max_pool_3x3:0 "
                                "max_pool_3x3:1 max_pool_3x3:0 max_pool_3x3:1 | concat 2-5",
                                "test", &chain),
                 TD_OK, "%s", td_error_message());
    cr_expect_eq(genotype_depth(&chain.normal), 5);
    cr_expect_eq(genotype_depth(&chain.reduce), 2);
}

Test(genotype, known_genotypes_round_trip_exactly)
{
    DIR *d = opendir(genotype_dir());
    cr_assert_not_null(d, "cannot open %s", genotype_dir());
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 10 || strcmp(e->d_name + l - 9, ".genotype")) continue;
        char path[4096], *text;
        cr_assert_eq(path_format(path, sizeof path, "%s/%s", genotype_dir(), e->d_name), TD_OK, "%s",
                     td_error_message());
        cr_assert_eq(file_read_all(path, &text, NULL), TD_OK);
        genotype g;
        cr_assert_eq(genotype_load(path, &g), TD_OK, "%s", td_error_message());
        char line[1024];
        genotype_format(&g, line, sizeof line);
        cr_expect(strstr(text, line) != NULL, "%s does not reformat to itself: %s", path, line);
        free(text);
        n++;
    }
    closedir(d);
    /* the reference file's 34, and PDARTS (chenxin061/pdarts genotypes.py) */
    cr_expect_eq(n, 35, "expected 35 known genotypes, found %d", n);
}

Test(genotype, python_and_dot_forms)
{
    genotype g;
    cr_assert_eq(genotype_load("DARTS_V2", &g), TD_OK);
    char buf[8192];
    genotype_format_python(&g, buf, sizeof buf);
    cr_expect(strstr(buf, "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)") == buf, "%s", buf);
    cr_expect(strstr(buf, "reduce_concat=[2, 3, 4, 5])") != NULL);
    genotype_format_dot(&g, buf, sizeof buf);
    cr_expect(strstr(buf, "\"normal_c_k-2\" -> \"normal_0\" [label=\"sep_conv_3x3\"]") != NULL, "%s", buf);
    cr_expect(strstr(buf, "\"reduce_0\" -> \"reduce_1\" [label=\"skip_connect\"]") != NULL);
}

static void expect_parse_error(const char *line, const char *needle)
{
    genotype g;
    td_status s = genotype_parse(line, "input.txt line 1", &g);
    cr_expect_neq(s, TD_OK, "accepted: %s", line);
    cr_expect(strstr(td_error_message(), needle) != NULL, "message '%s' lacks '%s'", td_error_message(), needle);
    cr_expect(strstr(td_error_message(), "input.txt line 1") != NULL, "message does not say where");
}

Test(genotype, malformed_lines_are_rejected_clearly)
{
    const char *ok_reduce = "| reduce: max_pool_3x3:0 max_pool_3x3:1 skip_connect:2 max_pool_3x3:1 max_pool_3x3:0 "
                            "skip_connect:2 skip_connect:2 max_pool_3x3:1 | concat 2-5";
    char line[1024];
    snprintf(line, sizeof line, "X | normal: sep_conv_3x3:0 sep_conv_3x3:1 sep_conv_3x3:0 sep_conv_3x3:1 "
             "sep_conv_3x3:1 skip_connect:0 skip_connect:0 conv_7x7:2 %s", ok_reduce);
    expect_parse_error(line, "unknown op 'conv_7x7'");
    snprintf(line, sizeof line, "X | normal: sep_conv_3x3:0 sep_conv_3x3:3 sep_conv_3x3:0 sep_conv_3x3:1 "
             "sep_conv_3x3:1 skip_connect:0 skip_connect:0 dil_conv_3x3:2 %s", ok_reduce);
    expect_parse_error(line, "input 3 is outside 0..1");
    snprintf(line, sizeof line, "X | normal: sep_conv_3x3:0 sep_conv_3x3:1 %s", ok_reduce);
    expect_parse_error(line, "expected 8");
    snprintf(line, sizeof line, "X | normal: none:0 sep_conv_3x3:1 sep_conv_3x3:0 sep_conv_3x3:1 "
             "sep_conv_3x3:1 skip_connect:0 skip_connect:0 dil_conv_3x3:2 %s", ok_reduce);
    expect_parse_error(line, "'none' cannot be a chosen op");
    expect_parse_error("just some text", "not a genotype line");
    genotype g;
    cr_expect_neq(genotype_load("NO_SUCH_GENOTYPE", &g), TD_OK);
    cr_expect(strstr(td_error_message(), "DARTS_V2") != NULL, "the error should list known genotypes");
}
