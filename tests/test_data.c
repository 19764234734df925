/* Dataset loaders reject missing, truncated and corrupt files with a
 * message naming the file and the fault; orders, splits and augmentation
 * are pure functions of their keys. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "tsedarts/data.h"
#include "tsedarts/fileio.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"
#include "sandbox.h"

static char *dir;

static void make_dir(void) { dir = sandbox_dir("data-test"); }

static void write_gz(const char *name, const unsigned char *data, size_t len)
{
    char path[512];
    cr_assert_eq(path_format(path, sizeof path, "%s/%s", dir, name), TD_OK);
    gzFile f = gzopen(path, "wb");
    gzwrite(f, data, (unsigned)len);
    gzclose(f);
}

static void idx_header(unsigned char *h, uint32_t magic, uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t v[4] = {magic, a, b, c};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++) h[4 * i + k] = (unsigned char)(v[i] >> (24 - 8 * k));
}

static void expect_error(td_status s, const char *file, const char *what)
{
    cr_expect_neq(s, TD_OK);
    cr_expect(strstr(td_error_message(), file) != NULL, "message '%s' does not name %s", td_error_message(), file);
    cr_expect(strstr(td_error_message(), what) != NULL, "message '%s' does not say '%s'", td_error_message(), what);
}

/* Labels for t10k: a valid file, so image-file faults are reported. */
static void good_test_labels(void)
{
    unsigned char *l = calloc(8 + 10000, 1);
    idx_header(l, 0x801, 10000, 0, 0);
    write_gz("t10k-labels-idx1-ubyte.gz", l, 8 + 10000);
    free(l);
}

Test(data, fashion_mnist_missing_truncated_corrupt)
{
    make_dir();
    dataset d;
    expect_error(dataset_load_fashion_mnist(dir, 0, 1, &d), "t10k-images-idx3-ubyte.gz", "missing");
    good_test_labels();
    size_t full = 16 + 10000 * 784;
    unsigned char *img = calloc(full, 1);
    idx_header(img, 0x803, 10000, 28, 28);
    write_gz("t10k-images-idx3-ubyte.gz", img, full / 2);
    expect_error(dataset_load_fashion_mnist(dir, 0, 1, &d), "t10k-images-idx3-ubyte.gz", "truncated");
    idx_header(img, 0x801, 10000, 28, 28);
    write_gz("t10k-images-idx3-ubyte.gz", img, full);
    expect_error(dataset_load_fashion_mnist(dir, 0, 1, &d), "t10k-images-idx3-ubyte.gz", "wrong magic");
    idx_header(img, 0x803, 10000, 27, 28);
    write_gz("t10k-images-idx3-ubyte.gz", img, full);
    expect_error(dataset_load_fashion_mnist(dir, 0, 1, &d), "t10k-images-idx3-ubyte.gz", "dimension 1 is 27");
    /* a gzip stream whose checksum trailer is damaged */
    idx_header(img, 0x803, 10000, 28, 28);
    for (size_t i = 16; i < full; i++) img[i] = (unsigned char)(i * 7);
    write_gz("t10k-images-idx3-ubyte.gz", img, full);
    char path[512];
    cr_assert_eq(path_format(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir), TD_OK);
    FILE *f = fopen(path, "r+b");
    fseek(f, -8, SEEK_END);
    for (int i = 0; i < 4; i++) fputc(0xAA, f);
    fclose(f);
    expect_error(dataset_load_fashion_mnist(dir, 0, 1, &d), "t10k-images-idx3-ubyte.gz", "corrupt");
    /* damage in the middle: reported as corrupt or as a short stream */
    write_gz("t10k-images-idx3-ubyte.gz", img, full);
    f = fopen(path, "r+b");
    fseek(f, 2000, SEEK_SET);
    for (int i = 0; i < 64; i++) fputc(0xAA, f);
    fclose(f);
    cr_expect_neq(dataset_load_fashion_mnist(dir, 0, 1, &d), TD_OK);
    cr_expect(strstr(td_error_message(), "corrupt") || strstr(td_error_message(), "truncated"), "%s",
              td_error_message());
    free(img);
}

Test(data, fashion_mnist_real_files_load)
{
    if (!file_exists(FASHION_MNIST_DEFAULT_DIR "/t10k-images-idx3-ubyte.gz"))
        cr_skip_test("dataset-fashion-mnist is not installed");
    dataset d;
    cr_assert_eq(dataset_load_fashion_mnist(FASHION_MNIST_DEFAULT_DIR, 0, 1, &d), TD_OK, "%s", td_error_message());
    cr_expect_eq(d.n, 10000);
    cr_expect_eq(d.h, 32);
    /* zero padding around the 28x28 image */
    for (int x = 0; x < 32; x++) cr_expect_eq(d.pixels[x], 0);
    int counts[10] = {0};
    for (int i = 0; i < d.n; i++) counts[d.labels[i]]++;
    for (int k = 0; k < 10; k++) cr_expect_eq(counts[k], 1000);
    dataset_free(&d);
}

Test(data, cifar10_size_and_label_checks)
{
    make_dir();
    dataset d;
    expect_error(dataset_load_cifar10(dir, 0, &d), "test_batch.bin", "missing");
    char path[512];
    cr_assert_eq(path_format(path, sizeof path, "%s/test_batch.bin", dir), TD_OK);
    unsigned char *buf = calloc(3073 * 10000, 1);
    const void *parts[1] = {buf};
    size_t lens[1] = {3073 * 10000 - 5};
    cr_assert_eq(file_write_atomic(path, 1, parts, lens), TD_OK);
    expect_error(dataset_load_cifar10(dir, 0, &d), "test_batch.bin", "truncated");
    buf[3073 * 17] = 12;
    lens[0] = 3073 * 10000;
    cr_assert_eq(file_write_atomic(path, 1, parts, lens), TD_OK);
    expect_error(dataset_load_cifar10(dir, 0, &d), "test_batch.bin", "label 12");
    buf[3073 * 17] = 3;
    cr_assert_eq(file_write_atomic(path, 1, parts, lens), TD_OK);
    cr_expect_eq(dataset_load_cifar10(dir, 0, &d), TD_OK, "%s", td_error_message());
    cr_expect_eq(d.labels[17], 3);
    dataset_free(&d);
    free(buf);
}

Test(data, orders_and_augmentation_are_keyed)
{
    int a[100], b[100], c[100];
    data_permutation(5, 3, 0, 100, a);
    data_permutation(5, 3, 0, 100, b);
    data_permutation(5, 3, 1, 100, c);
    cr_expect(memcmp(a, b, sizeof a) == 0);
    cr_expect(memcmp(a, c, sizeof a) != 0);
    int seen[100] = {0};
    for (int i = 0; i < 100; i++) seen[a[i]]++;
    for (int i = 0; i < 100; i++) cr_expect_eq(seen[i], 1);
    dataset d;
    cr_assert_eq(dataset_synthetic(16, 3, 8, 4, 1, 0, &d), TD_OK);
    augment aug = {4, 1, 4};
    int ids[2] = {3, 7}, ids_rev[2] = {7, 3};
    float x1[2 * 3 * 64], x2[2 * 3 * 64];
    int32_t l1[2], l2[2];
    data_make_batch(&d, ids, 2, &aug, 9, 2, DT_F32, x1, l1);
    data_make_batch(&d, ids_rev, 2, &aug, 9, 2, DT_F32, x2, l2);
    /* a sample's augmentation depends on (epoch, id), not its position */
    cr_expect(memcmp(x1, x2 + 3 * 64, 3 * 64 * sizeof(float)) == 0);
    cr_expect_eq(l1[0], l2[1]);
    data_make_batch(&d, ids, 2, &aug, 9, 3, DT_F32, x2, l2);
    cr_expect(memcmp(x1, x2, sizeof x1) != 0, "another epoch must draw other augmentations");
    dataset_free(&d);
}

/* Draws with replacement (DrNAS's architecture batches): an image that
 * comes back, in the same batch or a later one of the same epoch, gets a
 * crop and flip of its own, keyed by (draw, slot); the same draw and slot
 * give the same image again (resume). */
Test(data, repeated_draws_of_an_image_are_augmented_anew)
{
    dataset d;
    cr_assert_eq(dataset_synthetic(16, 3, 8, 4, 1, 0, &d), TD_OK);
    augment aug = {4, 1, 0};
    enum { N = 8, IMG = 3 * 64 };
    int ids[N];
    for (int i = 0; i < N; i++) ids[i] = 5;
    float x[N * IMG], y[N * IMG], z[N * IMG];
    int32_t l[N];
    data_make_draws(&d, ids, N, &aug, 9, PURPOSE_DRNAS_ARCH_AUGMENT, 40, DT_F32, x, l);
    int distinct = 0;
    for (int i = 1; i < N; i++) distinct += memcmp(x, x + i * IMG, IMG * sizeof(float)) != 0;
    cr_expect_geq(distinct, N - 2, "the repeats of one image in a batch look alike (%d of %d differ)", distinct, N - 1);
    for (int i = 0; i < N; i++) cr_expect_eq(l[i], d.labels[5]);
    data_make_draws(&d, ids, N, &aug, 9, PURPOSE_DRNAS_ARCH_AUGMENT, 41, DT_F32, y, l);
    cr_expect(memcmp(x, y, sizeof x) != 0, "the next draw of the same images repeats their augmentation");
    data_make_draws(&d, ids, N, &aug, 9, PURPOSE_DRNAS_ARCH_AUGMENT, 40, DT_F32, z, l);
    cr_expect(memcmp(x, z, sizeof x) == 0, "the same draw must give the same batch");
    /* keyed by image, as the per-epoch batches are, the repeats are one image */
    data_make_batch(&d, ids, N, &aug, 9, 0, DT_F32, y, l);
    for (int i = 1; i < N; i++) cr_expect(memcmp(y, y + i * IMG, IMG * sizeof(float)) == 0);
    dataset_free(&d);
}
