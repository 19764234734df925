/* sha256sum-compatible manifests ("<hex>  <name>" per line, sorted), per
 * run directory and at the root, and the root hash over them. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/protocol.h"

int manifest_unhashed(const char *name)
{
    /* wall-clock timings differ between identical runs */
    return !strcmp(name, "timing.json");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Regular files of dir that a manifest covers, sorted. */
static int list_files(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0, cap = 16;
    char **names = malloc((size_t)cap * sizeof *names);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "manifest.sha256") || manifest_unhashed(e->d_name)) continue;
        char *path = path_join(dir, e->d_name);
        struct stat st;
        int regular = path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
        free(path);
        if (!regular) continue;
        if (n == cap) names = realloc(names, (size_t)(cap *= 2) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    return n;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* The manifest text of names (relative to dir): one sha256sum line each.
 * Each line is measured before it is written, so a long name grows the
 * buffer instead of being cut. */
static td_status manifest_text(const char *dir, char **names, int n, char **out)
{
    size_t cap = 1, len = 0;
    for (int i = 0; i < n; i++) cap += SHA256_HEX_LEN + 2 + strlen(names[i]) + 1;
    char *text = malloc(cap);
    if (!text) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    text[0] = '\0';
    td_status s = TD_OK;
    for (int i = 0; i < n && s == TD_OK; i++) {
        char *path = path_join(dir, names[i]), hex[SHA256_HEX_LEN];
        s = path ? sha256_file(path, hex) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
        free(path);
        if (s == TD_OK) len += (size_t)snprintf(text + len, cap - len, "%s  %s\n", hex, names[i]);
    }
    if (s != TD_OK) {
        free(text);
        return s;
    }
    *out = text;
    return TD_OK;
}

td_status manifest_write(const char *dir)
{
    char **names;
    int n = list_files(dir, &names);
    if (n < 0) return TD_FAIL(TD_ERR_IO, "%s: cannot list the directory", dir);
    char mpath[4400], *text = NULL;
    td_status s = path_format(mpath, sizeof mpath, "%s/manifest.sha256", dir);
    if (s == TD_OK) s = manifest_text(dir, names, n, &text);
    if (s == TD_OK) s = file_write_text_atomic(mpath, text);
    free(text);
    free_list(names, n);
    return s;
}

td_status manifest_check(const char *dir)
{
    char mpath[4400], *text;
    TD_CHECK(path_format(mpath, sizeof mpath, "%s/manifest.sha256", dir));
    TD_CHECK(file_read_all(mpath, &text, NULL));
    char **names;
    int n = list_files(dir, &names);
    if (n < 0) {
        free(text);
        return TD_FAIL(TD_ERR_IO, "%s: cannot list the directory", dir);
    }
    int *seen = calloc((size_t)n + 1, sizeof *seen);
    td_status s = TD_OK;
    int line = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && s == TD_OK; l = strtok_r(NULL, "\n", &save)) {
        line++;
        if (strlen(l) < 67 || l[64] != ' ' || l[65] != ' ') {
            s = TD_FAIL(TD_ERR_CHECK, "%s line %d: not a sha256sum line", mpath, line);
            break;
        }
        const char *name = l + 66;
        int idx = -1;
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], name)) idx = i;
        if (idx < 0) {
            s = TD_FAIL(TD_ERR_CHECK, "%s/%s: listed in the manifest but missing", dir, name);
            break;
        }
        seen[idx] = 1;
        char path[4400], hex[SHA256_HEX_LEN];
        s = path_format(path, sizeof path, "%s/%s", dir, name);
        if (s == TD_OK) s = sha256_file(path, hex);
        if (s == TD_OK && strncmp(hex, l, 64) != 0) s = TD_FAIL(TD_ERR_CHECK, "%s: hash differs from the manifest", path);
    }
    for (int i = 0; s == TD_OK && i < n; i++)
        if (!seen[i]) s = TD_FAIL(TD_ERR_CHECK, "%s/%s: not in the manifest (extra file)", dir, names[i]);
    free(seen);
    free_list(names, n);
    free(text);
    return s;
}

td_status manifest_write_root(const char *out_dir, char root_hash[SHA256_HEX_LEN])
{
    char runs[4400];
    TD_CHECK(path_format(runs, sizeof runs, "%s/runs", out_dir));
    DIR *d = opendir(runs);
    int n = 0, cap = 64;
    char **entries = malloc((size_t)cap * sizeof *entries);
    const char *top[] = {"plan.json", "report.json", "report.md"};
    for (int i = 0; i < 3; i++) entries[n++] = strdup(top[i]);
    struct dirent *e;
    td_status s = TD_OK;
    while (s == TD_OK && d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) entries = realloc(entries, (size_t)(cap *= 2) * sizeof *entries);
        char rel[512];
        s = path_format(rel, sizeof rel, "runs/%s/manifest.sha256", e->d_name);
        if (s == TD_OK) entries[n++] = strdup(rel);
    }
    if (d) closedir(d);
    /* the report's figures (figures/, drawn by protocol_report) */
    char figs[4400];
    char **fig_names = NULL;
    int nf = s == TD_OK && path_format(figs, sizeof figs, "%s/figures", out_dir) == TD_OK ? list_files(figs, &fig_names) : -1;
    for (int i = 0; i < nf && s == TD_OK; i++) {
        if (n == cap) entries = realloc(entries, (size_t)(cap *= 2) * sizeof *entries);
        char rel[512];
        s = path_format(rel, sizeof rel, "figures/%s", fig_names[i]);
        if (s == TD_OK) entries[n++] = strdup(rel);
    }
    if (nf >= 0) free_list(fig_names, nf);
    qsort(entries, (size_t)n, sizeof *entries, cmp_str);
    char path[4400], *text = NULL;
    if (s == TD_OK) s = path_format(path, sizeof path, "%s/MANIFEST.sha256", out_dir);
    if (s == TD_OK) s = manifest_text(out_dir, entries, n, &text);
    if (s == TD_OK) s = file_write_text_atomic(path, text);
    if (s == TD_OK) sha256_buffer(text, strlen(text), root_hash);
    free_list(entries, n);
    free(text);
    return s;
}
