/* The audit's levels, each shown to fail on a planted tamper and to pass
 * on the run left as it was: plain verify (final files tied to the last
 * record, record counts), --reevaluate (the test figures from the final
 * weights), --replay (every record, weight hashes included, re-executed).
 * A tamper is made as a forger would: the log's hash chain recomputed and
 * the manifest rebuilt, so only the check under test can see it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "quiet_runs.h"
#include "sandbox.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/data.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/hash.h"
#include "tsedarts/path.h"
#include "tsedarts/protocol.h"
#include "tsedarts/runtime.h"
#include "tsedarts/verify.h"

/* ------------------------------------------------------------- runs */

/* 2 epochs of 2 steps each: seconds on one core. */
static void tiny_search(search_config *c)
{
    search_config_defaults(c);
    c->algo = ALGO_DARTS1;
    snprintf(c->dataset, sizeof c->dataset, "synthetic");
    c->net.C = 4;
    c->net.layers = 3;
    c->batch = 8;
    c->epochs = 2;
    c->subset = 16;
    c->eval_images = 8;
}

static void tiny_train(train_config *c)
{
    train_config_defaults(c);
    cr_assert_eq(genotype_load("DARTS_V2", &c->net.geno), TD_OK);
    snprintf(c->dataset, sizeof c->dataset, "synthetic");
    c->net.C = 4;
    c->net.layers = 3;
    c->batch = 16;
    c->epochs = 2;
    c->subset = 32;
    c->valid_images = 16;
    c->test_images = 48;
}

static void path_in(char *out, size_t len, const char *dir, const char *name)
{
    cr_assert_eq(path_format(out, len, "%s/%s", dir, name), TD_OK);
}

/* A finished run in base/name with its manifest, as a protocol leaves it. */
static void make_run(const char *base, const char *name, int search, char *dir, size_t len)
{
    path_in(dir, len, base, name);
    td_status s;
    if (search) {
        search_config c;
        tiny_search(&c);
        s = quiet_search(backend_cpu(), &c, dir, 0, 0);
    } else {
        train_config c;
        tiny_train(&c);
        s = quiet_train(backend_cpu(), &c, dir, 0, 0);
    }
    cr_assert_eq(s, TD_OK, "%s", td_error_message());
    cr_assert_eq(manifest_write(dir), TD_OK, "%s", td_error_message());
}

/* work becomes a fresh copy of run. */
static void copy_afresh(const char *run, const char *work)
{
    cr_assert_eq(dir_remove_tree(work), TD_OK, "%s", td_error_message());
    cr_assert_eq(sandbox_copy_tree(run, work), TD_OK, "%s", td_error_message());
}

/* --------------------------------------------------------- tampering */

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[700], *text;
    path_in(path, sizeof path, dir, name);
    cr_assert_eq(file_read_all(path, &text, len), TD_OK, "%s", td_error_message());
    return text;
}

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
    char path[700];
    path_in(path, sizeof path, dir, name);
    const void *parts[1] = {data};
    cr_assert_eq(file_write_atomic(path, 1, parts, &len), TD_OK, "%s", td_error_message());
}

/* Flips the lowest bit of the file's last byte (tensor data, not header). */
static void flip_last_bit(const char *dir, const char *name)
{
    size_t len;
    char *data = read_file(dir, name, &len);
    cr_assert_gt(len, 0);
    data[len - 1] ^= 1;
    write_file(dir, name, data, len);
    free(data);
}

/* metrics.jsonl as parsed records. */
typedef struct log_records {
    int n;
    json_t *rec[64];
} log_records;

static void log_read(const char *dir, log_records *l)
{
    char *text = read_file(dir, "metrics.jsonl", NULL);
    l->n = 0;
    for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        cr_assert_lt(l->n, 64);
        l->rec[l->n] = json_loads(p, 0, NULL);
        cr_assert_not_null(l->rec[l->n], "record %d is not JSON", l->n + 1);
        l->n++;
    }
    free(text);
}

/* Writes the records back with the chain recomputed, as a forger who
 * edited some would; frees them. */
static void log_write_rechained(const char *dir, log_records *l)
{
    char prev[SHA256_HEX_LEN] = CHAIN_LOG_FIRST_PREV;
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    for (int i = 0; i < l->n; i++) {
        json_object_set_new(l->rec[i], "prev", json_string(prev));
        char *line = json_dumps(l->rec[i], JSON_COMPACT | JSON_PRESERVE_ORDER);
        sha256_buffer(line, strlen(line), prev);
        cr_assert_lt(len + strlen(line) + 2, cap);
        len += (size_t)sprintf(out + len, "%s\n", line);
        free(line);
        json_decref(l->rec[i]);
    }
    write_file(dir, "metrics.jsonl", out, len);
    free(out);
    /* checkpoint.bin records the log it was saved beside (its last
     * record's hash), so plain verify would see the edit through it: the
     * forger drops it too */
    char ckpt[700];
    path_in(ckpt, sizeof ckpt, dir, "checkpoint.bin");
    unlink(ckpt);
}

/* Record k (from 0) gets key = value; the chain is recomputed. */
static void edit_record(const char *dir, int k, const char *key, json_t *value)
{
    log_records l;
    log_read(dir, &l);
    cr_assert_lt(k, l.n);
    cr_assert_not_null(json_object_get(l.rec[k], key), "record %d has no %s", k + 1, key);
    json_object_set_new(l.rec[k], key, value);
    log_write_rechained(dir, &l);
}

/* Keeps the first n records (a log cut short at a line's end, its chain
 * intact). */
static void keep_records(const char *dir, int n)
{
    log_records l;
    log_read(dir, &l);
    cr_assert_lt(n, l.n);
    for (int i = n; i < l.n; i++) json_decref(l.rec[i]);
    l.n = n;
    log_write_rechained(dir, &l);
}

static double record_number(const char *dir, int k, const char *key)
{
    log_records l;
    log_read(dir, &l);
    double x = json_number_value(json_object_get(l.rec[k], key));
    for (int i = 0; i < l.n; i++) json_decref(l.rec[i]);
    return x;
}

/* ------------------------------------------------------------ audits */

/* What an audit printed (malloc'd) and whether it passed. */
typedef td_status (*audit_fn)(const char *run, FILE *out);

static td_status plain(const char *run, FILE *out)
{
    verify_summary sum;
    td_status s = verify_run(run, out, &sum);
    cr_assert_eq(s != TD_OK, sum.failed > 0, "verify's status and its count of failures disagree");
    return s;
}

static td_status reevaluate(const char *run, FILE *out) { return verify_reevaluate(run, NULL, out); }
static td_status replay_first(const char *run, FILE *out) { return verify_replay_epochs(run, NULL, 1, out); }
static td_status replay_all(const char *run, FILE *out) { return verify_replay_epochs(run, NULL, VERIFY_REPLAY_ALL, out); }

static char *audit(audit_fn f, const char *run, td_status *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    cr_assert_not_null(out);
    *s = f(run, out);
    if (*s != TD_OK) fprintf(out, "FAIL  %s\n", td_error_message());
    fclose(out);
    return text;
}

static void expect_pass(audit_fn f, const char *run, const char *what)
{
    td_status s;
    char *text = audit(f, run, &s);
    cr_expect_eq(s, TD_OK, "%s: the untampered run failed:\n%s", what, text);
    free(text);
}

/* Fails, and names `named` in what it prints. Returns 1 when caught. */
static int expect_caught(audit_fn f, const char *run, const char *what, const char *named)
{
    td_status s;
    char *text = audit(f, run, &s);
    int caught = s != TD_OK && strstr(text, named) != NULL;
    cr_expect(caught, "%s: not caught (wanted '%s'):\n%s", what, named, text);
    free(text);
    return caught;
}

/* ------------------------------------------------------------- tests */

Test(audit, plain_verify_ties_final_files_to_the_log_and_counts_records, .timeout = 300)
{
    char *base = sandbox_dir("audit-plain"), search[600], train[600], work[600];
    make_run(base, "search", 1, search, sizeof search);
    make_run(base, "train", 0, train, sizeof train);
    path_in(work, sizeof work, base, "work");
    expect_pass(plain, search, "search");
    expect_pass(plain, train, "train");
    /* every epoch record carries the hashes; the last one's are the files' */
    log_records l;
    log_read(search, &l);
    cr_expect_eq(l.n, 2);
    for (int i = 0; i < l.n; i++) {
        cr_expect(json_is_string(json_object_get(l.rec[i], "weights_sha256")), "record %d", i + 1);
        cr_expect(json_is_string(json_object_get(l.rec[i], "alphas_sha256")), "record %d", i + 1);
        json_decref(l.rec[i]);
    }
    struct {
        const char *run, *what, *named;
        int kind; /* 0 flip a bit of file, 1 keep `keep` records, 2 empty the log, 3 duplicate the last record,
                     4 the first record claims the second epoch */
        const char *file;
        int keep;
    } cases[] = {
        {search, "search: one bit of weights.safetensors", "weights.safetensors: SHA-256", 0, "weights.safetensors", 0},
        {search, "search: one bit of alphas.safetensors", "alphas.safetensors: SHA-256", 0, "alphas.safetensors", 0},
        {train, "train: one bit of weights.safetensors", "weights.safetensors: SHA-256", 0, "weights.safetensors", 0},
        {train, "train: log cut to its first record", "holds 1 record(s); a finished run of its config.json (2 epochs) writes 2", 1, NULL, 1},
        {search, "search: log cut to its first record", "holds 1 record(s); a finished run of its config.json (2 epochs) writes 2", 1, NULL, 1},
        {train, "train: log emptied", "holds 0 record(s)", 2, NULL, 0},
        {search, "search: last record written twice", "holds 3 record(s)", 3, NULL, 0},
        {train, "train: two records of epoch 2", "record 1 is not in epoch order", 4, NULL, 0},
    };
    int caught = 0, n = (int)(sizeof cases / sizeof cases[0]);
    for (int k = 0; k < n; k++) {
        copy_afresh(cases[k].run, work);
        if (cases[k].kind == 0) {
            flip_last_bit(work, cases[k].file);
        } else if (cases[k].kind == 1) {
            keep_records(work, cases[k].keep);
        } else if (cases[k].kind == 2) {
            write_file(work, "metrics.jsonl", "", 0);
        } else if (cases[k].kind == 4) {
            edit_record(work, 0, "epoch", json_integer(1));
        } else {
            log_read(work, &l);
            l.rec[l.n] = json_deep_copy(l.rec[l.n - 1]);
            l.n++;
            log_write_rechained(work, &l);
        }
        cr_assert_eq(manifest_write(work), TD_OK, "%s", td_error_message());
        caught += expect_caught(plain, work, cases[k].what, cases[k].named);
    }
    fprintf(stderr, "plain verify: caught %d of %d tampers\n", caught, n);
    free(base);
}

Test(audit, reevaluate_recomputes_the_test_error_from_the_weights, .timeout = 300)
{
    char *base = sandbox_dir("audit-reevaluate"), train[600], work[600];
    make_run(base, "train", 0, train, sizeof train);
    path_in(work, sizeof work, base, "work");
    expect_pass(reevaluate, train, "train");
    json_t *res;
    {
        char *text = read_file(train, "result.json", NULL);
        res = json_loads(text, 0, NULL);
        free(text);
    }
    cr_assert_not_null(res);
    double err = json_number_value(json_object_get(res, "test_error"));
    const char *keys[] = {"test_error", "test_error", "test_error", "test_loss", "valid_error"};
    /* the smallest edits (the next double up, and down), one image more
     * misclassified, and the loss and held-out error nudged */
    double value[5] = {nextafter(err, 2.0), err > 0 ? nextafter(err, -1.0) : 1.0 / 48, err + 1.0 / 48,
                       json_number_value(json_object_get(res, "test_loss")) * (1 + 1e-7),
                       json_number_value(json_object_get(res, "valid_error")) + 1.0 / 16};
    int caught = 0, n = 0;
    for (int k = 0; k < 5; k++, n++) {
        copy_afresh(train, work);
        json_t *o = json_deep_copy(res);
        double v = value[k];
        json_object_set_new(o, keys[k], json_real(v));
        char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        write_file(work, "result.json", text, strlen(text));
        free(text);
        json_decref(o);
        cr_assert_eq(manifest_write(work), TD_OK);
        /* plain verify does not recompute an evaluation: it passes */
        expect_pass(plain, work, "an edited result.json under plain verify");
        char named[64];
        snprintf(named, sizeof named, "result.json: %s is", keys[k]);
        caught += expect_caught(reevaluate, work, keys[k], named);
    }
    /* other weights than the log's: refused before any evaluation */
    copy_afresh(train, work);
    flip_last_bit(work, "weights.safetensors");
    cr_assert_eq(manifest_write(work), TD_OK);
    caught += expect_caught(reevaluate, work, "one bit of weights.safetensors", "weights.safetensors: SHA-256");
    n++;
    json_decref(res);
    fprintf(stderr, "reevaluate: caught %d of %d tampers\n", caught, n);
    free(base);
}

Test(audit, replay_compares_every_record_and_the_final_files, .timeout = 300)
{
    char *base = sandbox_dir("audit-replay"), search[600], train[600], work[600];
    make_run(base, "search", 1, search, sizeof search);
    make_run(base, "train", 0, train, sizeof train);
    path_in(work, sizeof work, base, "work");
    expect_pass(replay_first, search, "search, first epoch");
    expect_pass(replay_all, search, "search, whole run");
    expect_pass(replay_all, train, "train, whole run");
    int caught = 0, n = 0;
    /* a first-epoch figure edited: every other check still holds */
    copy_afresh(search, work);
    edit_record(work, 0, "train_loss", json_real(record_number(work, 0, "train_loss") + 1e-6));
    cr_assert_eq(manifest_write(work), TD_OK);
    expect_pass(plain, work, "an edited, rechained record under plain verify");
    caught += expect_caught(replay_first, work, "search record 1 train_loss", "record 1, epoch 1 differs from the replay: \"train_loss\"");
    n++;
    /* the last epoch's validation accuracy: beyond the first epoch, so
     * only a longer replay reaches it */
    copy_afresh(train, work);
    edit_record(work, 1, "valid_error", json_real(record_number(work, 1, "valid_error") + 1.0 / 16));
    cr_assert_eq(manifest_write(work), TD_OK);
    expect_pass(plain, work, "train record 2 edited, under plain verify");
    expect_pass(replay_first, work, "train record 2 edited, first epoch replayed");
    caught += expect_caught(replay_all, work, "train record 2 valid_error", "record 2, epoch 2 differs from the replay: \"valid_error\"");
    n++;
    /* other final weights, with the log rewritten to claim them: the files
     * and the log agree, but training does not lead there */
    copy_afresh(search, work);
    flip_last_bit(work, "weights.safetensors");
    char path[700], hex[SHA256_HEX_LEN];
    path_in(path, sizeof path, work, "weights.safetensors");
    cr_assert_eq(sha256_file(path, hex), TD_OK);
    edit_record(work, 1, "weights_sha256", json_string(hex));
    cr_assert_eq(manifest_write(work), TD_OK);
    expect_pass(plain, work, "swapped weights with a log that claims them, under plain verify");
    caught += expect_caught(replay_all, work, "swapped final weights", "record 2, epoch 2 differs from the replay: \"weights_sha256\"");
    n++;
    /* a log cut to its first record: the whole replay writes more */
    copy_afresh(train, work);
    keep_records(work, 1);
    caught += expect_caught(replay_all, work, "log cut short", "metrics.jsonl ends after 1 record(s)");
    n++;
    fprintf(stderr, "replay: caught %d of %d tampers\n", caught, n);
    free(base);
}

Test(audit, a_stopped_replay_compares_nothing_and_leaves_no_scratch, .timeout = 300)
{
    char *base = sandbox_dir("audit-stop"), train[600], tmp[600];
    make_run(base, "train", 0, train, sizeof train);
    path_in(tmp, sizeof tmp, base, "tmp");
    cr_assert_eq(dir_create(tmp), TD_OK);
    setenv("TMPDIR", tmp, 1);
    stop_request(); /* as the first SIGINT or SIGTERM does */
    td_status s;
    char *text = audit(replay_all, train, &s);
    cr_expect_eq(s, TD_ERR_INTERRUPTED, "%s", text);
    cr_expect(strstr(text, "stopped by a signal"), "%s", text);
    cr_expect_eq(sandbox_entries(tmp), 0, "a stopped replay left its scratch directory in %s", tmp);
    free(text);
    unsetenv("TMPDIR");
    free(base);
}

/* The scratch directory a replay made in tmp ("" until there is one). */
static void scratch_of(const char *tmp, char *out, size_t len)
{
    out[0] = '\0';
    DIR *d = opendir(tmp);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, "tsedarts-replay-", 16)) path_in(out, len, tmp, e->d_name);
    if (d) closedir(d);
}

Test(audit, sigterm_ends_a_replay_with_143_and_removes_its_scratch, .timeout = 300)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    char *base = sandbox_dir("audit-sigterm"), run[600], tmp[600], scratch[700] = "", log[800];
    path_in(run, sizeof run, base, "train");
    train_config c;
    tiny_train(&c);
    c.epochs = 8; /* the signal comes after the first: 7 more to stop in */
    cr_assert_eq(quiet_train(backend_cpu(), &c, run, 0, 0), TD_OK, "%s", td_error_message());
    path_in(tmp, sizeof tmp, base, "tmp");
    cr_assert_eq(dir_create(tmp), TD_OK);
    /* the replay held in its second epoch, its first record written */
    const char *args[] = {bin, "verify", "--replay", run, "--epochs", "all", NULL};
    char hold[700];
    path_in(hold, sizeof hold, base, "hold");
    setenv("TMPDIR", tmp, 1);
    pid_t pid = sandbox_start_held(args, 3, hold);
    unsetenv("TMPDIR");
    scratch_of(tmp, scratch, sizeof scratch);
    cr_assert(scratch[0], "the replay made no scratch directory in %s", tmp);
    path_in(log, sizeof log, scratch, "metrics.jsonl");
    cr_assert(file_exists(log), "the replay wrote no record before the hold");
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 143, "status %d (exited %d, code %d)", status,
              WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    cr_expect_eq(sandbox_entries(tmp), 0, "a replay stopped by SIGTERM left %s", scratch);
    free(base);
}

/* A staged search (TSE-PDARTS): one epoch record per epoch of every stage,
 * a pdarts_stage record between stages, a new network each stage. */
Test(audit, a_staged_search_is_counted_tied_and_replayed_across_its_stages, .timeout = 300)
{
    char *base = sandbox_dir("audit-staged"), run[600], work[600];
    path_in(run, sizeof run, base, "tse-pdarts");
    path_in(work, sizeof work, base, "work");
    search_config c;
    search_config_defaults(&c);
    c.algo = ALGO_TSE_PDARTS;
    search_config_algo_defaults(&c);
    cr_assert_eq(search_config_budget(&c, "tiny", 0), TD_OK, "%s", td_error_message());
    snprintf(c.dataset, sizeof c.dataset, "synthetic");
    cr_assert_eq(quiet_search(backend_cpu(), &c, run, 0, 0), TD_OK, "%s", td_error_message());
    expect_pass(plain, run, "staged search");
    expect_pass(replay_all, run, "staged search, every stage");
    /* the last stage cut off, at a line's end, its chain intact */
    copy_afresh(run, work);
    long want;
    int images;
    cr_assert_eq(dataset_images(c.dataset, 1, &images), TD_OK);
    cr_assert_eq(search_expected_records(&c, images, &want), TD_OK);
    cr_assert_gt(want, 3, "a staged search of one epoch per stage writes 3 epoch and 2 stage records");
    keep_records(work, (int)want - 2);
    expect_caught(plain, work, "staged search without its last stage", "record(s); a finished run of its config.json");
    expect_caught(replay_all, work, "staged search without its last stage", "metrics.jsonl ends after");
    free(base);
}
