/* Devices by name: the registry, the description a run records, and the
 * refusals that keep one run on one device. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsedarts/backend_cuda.h"
#include "tsedarts/device.h"
#include "tsedarts/fileio.h"
#include "tsedarts/rundir.h"
#include "tsedarts/search.h"
#include "tsedarts/train.h"

Test(device, names_open_or_are_refused_with_a_reason)
{
    const backend *be;
    cr_assert_eq(device_open("cpu", &be), TD_OK);
    cr_expect_str_eq(be->name, "cpu");
    cr_expect_eq(device_open("tpu", &be), TD_ERR_ARG);
    cr_expect(strstr(td_error_message(), "tpu") != NULL, "%s", td_error_message());
    cr_expect_eq(device_open("cuda:x", &be), TD_ERR_ARG);
    cr_expect_eq(device_check_name("cuda:3"), TD_OK);
    cr_expect_eq(device_check_name("cuda:"), TD_ERR_ARG);
    cr_expect(device_same("cuda", "cuda:0") && !device_same("cuda:1", "cuda:0") && !device_same("cpu", "cuda"));
    /* without a GPU (or a CUDA build) a CUDA device is refused, saying why */
    td_status s = device_open("cuda", &be);
    if (s != TD_OK) cr_expect(strstr(td_error_message(), "cuda") != NULL, "%s", td_error_message());
}

/* Whether this process maps a file whose name contains part. */
static int maps_mention(const char *part)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert(f != NULL);
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, part) != NULL;
    fclose(f);
    return found;
}

/* The CUDA libraries hold about 150 MiB of resident memory once mapped: a
 * run on the CPU must not map them, in a CUDA build too, and a CUDA build
 * must be able to load its backend (on any machine: loading touches no
 * device). */
Test(device, cuda_libraries_are_mapped_only_when_a_cuda_device_is_asked_for)
{
    const backend *be;
    cr_assert_eq(device_open("cpu", &be), TD_OK);
    cr_expect(!maps_mention("libcudart") && !maps_mention("libcublas") && !maps_mention("libcudnn") &&
              !maps_mention("libtsedarts_cuda"));
    const char *why = NULL;
    int loaded = backend_cuda_load(&why);
    if (backend_cuda_built()) {
        cr_assert(loaded, "this build's CUDA backend does not load: %s", why ? why : "?");
        cr_expect(maps_mention("libtsedarts_cuda.so") && maps_mention("libcudart"));
    } else {
        cr_expect(!loaded && why && strstr(why, "no CUDA backend"), "%s", why ? why : "(no reason)");
    }
}

/* A mistyped GPU switch is an error of the caller's, on any machine:
 * never a device "not usable" (which a test counts as not run). */
Test(device, an_unknown_gpu_switch_is_refused_by_name)
{
    cr_assert_eq(setenv("TSEDARTS_GPU_CONV", "fastest", 1), 0);
    const backend *be;
    cr_expect_eq(device_open("cuda", &be), TD_ERR_ARG);
    cr_expect(strstr(td_error_message(), "TSEDARTS_GPU_CONV is 'fastest'") != NULL, "%s", td_error_message());
    cr_expect_eq(device_open("cpu", &be), TD_OK, "the CPU has no such switch to refuse");
    unsetenv("TSEDARTS_GPU_CONV");
}

/* Nothing below the programs picks a device: a run without one is refused. */
Test(device, search_and_train_need_a_backend)
{
    search_config sc;
    search_config_defaults(&sc);
    search_options so;
    memset(&so, 0, sizeof so);
    so.out_dir = "/nonexistent/never-written";
    search_result sr;
    cr_expect_eq(search_run(&sc, &so, &sr), TD_ERR_ARG);
    cr_expect(strstr(td_error_message(), "backend") != NULL, "%s", td_error_message());
    train_config tc;
    train_config_defaults(&tc);
    train_options to;
    memset(&to, 0, sizeof to);
    to.out_dir = "/nonexistent/never-written";
    train_result tr;
    cr_expect_eq(train_run(&tc, &to, &tr), TD_ERR_ARG);
}

static char *path_in(const char *dir, const char *leaf)
{
    size_t n = strlen(dir) + strlen(leaf) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, leaf);
    return p;
}

/* env.json names the device; resuming on another one is refused. */
Test(device, run_directory_records_its_device_and_keeps_it)
{
    const char *tmp = getenv("TMPDIR");
    char templ[4096];
    snprintf(templ, sizeof templ, "%s/tsedarts-device-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *d = mkdtemp(templ);
    cr_assert_not_null(d);
    const backend *cpu;
    cr_assert_eq(device_open("cpu", &cpu), TD_OK);
    char hash[SHA256_HEX_LEN];
    int from_checkpoint;
    cr_assert_eq(rundir_prepare(d, "{\"a\":1}", 0, 1, cpu, hash, &from_checkpoint), TD_OK, "%s", td_error_message());
    char *recorded;
    cr_assert_eq(rundir_recorded_device(d, &recorded), TD_OK);
    cr_expect_str_eq(recorded, "cpu");
    free(recorded);
    char *ck = path_in(d, "checkpoint.bin");
    cr_assert_eq(file_write_text_atomic(ck, "x"), TD_OK);
    backend other = *cpu;
    other.name = "cuda:0";
    cr_expect_eq(rundir_prepare(d, "{\"a\":1}", 1, 1, &other, hash, &from_checkpoint), TD_ERR_STATE);
    cr_expect(strstr(td_error_message(), "started on device cpu") != NULL, "%s", td_error_message());
    cr_expect_eq(rundir_prepare(d, "{\"a\":1}", 1, 1, cpu, hash, &from_checkpoint), TD_OK, "%s", td_error_message());
    cr_expect_eq(from_checkpoint, 1);
    const char *files[] = {"checkpoint.bin", "config.json", "env.json"};
    for (int i = 0; i < 3; i++) {
        char *p = path_in(d, files[i]);
        unlink(p);
        free(p);
    }
    free(ck);
    cr_expect_eq(rmdir(d), 0);
}
