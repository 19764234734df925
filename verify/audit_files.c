/* The tree's integrity, checked with verify's own reading of the formats:
 * sha256sum manifests (per run and at the root) and hash-chained logs. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tsedarts/dir_lock.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "verify_internal.h"

/* A name and its line (from 0), for looking names up by bisection. */
typedef struct listed_name {
    const char *name;
    int line;
} listed_name;

/* A manifest, parsed: "<64 lowercase hex digits>  <name>\n" per line. */
typedef struct listing {
    int n, cap;
    char (*hex)[SHA256_HEX_LEN];
    char **name;
    listed_name *sorted; /* every name, sorted: lookups in log n, so a
                            manifest of a million lines is checked in
                            seconds, not hours */
} listing;

static void listing_free(listing *l)
{
    for (int i = 0; i < l->n; i++) free(l->name[i]);
    free(l->name);
    free(l->hex);
    free(l->sorted);
    memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const listed_name *)a)->name, ((const listed_name *)b)->name);
}

static int listing_find(const listing *l, const char *name)
{
    listed_name key = {name, 0}, *at = l->n ? bsearch(&key, l->sorted, (size_t)l->n, sizeof key, by_name) : NULL;
    return at ? at->line : -1;
}

/* Sorts the names for listing_find; a name listed twice is an error. */
static td_status listing_index(listing *l, const char *path)
{
    l->sorted = malloc((size_t)(l->n ? l->n : 1) * sizeof *l->sorted);
    if (!l->sorted) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    for (int i = 0; i < l->n; i++) l->sorted[i] = (listed_name){l->name[i], i};
    qsort(l->sorted, (size_t)l->n, sizeof *l->sorted, by_name);
    for (int i = 1; i < l->n; i++)
        if (!strcmp(l->sorted[i - 1].name, l->sorted[i].name)) {
            int a = l->sorted[i - 1].line, b = l->sorted[i].line;
            return TD_FAIL(TD_ERR_CHECK, "%s line %d: %s is listed twice", path, (a > b ? a : b) + 1, l->sorted[i].name);
        }
    return TD_OK;
}

/* A name that stays inside the directory it is relative to. */
static int name_is_inside(const char *name)
{
    if (!*name || name[0] == '/') return 0;
    for (const char *p = name; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2])) return 0;
    return 1;
}

static td_status listing_add(listing *l, const char *line, const char *path, int lineno)
{
    int ok = strlen(line) > 66 && line[64] == ' ' && line[65] == ' ';
    for (int i = 0; ok && i < 64; i++) ok = (line[i] >= '0' && line[i] <= '9') || (line[i] >= 'a' && line[i] <= 'f');
    if (!ok)
        return TD_FAIL(TD_ERR_CHECK, "%s line %d: not a sha256sum line (\"<64 hex digits>  <name>\")", path, lineno);
    const char *name = line + 66;
    if (!name_is_inside(name))
        return TD_FAIL(TD_ERR_CHECK, "%s line %d: '%s' points outside the tree", path, lineno, name);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->hex = realloc(l->hex, (size_t)l->cap * sizeof *l->hex);
        l->name = realloc(l->name, (size_t)l->cap * sizeof *l->name);
        if (!l->hex || !l->name) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    }
    memcpy(l->hex[l->n], line, 64);
    l->hex[l->n][64] = '\0';
    l->name[l->n] = strdup(name);
    if (!l->name[l->n]) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    l->n++;
    return TD_OK;
}

/* Parses path; *sha (optional) is the SHA-256 of the whole file. */
static td_status listing_read(const char *path, listing *l, char *sha)
{
    memset(l, 0, sizeof *l);
    char *text;
    size_t len;
    TD_CHECK(file_read_all(path, &text, &len));
    if (sha) sha256_buffer(text, len, sha);
    td_status s = strlen(text) == len ? TD_OK : TD_FAIL(TD_ERR_CHECK, "%s: holds a NUL byte", path);
    int lineno = 0;
    for (char *p = text; s == TD_OK && *p;) {
        char *nl = strchr(p, '\n');
        lineno++;
        if (!nl) {
            s = TD_FAIL(TD_ERR_CHECK, "%s line %d: not terminated (cut short, or edited)", path, lineno);
            break;
        }
        *nl = '\0';
        s = listing_add(l, p, path, lineno);
        p = nl + 1;
    }
    if (s == TD_OK) s = listing_index(l, path);
    free(text);
    if (s != TD_OK) listing_free(l);
    return s;
}

/* Whether a name is of a text format this program writes (JSON, logs,
 * reports, manifests, genotypes), all under FILE_TEXT_MAX. */
static int text_format(const char *name)
{
    static const char *const ends[] = {".json", ".jsonl", ".md", ".html", ".sha256", ".txt", ".svg"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        size_t e = strlen(ends[i]);
        if (n >= e && !strcmp(name + n - e, ends[i])) return 1;
    }
    return 0;
}

/* Every listed file is a regular file (not a link) under dir with the
 * listed hash. */
static td_status listing_match(const listing *l, const char *dir, const char *manifest)
{
    for (int i = 0; i < l->n; i++) {
        char path[4400], hex[SHA256_HEX_LEN];
        TD_CHECK(path_format(path, sizeof path, "%s/%s", dir, l->name[i]));
        struct stat st;
        if (lstat(path, &st) != 0) return TD_FAIL(TD_ERR_CHECK, "%s: listed in %s but missing", path, manifest);
        if (!S_ISREG(st.st_mode))
            return TD_FAIL(TD_ERR_CHECK, "%s: listed in %s but not a regular file", path, manifest);
        /* a text file far past what its format holds is refused unhashed:
         * hashing a 40 GB stand-in would take minutes to say no */
        if (text_format(l->name[i]) && (size_t)st.st_size > FILE_TEXT_MAX)
            return TD_FAIL(TD_ERR_CHECK, "%s: %lld bytes, more than the %zu a file of its kind may hold", path,
                           (long long)st.st_size, FILE_TEXT_MAX);
        TD_CHECK(sha256_file(path, hex));
        if (strcmp(hex, l->hex[i])) return TD_FAIL(TD_ERR_CHECK, "%s: hash differs from %s", path, manifest);
    }
    return TD_OK;
}

static int is_dot(const char *n) { return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])); }

/* env.json and timing.json, at any depth: they depend on the machine and
 * the moment, so they are hashed in host.sha256 / HOST.sha256, outside the
 * root hash. */
static int host_file(const char *rel)
{
    const char *slash = strrchr(rel, '/'), *base = slash ? slash + 1 : rel;
    return !strcmp(base, "env.json") || !strcmp(base, "timing.json");
}

/* Both manifests of dir match, and every file found under dir is in the
 * one its kind calls for (which(rel): 0 computed, 1 host, -1 neither). */
static td_status audit_pair(const char *dir, const char *names[2], int (*which)(const char *rel))
{
    listing l[2];
    memset(l, 0, sizeof l);
    td_status s = TD_OK;
    for (int k = 0; k < 2 && s == TD_OK; k++) {
        char path[4400];
        s = path_format(path, sizeof path, "%s/%s", dir, names[k]);
        if (s == TD_OK) s = listing_read(path, &l[k], NULL);
        for (int i = 0; s == TD_OK && i < l[k].n; i++)
            if (which(l[k].name[i]) != k)
                s = TD_FAIL(TD_ERR_CHECK, "%s lists %s, which belongs %s", names[k], l[k].name[i],
                            which(l[k].name[i]) < 0 ? "in no manifest here" : k ? "in the other manifest" : "in the host manifest");
        if (s == TD_OK) s = listing_match(&l[k], dir, names[k]);
    }
    char **found = NULL;
    int n = 0;
    if (s == TD_OK) s = dir_list_files(dir, &found, &n);
    for (int i = 0; s == TD_OK && i < n; i++) {
        int k = which(found[i]);
        if (k >= 0 && listing_find(&l[k], found[i]) < 0)
            s = !strcmp(found[i], DIR_LOCK_NAME)
                    ? TD_FAIL(TD_ERR_CHECK,
                              "%s/%s: a writer's lock: the directory is being written, or its writer died before it "
                              "finished (run the same command again to finish it, then verify)",
                              dir, found[i])
                    : TD_FAIL(TD_ERR_CHECK, "%s/%s: not in %s (extra file)", dir, found[i], names[k]);
    }
    if (found) dir_list_free(found, n);
    listing_free(&l[0]);
    listing_free(&l[1]);
    return s;
}

static int run_list_of(const char *rel)
{
    if (!strcmp(rel, "manifest.sha256") || !strcmp(rel, "host.sha256")) return -1;
    return host_file(rel);
}

td_status audit_run_manifest(const char *run_dir)
{
    static const char *const names[2] = {"manifest.sha256", "host.sha256"};
    return audit_pair(run_dir, (const char **)names, run_list_of);
}

/* The tree's files outside the runs go in MANIFEST.sha256 (host files in
 * HOST.sha256); of a run, only its two manifests are listed (they cover
 * the rest); slurm/ is audited on its own (audit_executor_records). */
static int root_list_of(const char *rel)
{
    if (!strcmp(rel, "MANIFEST.sha256") || !strcmp(rel, "HOST.sha256") || !strncmp(rel, "slurm/", 6)) return -1;
    if (!strncmp(rel, "runs/", 5)) {
        const char *slash = strchr(rel + 5, '/');
        if (!slash) return 0;
        if (!strcmp(slash + 1, "manifest.sha256")) return 0;
        if (!strcmp(slash + 1, "host.sha256")) return 1;
        return -1;
    }
    /* the report's page and figures, drawn by outside programs (whose
     * versions change their bytes); the page states the root hash and
     * audit_report_page checks that it states this one */
    if (!strcmp(rel, "report.html") || !strncmp(rel, "figures/", 8)) return 1;
    return host_file(rel);
}

/* The root manifest must list these. */
static const char *const root_files[] = {"plan.json", "report.json", "report.md"};

td_status audit_root_manifest(const char *dir, char root_hash[SHA256_HEX_LEN])
{
    char path[4400];
    TD_CHECK(path_format(path, sizeof path, "%s/MANIFEST.sha256", dir));
    listing l;
    TD_CHECK(listing_read(path, &l, root_hash));
    td_status s = TD_OK;
    for (int i = 0; s == TD_OK && i < 3; i++)
        if (listing_find(&l, root_files[i]) < 0)
            s = TD_FAIL(TD_ERR_CHECK, "MANIFEST.sha256 does not list %s", root_files[i]);
    static const char *const names[2] = {"MANIFEST.sha256", "HOST.sha256"};
    if (s == TD_OK) s = audit_pair(dir, (const char **)names, root_list_of);
    /* every run directory, dot-named ones too, is covered: its manifests
     * are listed */
    DIR *d = NULL;
    struct dirent *e;
    if (s == TD_OK) s = path_format(path, sizeof path, "%s/runs", dir);
    if (s == TD_OK) d = dir_open(path);
    if (s == TD_OK && !d) s = TD_FAIL(TD_ERR_CHECK, "%s: no runs directory", path);
    while (s == TD_OK && (e = readdir(d))) {
        if (is_dot(e->d_name)) continue;
        char listed[512], sub[4600];
        struct stat st;
        s = path_format(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (s == TD_OK && (lstat(sub, &st) != 0 || !S_ISDIR(st.st_mode))) continue; /* a file: listed above */
        if (s == TD_OK) s = path_format(listed, sizeof listed, "runs/%s/manifest.sha256", e->d_name);
        if (s == TD_OK && listing_find(&l, listed) < 0)
            s = TD_FAIL(TD_ERR_CHECK, "runs/%s: not listed in MANIFEST.sha256", e->d_name);
    }
    if (d) closedir(d);
    listing_free(&l);
    return s;
}

td_status audit_executor_records(const char *dir)
{
    char sdir[4400], path[4400];
    TD_CHECK(path_format(sdir, sizeof sdir, "%s/slurm", dir));
    TD_CHECK(path_format(path, sizeof path, "%s/manifest.sha256", sdir));
    listing l;
    TD_CHECK(listing_read(path, &l, NULL));
    td_status s = listing_find(&l, "submissions.jsonl") >= 0
                      ? TD_OK
                      : TD_FAIL(TD_ERR_CHECK, "%s does not list submissions.jsonl", path);
    for (int i = 0; s == TD_OK && i < l.n; i++)
        if (strchr(l.name[i], '/')) s = TD_FAIL(TD_ERR_CHECK, "%s: lists %s, outside slurm/", path, l.name[i]);
    if (s == TD_OK) s = listing_match(&l, sdir, path);
    /* job output and locks change while jobs run, so they are not hashed;
     * they may only be directories of those names */
    DIR *d = s == TD_OK ? dir_open(sdir) : NULL;
    struct dirent *e;
    while (s == TD_OK && d && (e = readdir(d))) {
        const char *n = e->d_name;
        if (is_dot(n) || !strcmp(n, "manifest.sha256") || listing_find(&l, n) >= 0) continue;
        char sub[4600];
        struct stat st;
        s = path_format(sub, sizeof sub, "%s/%s", sdir, n);
        if (s == TD_OK && (strcmp(n, "logs") && strcmp(n, "locks")))
            s = TD_FAIL(TD_ERR_CHECK, "slurm/%s: not in slurm/manifest.sha256 (extra file)", n);
        if (s == TD_OK && (lstat(sub, &st) != 0 || !S_ISDIR(st.st_mode)))
            s = TD_FAIL(TD_ERR_CHECK, "slurm/%s: should be a directory", n);
    }
    if (d) closedir(d);
    listing_free(&l);
    if (s == TD_OK) s = path_format(path, sizeof path, "%s/submissions.jsonl", sdir);
    if (s == TD_OK) s = audit_chain(path);
    return s;
}

td_status audit_chain(const char *path)
{
    char *text;
    size_t len;
    TD_CHECK(file_read_all(path, &text, &len));
    char prev[SHA256_HEX_LEN];
    memset(prev, '0', 64);
    prev[64] = '\0';
    td_status s = TD_OK;
    int line = 0;
    for (size_t start = 0; s == TD_OK && start < len;) {
        const char *nl = memchr(text + start, '\n', len - start);
        line++;
        if (!nl) {
            s = TD_FAIL(TD_ERR_CHECK, "%s line %d: the last line has no newline (cut short, or edited)", path, line);
            break;
        }
        size_t n = (size_t)(nl - (text + start));
        json_error_t err;
        json_t *rec = json_loadb(text + start, n, 0, &err);
        const char *p = json_string_value(json_object_get(rec, "prev"));
        if (!p)
            s = TD_FAIL(TD_ERR_CHECK, "%s line %d: not a JSON record with \"prev\"", path, line);
        else if (strcmp(p, prev))
            s = line == 1 ? TD_FAIL(TD_ERR_CHECK, "%s line 1: \"prev\" is not 64 zeros", path)
                          : TD_FAIL(TD_ERR_CHECK, "%s line %d: chain broken (\"prev\" is not the hash of line %d)",
                                    path, line, line - 1);
        if (rec) json_decref(rec);
        sha256_buffer(text + start, n, prev);
        start += n + 1;
    }
    free(text);
    return s;
}
