/* The protocol end to end at the tiny budget, verify on the result,
 * tampering of every kind detected and named, SIGKILL at random moments
 * then resume giving the same root hash, the selection and aggregation
 * rules (the runner's and verify's own) on numbers worked out by hand, and
 * verify catching a report altered consistently, manifests and all. */
#include <ctype.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../protocol/protocol_internal.h"
#include "hand_runs.h"
#include "png_check.h"
#include "sandbox.h"
#include "tsedarts/darts.h"
#include "tsedarts/data.h"
#include "tsedarts/figures.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"
#include "tsedarts/protocol.h"
#include "tsedarts/protocol_slurm.h"
#include "tsedarts/verify.h"
#include "tsedarts/backend_cpu.h"

static const char *data_spec(void)
{
    return file_exists(FASHION_MNIST_DEFAULT_DIR "/train-images-idx3-ubyte.gz") ? "fashion-mnist" : "synthetic";
}

/* Runs the smoke protocol (optionally one method) into dir; returns the
 * root hash. */
static void run_smoke(const char *dir, const char *methods, char root[SHA256_HEX_LEN])
{
    protocol_request r;
    protocol_request_defaults(&r);
    snprintf(r.budget, sizeof r.budget, "tiny");
    snprintf(r.dataset, sizeof r.dataset, "%s", data_spec());
    if (methods) cr_assert_eq(protocol_parse_methods(&r, methods), TD_OK, "%s", td_error_message());
    protocol_options o;
    memset(&o, 0, sizeof o);
    o.out_dir = dir;
    o.quiet = 1;
    o.device = "cpu";
    cr_assert_eq(protocol_run(&r, &o, root), TD_OK, "%s", td_error_message());
}

/* A file of dir, as a path; fails the test if it does not fit. */
static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
    cr_assert_eq(path_format(buf, len, "%s/%s", dir, name), TD_OK, "%s", td_error_message());
}

/* The committed root hash of the tiny protocol (tests/golden/), checked on
 * the data it was made with: a change to numerics or to any hashed file
 * shows here and must update the file in the same commit. */
static void check_golden_root(const char *root)
{
    if (strcmp(data_spec(), "fashion-mnist")) {
        cr_log_warn("golden root hash not checked: it is for Fashion-MNIST, which is not installed");
        return;
    }
    const char *src = getenv("TSEDARTS_SOURCE_DIR");
    cr_assert_not_null(src, "TSEDARTS_SOURCE_DIR is not set (ctest sets it)");
    char path[600], *text, golden[SHA256_HEX_LEN] = "";
    cr_assert_eq(path_format(path, sizeof path, "%s/tests/golden/root-hashes.txt", src), TD_OK);
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK, "%s", td_error_message());
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (sscanf(l, "tiny %64s", golden) == 1) break;
    free(text);
    cr_assert_eq(strlen(golden), 64, "%s has no tiny root hash", path);
    cr_expect_str_eq(root, golden,
                     "the tiny protocol's root hash is %s, %s says %s: if this change alters numerics or a hashed "
                     "file on purpose, update the file in the same commit and say why",
                     root, path, golden);
}

Test(protocol, smoke_end_to_end_then_verify, .timeout = 600)
{
    char *dir = sandbox_dir("protocol-smoke"), root[SHA256_HEX_LEN];
    run_smoke(dir, NULL, root);
    FILE *devnull = fopen("/dev/null", "w");
    verify_summary sum;
    cr_expect_eq(verify_tree(dir, root, devnull, &sum), TD_OK, "%s", td_error_message());
    cr_expect_eq(sum.failed, 0);
    cr_expect_geq(sum.checks, 8);
    cr_expect_str_eq(sum.root_hash, root);
    check_golden_root(root);
    /* the report lists the rows that did not run, and the budget banner */
    char path[512], *md;
    path_in(path, sizeof path, dir, "report.md");
    cr_assert_eq(file_read_all(path, &md, NULL), TD_OK);
    /* all seven rows of Table 2 ran, the extra rows were not asked for */
    static const char *const rows[] = {"| DARTS (1st) |", "| DARTS (2nd) |", "| TSE-DARTS |", "| TSE-DrNAS |",
                                       "| TSE-PDARTS |", "| TSE-DARTS-20 |", "| DARTS-20 (1st) |"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *row = strstr(md, rows[i]);
        cr_expect(row != NULL, "report lacks the row %s", rows[i]);
        char line[256] = "";
        if (row) snprintf(line, sizeof line, "%.*s", (int)strcspn(row, "\n"), row);
        cr_expect(row && !strstr(line, "not run"), "%s did not run: %s", rows[i], line);
    }
    cr_expect(strstr(md, "| DrNAS |") == NULL && strstr(md, "| PDARTS |") == NULL, "an extra row nobody asked for");
    cr_expect(strstr(md, "not comparable to the paper") != NULL, "report lacks the budget banner");
    cr_expect(strstr(md, "| TSE-DARTS | 4.64 (0.22) | ") != NULL);
    /* the linear baseline ran on the retrainings' images and is reported */
    cr_expect(strstr(md, "Linear baseline: a linear classifier trained on the final retrainings' 64 images (each "
                         "selection run sees as many) and scored on the same 64 test images: ") != NULL,
              "report lacks the baseline:\n%s", md);
    cr_expect(strstr(md, "Retrained networks below it: ") != NULL, "report lacks the count below the baseline");
    free(md);
    fclose(devnull);
    /* a second run on the same directory changes nothing */
    char again[SHA256_HEX_LEN];
    run_smoke(dir, NULL, again);
    cr_expect_str_eq(again, root);
    /* another plan on the same directory is refused */
    protocol_request r;
    protocol_request_defaults(&r);
    snprintf(r.budget, sizeof r.budget, "mini");
    snprintf(r.dataset, sizeof r.dataset, "%s", data_spec());
    protocol_options o;
    memset(&o, 0, sizeof o);
    o.out_dir = dir;
    o.quiet = 1;
    o.device = "cpu";
    cr_expect_eq(protocol_run(&r, &o, again), TD_ERR_STATE);
    cr_expect(strstr(td_error_message(), "different plan") != NULL, "%s", td_error_message());
    free(dir);
}

/* ------------------------------------------------------------- tamper */

/* verify's report on dir (malloc'd); *failed: how many checks failed. */
static char *verify_output(const char *dir, const char *root, int *failed)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out);
    verify_summary sum;
    td_status s = verify_tree(dir, root, out, &sum);
    fclose(out);
    cr_assert_eq(s != TD_OK, sum.failed > 0, "verify's status and its count of failures disagree");
    *failed = sum.failed;
    return text;
}

static int verify_fails_naming(const char *dir, const char *root, const char *name)
{
    int failed;
    char *text = verify_output(dir, root, &failed);
    int ok = failed && strstr(text, name) != NULL;
    if (!ok) fprintf(stderr, "tampering with %s was not named; verify said:\n%s\n", name, text);
    free(text);
    return ok;
}

typedef struct file_list {
    char (*path)[600];
    int n, cap;
} file_list;

static void collect(const char *dir, const char *rel, file_list *fl)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[600], r[600];
        path_in(p, sizeof p, dir, e->d_name);
        cr_assert_eq(path_format(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name), TD_OK);
        struct stat st;
        stat(p, &st);
        if (S_ISDIR(st.st_mode)) {
            collect(p, r, fl);
        } else if (st.st_size < 65536) {
            if (fl->n == fl->cap) fl->path = realloc(fl->path, (size_t)(fl->cap = fl->cap ? 2 * fl->cap : 256) * 600);
            snprintf(fl->path[fl->n++], 600, "%s", r);
        }
    }
    closedir(d);
}

/* work becomes a fresh copy of dir. */
static void copy_afresh(const char *dir, const char *work)
{
    cr_assert_eq(dir_remove_tree(work), TD_OK, "%s", td_error_message());
    cr_assert_eq(sandbox_copy_tree(dir, work), TD_OK, "%s", td_error_message());
}

Test(protocol, tampering_is_detected_and_named, .timeout = 600)
{
    char *scratch = sandbox_dir("protocol-tamper"), dir[600], work[600], root[SHA256_HEX_LEN];
    path_in(dir, sizeof dir, scratch, "tree");
    path_in(work, sizeof work, scratch, "copy");
    run_smoke(dir, "darts1", root);
    file_list fl = {0};
    collect(dir, "", &fl);
    cr_assert_gt(fl.n, 50, "expected many small artifacts, found %d", fl.n);
    philox_stream rng;
    philox_stream_init(&rng, 11, PURPOSE_TEST, 0);
    for (int i = 0; i < fl.n; i++) {
        copy_afresh(dir, work);
        char path[1300], *data;
        size_t len;
        path_in(path, sizeof path, work, fl.path[i]);
        cr_assert_eq(file_read_all(path, &data, &len), TD_OK);
        if (!len) {
            free(data);
            continue;
        }
        size_t at = philox_next_below(&rng, (uint32_t)len);
        data[at] ^= (char)(1 + philox_next_below(&rng, 255));
        const void *parts[1] = {data};
        size_t lens[1] = {len};
        cr_assert_eq(file_write_atomic(path, 1, parts, lens), TD_OK);
        free(data);
        /* the file's own name, or for the root manifest the run it lists */
        const char *base = strrchr(fl.path[i], '/') ? strrchr(fl.path[i], '/') + 1 : fl.path[i];
        int named = verify_fails_naming(work, root, strcmp(base, "MANIFEST.sha256") ? base : "MANIFEST.sha256") ||
                    verify_fails_naming(work, root, "root hash");
        cr_expect(named, "flipping byte %zu of %s went unnamed", at, fl.path[i]);
    }
    /* truncate, delete, rename, add, edit a manifest: in a search run, the
     * kind that has every one of those files */
    const char *victim = NULL;
    for (int i = 0; i < fl.n && !victim; i++)
        if (strstr(fl.path[i], "/genotype.txt")) victim = fl.path[i];
    cr_assert_not_null(victim);
    char run[600];
    snprintf(run, sizeof run, "%s", victim);
    *strrchr(run, '/') = '\0';
    enum { TRUNCATE, DELETE, RENAME, ADD, EDIT_MANIFEST, DOTFILE, SUBFOLDER, HIDDEN_RUN, ROOT_DOTFILE, EDIT_TIMING };
    struct {
        int edit;
        const char *what, *name;
    } cases[] = {
        {TRUNCATE, "truncate", "metrics.jsonl"},
        {DELETE, "delete", "result.json"},
        {RENAME, "rename", "genotype"},
        {ADD, "add", "notes.txt"},
        {EDIT_MANIFEST, "edit manifest", "manifest"},
        {DOTFILE, "add a dot file to a run", ".notes"},
        {SUBFOLDER, "add a file in a subfolder of a run", "extra/notes.txt"},
        {HIDDEN_RUN, "add runs/.hidden/", ".hidden"},
        {ROOT_DOTFILE, "add a dot file at the top", ".stash"},
        {EDIT_TIMING, "edit timing.json", "timing.json"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        copy_afresh(dir, work);
        char rdir[1300], a[1400], b[1400], *text;
        path_in(rdir, sizeof rdir, work, run);
        switch (cases[k].edit) {
        case TRUNCATE:
            path_in(a, sizeof a, rdir, "metrics.jsonl");
            cr_assert_eq(file_truncate(a, 10), TD_OK);
            break;
        case DELETE:
            path_in(a, sizeof a, rdir, "result.json");
            cr_assert_eq(unlink(a), 0);
            break;
        case RENAME:
            path_in(a, sizeof a, rdir, "genotype.txt");
            path_in(b, sizeof b, rdir, "genotype.bak");
            cr_assert_eq(rename(a, b), 0);
            break;
        case ADD:
            path_in(a, sizeof a, rdir, "notes.txt");
            cr_assert_eq(file_write_text_atomic(a, "extra\n"), TD_OK);
            break;
        case EDIT_MANIFEST: /* the first digit of the first hash changes */
            path_in(a, sizeof a, rdir, "manifest.sha256");
            cr_assert_eq(file_read_all(a, &text, NULL), TD_OK);
            cr_assert(isxdigit((unsigned char)text[0]), "manifest.sha256 does not start with a hash");
            text[0] = text[0] == '0' ? '1' : '0';
            cr_assert_eq(file_write_text_atomic(a, text), TD_OK);
            free(text);
            break;
        case DOTFILE:
            path_in(a, sizeof a, rdir, ".notes");
            cr_assert_eq(file_write_text_atomic(a, "extra\n"), TD_OK);
            break;
        case SUBFOLDER:
            path_in(a, sizeof a, rdir, "extra");
            cr_assert_eq(dir_create(a), TD_OK);
            path_in(b, sizeof b, a, "notes.txt");
            cr_assert_eq(file_write_text_atomic(b, "extra\n"), TD_OK);
            break;
        case HIDDEN_RUN:
            path_in(a, sizeof a, work, "runs/.hidden");
            cr_assert_eq(dir_create(a), TD_OK);
            path_in(b, sizeof b, a, "result.json");
            cr_assert_eq(file_write_text_atomic(b, "{}\n"), TD_OK);
            break;
        case ROOT_DOTFILE:
            path_in(a, sizeof a, work, ".stash");
            cr_assert_eq(file_write_text_atomic(a, "extra\n"), TD_OK);
            break;
        case EDIT_TIMING:
            path_in(a, sizeof a, rdir, "timing.json");
            cr_assert_eq(file_write_text_atomic(a, "{\"wall_seconds\": 1.0, \"resumed\": false}\n"), TD_OK);
            break;
        }
        cr_expect(verify_fails_naming(work, root, cases[k].name), "%s went unnamed", cases[k].what);
    }
    free(fl.path);
    free(scratch);
}

/* ----------------------------------------------------------- retry */

Test(protocol, a_failed_run_is_tried_again_and_its_attempt_kept, .timeout = 600)
{
    char *dir = sandbox_dir("protocol-retry"), root[SHA256_HEX_LEN];
    protocol_request r;
    protocol_request_defaults(&r);
    snprintf(r.budget, sizeof r.budget, "tiny");
    snprintf(r.dataset, sizeof r.dataset, "%s", data_spec());
    cr_assert_eq(protocol_parse_methods(&r, "darts1"), TD_OK, "%s", td_error_message());
    protocol_options o;
    memset(&o, 0, sizeof o);
    o.out_dir = dir;
    o.quiet = 1;
    o.device = "cpu";
    /* the second search fails as on a full disk: the rest goes on, the
     * report is written, and the protocol says it is not complete */
    o.fail_run = 2;
    cr_assert_eq(protocol_run(&r, &o, root), TD_ERR_STATE, "a failed run must not end as success: %s",
                 td_error_message());
    /* the search, the selection retraining that needs it, and the six
     * final retrainings that wait for every selection */
    cr_expect(strstr(td_error_message(), "8 run(s) failed") != NULL, "%s", td_error_message());
    char path[600];
    path_in(path, sizeof path, dir, "report.md");
    cr_expect(file_exists(path), "no report after a failure");
    /* run again: the failed search is retried, its attempt kept */
    o.fail_run = 0;
    cr_assert_eq(protocol_run(&r, &o, root), TD_OK, "%s", td_error_message());
    int kept = 0, failures = 0;
    DIR *d = opendir(strcat(strcpy(path, dir), "/runs"));
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[900];
        snprintf(p, sizeof p, "%s/runs/%s/attempts/1/failure.json", dir, e->d_name);
        kept += file_exists(p);
        snprintf(p, sizeof p, "%s/runs/%s/failure.json", dir, e->d_name);
        failures += file_exists(p);
    }
    closedir(d);
    cr_expect_eq(kept, 1, "the failed attempt is kept once, found %d", kept);
    cr_expect_eq(failures, 0, "a failure.json is left outside attempts/");
    /* the kept attempt is covered by the manifests: the tree verifies, and
     * an edit of the kept failure is named */
    int failed;
    char *said = verify_output(dir, root, &failed);
    cr_expect_eq(failed, 0, "verify of the retried tree:\n%s", said);
    free(said);
    d = opendir(strcat(strcpy(path, dir), "/runs"));
    while ((e = readdir(d))) {
        char p[900];
        snprintf(p, sizeof p, "%s/runs/%s/attempts/1/failure.json", dir, e->d_name);
        if (e->d_name[0] != '.' && file_exists(p))
            cr_assert_eq(file_write_text_atomic(p, "{\"error\": \"nothing happened\"}\n"), TD_OK);
    }
    closedir(d);
    cr_expect(verify_fails_naming(dir, root, "attempts/1/failure.json"), "an edit of a kept attempt went unnamed");
    free(dir);
}

/* ------------------------------------------------------------ kill */

static void read_root(const char *dir, char *hex)
{
    char path[512], *text;
    path_in(path, sizeof path, dir, "MANIFEST.sha256");
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK);
    sha256_buffer(text, strlen(text), hex);
    free(text);
}

Test(protocol, sigkill_at_random_moments_then_resume, .timeout = 900)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    char *ref = sandbox_dir("protocol-kill-ref"), *dir = sandbox_dir("protocol-kill");
    char root[SHA256_HEX_LEN], got[SHA256_HEX_LEN];
    run_smoke(ref, "darts1,tse", root);
    philox_stream rng;
    philox_stream_init(&rng, 5, PURPOSE_TEST, 1);
    int kills = 0, finished = 0;
    for (int attempt = 0; attempt < 60 && !finished; attempt++) {
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", 1);
            dup2(null, 1);
            dup2(null, 2);
            execl(bin, bin, "protocol", "run", "darts_space", "--budget", "tiny", "--dataset", data_spec(), "--methods",
                  "darts1,tse", "--out", dir, "--quiet", (char *)NULL);
            _exit(127);
        }
        /* between 50 ms and 1.5 s: inside runs, checkpoints and manifests */
        long ms = 50 + (long)philox_next_below(&rng, 1450);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "protocol exited with %d", WEXITSTATUS(status));
            finished = 1;
            break;
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        kills++;
    }
    if (!finished) {
        const char *argv[] = {bin,     "protocol", "run",        "darts_space", "--budget", "tiny", "--dataset",
                              data_spec(), "--methods", "darts1,tse", "--out",       dir,        "--quiet", NULL};
        cr_assert_eq(sandbox_run(argv, NULL), 0);
    }
    read_root(dir, got);
    fprintf(stderr, "protocol killed %d times, then finished: root hash %s\n", kills, got);
    cr_expect_gt(kills, 2, "the kill schedule never interrupted the run");
    cr_expect_str_eq(got, root, "resumed protocol's root hash differs from the uninterrupted one");
    free(ref);
    free(dir);
}

/* ------------------------------------------------------ hand-made results */

Test(protocol, selection_and_aggregation_rules)
{
    method_result m;
    memset(&m, 0, sizeof m);
    double v[4] = {0.30, 0.20, 0.20, 0.25}, t[4] = {0.10, 0.40, 0.05, 0.30};
    for (int k = 0; k < 4; k++) {
        m.select_valid[k] = v[k];
        m.select_test[k] = t[k];
        m.select_done[k] = 1;
    }
    cr_expect_eq(protocol_select(&m, SELECT_VALID), 1, "a tie on validation error keeps the lower search");
    cr_expect_eq(protocol_select(&m, SELECT_TEST), 2);
    m.select_done[1] = 0;
    cr_expect_eq(protocol_select(&m, SELECT_VALID), 2, "a missing (failed) selection run is skipped");
    double mean, std, x[3] = {2.0, 3.0, 4.0};
    protocol_mean_std(x, 3, &mean, &std);
    cr_expect_float_eq(mean, 3.0, 1e-12);
    cr_expect_float_eq(std, 1.0, 1e-12, "sample standard deviation, n - 1");
    protocol_mean_std(x, 1, &mean, &std);
    cr_expect_eq(std, 0.0);
}

/* The DrNAS row searches TSE-DrNAS's space, `none` included, although
 * `search --algo drnas` keeps the original's 7 ops; the report says so
 * beside the row, and only where it runs. */
Test(protocol, drnas_row_searches_the_space_of_tse_drnas)
{
    protocol_request r;
    protocol_request_defaults(&r);
    snprintf(r.budget, sizeof r.budget, "tiny");
    snprintf(r.dataset, sizeof r.dataset, "synthetic");
    cr_assert_eq(protocol_parse_methods(&r, "tse-drnas,drnas"), TD_OK, "%s", td_error_message());
    char *text = NULL;
    cr_assert_eq(protocol_plan_json(&r, &text), TD_OK, "%s", td_error_message());
    json_t *plan = json_loads(text, 0, NULL);
    cr_assert_not_null(plan);
    json_t *methods = json_object_get(plan, "methods");
    cr_assert_eq(json_array_size(methods), 2);
    for (size_t m = 0; m < 2; m++) {
        json_t *mo = json_array_get(methods, m);
        json_t *cfg = json_object_get(json_array_get(json_object_get(mo, "searches"), 0), "config");
        cr_expect(json_is_true(json_object_get(cfg, "drnas_with_none")) ||
                      json_integer_value(json_object_get(cfg, "drnas_with_none")) == 1,
                  "%s searches without none", json_string_value(json_object_get(mo, "id")));
    }
    char notes[2048];
    protocol_notes_text(methods, notes, sizeof notes);
    cr_expect(strstr(notes, "**DrNAS**: searched over the 8 ops of TSE-DrNAS, `none` included") != NULL, "%s", notes);
    cr_expect(strstr(notes, "TSE-DrNAS**:") == NULL, "a note on a row that has none: %s", notes);
    json_decref(plan);
    free(text);
    cr_assert_eq(protocol_parse_methods(&r, "tse-drnas"), TD_OK);
    cr_assert_eq(protocol_plan_json(&r, &text), TD_OK);
    plan = json_loads(text, 0, NULL);
    protocol_notes_text(json_object_get(plan, "methods"), notes, sizeof notes);
    cr_expect_str_eq(notes, "", "a note for a row that did not run");
    json_decref(plan);
    free(text);
}

/* The same hand cases, held to the runner's arithmetic and to verify's own
 * (written separately in verify/), with the expected values worked out
 * here rather than computed. */
Test(protocol, selection_and_statistics_by_hand_in_runner_and_audit)
{
    /* searches 1..4: validation errors 0.5, 0.25, 0.25, 0.375 -> the lowest
     * is 0.25, held by searches 2 and 3; the tie goes to search 2 (index 1).
     * Test errors 0.0625, 0.5, 0.25, 0.03125 -> search 4 (index 3). */
    double valid[4] = {0.5, 0.25, 0.25, 0.375}, test[4] = {0.0625, 0.5, 0.25, 0.03125};
    int have[4] = {1, 1, 1, 1};
    method_result m;
    memset(&m, 0, sizeof m);
    for (int k = 0; k < 4; k++) {
        m.select_valid[k] = valid[k];
        m.select_test[k] = test[k];
        m.select_done[k] = 1;
    }
    cr_expect_eq(protocol_select(&m, SELECT_VALID), 1);
    cr_expect_eq(verify_select(valid, have, 4), 1);
    cr_expect_eq(protocol_select(&m, SELECT_TEST), 3);
    cr_expect_eq(verify_select(test, have, 4), 3);
    /* search 2's selection run failed: 0.25 of search 3 is now lowest */
    m.select_done[1] = have[1] = 0;
    cr_expect_eq(protocol_select(&m, SELECT_VALID), 2);
    cr_expect_eq(verify_select(valid, have, 4), 2);
    /* nothing to choose from */
    memset(m.select_done, 0, sizeof m.select_done);
    memset(have, 0, sizeof have);
    cr_expect_eq(protocol_select(&m, SELECT_VALID), -1);
    cr_expect_eq(verify_select(valid, have, 4), -1);

    struct {
        double x[3];
        int n;
        double mean, std;
    } cases[] = {
        /* 1.5625 + 3.125 + 4.6875 = 9.375, / 3 = 3.125; deviations -1.5625,
         * 0, 1.5625; squares 2.44140625 + 0 + 2.44140625 = 4.8828125, / (3 - 1)
         * = 2.44140625 = 1.5625^2, so std = 1.5625 */
        {{1.5625, 3.125, 4.6875}, 3, 3.125, 1.5625},
        /* 3.125 + 3.125 + 7.8125 = 14.0625, / 3 = 4.6875; deviations
         * -1.5625, -1.5625, 3.125; squares 2.44140625 * 2 + 9.765625 =
         * 14.6484375, / 2 = 7.32421875 = 3 * 1.5625^2, so std = 1.5625 *
         * sqrt(3) = 2.7063293868263706 (the population std, / 3, would be
         * 1.5625 * sqrt(2) = 2.2097086912079612) */
        {{3.125, 3.125, 7.8125}, 3, 4.6875, 2.7063293868263706},
        /* one value: its own mean, no spread */
        {{4.5, 0, 0}, 1, 4.5, 0},
        /* two values 2 and 5: mean 3.5; squares 2.25 + 2.25 = 4.5, / 1, so
         * std = sqrt(4.5) = 2.1213203435596424 */
        {{2, 5, 0}, 2, 3.5, 2.1213203435596424},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double pm, ps, vm, vs;
        protocol_mean_std(cases[i].x, cases[i].n, &pm, &ps);
        verify_mean_std(cases[i].x, cases[i].n, &vm, &vs);
        cr_expect_float_eq(pm, cases[i].mean, 1e-12, "runner, case %zu: mean %.17g", i + 1, pm);
        cr_expect_float_eq(ps, cases[i].std, 1e-12, "runner, case %zu: std %.17g", i + 1, ps);
        cr_expect_float_eq(vm, cases[i].mean, 1e-12, "verify, case %zu: mean %.17g", i + 1, vm);
        cr_expect_float_eq(vs, cases[i].std, 1e-12, "verify, case %zu: std %.17g", i + 1, vs);
    }
}

/* ------------------------------------------------- a tree made by hand */

/* The figures of the hand-made tree. Errors are multiples of 1/64, as with
 * 64 test images, so every percentage below is exact in binary. */
static const char *const hand_genotypes[4] = {"DARTS_V1", "DARTS_V2", "PDARTS_1", "iDARTS"};
static const double hand_valid[4] = {0.5, 0.25, 0.25, 0.375};   /* selects search 2 (tie with 3) */
static const double hand_test[4] = {0.0625, 0.5, 0.25, 0.03125}; /* would select search 4 */
static const double hand_deep[3] = {1 / 64., 2 / 64., 3 / 64.};   /* 1.5625, 3.125, 4.6875 % */
static const double hand_shallow[3] = {2 / 64., 2 / 64., 5 / 64.}; /* 3.125, 3.125, 7.8125 % */
/* 6.25 %: below it strictly are selection run 4, the three deep seeds and
 * two shallow ones, 6 of the 10 retrained networks */
static const double hand_baseline = 4 / 64.;

/* runs/<sha256 of config>/ as a finished run leaves it: config.json,
 * result.json (result gains config_hash; it is consumed), the log and
 * final files (hand_runs.h; searched: a search's genotype, else NULL),
 * manifest. */
static void hand_run(const char *dir, const char *config, json_t *result, const genotype *searched)
{
    char hash[SHA256_HEX_LEN], runs[600], rdir[700], path[800];
    sha256_buffer(config, strlen(config), hash);
    path_in(runs, sizeof runs, dir, "runs");
    path_in(rdir, sizeof rdir, runs, hash);
    cr_assert_eq(dir_create(rdir), TD_OK);
    char *text = malloc(strlen(config) + 2);
    sprintf(text, "%s\n", config);
    path_in(path, sizeof path, rdir, "config.json");
    cr_assert_eq(file_write_text_atomic(path, text), TD_OK);
    free(text);
    json_object_set_new(result, "config_hash", json_string(hash));
    text = json_dumps(result, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(result);
    path_in(path, sizeof path, rdir, "result.json");
    cr_assert_eq(file_write_text_atomic(path, text), TD_OK);
    free(text);
    cr_assert_eq(hand_run_files(rdir, config, searched), TD_OK, "%s", td_error_message());
    cr_assert_eq(manifest_write(rdir), TD_OK, "%s", td_error_message());
}

static json_t *test_result(double test_error)
{
    json_t *o = json_object();
    json_object_set_new(o, "test_error", json_real(test_error));
    json_object_set_new(o, "test_images", json_integer(64));
    return o;
}

/* A darts1 protocol tree in dir at the tiny budget whose runs hold the
 * hand figures, laid out with the runner's own functions; the extra seeds
 * go to search `finals_of` (index; a correct runner picks 1). The report
 * and root manifest are the runner's. */
static void hand_tree(const char *dir, int finals_of, char root[SHA256_HEX_LEN])
{
    char path[600];
    cr_assert_eq(dir_create(dir), TD_OK);
    protocol_request r;
    protocol_request_defaults(&r);
    snprintf(r.budget, sizeof r.budget, "tiny");
    snprintf(r.dataset, sizeof r.dataset, "synthetic");
    cr_assert_eq(protocol_parse_methods(&r, "darts1"), TD_OK);
    char *plan_text;
    cr_assert_eq(protocol_plan_json(&r, &plan_text), TD_OK, "%s", td_error_message());
    path_in(path, sizeof path, dir, "plan.json");
    cr_assert_eq(file_write_text_atomic(path, plan_text), TD_OK);
    json_t *plan = json_loads(plan_text, 0, NULL);
    free(plan_text);
    json_t *mo = json_array_get(json_object_get(plan, "methods"), 0);
    char renamed[4][1024], config[8192], hash[SHA256_HEX_LEN];
    for (int k = 0; k < 4; k++) {
        json_t *so = json_array_get(json_object_get(mo, "searches"), (size_t)k);
        char *cfg = json_dumps(json_object_get(so, "config"), JSON_COMPACT | JSON_SORT_KEYS);
        genotype known, g;
        cr_assert_eq(genotype_load(hand_genotypes[k], &known), TD_OK, "%s", td_error_message());
        /* the search's result as verify re-derives it from its alphas */
        double an[DARTS_EDGES * DOP_COUNT], ar[DARTS_EDGES * DOP_COUNT];
        hand_alphas(&known, an, ar);
        genotype_derive(an, ar, "searched", &g);
        char line[1024];
        genotype_format(&g, line, sizeof line);
        json_t *res = json_object();
        json_object_set_new(res, "genotype", json_string(line));
        json_object_set_new(res, "normal_depth", json_integer(genotype_depth(&g.normal)));
        json_object_set_new(res, "reduce_depth", json_integer(genotype_depth(&g.reduce)));
        json_object_set_new(res, "normal_skip", json_integer(genotype_skip_count(&g.normal)));
        json_object_set_new(res, "reduce_skip", json_integer(genotype_skip_count(&g.reduce)));
        hand_run(dir, cfg, res, &g);
        free(cfg);
        cr_assert_eq(protocol_rename_genotype("darts1", k, line, renamed[k], sizeof renamed[k]), TD_OK);
        int seed = (int)json_integer_value(json_object_get(json_object_get(mo, "select"), "seed"));
        cr_assert_eq(protocol_retrain_run(mo, "select", renamed[k], seed, config, sizeof config, hash), TD_OK);
        res = test_result(hand_test[k]);
        json_object_set_new(res, "valid_error", json_real(hand_valid[k]));
        hand_run(dir, config, res, NULL);
    }
    const char *sections[2] = {"final_deep", "final_shallow"};
    const double *errors[2] = {hand_deep, hand_shallow};
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < 3; i++) {
            json_t *seeds = json_object_get(json_object_get(mo, sections[f]), "seeds");
            int seed = (int)json_integer_value(json_array_get(seeds, (size_t)i));
            cr_assert_eq(protocol_retrain_run(mo, sections[f], renamed[finals_of], seed, config, sizeof config, hash),
                         TD_OK);
            hand_run(dir, config, test_result(errors[f][i]), NULL);
        }
    char *base = json_dumps(json_object_get(json_object_get(plan, "baseline"), "config"), JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_not_null(base, "the plan declares no baseline");
    hand_run(dir, base, test_result(hand_baseline), NULL);
    free(base);
    json_decref(plan);
    cr_assert_eq(protocol_report(dir, root), TD_OK, "%s", td_error_message());
}

static json_t *load_json(const char *dir, const char *name)
{
    char path[600], *text;
    path_in(path, sizeof path, dir, name);
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK);
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    cr_assert_not_null(o, "%s is not JSON", path);
    return o;
}

static void save_json(const char *dir, const char *name, json_t *o)
{
    char path[600], *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    path_in(path, sizeof path, dir, name);
    cr_assert_eq(file_write_text_atomic(path, text), TD_OK);
    free(text);
}

static char *read_text(const char *dir, const char *name)
{
    char path[600], *text;
    path_in(path, sizeof path, dir, name);
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK);
    return text;
}

/* Replaces the one occurrence of from in dir/name by to. */
static void replace_in(const char *dir, const char *name, const char *from, const char *to)
{
    char *text = read_text(dir, name), *at = strstr(text, from);
    cr_assert_not_null(at, "%s does not hold '%s'", name, from);
    cr_assert_null(strstr(at + 1, from), "%s holds '%s' more than once", name, from);
    char *out = malloc(strlen(text) - strlen(from) + strlen(to) + 1);
    sprintf(out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    char path[600];
    path_in(path, sizeof path, dir, name);
    cr_assert_eq(file_write_text_atomic(path, out), TD_OK);
    free(out);
    free(text);
}

Test(protocol, aggregation_of_a_hand_made_tree, .timeout = 120)
{
    char *scratch = sandbox_dir("protocol-hand"), dir[600], root[SHA256_HEX_LEN];
    path_in(dir, sizeof dir, scratch, "tree");
    hand_tree(dir, 1, root);
    json_t *rep = load_json(dir, "report.json");
    json_t *row = NULL;
    for (size_t i = 0; i < json_array_size(json_object_get(rep, "rows")); i++) {
        json_t *r = json_array_get(json_object_get(rep, "rows"), i);
        if (!strcmp(json_string_value(json_object_get(r, "label")), "DARTS (1st)")) row = r;
    }
    cr_assert_not_null(row);
    /* validation errors 0.5, 0.25, 0.25, 0.375: search 2 (tie with 3) */
    cr_expect_eq(json_integer_value(json_object_get(row, "selected_search")), 2);
    cr_expect_eq(json_integer_value(json_object_get(row, "failures")), 0);
    json_t *s2 = json_array_get(json_object_get(row, "searches"), 1);
    cr_expect_eq(json_real_value(json_object_get(s2, "selection_valid_error")), 0.25);
    cr_expect_eq(json_real_value(json_object_get(s2, "selection_test_error")), 0.5);
    /* 20-layer: 1/64, 2/64, 3/64 -> 1.5625, 3.125, 4.6875 %; mean 3.125,
     * std 1.5625 (worked out in the test above) */
    struct {
        const char *key;
        double pct[3], mean, std;
    } want[2] = {{"eval20", {1.5625, 3.125, 4.6875}, 3.125, 1.5625},
                 /* 8-layer: 2/64, 2/64, 5/64 -> 3.125, 3.125, 7.8125 %; mean
                  * 4.6875, std 1.5625 * sqrt(3) */
                 {"eval8", {3.125, 3.125, 7.8125}, 4.6875, 2.7063293868263706}};
    for (int f = 0; f < 2; f++) {
        json_t *e = json_object_get(row, want[f].key);
        cr_expect_eq(json_integer_value(json_object_get(e, "n")), 3, "%s", want[f].key);
        for (int i = 0; i < 3; i++)
            cr_expect_float_eq(json_real_value(json_array_get(json_object_get(e, "test_error_percent"), (size_t)i)),
                               want[f].pct[i], 1e-12, "%s value %d", want[f].key, i + 1);
        cr_expect_float_eq(json_real_value(json_object_get(e, "mean")), want[f].mean, 1e-12, "%s mean", want[f].key);
        cr_expect_float_eq(json_real_value(json_object_get(e, "std")), want[f].std, 1e-12, "%s std", want[f].key);
    }
    json_decref(rep);
    /* to two places: 4.6875 -> 4.69, 2.7063 -> 2.71; 3.125 (exact in binary,
     * a tie) -> 3.12 by round-half-even, 1.5625 -> 1.56 */
    char *md = read_text(dir, "report.md");
    cr_expect(strstr(md, "| DARTS (1st) | 4.87 (0.18) | 4.69 (2.71), n=3 | 3.00 (0.14) | 3.12 (1.56), n=3 |"), "%s",
              md);
    cr_expect(strstr(md, "| 2 (selected) | 2 |"), "%s", md);
    free(md);
    /* and verify, by its own arithmetic, agrees with all of it */
    int failed;
    char *out = verify_output(dir, root, &failed);
    cr_expect_eq(failed, 0, "%s", out);
    free(out);
    free(scratch);
}

/* Every src= and href= of the page is a data: URI or an anchor, and no
 * address outside it appears anywhere. */
static void expect_self_contained(const char *html)
{
    const char *attrs[] = {"src=\"", "href=\""};
    for (int a = 0; a < 2; a++)
        for (const char *p = strstr(html, attrs[a]); p; p = strstr(p + 1, attrs[a])) {
            const char *v = p + strlen(attrs[a]);
            cr_expect(!strncmp(v, "data:", 5) || v[0] == '#', "report.html refers outside itself: %.60s", p);
        }
    const char *outside[] = {"http:", "https:", "file:", "<link", "<script", "url("};
    for (int i = 0; i < 6; i++) cr_expect(strstr(html, outside[i]) == NULL, "report.html holds '%s'", outside[i]);
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

Test(protocol, report_page_is_self_contained_and_checked, .timeout = 300)
{
    char *scratch = sandbox_dir("protocol-page"), dir[600], root[SHA256_HEX_LEN];
    path_in(dir, sizeof dir, scratch, "tree");
    hand_tree(dir, 1, root);
    /* the hand tree's searches get a real search log, as a run leaves it */
    protocol_run_info *runs;
    int nr;
    cr_assert_eq(protocol_tree_runs(dir, &runs, &nr), TD_OK, "%s", td_error_message());
    const char *src = getenv("TSEDARTS_SOURCE_DIR");
    cr_assert_not_null(src);
    char fixture[700], *log;
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/figures/search/metrics.jsonl", src);
    cr_assert_eq(file_read_all(fixture, &log, NULL), TD_OK, "%s", td_error_message());
    for (int i = 0; i < nr; i++) {
        if (runs[i].stage != STAGE_SEARCH) continue;
        char rdir[800], path[900];
        snprintf(rdir, sizeof rdir, "%s/runs/%s", dir, runs[i].hash);
        path_in(path, sizeof path, rdir, "metrics.jsonl");
        cr_assert_eq(file_write_text_atomic(path, log), TD_OK);
        cr_assert_eq(manifest_write(rdir), TD_OK);
    }
    free(log);
    free(runs);
    cr_assert_eq(protocol_report(dir, root), TD_OK, "%s", td_error_message());
    char *html = read_text(dir, "report.html");
    expect_self_contained(html);
    char verify_line[200];
    snprintf(verify_line, sizeof verify_line, "tsedarts verify . --root-hash %s", root);
    cr_expect(strstr(html, verify_line) != NULL, "report.html does not say how to check the root hash");
    cr_expect(strstr(html, "<td class=\"num\">3.12 (1.56), n=3</td>") != NULL, "Table 2 lacks ours");
    cr_expect(strstr(html, "<td class=\"num\">3.00 (0.14)</td>") != NULL, "Table 2 lacks the paper's");
    cr_expect_eq(count_of(html, "<figure class=\"selected\">"), 1, "not one cell marked as chosen");
    /* the other tests run without matplotlib and dot where they are
     * missing; the figures only where they are present */
    if (strstr(html, "Figures missing")) {
        sandbox_require_plots();
        cr_expect_fail("report.html says figures are missing although the tools are present");
    }
    json_t *index = load_json(dir, "figures/index.json");
    int n_figures = (int)json_array_size(json_object_get(index, "figures"));
    json_decref(index);
    /* skips, depth, loss, Hessian, TSE gradient from the search log */
    cr_expect_geq(n_figures, 5);
    /* each search: its cells and its curves */
    cr_expect_eq(count_of(html, "data:image/svg+xml;base64,"), 4 * 2 + n_figures, "not every cell and figure embedded");
    cr_expect(strstr(html, "id=\"fig-search_skips\"") && strstr(html, "id=\"fig-search_tse_gradient\""));
    char cell[700];
    png_summary ps;
    const char *drawn[] = {"figures/cell-darts1-2.png", "figures/curves-darts1-4.png", "figures/search_skips.png"};
    for (int i = 0; i < 3; i++) {
        path_in(cell, sizeof cell, dir, drawn[i]);
        cr_assert_eq(png_summarise(cell, &ps), TD_OK, "%s", td_error_message());
        cr_expect(png_is_drawn(&ps), "%s looks blank", drawn[i]);
    }
    free(html);
    int failed;
    char *out = verify_output(dir, root, &failed);
    /* the searches carry another run's log (for the figures), not one of
     * their own config: the record checks, and only they, say so */
    cr_expect_eq(failed, 2, "%s", out);
    cr_expect(strstr(out, "FAIL  metrics logs: each finished run holds the records its config implies") &&
                  strstr(out, "FAIL  final weights and alphas hash to the last epoch record"),
              "%s", out);
    cr_expect(strstr(out, "ok    report.html states this tree's root hash") != NULL, "%s", out);
    free(out);
    /* a figure changed, a figure added, a page with another hash: each named */
    char work[700];
    path_in(work, sizeof work, scratch, "work");
    copy_afresh(dir, work);
    replace_in(work, "figures/index.json", "search_skips", "search_skipz");
    cr_expect(verify_fails_naming(work, root, "figures/index.json"));
    copy_afresh(dir, work);
    char extra[800];
    path_in(extra, sizeof extra, work, "figures/extra.svg");
    cr_assert_eq(file_write_text_atomic(extra, "<svg/>"), TD_OK);
    cr_expect(verify_fails_naming(work, root, "figures/extra.svg"));
    copy_afresh(dir, work);
    char other[SHA256_HEX_LEN];
    memcpy(other, root, sizeof other);
    other[0] = other[0] == '0' ? '1' : '0';
    char from[80], to[80];
    snprintf(from, sizeof from, "--root-hash %s", root);
    snprintf(to, sizeof to, "--root-hash %s", other);
    replace_in(work, "report.html", from, to);
    cr_expect(verify_fails_naming(work, root, "report.html"));
    free(scratch);
}

/* A report written by a runner whose aggregation is wrong, manifests
 * rebuilt so that every hash holds: the tree an audit that re-ran the
 * runner's own code would pass, had that code the same fault. verify
 * recomputes selection and statistics itself and must refuse each. */
enum {
    EDIT_NONE,
    EDIT_POPULATION_STD,
    EDIT_MEAN,
    EDIT_TIE_TO_HIGHER,
    EDIT_SELECT_BY_TEST,
    EDIT_MD_ONLY,
    EDIT_RESULT,
    EDIT_BELOW_BASELINE,
    EDIT_BASELINE_MD
};

static void edit_tree(const char *work, int edit)
{
    json_t *rep = load_json(work, "report.json"), *row = NULL;
    for (size_t i = 0; i < json_array_size(json_object_get(rep, "rows")); i++)
        if (json_is_true(json_object_get(json_array_get(json_object_get(rep, "rows"), i), "run")))
            row = json_array_get(json_object_get(rep, "rows"), i);
    cr_assert_not_null(row);
    json_t *e8 = json_object_get(row, "eval8"), *e20 = json_object_get(row, "eval20");
    switch (edit) {
    case EDIT_POPULATION_STD: /* divisor n: 1.5625 * sqrt(2) instead of * sqrt(3) */
        json_object_set_new(e8, "std", json_real(2.2097086912079612));
        replace_in(work, "report.md", "4.69 (2.71), n=3", "4.69 (2.21), n=3");
        break;
    case EDIT_MEAN: /* 20-layer mean 3.125 -> 2.5 */
        json_object_set_new(e20, "mean", json_real(2.5));
        replace_in(work, "report.md", "3.12 (1.56), n=3", "2.50 (1.56), n=3");
        break;
    case EDIT_TIE_TO_HIGHER: /* the tie between searches 2 and 3 given to 3 */
    case EDIT_SELECT_BY_TEST: { /* search 4, lowest test error, though the plan says validation */
        int to = edit == EDIT_TIE_TO_HIGHER ? 3 : 4;
        char from_row[32], to_marked[32], line[64];
        json_object_set_new(row, "selected_search", json_integer(to));
        replace_in(work, "report.md", "| 2 (selected) |", "| 2 |");
        snprintf(from_row, sizeof from_row, "\n| %d | %d |", to, to);
        snprintf(to_marked, sizeof to_marked, "\n| %d (selected) | %d |", to, to);
        replace_in(work, "report.md", from_row, to_marked);
        snprintf(line, sizeof line, "Selected genotype (search %d)", to);
        replace_in(work, "report.md", "Selected genotype (search 2)", line);
        break;
    }
    case EDIT_BELOW_BASELINE: /* every network said to beat the baseline */
        json_object_set_new(json_object_get(rep, "baseline"), "retrained_below_baseline", json_integer(10));
        replace_in(work, "report.md", "below it: 6 of 10.", "below it: 10 of 10 (all).");
        break;
    case EDIT_BASELINE_MD: /* a weaker baseline printed */
        replace_in(work, "report.md", "6.25% test error", "9.25% test error");
        break;
    case EDIT_MD_ONLY: /* the printed 8-layer mean only */
        replace_in(work, "report.md", "4.69 (2.71), n=3", "4.59 (2.71), n=3");
        break;
    case EDIT_RESULT: { /* a 20-layer result changed under a report left as it was */
        char runs[600], rdir[700];
        path_in(runs, sizeof runs, work, "runs");
        DIR *d = opendir(runs);
        struct dirent *de;
        int done = 0;
        while (!done && (de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            path_in(rdir, sizeof rdir, runs, de->d_name);
            char *res = read_text(rdir, "result.json");
            if (strstr(res, "0.046875")) { /* 3/64: the third 20-layer seed */
                replace_in(rdir, "result.json", "0.046875", "0.0625");
                cr_assert_eq(manifest_write(rdir), TD_OK);
                done = 1;
            }
            free(res);
        }
        closedir(d);
        cr_assert(done, "no result with test error 3/64");
        break;
    }
    }
    if (edit != EDIT_MD_ONLY && edit != EDIT_RESULT) save_json(work, "report.json", rep);
    json_decref(rep);
    char root[SHA256_HEX_LEN];
    /* the page states the old root hash; such a runner would not leave one */
    char page[700];
    path_in(page, sizeof page, work, "report.html");
    unlink(page);
    cr_assert_eq(manifest_write_root(work, root), TD_OK);
}

Test(protocol, verify_recomputes_what_the_report_claims, .timeout = 120)
{
    char *scratch = sandbox_dir("protocol-hand"), dir[600], work[600], root[SHA256_HEX_LEN];
    path_in(dir, sizeof dir, scratch, "tree");
    path_in(work, sizeof work, scratch, "work");
    hand_tree(dir, 1, root);
    struct {
        int edit;
        const char *named; /* in verify's failing line; NULL: must pass */
    } cases[] = {
        {EDIT_NONE, NULL}, /* report.json rewritten unchanged, manifests rebuilt: the control */
        {EDIT_POPULATION_STD, "eval8 std (n - 1) is 2.209708691"},
        {EDIT_MEAN, "eval20 mean is 2.5"},
        {EDIT_TIE_TO_HIGHER, "selected_search is 3; recomputed from the runs: 2"},
        {EDIT_SELECT_BY_TEST, "selected_search is 4; recomputed from the runs: 2"},
        {EDIT_MD_ONLY, "report.md: DARTS (1st), 8-layer eval: '4.59 (2.71), n=3'"},
        {EDIT_RESULT, "eval20 test error 3 is 4.6875; recomputed from the runs: 6.25"},
        {EDIT_BELOW_BASELINE, "retrained_below_baseline is 10; recomputed from the runs: 6"},
        {EDIT_BASELINE_MD, "no line says of the baseline \"6.25% test error. Retrained networks below it: 6 of 10\""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        copy_afresh(dir, work);
        edit_tree(work, cases[k].edit);
        int failed;
        char *out = verify_output(work, NULL, &failed);
        if (!cases[k].named) {
            cr_expect_eq(failed, 0, "the control failed:\n%s", out);
        } else {
            /* only the report check fails: every hash, manifest and the
             * plan still hold */
            cr_expect_eq(failed, 1, "case %zu:\n%s", k, out);
            cr_expect(strstr(out, "FAIL  report:") && strstr(out, cases[k].named), "case %zu: wanted '%s' in:\n%s", k,
                      cases[k].named, out);
        }
        free(out);
    }
    free(scratch);
}

/* verify fails the tree at "plan followed", saying why. */
static void expect_plan_not_followed(const char *dir, const char *root, const char *why)
{
    int failed;
    char *out = verify_output(dir, root, &failed);
    cr_expect(failed >= 1 && strstr(out, "FAIL  plan followed") && strstr(out, why), "wanted '%s' in:\n%s", why, out);
    free(out);
}

/* A baseline trained on fewer images than the networks it is measured
 * against (an easy one to beat), declared in the plan with a matching
 * hash, run, and hashed: the plan itself is refused. */
Test(protocol, a_baseline_on_other_images_is_refused, .timeout = 120)
{
    char *dir = sandbox_dir("protocol-hand"), root[SHA256_HEX_LEN], path[600];
    hand_tree(dir, 1, root);
    json_t *plan = load_json(dir, "plan.json"), *base = json_object_get(plan, "baseline");
    json_t *config = json_object_get(base, "config");
    char *old = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS), old_hash[SHA256_HEX_LEN], hash[SHA256_HEX_LEN];
    sha256_buffer(old, strlen(old), old_hash);
    free(old);
    json_object_set_new(config, "subset", json_integer(16));
    char *text = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
    sha256_buffer(text, strlen(text), hash);
    json_object_set_new(base, "run", json_string(hash));
    save_json(dir, "plan.json", plan);
    json_decref(plan);
    char rdir[700];
    path_in(path, sizeof path, dir, "runs");
    path_in(rdir, sizeof rdir, path, old_hash);
    cr_assert_eq(dir_remove_tree(rdir), TD_OK, "%s", td_error_message());
    hand_run(dir, text, test_result(hand_baseline), NULL);
    free(text);
    cr_assert_eq(manifest_write_root(dir, root), TD_OK);
    expect_plan_not_followed(dir, NULL, "the baseline's subset is not that of darts1's final retrainings");
    free(dir);
}

/* A tree without its baseline: a plan that drops the declaration, or a
 * declared baseline whose run is gone, manifests rebuilt both times. */
Test(protocol, a_missing_baseline_is_refused, .timeout = 120)
{
    char *scratch = sandbox_dir("protocol-hand"), dir[600], work[600], root[SHA256_HEX_LEN], path[700];
    path_in(dir, sizeof dir, scratch, "tree");
    path_in(work, sizeof work, scratch, "work");
    hand_tree(dir, 1, root);
    copy_afresh(dir, work);
    json_t *plan = load_json(work, "plan.json");
    char run[SHA256_HEX_LEN + 8];
    snprintf(run, sizeof run, "runs/%s", json_string_value(json_object_get(json_object_get(plan, "baseline"), "run")));
    json_object_del(plan, "baseline");
    save_json(work, "plan.json", plan);
    json_decref(plan);
    cr_assert_eq(manifest_write_root(work, root), TD_OK);
    expect_plan_not_followed(work, NULL, "plan.json: version 2 declares no baseline");
    copy_afresh(dir, work);
    path_in(path, sizeof path, work, run);
    cr_assert_eq(dir_remove_tree(path), TD_OK, "%s", td_error_message());
    cr_assert_eq(manifest_write_root(work, root), TD_OK);
    expect_plan_not_followed(work, NULL, "the declared baseline (runs/");
    free(scratch);
}

/* A runner that gave the extra seeds to the wrong genotype: the runs
 * themselves do not follow the plan under verify's selection. */
Test(protocol, verify_selects_on_its_own_which_genotype_earns_the_seeds, .timeout = 120)
{
    char *dir = sandbox_dir("protocol-hand"), root[SHA256_HEX_LEN];
    hand_tree(dir, 3, root);
    expect_plan_not_followed(dir, root, "the selected genotype (search 2) lacks its final_deep seed 1 run");
    free(dir);
}

/* A finished tree is left as it is by `protocol run`: its report, page
 * and figures untouched (nothing is redrawn, so a missing plotting tool
 * cannot delete a figure), the same root hash returned. */
Test(protocol, a_finished_tree_is_left_alone_by_protocol_run, .timeout = 120)
{
    char *dir = sandbox_dir("protocol-finished"), root[SHA256_HEX_LEN], again[SHA256_HEX_LEN], path[600];
    hand_tree(dir, 1, root);
    /* a figure as an earlier report drew it, under HOST.sha256 */
    path_in(path, sizeof path, dir, "figures");
    cr_assert_eq(dir_create(path), TD_OK);
    path_in(path, sizeof path, dir, "figures/search_skips.svg");
    cr_assert_eq(file_write_text_atomic(path, "<svg/>"), TD_OK);
    cr_assert_eq(manifest_write_root(dir, root), TD_OK);
    struct stat before, after;
    char page[600];
    path_in(page, sizeof page, dir, "report.md");
    cr_assert_eq(stat(page, &before), 0);
    setenv("TSEDARTS_PYTHON", "/nonexistent/python3", 1);
    protocol_request r;
    protocol_request_defaults(&r);
    snprintf(r.budget, sizeof r.budget, "tiny");
    snprintf(r.dataset, sizeof r.dataset, "synthetic");
    cr_assert_eq(protocol_parse_methods(&r, "darts1"), TD_OK);
    protocol_options o;
    memset(&o, 0, sizeof o);
    o.out_dir = dir;
    o.quiet = 1;
    o.device = "cpu";
    cr_expect_eq(protocol_run(&r, &o, again), TD_OK, "%s", td_error_message());
    cr_expect_str_eq(again, root);
    cr_expect(file_exists(path), "protocol run deleted a figure of a finished tree");
    cr_assert_eq(stat(page, &after), 0);
    cr_expect(before.st_ino == after.st_ino && before.st_mtime == after.st_mtime, "report.md was written again");
    free(dir);
}

/* `protocol report` without the plotting tools keeps what they drew. */
Test(protocol, a_missing_plotting_tool_never_deletes_a_figure, .timeout = 120)
{
    char *dir = sandbox_dir("protocol-keep"), root[SHA256_HEX_LEN], path[600], cell[600];
    hand_tree(dir, 1, root);
    path_in(path, sizeof path, dir, "figures");
    cr_assert_eq(dir_create(path), TD_OK);
    path_in(path, sizeof path, dir, "figures/search_skips.svg");
    cr_assert_eq(file_write_text_atomic(path, "<svg/>"), TD_OK);
    path_in(cell, sizeof cell, dir, "figures/cell-darts1-1.svg");
    cr_assert_eq(file_write_text_atomic(cell, "<svg/>"), TD_OK);
    setenv("TSEDARTS_PYTHON", "/nonexistent/python3", 1);
    setenv("TSEDARTS_DOT", "/nonexistent/dot", 1);
    cr_assert_eq(protocol_report(dir, root), TD_OK, "%s", td_error_message());
    cr_expect(file_exists(path) && file_exists(cell), "a figure was deleted because its tool is missing");
    char *html = read_text(dir, "report.html");
    cr_expect(strstr(html, "drawn earlier are kept") != NULL, "the page does not say the figures are kept");
    free(html);
    int failed;
    char *out = verify_output(dir, root, &failed);
    cr_expect_eq(failed, 0, "%s", out);
    free(out);
    free(dir);
}

/* report.html is hashed outside the root hash (HOST.sha256), so a forger
 * can write HOST.sha256 again over an edited page: each figure the page
 * states is checked against the runs instead, as report.md's are. */
Test(protocol, an_edited_number_on_the_report_page_fails_plain_verify, .timeout = 120)
{
    char *scratch = sandbox_dir("protocol-page-edit"), dir[600], work[600], root[SHA256_HEX_LEN];
    path_in(dir, sizeof dir, scratch, "tree");
    path_in(work, sizeof work, scratch, "work");
    hand_tree(dir, 1, root);
    static const char *const edits[][2] = {
        {"", ""}, /* the control: HOST.sha256 written again over the same page */
        {"<td class=\"num\">3.12 (1.56), n=3</td>", "<td class=\"num\">2.12 (1.56), n=3</td>"},
        {"<td class=\"num\">4.87 (0.18)</td>", "<td class=\"num\">5.87 (0.18)</td>"},
        {"<td class=\"num\">0.3750</td>", "<td class=\"num\">0.2750</td>"},
        {"6.25% test error", "9.25% test error"},
        {"below it: 6 of 10", "below it: 10 of 10"},
        {"<tr><td>2 <span class=\"tag\">selected</span></td>", "<tr><td>2</td>"},
    };
    for (size_t k = 0; k < sizeof edits / sizeof edits[0]; k++) {
        copy_afresh(dir, work);
        if (edits[k][0][0]) replace_in(work, "report.html", edits[k][0], edits[k][1]);
        char again[SHA256_HEX_LEN];
        cr_assert_eq(manifest_write_root(work, again), TD_OK);
        cr_assert_str_eq(again, root, "the page is outside the root hash");
        int failed;
        char *out = verify_output(work, root, &failed);
        if (!k)
            cr_expect_eq(failed, 0, "the control failed:\n%s", out);
        else
            cr_expect(failed == 1 && strstr(out, "FAIL  report.html states this tree's root hash"),
                      "the page edited ('%s' -> '%s') passed:\n%s", edits[k][0], edits[k][1], out);
        free(out);
    }
    free(scratch);
}

/* protocol cancel on a tree that ran here: a clear answer, no squeue. */
Test(protocol, cancel_on_a_tree_that_ran_locally_says_so, .timeout = 120)
{
    char *dir = sandbox_dir("protocol-cancel"), root[SHA256_HEX_LEN];
    hand_tree(dir, 1, root);
    cr_expect_eq(slurm_cancel(dir), TD_ERR_STATE);
    cr_expect(strstr(td_error_message(), "holds no Slurm submissions") != NULL, "%s", td_error_message());
    free(dir);
}
