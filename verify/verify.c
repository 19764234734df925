/* verify: every file against its manifest, nothing missing or extra, the
 * root hash, every metrics chain, directory names against config hashes,
 * genotypes against the saved alphas, the plan against what ran, and the
 * report against the results. One line per check, then a summary. */
#include "tsedarts/verify.h"

#include <dirent.h>
#include <unistd.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../protocol/protocol_internal.h"
#include "tsedarts/darts.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/runtime.h"
#include "tsedarts/safetensors.h"

typedef struct vctx {
    FILE *out;
    verify_summary *sum;
} vctx;

static void report(vctx *v, td_status s, const char *what)
{
    v->sum->checks++;
    if (s == TD_OK) {
        fprintf(v->out, "ok    %s\n", what);
    } else {
        v->sum->failed++;
        fprintf(v->out, "FAIL  %s: %s\n", what, td_error_message());
    }
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The root: MANIFEST.sha256 lists plan, report and every run manifest;
 * nothing else may sit at the top or under runs/. */
static td_status check_root(const char *dir, char root_hash[SHA256_HEX_LEN])
{
    char path[4400], *text;
    snprintf(path, sizeof path, "%s/MANIFEST.sha256", dir);
    TD_CHECK(file_read_all(path, &text, NULL));
    sha256_buffer(text, strlen(text), root_hash);
    td_status s = TD_OK;
    int lines = 0, runs_listed = 0;
    char *copy = strdup(text);
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l && s == TD_OK; l = strtok_r(NULL, "\n", &save)) {
        lines++;
        if (strlen(l) < 67 || l[64] != ' ' || l[65] != ' ') {
            s = TD_FAIL(TD_ERR_CHECK, "MANIFEST.sha256 line %d is not a sha256sum line", lines);
            break;
        }
        char fp[4600], hex[SHA256_HEX_LEN];
        snprintf(fp, sizeof fp, "%s/%s", dir, l + 66);
        if (!file_exists(fp)) {
            s = TD_FAIL(TD_ERR_CHECK, "%s: listed in MANIFEST.sha256 but missing", l + 66);
            break;
        }
        s = sha256_file(fp, hex);
        if (s == TD_OK && strncmp(hex, l, 64)) s = TD_FAIL(TD_ERR_CHECK, "%s: hash differs from MANIFEST.sha256", l + 66);
        if (!strncmp(l + 66, "runs/", 5)) runs_listed++;
    }
    free(copy);
    /* extra files at the top level, and run directories not listed */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (s == TD_OK && d && (e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]))) continue;
        if (!strcmp(n, "MANIFEST.sha256") || !strcmp(n, "plan.json") || !strcmp(n, "report.md") ||
            !strcmp(n, "report.json") || !strcmp(n, "runs"))
            continue;
        s = TD_FAIL(TD_ERR_CHECK, "%s: extra file at the top of the results tree", n);
    }
    if (d) closedir(d);
    snprintf(path, sizeof path, "%s/runs", dir);
    d = opendir(path);
    int runs = 0;
    while (s == TD_OK && d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        runs++;
        char needle[600];
        snprintf(needle, sizeof needle, "  runs/%s/manifest.sha256\n", e->d_name);
        if (!strstr(text, needle)) s = TD_FAIL(TD_ERR_CHECK, "runs/%s: not listed in MANIFEST.sha256", e->d_name);
    }
    if (d) closedir(d);
    if (s == TD_OK && runs != runs_listed)
        s = TD_FAIL(TD_ERR_CHECK, "MANIFEST.sha256 lists %d run manifests, runs/ holds %d", runs_listed, runs);
    free(text);
    return s;
}

/* The directory name is the SHA-256 of config.json (without its newline). */
static td_status check_name(const char *rdir, const char *name)
{
    char path[5000], *text;
    snprintf(path, sizeof path, "%s/config.json", rdir);
    TD_CHECK(file_read_all(path, &text, NULL));
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n') n--;
    char hex[SHA256_HEX_LEN];
    sha256_buffer(text, n, hex);
    free(text);
    if (strcmp(hex, name)) return TD_FAIL(TD_ERR_CHECK, "runs/%s: name differs from the hash of its config.json", name);
    return TD_OK;
}

/* A search's genotype.txt and result.json follow from alphas.safetensors. */
static td_status check_genotype(const char *rdir)
{
    char path[5000];
    snprintf(path, sizeof path, "%s/alphas.safetensors", rdir);
    if (!file_exists(path)) return TD_OK; /* a retraining run */
    st_file f;
    TD_CHECK(safetensors_open(path, &f));
    double a[2][DARTS_EDGES * DOP_COUNT];
    const char *names[2] = {"alphas_normal", "alphas_reduce"};
    td_status s = TD_OK;
    for (int k = 0; k < 2 && s == TD_OK; k++) {
        st_tensor t;
        s = safetensors_get(&f, names[k], &t);
        if (s == TD_OK && (strcmp(t.dtype, "F32") || t.bytes != sizeof(float) * DARTS_EDGES * DOP_COUNT))
            s = TD_FAIL(TD_ERR_CHECK, "%s: %s is not a 14 x 8 F32 tensor", path, names[k]);
        for (int i = 0; s == TD_OK && i < DARTS_EDGES * DOP_COUNT; i++) a[k][i] = ((const float *)t.data)[i];
    }
    safetensors_close(&f);
    TD_CHECK(s);
    genotype g, saved;
    genotype_derive(a[0], a[1], "searched", &g);
    char line[1024], found[1024] = "";
    genotype_format(&g, line, sizeof line);
    snprintf(path, sizeof path, "%s/genotype.txt", rdir);
    TD_CHECK(genotype_load(path, &saved));
    char sline[1024];
    genotype_format(&saved, sline, sizeof sline);
    if (strcmp(line, sline)) return TD_FAIL(TD_ERR_CHECK, "%s: genotype.txt does not re-derive from alphas.safetensors", rdir);
    TD_CHECK(protocol_read_result(rdir, found, sizeof found, NULL, NULL, NULL, NULL));
    if (strcmp(found, line)) return TD_FAIL(TD_ERR_CHECK, "%s: result.json genotype does not re-derive from the alphas", rdir);
    return TD_OK;
}

/* Every run directory is one the plan implies; every planned run exists. */
static td_status check_plan(const char *dir, const char *plan_text, const method_result *res, int n)
{
    json_error_t err;
    json_t *plan = json_loads(plan_text, 0, &err);
    if (!plan) return TD_FAIL(TD_ERR_CHECK, "plan.json: %s", err.text);
    json_t *methods = json_object_get(plan, "methods");
    int cap = 64, nexp = 0;
    char (*expected)[SHA256_HEX_LEN] = malloc((size_t)cap * SHA256_HEX_LEN);
    td_status s = TD_OK;
#define EXPECT(h)                                                                       \
    do {                                                                                \
        if (nexp == cap) expected = realloc(expected, (size_t)(cap *= 2) * SHA256_HEX_LEN); \
        memcpy(expected[nexp++], h, SHA256_HEX_LEN);                                    \
    } while (0)
    for (int m = 0; m < n && s == TD_OK; m++) {
        json_t *mo = json_array_get(methods, (size_t)m);
        const char *id = json_string_value(json_object_get(mo, "id"));
        json_t *searches = json_object_get(mo, "searches");
        if (json_array_size(searches) != PROTOCOL_SEARCHES) {
            s = TD_FAIL(TD_ERR_CHECK, "plan: method %s declares %zu searches, not %d", id, json_array_size(searches),
                        PROTOCOL_SEARCHES);
            break;
        }
        for (int k = 0; k < PROTOCOL_SEARCHES && s == TD_OK; k++) {
            json_t *so = json_array_get(searches, (size_t)k);
            const char *h = json_string_value(json_object_get(so, "run"));
            char *cj = json_dumps(json_object_get(so, "config"), JSON_COMPACT | JSON_SORT_KEYS);
            char hex[SHA256_HEX_LEN];
            sha256_buffer(cj, strlen(cj), hex);
            free(cj);
            if (!h || strcmp(h, hex)) {
                s = TD_FAIL(TD_ERR_CHECK, "plan: method %s search %d: run hash does not match its config", id, k + 1);
                break;
            }
            EXPECT(h);
            char p2[4600];
            snprintf(p2, sizeof p2, "%s/runs/%s", dir, h);
            if (!is_dir(p2)) s = TD_FAIL(TD_ERR_CHECK, "method %s: declared search %d (runs/%.12s) never ran", id, k + 1, h);
            if (s == TD_OK && !res[m].genotype[k][0]) continue; /* failed search: recorded */
            char renamed[1024], cfg[8192], h2[SHA256_HEX_LEN];
            if (s == TD_OK) s = protocol_rename_genotype(id, k, res[m].genotype[k], renamed, sizeof renamed);
            if (s == TD_OK)
                s = protocol_retrain_run(mo, "select", renamed, (int)json_integer_value(json_object_get(json_object_get(mo, "select"), "seed")),
                                         cfg, sizeof cfg, h2);
            if (s != TD_OK) break;
            EXPECT(h2);
            snprintf(p2, sizeof p2, "%s/runs/%s", dir, h2);
            if (!is_dir(p2)) s = TD_FAIL(TD_ERR_CHECK, "method %s: the genotype of search %d was never retrained", id, k + 1);
        }
        if (s != TD_OK) break;
        if (res[m].selected < 0) {
            s = TD_FAIL(TD_ERR_CHECK, "method %s: no genotype was selected", id);
            break;
        }
        const char *sections[2] = {"final_deep", "final_shallow"};
        char renamed[1024];
        s = protocol_rename_genotype(id, res[m].selected, res[m].genotype[res[m].selected], renamed, sizeof renamed);
        for (int f = 0; f < 2 && s == TD_OK; f++) {
            json_t *seeds = json_object_get(json_object_get(mo, sections[f]), "seeds");
            if (json_array_size(seeds) != PROTOCOL_FINAL_SEEDS) {
                s = TD_FAIL(TD_ERR_CHECK, "plan: method %s: %s declares %zu seeds", id, sections[f], json_array_size(seeds));
                break;
            }
            for (int i = 0; i < PROTOCOL_FINAL_SEEDS && s == TD_OK; i++) {
                char cfg[8192], h2[SHA256_HEX_LEN], p2[4600];
                s = protocol_retrain_run(mo, sections[f], renamed, (int)json_integer_value(json_array_get(seeds, (size_t)i)),
                                         cfg, sizeof cfg, h2);
                if (s != TD_OK) break;
                EXPECT(h2);
                snprintf(p2, sizeof p2, "%s/runs/%s", dir, h2);
                if (!is_dir(p2))
                    s = TD_FAIL(TD_ERR_CHECK, "method %s: the selected genotype lacks its %s seed %d run", id, sections[f],
                                (int)json_integer_value(json_array_get(seeds, (size_t)i)));
            }
        }
    }
    /* no undeclared runs */
    char rp[4400];
    snprintf(rp, sizeof rp, "%s/runs", dir);
    DIR *d = opendir(rp);
    struct dirent *e;
    while (s == TD_OK && d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        int found = 0;
        for (int i = 0; i < nexp && !found; i++) found = !strcmp(expected[i], e->d_name);
        if (!found) s = TD_FAIL(TD_ERR_CHECK, "runs/%s: a run the plan does not declare", e->d_name);
    }
    if (d) closedir(d);
#undef EXPECT
    free(expected);
    json_decref(plan);
    return s;
}

/* The report must be exactly what the results imply. */
static td_status check_report(const char *dir, const char *plan, const method_result *res, int n)
{
    char path[4400], *md = NULL, *rj = NULL, *md2 = NULL, *rj2 = NULL;
    snprintf(path, sizeof path, "%s/report.md", dir);
    TD_CHECK(file_read_all(path, &md, NULL));
    snprintf(path, sizeof path, "%s/report.json", dir);
    td_status s = file_read_all(path, &rj, NULL);
    char tmp[256];
    snprintf(tmp, sizeof tmp, "/tmp/tsedarts-verify-%ld", (long)getpid());
    if (s == TD_OK) s = dir_create(tmp);
    if (s == TD_OK) s = protocol_write_report(tmp, plan, res, n);
    if (s == TD_OK) {
        snprintf(path, sizeof path, "%s/report.md", tmp);
        s = file_read_all(path, &md2, NULL);
    }
    if (s == TD_OK) {
        snprintf(path, sizeof path, "%s/report.json", tmp);
        s = file_read_all(path, &rj2, NULL);
    }
    if (s == TD_OK && strcmp(rj, rj2)) s = TD_FAIL(TD_ERR_CHECK, "report.json does not recompute from the run results");
    if (s == TD_OK && strcmp(md, md2)) s = TD_FAIL(TD_ERR_CHECK, "report.md does not recompute from the run results");
    snprintf(path, sizeof path, "rm -rf %s", tmp);
    if (system(path) != 0) { /* scratch space only */
    }
    free(md);
    free(rj);
    free(md2);
    free(rj2);
    return s;
}

td_status verify_tree(const char *dir, const char *expect_root, FILE *out, verify_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    vctx v = {out, sum};
    char msg[512];
    td_status s = check_root(dir, sum->root_hash);
    report(&v, s, "root manifest: every listed file matches its hash; no extra files or unlisted runs");
    if (expect_root) {
        s = strcmp(expect_root, sum->root_hash) ? TD_FAIL(TD_ERR_CHECK, "root hash %s, expected %s", sum->root_hash, expect_root)
                                                : TD_OK;
        report(&v, s, "root hash matches the published one");
    }
    char rp[4400];
    snprintf(rp, sizeof rp, "%s/runs", dir);
    DIR *d = opendir(rp);
    struct dirent *e;
    int nruns = 0, bad_manifest = 0, bad_chain = 0, bad_name = 0, bad_geno = 0;
    char first_fault[4][600] = {"", "", "", ""};
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        nruns++;
        char rdir[4800], mp[5000];
        snprintf(rdir, sizeof rdir, "%s/%s", rp, e->d_name);
        td_status a = manifest_check(rdir);
        if (a != TD_OK && !bad_manifest++) snprintf(first_fault[0], sizeof first_fault[0], "%s", td_error_message());
        snprintf(mp, sizeof mp, "%s/metrics.jsonl", rdir);
        if (file_exists(mp)) {
            int lines;
            a = chain_log_verify(mp, &lines);
            if (a != TD_OK && !bad_chain++) snprintf(first_fault[1], sizeof first_fault[1], "%s", td_error_message());
        }
        a = check_name(rdir, e->d_name);
        if (a != TD_OK && !bad_name++) snprintf(first_fault[2], sizeof first_fault[2], "%s", td_error_message());
        a = check_genotype(rdir);
        if (a != TD_OK && !bad_geno++) snprintf(first_fault[3], sizeof first_fault[3], "%s", td_error_message());
    }
    if (d) closedir(d);
    const char *what[4] = {"run manifests: every file of every run matches, none missing or extra",
                           "metrics logs: every hash chain intact", "run directories are named by their config hash",
                           "searched genotypes re-derive from the saved alphas"};
    int bad[4] = {bad_manifest, bad_chain, bad_name, bad_geno};
    for (int k = 0; k < 4; k++) {
        snprintf(msg, sizeof msg, "%s (%d runs)", what[k], nruns);
        report(&v, bad[k] ? TD_FAIL(TD_ERR_CHECK, "%d run(s); first: %s", bad[k], first_fault[k]) : TD_OK, msg);
    }
    char path[4400], *plan = NULL;
    snprintf(path, sizeof path, "%s/plan.json", dir);
    s = file_read_all(path, &plan, NULL);
    method_result res[PROTOCOL_MAX_METHODS];
    int n = 0;
    if (s == TD_OK) s = protocol_aggregate(dir, plan, res, &n);
    if (s == TD_OK) s = check_plan(dir, plan, res, n);
    report(&v, s, "plan followed: 4 declared searches per method, each retrained, selection by the declared rule, "
                  "3 more seeds at both depths, no undeclared runs");
    if (plan) {
        s = check_report(dir, plan, res, n);
        report(&v, s, "report numbers recompute from the run results");
    }
    free(plan);
    fprintf(out, "\n%d checks, %d failed; root hash %s\n", sum->checks, sum->failed, sum->root_hash);
    return sum->failed ? TD_FAIL(TD_ERR_CHECK, "%d of %d checks failed", sum->failed, sum->checks) : TD_OK;
}
