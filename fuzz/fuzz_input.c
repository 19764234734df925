#include "fuzz_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"

const char *fuzz_dir(void)
{
    static char *dir;
    if (!dir && dir_make_temp("fuzz", &dir) != TD_OK) abort();
    return dir;
}

const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[4400];
    if (path_format(path, sizeof path, "%s/%s", fuzz_dir(), name) != TD_OK) abort();
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();
    return path;
}

char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}
