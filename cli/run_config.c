#include "run_config.h"

#include <stdio.h>
#include <stdlib.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

int cli_config_from_run(const args *a, const char *command, const char *dir,
                        td_status (*parse)(const char *json, void *config), void *config)
{
    char path[4200], *text = NULL;
    td_status s = path_format(path, sizeof path, "%s/config.json", dir);
    if (s == TD_OK) s = file_read_all(path, &text, NULL);
    if (s == TD_OK) s = parse(text, config);
    free(text);
    if (s != TD_OK) {
        td_error_print(s);
        return 1;
    }
    const char *fixed = args_first_field(a);
    if (!fixed && args_has(a, "budget")) fixed = "budget";
    if (!fixed && args_has(a, "out")) fixed = "out";
    if (fixed) {
        fprintf(stderr, "tsedarts: error: %s: --%s cannot be combined with --resume (the run's config.json is used)\n",
                command, fixed);
        return 2;
    }
    return 0;
}
