#include "quiet_runs.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

td_status quiet_search(const backend *be, const search_config *c, const char *dir, int resume, long stop_units)
{
    search_options o;
    memset(&o, 0, sizeof o);
    o.be = be;
    o.out_dir = dir;
    o.resume = resume;
    o.stop_after_units = stop_units;
    o.quiet = 1;
    search_result r;
    return search_run(c, &o, &r);
}

td_status quiet_train(const backend *be, const train_config *c, const char *dir, int resume, long stop_steps)
{
    train_options o;
    memset(&o, 0, sizeof o);
    o.be = be;
    o.out_dir = dir;
    o.resume = resume;
    o.stop_after_steps = stop_steps;
    o.quiet = 1;
    train_result r;
    return train_run(c, &o, &r);
}

void quiet_tiny_search_config(search_config *c, search_algo algo)
{
    search_config_defaults(c);
    c->algo = algo;
    snprintf(c->dataset, sizeof c->dataset, "synthetic");
    c->net.C = 4;
    c->net.layers = 3;
    c->batch = 8;
    c->epochs = 2;
    c->subset = 36;
    c->eval_images = 16;
    c->tse_steps = 3;
}

void expect_same_run_files(const char *a, const char *b, const char *const *names, const char *between)
{
    for (int i = 0; names[i]; i++) {
        char pa[4200], pb[4200], *ta, *tb;
        size_t na, nb;
        cr_assert_eq(path_format(pa, sizeof pa, "%s/%s", a, names[i]), TD_OK);
        cr_assert_eq(path_format(pb, sizeof pb, "%s/%s", b, names[i]), TD_OK);
        cr_assert_eq(file_read_all(pa, &ta, &na), TD_OK, "%s", td_error_message());
        cr_assert_eq(file_read_all(pb, &tb, &nb), TD_OK, "%s", td_error_message());
        cr_expect(na == nb && !memcmp(ta, tb, na), "%s differs between %s", names[i], between);
        free(ta);
        free(tb);
    }
}
