/* Inputs of the wrong kind or size: a FIFO, a device or a sparse giant in
 * place of a checkpoint, a genotype, a config or a log. Each is refused
 * with a message naming its kind or size, at once: never a reader blocked
 * on a FIFO, never the memory filled. The address space is capped while
 * these run, so a reader that reads a giant whole fails the test (with
 * "out of memory") instead of bringing the machine down. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quiet_runs.h"
#include "sandbox.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/checkpoint.h"
#include "tsedarts/fileio.h"
#include "tsedarts/genotype.h"
#include "tsedarts/path.h"
#include "tsedarts/safetensors.h"
#include "tsedarts/search.h"
#include "tsedarts/verify.h"

#define GIANT ((off_t)64 << 30) /* 64 GB, sparse: no disk used */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* 1 GB of address space: the test's own needs, far from a giant's.
 * AddressSanitizer reserves terabytes of shadow address space at start, so
 * under it an address-space cap would kill every process before main; there
 * the asan test preset bounds each allocation instead
 * (max_allocation_size_mb, allocator_may_return_null), which fails a reader
 * that reads a giant whole just the same. */
static void cap_memory(void)
{
#ifndef UNDER_ASAN
    struct rlimit r = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    cr_assert_eq(setrlimit(RLIMIT_AS, &r), 0);
#endif
}

static char *in(const char *dir, const char *leaf)
{
    char *p = path_join(dir, leaf);
    cr_assert_not_null(p);
    return p;
}

/* Makes dir/leaf a FIFO (replacing what was there). */
static void make_fifo(const char *dir, const char *leaf)
{
    char *p = in(dir, leaf);
    unlink(p);
    cr_assert_eq(mkfifo(p, 0644), 0, "mkfifo %s", p);
    free(p);
}

/* Grows dir/leaf to size with a hole (creating it if absent). */
static void make_sparse(const char *dir, const char *leaf, off_t size)
{
    char *p = in(dir, leaf);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, size), 0);
    close(fd);
    free(p);
}

static void expect_refused(td_status s, const char *what, const char *needle)
{
    cr_expect_neq(s, TD_OK, "%s was accepted", what);
    cr_expect(strstr(td_error_message(), needle) != NULL, "%s: wanted '%s' in: %s", what, needle, td_error_message());
}

static void small_search(search_config *c) { quiet_tiny_search_config(c, ALGO_DARTS1); }

/* A search stopped after 2 units: config, log, checkpoint. */
static char *stopped_search(search_config *c)
{
    char *dir = sandbox_dir("input-files");
    small_search(c);
    cr_assert_eq(quiet_search(backend_cpu(), c, dir, 0, 2), TD_ERR_INTERRUPTED, "%s", td_error_message());
    return dir;
}

Test(input_files, a_sparse_giant_checkpoint_is_refused_on_resume, .timeout = 60)
{
    search_config c;
    char *dir = stopped_search(&c);
    cap_memory();
    /* the real checkpoint, grown by 64 GB of zeros */
    char *p = in(dir, "checkpoint.bin");
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    make_sparse(dir, "checkpoint.bin", st.st_size + GIANT);
    expect_refused(quiet_search(backend_cpu(), &c, dir, 1, 0), "a checkpoint 64 GB past its sections",
                   "sections do not fill the file");
    /* nothing but zeros */
    unlink(p);
    make_sparse(dir, "checkpoint.bin", GIANT);
    expect_refused(quiet_search(backend_cpu(), &c, dir, 1, 0), "64 GB of zeros", "not a tsedarts checkpoint");
    free(p);
    free(dir);
}

Test(input_files, a_fifo_checkpoint_or_config_is_refused_not_waited_on, .timeout = 60)
{
    search_config c;
    char *dir = stopped_search(&c);
    make_fifo(dir, "checkpoint.bin");
    expect_refused(quiet_search(backend_cpu(), &c, dir, 1, 0), "a FIFO checkpoint", "a FIFO, not a regular file");
    make_fifo(dir, "metrics.jsonl");
    expect_refused(quiet_search(backend_cpu(), &c, dir, 1, 0), "a FIFO log", "FIFO");
    /* the command line reads config.json first */
    const char *bin = getenv("TSEDARTS_BIN");
    if (bin) {
        make_fifo(dir, "config.json");
        char *log = in(dir, "out.txt"), *text;
        const char *argv[] = {bin, "search", "--resume", dir, "--quiet", NULL};
        cr_expect_eq(sandbox_run(argv, log), 1);
        cr_assert_eq(file_read_all(log, &text, NULL), TD_OK);
        cr_expect(strstr(text, "config.json: a FIFO, not a regular file") != NULL, "%s", text);
        free(text);
        free(log);
    }
    free(dir);
}

Test(input_files, a_genotype_that_is_a_device_a_fifo_or_a_giant_is_refused, .timeout = 60)
{
    cap_memory();
    genotype g;
    expect_refused(genotype_load("/dev/zero", &g), "/dev/zero", "a character device, not a regular file");
    char *dir = sandbox_dir("input-files");
    make_fifo(dir, "g.genotype");
    char *p = in(dir, "g.genotype");
    expect_refused(genotype_load(p, &g), "a FIFO genotype", "a FIFO, not a regular file");
    unlink(p);
    make_sparse(dir, "g.genotype", GIANT);
    expect_refused(genotype_load(p, &g), "a 64 GB genotype", "more than the");
    free(p);
    /* as the command line meets them */
    const char *bin = getenv("TSEDARTS_BIN");
    if (bin) {
        char *log = in(dir, "out.txt"), *text;
        const char *show[] = {bin, "genotype", "show", "/dev/zero", NULL};
        cr_expect_eq(sandbox_run(show, log), 1);
        cr_assert_eq(file_read_all(log, &text, NULL), TD_OK);
        cr_expect(strstr(text, "a character device") != NULL, "%s", text);
        free(text);
        char out[4200];
        cr_assert_eq(path_format(out, sizeof out, "%s/t", dir), TD_OK);
        const char *train[] = {bin, "train", "--genotype", "/dev/zero", "--out", out, NULL};
        cr_expect_neq(sandbox_run(train, log), 0);
        cr_assert_eq(file_read_all(log, &text, NULL), TD_OK);
        cr_expect(strstr(text, "a character device") != NULL, "%s", text);
        free(text);
        free(log);
    }
    free(dir);
}

Test(input_files, weights_longer_than_their_tensors_are_refused, .timeout = 60)
{
    search_config c;
    char *dir = stopped_search(&c);
    cr_assert_eq(quiet_search(backend_cpu(), &c, dir, 1, 0), TD_OK, "%s", td_error_message());
    cap_memory();
    char *p = in(dir, "weights.safetensors");
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    st_file f;
    cr_assert_eq(safetensors_open(p, &f), TD_OK, "%s", td_error_message());
    safetensors_close(&f);
    make_sparse(dir, "weights.safetensors", st.st_size + GIANT);
    expect_refused(safetensors_open(p, &f), "weights 64 GB past their tensors", "but its header describes");
    free(p);
    free(dir);
}

/* verify on a run whose files were replaced: each refused at once, the
 * audit ending with its verdict. (The giant here is 2 GB: verify hashes
 * the final files, streamed, and 64 GB of hashing takes a minute.) */
Test(input_files, verify_refuses_a_fifo_or_a_giant_in_a_run, .timeout = 120)
{
    search_config c;
    char *dir = stopped_search(&c);
    cr_assert_eq(quiet_search(backend_cpu(), &c, dir, 1, 0), TD_OK, "%s", td_error_message());
    cap_memory();
    static const char *const leaves[] = {"metrics.jsonl", "config.json", "alphas.safetensors"};
    char *work = sandbox_dir("input-files-work");
    for (int k = 0; k < 3; k++)
        for (int giant = 0; giant < 2; giant++) {
            cr_assert_eq(dir_remove_tree(work), TD_OK);
            cr_assert_eq(sandbox_copy_tree(dir, work), TD_OK);
            if (giant) {
                char *p = in(work, leaves[k]);
                unlink(p);
                free(p);
                make_sparse(work, leaves[k], (off_t)2 << 30);
            } else {
                make_fifo(work, leaves[k]);
            }
            char *text = NULL;
            size_t len = 0;
            FILE *out = open_memstream(&text, &len);
            verify_summary sum;
            cr_expect_neq(verify_run(work, out, &sum), TD_OK, "%s as %s passed", leaves[k], giant ? "a giant" : "a FIFO");
            fclose(out);
            /* a giant text file is refused by its size; giant weights by
             * their header, which 2 GB of zeros is not */
            cr_expect(giant ? strstr(text, "more than the") || strstr(text, "safetensors header")
                            : strstr(text, "a FIFO, not a regular file") != NULL,
                      "%s as %s:\n%s", leaves[k], giant ? "a giant" : "a FIFO", text);
            cr_expect(!strstr(text, "out of memory"), "%s", text);
            free(text);
        }
    free(work);
    free(dir);
}
