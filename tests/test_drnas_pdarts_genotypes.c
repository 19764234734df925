/* The DrNAS and PDARTS genotypes (published and found by TSE): their
 * evaluation networks against docs/numerics.md s.10's analytic counts. */
#include <criterion/criterion.h>
#include <string.h>

#include "tsedarts/train.h"

static size_t weights(const char *geno, int layers, int aux)
{
    evalnet_config c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(genotype_load(geno, &c.geno), TD_OK, "%s", td_error_message());
    c.C = 36;
    c.layers = layers;
    c.in_ch = 3;
    c.hw = 32;
    c.classes = 10;
    c.auxiliary = aux;
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    net_io io;
    cr_assert_eq(evalnet_build(&b, &c, 2, &io), TD_OK, "%s", td_error_message());
    size_t n = graph_param_count(g, ROLE_WEIGHT);
    layer_free(&b);
    graph_destroy(g);
    return n;
}

Test(known_genotypes, drnas_and_pdarts_parameter_counts)
{
    static const struct {
        const char *name;
        size_t l20, l20_aux, l8, l8_aux;
    } want[] = {
        {"DrNAS_cifar10", 4099294, 4575720, 1616590, 2093016},
        {"PDARTS", 3433798, 3910224, 1343206, 1819632},
        {"SOTL_DRNAS1", 5040406, 5516832, 2052694, 2529120},
        {"SOTL_DRNAS2", 4888342, 5364768, 1997398, 2473824},
        {"PDARTS_1", 3313054, 3789480, 1206334, 1682760},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_expect_eq(weights(want[i].name, 20, 0), want[i].l20, "%s, 20 layers", want[i].name);
        cr_expect_eq(weights(want[i].name, 20, 1), want[i].l20_aux, "%s, 20 layers, auxiliary", want[i].name);
        cr_expect_eq(weights(want[i].name, 8, 0), want[i].l8, "%s, 8 layers", want[i].name);
        cr_expect_eq(weights(want[i].name, 8, 1), want[i].l8_aux, "%s, 8 layers, auxiliary", want[i].name);
    }
}
