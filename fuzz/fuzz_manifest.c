/* sha256sum manifests as verify and the protocol's resume check read them:
 * the input is MANIFEST.sha256 of a small results tree (verify) and the
 * manifest.sha256 of a run directory (manifest_check). */
#include <stdio.h>
#include <string.h>

#include "fuzz_input.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/protocol.h"
#include "tsedarts/verify.h"

/* The tree the seed corpus's manifest describes: three small files, an
 * empty runs/ and an empty HOST.sha256. */
static void make_tree(const char *dir)
{
    static const char *const files[][2] = {
        {"plan.json", "{}\n"}, {"report.json", "{}\n"}, {"report.md", "# r\n"}, {"HOST.sha256", ""}};
    char path[4400];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (path_format(path, sizeof path, "%s/%s", dir, files[i][0]) == TD_OK) file_write_text_atomic(path, files[i][1]);
    if (path_format(path, sizeof path, "%s/runs", dir) == TD_OK) dir_create(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int made;
    const char *dir = fuzz_dir();
    if (!made) {
        make_tree(dir);
        made = 1;
    }
    fuzz_file("MANIFEST.sha256", data, size);
    FILE *devnull = fopen("/dev/null", "w");
    verify_summary sum;
    verify_tree(dir, NULL, devnull, &sum);
    fclose(devnull);
    /* the same bytes as a run directory's manifest */
    fuzz_file("manifest.sha256", data, size);
    manifest_check(dir);
    char path[4400];
    if (path_format(path, sizeof path, "%s/manifest.sha256", dir) == TD_OK) remove(path);
    return 0;
}
