/* sha256sum-compatible manifests per run directory and at the root, and
 * the root hash over them. Every file is in one list or another; the only
 * split is between what a run computed (manifest.sha256, MANIFEST.sha256:
 * the root hash) and what depends on the machine and the moment
 * (host.sha256, HOST.sha256). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/dir_lock.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/protocol.h"

int manifest_host_file(const char *relpath)
{
    const char *slash = strrchr(relpath, '/'), *base = slash ? slash + 1 : relpath;
    return !strcmp(base, "env.json") || !strcmp(base, "timing.json");
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

/* The two lists of a run directory: names[0..n) sorted, split in place
 * into computed (*nc first, order kept) and host files (the rest). */
static td_status run_lists(const char *dir, char ***names, int *n, int *nc)
{
    TD_CHECK(dir_list_files(dir, names, n));
    char **v = *names;
    int k = 0;
    for (int i = 0; i < *n; i++) {
        if (!strcmp(v[i], "manifest.sha256") || !strcmp(v[i], "host.sha256")) {
            free(v[i]);
            v[i] = NULL;
        }
    }
    /* computed files first, then host files, each in sorted order */
    char **tmp = malloc((size_t)(*n ? *n : 1) * sizeof *tmp);
    if (!tmp) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < *n; i++)
            if (v[i] && manifest_host_file(v[i]) == pass) {
                tmp[k++] = v[i];
                if (!pass) (*nc)++;
            }
    memcpy(v, tmp, (size_t)k * sizeof *v);
    free(tmp);
    *n = k;
    return TD_OK;
}

static td_status write_lists(const char *dir, const char *computed_name, const char *host_name, char **names, int n,
                             int nc, char **computed_text)
{
    char path[4400], *text = NULL;
    td_status s = manifest_text(dir, names + nc, n - nc, &text);
    if (s == TD_OK) s = path_format(path, sizeof path, "%s/%s", dir, host_name);
    if (s == TD_OK) s = file_write_text_atomic(path, text);
    free(text);
    text = NULL;
    if (s == TD_OK) s = manifest_text(dir, names, nc, &text);
    if (s == TD_OK) s = path_format(path, sizeof path, "%s/%s", dir, computed_name);
    if (s == TD_OK) s = file_write_text_atomic(path, text);
    if (s == TD_OK && computed_text) *computed_text = text;
    else free(text);
    return s;
}

td_status manifest_write(const char *dir)
{
    char **names;
    int n, nc = 0;
    TD_CHECK(run_lists(dir, &names, &n, &nc));
    td_status s = write_lists(dir, "manifest.sha256", "host.sha256", names, n, nc, NULL);
    dir_list_free(names, n);
    return s;
}

td_status manifest_write_listed(const char *dir, char **names, int n)
{
    char path[4400], *text = NULL;
    TD_CHECK(path_format(path, sizeof path, "%s/manifest.sha256", dir));
    TD_CHECK(manifest_text(dir, names, n, &text));
    td_status s = file_write_text_atomic(path, text);
    free(text);
    return s;
}

/* The name on a sha256sum line (after "<64 hex>  "), or NULL. */
static const char *line_name(const char *line, size_t len)
{
    return len > 66 && line[64] == ' ' && line[65] == ' ' ? line + 66 : NULL;
}

/* Compares a manifest on disk with the text it should hold; the message
 * names the first file that is missing, extra or different. */
static td_status compare_manifest(const char *dir, const char *mname, const char *want)
{
    char path[4400], *have;
    TD_CHECK(path_format(path, sizeof path, "%s/%s", dir, mname));
    TD_CHECK(file_read_all(path, &have, NULL));
    td_status s = TD_OK;
    const char *a = have, *b = want;
    while (s == TD_OK && (*a || *b)) {
        const char *ae = *a ? strchr(a, '\n') : a, *be = *b ? strchr(b, '\n') : b;
        if (!ae || !be) {
            s = TD_FAIL(TD_ERR_CHECK, "%s: not a sha256sum manifest (last line unterminated)", path);
            break;
        }
        const char *an = *a ? line_name(a, (size_t)(ae - a)) : NULL, *bn = *b ? line_name(b, (size_t)(be - b)) : NULL;
        if (*a && !an) {
            s = TD_FAIL(TD_ERR_CHECK, "%s: holds a line that is not \"<hash>  <name>\"", path);
            break;
        }
        int c = !an ? 1 : !bn ? -1 : strncmp(an, bn, (size_t)((ae - an) > (be - bn) ? (ae - an) : (be - bn)));
        if (c == 0 && strncmp(a, b, 64) != 0)
            s = TD_FAIL(TD_ERR_CHECK, "%s/%.*s: hash differs from %s", dir, (int)(ae - an), an, mname);
        else if (c < 0)
            s = TD_FAIL(TD_ERR_CHECK, "%s/%.*s: listed in %s but missing", dir, (int)(ae - an), an, mname);
        else if (c > 0)
            s = TD_FAIL(TD_ERR_CHECK, "%s/%.*s: not in %s (extra file)", dir, (int)(be - bn), bn, mname);
        if (c <= 0) a = ae + 1;
        if (c >= 0) b = be + 1;
    }
    free(have);
    return s;
}

td_status manifest_check(const char *dir)
{
    char **names;
    int n, nc = 0;
    TD_CHECK(run_lists(dir, &names, &n, &nc));
    char *computed = NULL, *host = NULL;
    td_status s = manifest_text(dir, names, nc, &computed);
    if (s == TD_OK) s = manifest_text(dir, names + nc, n - nc, &host);
    if (s == TD_OK) s = compare_manifest(dir, "manifest.sha256", computed);
    if (s == TD_OK) s = compare_manifest(dir, "host.sha256", host);
    free(computed);
    free(host);
    dir_list_free(names, n);
    return s;
}

/* Which root list a file of the tree belongs to: 0 MANIFEST, 1 HOST,
 * -1 neither (inside a run, covered by its manifests; or slurm/, whose
 * records are their own). */
static int root_list_of(const char *rel)
{
    if (!strcmp(rel, "MANIFEST.sha256") || !strcmp(rel, "HOST.sha256") || !strncmp(rel, "slurm/", 6)) return -1;
    /* the writer's lock, there while the manifests are written (it goes
     * when the writer lets go) */
    if (!strcmp(rel, DIR_LOCK_NAME)) return -1;
    if (!strncmp(rel, "runs/", 5)) {
        const char *slash = strchr(rel + 5, '/');
        if (!slash) return 0; /* a stray file beside the runs: listed, so verify sees it */
        if (!strcmp(slash + 1, "manifest.sha256")) return 0;
        if (!strcmp(slash + 1, "host.sha256")) return 1;
        return -1;
    }
    /* the report's page and figures: drawn by outside programs whose
     * versions change their bytes, and the page states the root hash */
    if (!strcmp(rel, "report.html") || !strncmp(rel, "figures/", 8)) return 1;
    return manifest_host_file(rel);
}

/* The tree's files in the order of the root lists: MANIFEST's (*nc of
 * them) then HOST's; *names is what to free (dir_list_free(*names, *n)). */
static td_status root_lists(const char *out_dir, char ***names, int *n, char ***sorted, int *k, int *nc)
{
    TD_CHECK(dir_list_files(out_dir, names, n));
    *sorted = malloc((size_t)(*n ? *n : 1) * sizeof **sorted);
    if (!*sorted) {
        dir_list_free(*names, *n);
        return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    }
    *k = *nc = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < *n; i++)
            if (root_list_of((*names)[i]) == pass) {
                (*sorted)[(*k)++] = (*names)[i];
                if (!pass) (*nc)++;
            }
    return TD_OK;
}

td_status manifest_check_root(const char *out_dir, char root_hash[SHA256_HEX_LEN])
{
    char **names, **sorted, *computed = NULL, *host = NULL;
    int n, k = 0, nc = 0;
    TD_CHECK(root_lists(out_dir, &names, &n, &sorted, &k, &nc));
    td_status s = manifest_text(out_dir, sorted, nc, &computed);
    if (s == TD_OK) s = manifest_text(out_dir, sorted + nc, k - nc, &host);
    if (s == TD_OK) s = compare_manifest(out_dir, "MANIFEST.sha256", computed);
    if (s == TD_OK) s = compare_manifest(out_dir, "HOST.sha256", host);
    if (s == TD_OK) sha256_buffer(computed, strlen(computed), root_hash);
    free(computed);
    free(host);
    free(sorted);
    dir_list_free(names, n);
    return s;
}

td_status manifest_write_root(const char *out_dir, char root_hash[SHA256_HEX_LEN])
{
    char **names;
    int n;
    TD_CHECK(dir_list_files(out_dir, &names, &n));
    char **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        dir_list_free(names, n);
        return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    }
    int k = 0, nc = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++)
            if (root_list_of(names[i]) == pass) {
                sorted[k++] = names[i];
                if (!pass) nc++;
            }
    char *text = NULL;
    td_status s = write_lists(out_dir, "MANIFEST.sha256", "HOST.sha256", sorted, k, nc, &text);
    if (s == TD_OK) sha256_buffer(text, strlen(text), root_hash);
    free(text);
    free(sorted);
    dir_list_free(names, n);
    return s;
}
