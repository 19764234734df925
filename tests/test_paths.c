/* Paths that do not fit are errors, never shorter paths; scratch
 * directories are private and go away whole, without following links and
 * without a shell, also when the work in them fails. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/runtime.h"
#include "tsedarts/search.h"
#include "tsedarts/verify.h"
#include "tsedarts/backend_cpu.h"

Test(paths, a_path_that_does_not_fit_is_an_error)
{
    char buf[16];
    cr_expect_eq(path_format(buf, sizeof buf, "%s/%s", "runs", "abcdefghij"), TD_OK); /* 15 bytes: fits */
    cr_expect_str_eq(buf, "runs/abcdefghij");
    cr_expect_eq(path_format(buf, sizeof buf, "%s/%s", "runs", "abcdefghijk"), TD_ERR_ARG); /* 16: one too many */
    cr_expect(strstr(td_error_message(), "path too long (16 bytes, at most 15)"), "%s", td_error_message());
    char *p = path_join("a/b", "c.json");
    cr_expect_str_eq(p, "a/b/c.json");
    free(p);
}

Test(paths, scratch_directories_are_new_and_private_under_tmpdir)
{
    char *base = sandbox_dir("paths-tmpdir");
    setenv("TMPDIR", base, 1);
    char *a, *b;
    cr_assert_eq(dir_make_temp("x", &a), TD_OK, "%s", td_error_message());
    cr_assert_eq(dir_make_temp("x", &b), TD_OK, "%s", td_error_message());
    cr_expect_str_neq(a, b);
    cr_expect_eq(strncmp(a, base, strlen(base)), 0, "%s is not under TMPDIR %s", a, base);
    cr_expect(strstr(a, "/tsedarts-x-") != NULL, "%s", a);
    struct stat st;
    cr_assert_eq(stat(a, &st), 0);
    cr_expect(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700, "mode %o", (unsigned)st.st_mode);
    cr_expect_eq(sandbox_entries(base), 2);
    unsetenv("TMPDIR");
    char *c;
    cr_assert_eq(dir_make_temp("x", &c), TD_OK);
    cr_expect_eq(strncmp(c, "/tmp/tsedarts-x-", 16), 0, "without TMPDIR: %s", c);
    cr_expect_eq(dir_remove_tree(c), TD_OK);
    free(a);
    free(b);
    free(c);
    free(base);
}

static void write_file(const char *dir, const char *name)
{
    char path[600];
    cr_assert_eq(path_format(path, sizeof path, "%s/%s", dir, name), TD_OK);
    cr_assert_eq(file_write_text_atomic(path, "data\n"), TD_OK);
}

Test(paths, tree_removal_removes_links_not_what_they_point_to)
{
    char *base = sandbox_dir("paths-remove"), tree[600], outside[600], path[700], link_path[700];
    cr_assert_eq(path_format(tree, sizeof tree, "%s/tree", base), TD_OK);
    cr_assert_eq(path_format(outside, sizeof outside, "%s/outside", base), TD_OK);
    cr_assert_eq(dir_create(outside), TD_OK);
    write_file(outside, "keep.txt");
    /* tree/a/b/deep.txt, tree/top.txt, a link to the outside directory and
     * one to a file in it */
    cr_assert_eq(path_format(path, sizeof path, "%s/a/b", tree), TD_OK);
    cr_assert_eq(dir_create(path), TD_OK);
    write_file(path, "deep.txt");
    write_file(tree, "top.txt");
    cr_assert_eq(path_format(link_path, sizeof link_path, "%s/a/to-outside", tree), TD_OK);
    cr_assert_eq(symlink(outside, link_path), 0);
    cr_assert_eq(path_format(link_path, sizeof link_path, "%s/to-file", tree), TD_OK);
    cr_assert_eq(path_format(path, sizeof path, "%s/keep.txt", outside), TD_OK);
    cr_assert_eq(symlink(path, link_path), 0);
    cr_expect_eq(dir_remove_tree(tree), TD_OK, "%s", td_error_message());
    struct stat st;
    cr_expect_neq(lstat(tree, &st), 0, "the tree is still there");
    cr_expect(file_exists(path), "removal followed a link: %s is gone", path);
    cr_expect_eq(sandbox_entries(outside), 1);
    /* nothing to remove is not an error */
    cr_expect_eq(dir_remove_tree(tree), TD_OK);
    free(base);
}

/* A run directory that passes the platform check but whose config cannot
 * run: the replay fails after making its scratch directory. */
static void failing_run(const char *dir)
{
    char path[600];
    cr_assert_eq(dir_create(dir), TD_OK);
    char *env = fingerprint_json(omp_get_max_threads(), NULL);
    cr_assert_eq(path_format(path, sizeof path, "%s/env.json", dir), TD_OK);
    cr_assert_eq(file_write_text_atomic(path, env), TD_OK);
    free(env);
    cr_assert_eq(path_format(path, sizeof path, "%s/config.json", dir), TD_OK);
    cr_assert_eq(file_write_text_atomic(path, "{\"algo\": \"darts1\"}\n"), TD_OK);
}

Test(paths, replay_removes_its_scratch_directory_on_failure_and_success, .timeout = 300)
{
    char *base = sandbox_dir("paths-replay"), tmp[600], run[600];
    cr_assert_eq(path_format(tmp, sizeof tmp, "%s/tmp", base), TD_OK);
    cr_assert_eq(dir_create(tmp), TD_OK);
    setenv("TMPDIR", tmp, 1);
    FILE *devnull = fopen("/dev/null", "w");
    /* failure: the config does not parse */
    cr_assert_eq(path_format(run, sizeof run, "%s/bad-run", base), TD_OK);
    failing_run(run);
    cr_expect_neq(verify_replay(run, NULL, devnull), TD_OK, "a config without its fields replayed");
    cr_expect_eq(sandbox_entries(tmp), 0, "a failed replay left its scratch directory in %s", tmp);
    /* success: a small search, replayed */
    search_config c;
    search_config_defaults(&c);
    snprintf(c.dataset, sizeof c.dataset, "synthetic");
    c.net.C = 4;
    c.net.layers = 3;
    c.batch = 8;
    c.epochs = 1;
    c.subset = 16;
    c.eval_images = 8;
    cr_assert_eq(path_format(run, sizeof run, "%s/good-run", base), TD_OK);
    search_options o;
    memset(&o, 0, sizeof o);
    o.be = backend_cpu();
    o.out_dir = run;
    o.quiet = 1;
    search_result r;
    cr_assert_eq(search_run(&c, &o, &r), TD_OK, "%s", td_error_message());
    cr_expect_eq(verify_replay(run, NULL, devnull), TD_OK, "%s", td_error_message());
    cr_expect_eq(sandbox_entries(tmp), 0, "a replay left its scratch directory in %s", tmp);
    /* the replay runs on the recorded device and refuses another */
    cr_expect_eq(verify_replay(run, "cpu", devnull), TD_OK, "%s", td_error_message());
    cr_expect_eq(verify_replay(run, "cuda:1", devnull), TD_ERR_UNSUPPORTED, "replayed a CPU run on another device");
    char env_path[700], *env;
    cr_assert_eq(path_format(env_path, sizeof env_path, "%s/env.json", run), TD_OK);
    cr_assert_eq(file_read_all(env_path, &env, NULL), TD_OK);
    char *isa = strstr(env, "\"vector_isa\": \"");
    cr_assert(isa, "env.json does not describe the device: %s", env);
    isa[strlen("\"vector_isa\": \"")] = 'X'; /* another build's kernels */
    cr_assert_eq(file_write_text_atomic(env_path, env), TD_OK);
    free(env);
    cr_expect_eq(verify_replay(run, NULL, devnull), TD_ERR_UNSUPPORTED, "replayed a run made with other kernels");
    cr_expect_eq(sandbox_entries(tmp), 0, "a refused replay left a scratch directory in %s", tmp);
    fclose(devnull);
    unsetenv("TMPDIR");
    free(base);
}
