/* What the report page says of devices that failed while the protocol ran:
 * each run's timing.json keeps the device errors it met and the device it
 * finished on. Only the page (outside the root hash) says it: which GPU
 * ran a run changes none of its bits, so report.md, which the root hash
 * covers, is the same as one device's. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol_internal.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

void protocol_device_failures_text(const char *out_dir, char *buf, size_t len)
{
    buf[0] = '\0';
    char runs[4400];
    char **names = NULL;
    int n = 0;
    if (path_format(runs, sizeof runs, "%s/runs", out_dir) != TD_OK || !file_exists(runs) ||
        dir_list_files(runs, &names, &n) != TD_OK)
        return;
    size_t at = 0;
    int count = 0;
    for (int i = 0; i < n; i++) {
        /* runs/<hash>/timing.json: the run's last attempt */
        const char *slash = strchr(names[i], '/');
        if (!slash || strcmp(slash + 1, "timing.json")) continue;
        char path[4600], *text = NULL;
        if (path_format(path, sizeof path, "%s/%s", runs, names[i]) != TD_OK || file_read_all(path, &text, NULL) != TD_OK)
            continue;
        json_t *o = json_loads(text, 0, NULL);
        free(text);
        json_t *fails = json_object_get(o, "device_failures");
        const char *on = json_string_value(json_object_get(o, "device"));
        for (size_t k = 0; k < json_array_size(fails) && at < len; k++) {
            json_t *f = json_array_get(fails, k);
            at += (size_t)snprintf(buf + at, len - at, "%s%s failed during run %.12s (%s)", count++ ? "; " : "",
                                   json_string_value(json_object_get(f, "device")), names[i],
                                   json_string_value(json_object_get(f, "error")));
        }
        char failure[4600];
        snprintf(failure, sizeof failure, "%s/%.*s/failure.json", runs, (int)(slash - names[i]), names[i]);
        if (json_array_size(fails) && at < len)
            at += (size_t)(file_exists(failure) ? snprintf(buf + at, len - at, ", the run then recorded as failed")
                                                : snprintf(buf + at, len - at, ", the run finishing on %s", on ? on : "?"));
        if (o) json_decref(o);
    }
    dir_list_free(names, n);
    if (count && at < len)
        snprintf(buf + at, len - at,
                 ". A failed device was taken out of the pool and its run went on elsewhere from its last "
                 "checkpoint; every GPU of one model gives the same bits, so the results are those one device gives "
                 "(each run's timing.json records where it ran and the device errors it met).");
}
