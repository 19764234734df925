/* The protocol end to end at the smoke budget, verify on the result,
 * tampering of every kind detected and named, SIGKILL at random moments
 * then resume giving the same root hash, and the selection and
 * aggregation rules on hand-made results. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsedarts/data.h"
#include "tsedarts/fileio.h"
#include "tsedarts/philox.h"
#include "tsedarts/protocol.h"
#include "tsedarts/verify.h"
#include "tsedarts/backend_cpu.h"

static const char *data_spec(void)
{
    return file_exists(FASHION_MNIST_DEFAULT_DIR "/train-images-idx3-ubyte.gz") ? "fashion-mnist" : "synthetic";
}

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* Runs the smoke protocol (optionally one method) into dir; returns the
 * root hash. */
static void run_smoke(const char *dir, const char *methods, char root[SHA256_HEX_LEN])
{
    protocol_request r;
    protocol_request_defaults(&r);
    snprintf(r.budget, sizeof r.budget, "smoke");
    snprintf(r.dataset, sizeof r.dataset, "%s", data_spec());
    if (methods) cr_assert_eq(protocol_parse_methods(&r, methods), TD_OK, "%s", td_error_message());
    protocol_options o;
    memset(&o, 0, sizeof o);
    o.out_dir = dir;
    o.quiet = 1;
    o.device = "cpu";
    cr_assert_eq(protocol_run(&r, &o, root), TD_OK, "%s", td_error_message());
}

static void scratch(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "/tmp/tsedarts-protocol-%s-%ld", tag, (long)getpid());
    sh("rm -rf %s%s", buf, "");
}

Test(protocol, smoke_end_to_end_then_verify, .timeout = 600)
{
    char dir[256], root[SHA256_HEX_LEN];
    scratch(dir, sizeof dir, "smoke");
    run_smoke(dir, NULL, root);
    FILE *devnull = fopen("/dev/null", "w");
    verify_summary sum;
    cr_expect_eq(verify_tree(dir, root, devnull, &sum), TD_OK, "%s", td_error_message());
    cr_expect_eq(sum.failed, 0);
    cr_expect_geq(sum.checks, 8);
    cr_expect_str_eq(sum.root_hash, root);
    /* the report lists the rows that did not run, and the budget banner */
    char path[512], *md;
    snprintf(path, sizeof path, "%s/report.md", dir);
    cr_assert_eq(file_read_all(path, &md, NULL), TD_OK);
    cr_expect(strstr(md, "| TSE-DrNAS | 4.35 (0.19) | not run |") != NULL, "report lacks the not-run row");
    cr_expect(strstr(md, "not comparable to the paper") != NULL, "report lacks the budget banner");
    cr_expect(strstr(md, "| TSE-DARTS | 4.64 (0.22) | ") != NULL);
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
}

/* ------------------------------------------------------------- tamper */

static int verify_fails_naming(const char *dir, const char *root, const char *name)
{
    char out_path[300];
    snprintf(out_path, sizeof out_path, "/tmp/tsedarts-verify-out-%ld", (long)getpid());
    FILE *out = fopen(out_path, "w");
    verify_summary sum;
    td_status s = verify_tree(dir, root, out, &sum);
    fclose(out);
    char *text;
    file_read_all(out_path, &text, NULL);
    int ok = s != TD_OK && strstr(text, name) != NULL;
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
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        struct stat st;
        stat(p, &st);
        if (S_ISDIR(st.st_mode)) {
            collect(p, r, fl);
        } else if (st.st_size < 65536 && strcmp(e->d_name, "timing.json")) {
            if (fl->n == fl->cap) fl->path = realloc(fl->path, (size_t)(fl->cap = fl->cap ? 2 * fl->cap : 256) * 600);
            snprintf(fl->path[fl->n++], 600, "%s", r);
        }
    }
    closedir(d);
}

Test(protocol, tampering_is_detected_and_named, .timeout = 600)
{
    char dir[256], root[SHA256_HEX_LEN], work[256];
    scratch(dir, sizeof dir, "tamper");
    scratch(work, sizeof work, "tamper-copy");
    run_smoke(dir, "darts1", root);
    file_list fl = {0};
    collect(dir, "", &fl);
    cr_assert_gt(fl.n, 50, "expected many small artifacts, found %d", fl.n);
    philox_stream rng;
    philox_stream_init(&rng, 11, PURPOSE_TEST, 0);
    for (int i = 0; i < fl.n; i++) {
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s", work, dir, work);
        cr_assert_eq(system(cmd), 0);
        char path[1000], *data;
        size_t len;
        snprintf(path, sizeof path, "%s/%s", work, fl.path[i]);
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
    struct {
        const char *what, *cmd_fmt, *name;
    } cases[] = {
        {"truncate", "truncate -s 10 %s/%s/metrics.jsonl", "metrics.jsonl"},
        {"delete", "rm %s/%s/result.json", "result.json"},
        {"rename", "mv %s/%s/genotype.txt %s/%s/genotype.bak", "genotype"},
        {"add", "echo extra > %s/%s/notes.txt", "notes.txt"},
        {"edit manifest", "sed -i '1s/^./0/' %s/%s/manifest.sha256", "manifest"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s", work, dir, work);
        cr_assert_eq(system(cmd), 0);
        snprintf(cmd, sizeof cmd, cases[k].cmd_fmt, work, run, work, run);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        cr_expect(verify_fails_naming(work, root, cases[k].name), "%s went unnamed", cases[k].what);
    }
    free(fl.path);
}

/* ------------------------------------------------------------ kill */

static void read_root(const char *dir, char *hex)
{
    char path[512], *text;
    snprintf(path, sizeof path, "%s/MANIFEST.sha256", dir);
    cr_assert_eq(file_read_all(path, &text, NULL), TD_OK);
    sha256_buffer(text, strlen(text), hex);
    free(text);
}

Test(protocol, sigkill_at_random_moments_then_resume, .timeout = 900)
{
    const char *bin = getenv("TSEDARTS_BIN");
    if (!bin || !file_exists(bin)) cr_skip_test("TSEDARTS_BIN not set");
    char ref[256], dir[256], root[SHA256_HEX_LEN], got[SHA256_HEX_LEN];
    scratch(ref, sizeof ref, "kill-ref");
    scratch(dir, sizeof dir, "kill");
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
            execl(bin, bin, "protocol", "run", "darts_space", "--budget", "smoke", "--dataset", data_spec(), "--methods",
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
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "%s protocol run darts_space --budget smoke --dataset %s --methods darts1,tse --out %s --quiet",
                 bin, data_spec(), dir);
        cr_assert_eq(system(cmd), 0);
    }
    read_root(dir, got);
    fprintf(stderr, "protocol killed %d times, then finished: root hash %s\n", kills, got);
    cr_expect_gt(kills, 2, "the kill schedule never interrupted the run");
    cr_expect_str_eq(got, root, "resumed protocol's root hash differs from the uninterrupted one");
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
