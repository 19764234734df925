/* verify against trees made to mislead it or stall it: links pointing out
 * of the tree (never followed, never read), a root hash typed in capitals,
 * a manifest of 300,000 lines, a checkpoint from another run, weights that
 * lack a tensor, a verdict written to a full disk; and a resume meeting an
 * edited log record. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "quiet_runs.h"
#include "sandbox.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/hash.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"
#include "tsedarts/safetensors.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"
#include "tsedarts/verify.h"

static char *in(const char *dir, const char *leaf)
{
    char *p = path_join(dir, leaf);
    cr_assert_not_null(p);
    return p;
}

static void write_text(const char *dir, const char *leaf, const char *text)
{
    char *p = in(dir, leaf);
    cr_assert_eq(file_write_text_atomic(p, text), TD_OK, "%s", td_error_message());
    free(p);
}

static char *read_text(const char *dir, const char *leaf)
{
    char *p = in(dir, leaf), *text;
    cr_assert_eq(file_read_all(p, &text, NULL), TD_OK, "%s", td_error_message());
    free(p);
    return text;
}

static void link_to(const char *target, const char *dir, const char *leaf)
{
    char *p = in(dir, leaf);
    unlink(p);
    cr_assert_eq(symlink(target, p), 0, "symlink %s", p);
    free(p);
}

static void small_train(train_config *c, int seed)
{
    train_config_defaults(c);
    cr_assert_eq(genotype_load("DARTS_V2", &c->net.geno), TD_OK);
    snprintf(c->dataset, sizeof c->dataset, "synthetic");
    c->net.C = 4;
    c->net.layers = 3;
    c->batch = 16;
    c->epochs = 2;
    c->subset = 48;
    c->valid_images = 16;
    c->test_images = 32;
    c->seed = (uint64_t)seed;
}

/* A finished retraining run in base/leaf. */
static char *finished_run(const char *base, const char *leaf, int seed)
{
    char *dir = in(base, leaf);
    train_config c;
    small_train(&c, seed);
    cr_assert_eq(quiet_train(backend_cpu(), &c, dir, 0, 0), TD_OK, "%s", td_error_message());
    return dir;
}

/* What verify_tree (tree) or verify_run printed; *s its status. */
static char *audit_text(const char *dir, int tree, const char *root, td_status *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    verify_summary sum;
    *s = tree ? verify_tree(dir, root, out, &sum) : verify_run(dir, out, &sum);
    fclose(out);
    return text;
}

Test(audit_abuse, links_out_of_the_tree_are_refused_unread_at_any_depth, .timeout = 300)
{
    char *base = sandbox_dir("audit-links"), *outside = in(base, "outside"), *tree = in(base, "tree");
    cr_assert_eq(dir_create(outside), TD_OK);
    /* what a link could reach: a secret, and a directory of "runs" */
    write_text(outside, "secret.txt", "hunter2 is the password\n");
    char *secret = in(outside, "secret.txt"), *fake = in(outside, "fake-run");
    cr_assert_eq(dir_create(fake), TD_OK);
    write_text(fake, "config.json", "hunter3\n");
    write_text(fake, "metrics.jsonl", "hunter4\n");
    /* a tree whose every file the audit reads first is a link out */
    char *runs = in(tree, "runs");
    cr_assert_eq(dir_create(runs), TD_OK);
    static const char *const top[] = {"plan.json", "MANIFEST.sha256", "HOST.sha256", "report.json", "report.md",
                                      "report.html"};
    for (int i = 0; i < 6; i++) link_to(secret, tree, top[i]);
    link_to(fake, runs, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    td_status s;
    char *text = audit_text(tree, 1, NULL, &s);
    cr_expect_neq(s, TD_OK);
    cr_expect(!strstr(text, "hunter"), "verify read through a link:\n%s", text);
    cr_expect(strstr(text, "symbolic link") != NULL, "%s", text);
    free(text);
    /* runs/ itself a link */
    char *runs_moved = in(base, "runs-moved");
    cr_assert_eq(rename(runs, runs_moved), 0);
    link_to(outside, tree, "runs");
    text = audit_text(tree, 1, NULL, &s);
    cr_expect(!strstr(text, "hunter"), "verify read through runs/ as a link:\n%s", text);
    free(text);
    /* a real run directory, each of its files in turn a link out */
    char *run = finished_run(base, "run", 1);
    static const char *const leaves[] = {"config.json", "metrics.jsonl", "result.json", "weights.safetensors",
                                         "checkpoint.bin", "env.json"};
    for (int i = 0; i < 6; i++) {
        char *work = in(base, "work");
        cr_assert_eq(dir_remove_tree(work), TD_OK);
        cr_assert_eq(sandbox_copy_tree(run, work), TD_OK);
        link_to(secret, work, leaves[i]);
        text = audit_text(work, 0, NULL, &s);
        cr_expect_neq(s, TD_OK, "%s as a link passed", leaves[i]);
        cr_expect(!strstr(text, "hunter"), "verify read %s through a link:\n%s", leaves[i], text);
        free(text);
        s = verify_reevaluate(work, NULL, fopen("/dev/null", "w"));
        cr_expect(!strstr(td_error_message(), "hunter"), "reevaluate read %s through a link: %s", leaves[i],
                  td_error_message());
        free(work);
    }
    free(run);
    free(runs_moved);
    free(runs);
    free(secret);
    free(fake);
    free(outside);
    free(tree);
    free(base);
}

Test(audit_abuse, a_root_hash_in_capitals_is_the_same_hash, .timeout = 60)
{
    char *dir = sandbox_dir("audit-caps");
    write_text(dir, "MANIFEST.sha256", "");
    char root[SHA256_HEX_LEN], upper[SHA256_HEX_LEN];
    sha256_buffer("", 0, root);
    for (int i = 0; i < 65; i++) upper[i] = (char)(root[i] >= 'a' && root[i] <= 'f' ? root[i] - 32 : root[i]);
    td_status s;
    char *text = audit_text(dir, 1, upper, &s);
    cr_expect(strstr(text, "ok    root hash matches the published one") != NULL, "%s", text);
    free(text);
    const char *bin = getenv("TSEDARTS_BIN");
    if (bin) {
        char *log = in(dir, "out.txt"), *out;
        const char *argv[] = {bin, "verify", dir, "--root-hash", "ABC-not-a-hash", NULL};
        cr_expect_eq(sandbox_run(argv, log), 2);
        cr_assert_eq(file_read_all(log, &out, NULL), TD_OK);
        cr_expect(strstr(out, "is not a SHA-256 (64 hexadecimal digits)") != NULL, "%s", out);
        free(out);
        free(log);
    }
    free(dir);
}

Test(audit_abuse, a_manifest_of_300000_lines_is_checked_in_linear_time, .timeout = 60)
{
    char *dir = sandbox_dir("audit-big-manifest");
    size_t n = 300000, cap = n * 100 + 1, len = 0;
    char *text = malloc(cap);
    /* the names the root manifest must list first, so the parse is all
     * that stands between it and the first missing file */
    static const char *const first[] = {"plan.json", "report.json", "report.md"};
    for (size_t i = 0; i < n; i++) {
        char name[64];
        if (i < 3) snprintf(name, sizeof name, "%s", first[i]);
        else snprintf(name, sizeof name, "extra/file-%07zu", i);
        len += (size_t)snprintf(text + len, cap - len, "%064zx  %s\n", i, name);
    }
    write_text(dir, "MANIFEST.sha256", text);
    write_text(dir, "HOST.sha256", "");
    free(text);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    td_status s;
    char *out = audit_text(dir, 1, NULL, &s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_expect(strstr(out, "listed in MANIFEST.sha256 but missing") != NULL, "%s", out);
    /* quadratic lookups took minutes here */
    cr_expect_lt(secs, 20.0, "300,000 lines took %.1f s", secs);
    free(out);
    free(dir);
}

Test(audit_abuse, a_checkpoint_from_another_run_is_caught_by_plain_verify, .timeout = 300)
{
    char *base = sandbox_dir("audit-ckpt"), *a = finished_run(base, "a", 1), *b = finished_run(base, "b", 2);
    td_status s;
    char *text = audit_text(b, 0, NULL, &s);
    cr_expect_eq(s, TD_OK, "%s", text);
    free(text);
    char *from = in(a, "checkpoint.bin"), *to = in(b, "checkpoint.bin"), *data;
    size_t len;
    cr_assert_eq(file_read_all(from, &data, &len), TD_OK);
    const void *parts[1] = {data};
    cr_assert_eq(file_write_atomic(to, 1, parts, &len), TD_OK);
    free(data);
    text = audit_text(b, 0, NULL, &s);
    cr_expect_neq(s, TD_OK, "another run's checkpoint passed:\n%s", text);
    cr_expect(strstr(text, "checkpoint.bin: saved by a run of config") != NULL, "%s", text);
    free(text);
    free(from);
    free(to);
    free(a);
    free(b);
    free(base);
}

/* weights.safetensors written again without `drop`, and the last epoch
 * record's weights_sha256 (chain recomputed) made to match, as a forger
 * would: only reevaluation reads the tensors. */
static void drop_tensor(const char *run, const char *drop)
{
    char *path = in(run, "weights.safetensors");
    st_file f;
    cr_assert_eq(safetensors_open(path, &f), TD_OK, "%s", td_error_message());
    int n = safetensors_count(&f), k = 0;
    st_tensor *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        const char *name = safetensors_name(&f, i);
        if (!strcmp(name, drop)) continue;
        cr_assert_eq(safetensors_get(&f, name, &t[k]), TD_OK);
        k++;
    }
    cr_assert_eq(k, n - 1, "no tensor %s", drop);
    char *meta = json_dumps(json_object_get(f.header, "__metadata__"), 0);
    char *tmp = in(run, "weights.new");
    cr_assert_eq(safetensors_write(tmp, t, k, meta), TD_OK, "%s", td_error_message());
    free(meta);
    free(t);
    safetensors_close(&f);
    cr_assert_eq(rename(tmp, path), 0);
    char hex[SHA256_HEX_LEN];
    cr_assert_eq(sha256_file(path, hex), TD_OK);
    /* the log, rechained with the new hash in its last record */
    char *log = read_text(run, "metrics.jsonl"), prev[SHA256_HEX_LEN] = CHAIN_LOG_FIRST_PREV;
    size_t cap = strlen(log) + 4096, len = 0;
    char *out = malloc(cap);
    for (char *p = log, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        json_t *o = json_loads(p, 0, NULL);
        cr_assert_not_null(o);
        json_object_set_new(o, "prev", json_string(prev));
        if (!strchr(nl + 1, '\n')) json_object_set_new(o, "weights_sha256", json_string(hex));
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        sha256_buffer(line, strlen(line), prev);
        len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
        free(line);
    }
    write_text(run, "metrics.jsonl", out);
    free(out);
    free(log);
    free(tmp);
    free(path);
}

Test(audit_abuse, weights_without_a_tensor_fail_reevaluation_naming_it, .timeout = 300)
{
    char *base = sandbox_dir("audit-tensor"), *run = finished_run(base, "run", 1);
    drop_tensor(run, "classifier.weight");
    FILE *devnull = fopen("/dev/null", "w");
    td_status s = verify_reevaluate(run, NULL, devnull);
    fclose(devnull);
    cr_expect(s != TD_OK && s != TD_ERR_ARG, "status %d: %s", s, td_error_message());
    cr_expect(strstr(td_error_message(), "no tensor named classifier.weight") != NULL, "%s", td_error_message());
    const char *bin = getenv("TSEDARTS_BIN");
    if (bin) {
        char *log = in(base, "out.txt"), *text;
        const char *argv[] = {bin, "verify", "--reevaluate", run, NULL};
        cr_expect_eq(sandbox_run(argv, log), 1, "a failed check is exit 1, not a usage error");
        cr_assert_eq(file_read_all(log, &text, NULL), TD_OK);
        cr_expect(strstr(text, "classifier.weight") != NULL, "%s", text);
        free(text);
        free(log);
    }
    free(run);
    free(base);
}

Test(audit_abuse, a_verdict_that_cannot_be_written_is_an_error, .timeout = 300)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin) cr_skip_test("TSEDARTS_BIN not set");
    char *base = sandbox_dir("audit-full"), *run = finished_run(base, "run", 1);
    const char *argv[] = {bin, "verify", run, NULL};
    cr_expect_eq(sandbox_run(argv, NULL), 0, "the run itself passes");
    cr_expect_eq(sandbox_run(argv, "/dev/full"), 1, "a verdict lost to a full disk ended as success");
    free(run);
    free(base);
}

Test(audit_abuse, a_resume_names_an_edited_record_as_an_edit, .timeout = 300)
{
    char *dir = sandbox_dir("audit-edited");
    train_config c;
    small_train(&c, 1);
    /* 3 steps an epoch: stopped in the second, after one record */
    cr_assert_eq(quiet_train(backend_cpu(), &c, dir, 0, 4), TD_ERR_INTERRUPTED, "%s", td_error_message());
    char *log = read_text(dir, "metrics.jsonl");
    cr_assert_eq(log[0], '{');
    char *edited = malloc(strlen(log) + 2);
    sprintf(edited, "{ %s", log + 1); /* one byte longer, still JSON */
    write_text(dir, "metrics.jsonl", edited);
    td_status s = quiet_train(backend_cpu(), &c, dir, 1, 0);
    cr_expect_neq(s, TD_OK);
    cr_expect(strstr(td_error_message(), "was edited") != NULL && !strstr(td_error_message(), "not terminated"),
              "%s", td_error_message());
    free(edited);
    free(log);
    free(dir);
}

/* A listed text file replaced by a 40 GB sparse one: refused by its size,
 * not hashed for minutes first. */
Test(audit_abuse, a_giant_in_place_of_a_listed_text_file_is_refused_unhashed, .timeout = 30)
{
    char *dir = sandbox_dir("audit-giant");
    static const char *const names[] = {"plan.json", "report.json", "report.md"};
    char manifest[1024] = "", *p;
    for (int i = 0; i < 3; i++) {
        size_t at = strlen(manifest);
        snprintf(manifest + at, sizeof manifest - at, "%064d  %s\n", 0, names[i]);
        write_text(dir, names[i], "{}\n");
    }
    write_text(dir, "MANIFEST.sha256", manifest);
    write_text(dir, "HOST.sha256", "");
    p = in(dir, "plan.json");
    cr_assert_eq(truncate(p, (off_t)40 << 30), 0);
    td_status s;
    char *text = audit_text(dir, 1, NULL, &s);
    cr_expect(strstr(text, "more than the") != NULL, "%s", text);
    free(text);
    free(p);
    free(dir);
}
