#include "quiet_runs.h"

#include <string.h>

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
