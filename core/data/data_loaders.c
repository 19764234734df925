/* Loaders for CIFAR-10 (binary) and Fashion-MNIST (IDX, gzip), and the
 * synthetic test set. Every failure names the file and what is wrong. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "tsedarts/data.h"
#include "tsedarts/path.h"
#include "tsedarts/philox.h"

void dataset_free(dataset *d)
{
    free(d->pixels);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

static td_status alloc_set(dataset *d, const char *name, int n, int c, int h, int w, int classes)
{
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->classes = classes;
    d->pixels = calloc((size_t)n * c * h * w, 1);
    d->labels = calloc((size_t)n, sizeof *d->labels);
    if (!d->pixels || !d->labels) {
        dataset_free(d);
        return TD_FAIL(TD_ERR_MEMORY, "%s: out of memory for %d images", name, n);
    }
    return TD_OK;
}

/* Images in each set: what the loaders below read, and what an audit
 * counts a run's steps from without the data (dataset_images). */
#define FASHION_TRAIN 60000
#define FASHION_TEST 10000
#define CIFAR_TRAIN_FILES 5
#define SYNTHETIC_TRAIN 2048
#define SYNTHETIC_TEST 512

td_status dataset_dims(const char *spec, int pad32, int *channels, int *side, int *classes)
{
    *classes = 10;
    if (!strcmp(spec, "fashion-mnist")) {
        *channels = 1;
        *side = pad32 ? 32 : 28;
    } else if (!strncmp(spec, "cifar10:", 8) || !strcmp(spec, "synthetic")) {
        *channels = 3;
        *side = 32;
    } else {
        return TD_FAIL(TD_ERR_ARG, "unknown dataset '%s' (fashion-mnist, cifar10:DIR or synthetic)", spec);
    }
    return TD_OK;
}

/* ---------------------------------------------------------------- CIFAR */

#define CIFAR_RECORD 3073
#define CIFAR_PER_FILE 10000

static td_status read_cifar_file(const char *path, dataset *d, int first)
{
    struct stat st;
    if (stat(path, &st) != 0) return TD_FAIL(TD_ERR_IO, "%s: missing (%s)", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return TD_FAIL(TD_ERR_FORMAT, "%s: not a regular file; refused", path);
    if (st.st_size != (off_t)CIFAR_RECORD * CIFAR_PER_FILE)
        return TD_FAIL(TD_ERR_FORMAT, "%s: %s: %lld bytes, expected %d (10000 records of 3073 bytes)", path,
                       st.st_size < (off_t)CIFAR_RECORD * CIFAR_PER_FILE ? "truncated" : "too long",
                       (long long)st.st_size, CIFAR_RECORD * CIFAR_PER_FILE);
    FILE *f = fopen(path, "rb");
    if (!f) return TD_FAIL(TD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char rec[CIFAR_RECORD];
    for (int i = 0; i < CIFAR_PER_FILE; i++) {
        if (fread(rec, 1, CIFAR_RECORD, f) != CIFAR_RECORD) {
            fclose(f);
            return TD_FAIL(TD_ERR_FORMAT, "%s: truncated at record %d", path, i);
        }
        if (rec[0] > 9) {
            fclose(f);
            return TD_FAIL(TD_ERR_FORMAT, "%s: record %d has label %d, expected 0..9 (not a CIFAR-10 file?)", path, i,
                           rec[0]);
        }
        d->labels[first + i] = rec[0];
        memcpy(d->pixels + (size_t)(first + i) * 3072, rec + 1, 3072);
    }
    fclose(f);
    return TD_OK;
}

td_status dataset_load_cifar10(const char *dir, int train, dataset *out)
{
    int files = train ? CIFAR_TRAIN_FILES : 1;
    TD_CHECK(alloc_set(out, train ? "cifar10-train" : "cifar10-test", files * CIFAR_PER_FILE, 3, 32, 32, 10));
    char path[4096];
    for (int k = 0; k < files; k++) {
        td_status s = train ? path_format(path, sizeof path, "%s/data_batch_%d.bin", dir, k + 1)
                            : path_format(path, sizeof path, "%s/test_batch.bin", dir);
        if (s == TD_OK) s = read_cifar_file(path, out, k * CIFAR_PER_FILE);
        if (s != TD_OK) {
            dataset_free(out);
            return s;
        }
    }
    const double mean[3] = {0.49139968, 0.48215827, 0.44653124}, std[3] = {0.24703233, 0.24348505, 0.26158768};
    memcpy(out->mean, mean, sizeof mean);
    memcpy(out->std, std, sizeof std);
    return TD_OK;
}

/* ------------------------------------------------------- Fashion-MNIST */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads exactly len bytes or reports truncation / corruption. */
static td_status gz_read_exact(gzFile f, const char *path, void *buf, size_t len, const char *what)
{
    size_t got = 0;
    while (got < len) {
        unsigned chunk = len - got > (1u << 30) ? (1u << 30) : (unsigned)(len - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0) {
            int err;
            const char *msg = gzerror(f, &err);
            return TD_FAIL(TD_ERR_FORMAT, "%s: corrupt gzip data while reading %s: %s", path, what, msg);
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got < len)
        return TD_FAIL(TD_ERR_FORMAT, "%s: truncated: %s needs %zu bytes, file ends after %zu", path, what, len, got);
    return TD_OK;
}

/* Opens an IDX gzip file and checks magic and dimensions. */
static td_status idx_open(const char *path, uint32_t magic, int ndims, const uint32_t *dims, gzFile *out)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return TD_FAIL(TD_ERR_IO, "%s: missing (%s); install Debian's dataset-fashion-mnist or pass --data-dir",
                       path, strerror(errno));
    /* a FIFO would block gzopen; a device would never end */
    if (!S_ISREG(st.st_mode)) return TD_FAIL(TD_ERR_FORMAT, "%s: not a regular file; refused", path);
    gzFile f = gzopen(path, "rb");
    if (!f) return TD_FAIL(TD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char hdr[4 + 4 * 3];
    size_t hlen = 4 + 4 * (size_t)ndims;
    td_status s = gz_read_exact(f, path, hdr, hlen, "the IDX header");
    if (s == TD_OK && be32(hdr) != magic)
        s = TD_FAIL(TD_ERR_FORMAT, "%s: wrong magic number 0x%08x, expected 0x%08x", path, be32(hdr), magic);
    for (int i = 0; s == TD_OK && i < ndims; i++)
        if (be32(hdr + 4 + 4 * i) != dims[i])
            s = TD_FAIL(TD_ERR_FORMAT, "%s: dimension %d is %u, expected %u", path, i, be32(hdr + 4 + 4 * i), dims[i]);
    if (s != TD_OK) {
        gzclose(f);
        return s;
    }
    *out = f;
    return TD_OK;
}

static td_status idx_expect_end(gzFile f, const char *path)
{
    unsigned char extra;
    int r = gzread(f, &extra, 1);
    if (r > 0) return TD_FAIL(TD_ERR_FORMAT, "%s: unexpected data after the declared contents", path);
    if (r < 0) {
        int err;
        return TD_FAIL(TD_ERR_FORMAT, "%s: corrupt gzip data: %s", path, gzerror(f, &err));
    }
    return TD_OK;
}

td_status dataset_load_fashion_mnist(const char *dir, int train, int pad32, dataset *out)
{
    uint32_t n = train ? FASHION_TRAIN : FASHION_TEST;
    const char *prefix = train ? "train" : "t10k";
    char ipath[4096], lpath[4096];
    TD_CHECK(path_format(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, prefix));
    TD_CHECK(path_format(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, prefix));
    int side = pad32 ? 32 : 28, off = pad32 ? 2 : 0;
    TD_CHECK(alloc_set(out, train ? "fashion-mnist-train" : "fashion-mnist-test", (int)n, 1, side, side, 10));
    uint32_t idims[3] = {n, 28, 28}, ldims[1] = {n};
    gzFile f;
    unsigned char *raw = malloc((size_t)n * 784);
    td_status s = raw ? idx_open(ipath, 0x00000803, 3, idims, &f) : TD_FAIL(TD_ERR_MEMORY, "out of memory");
    if (s == TD_OK) {
        s = gz_read_exact(f, ipath, raw, (size_t)n * 784, "the pixels");
        if (s == TD_OK) s = idx_expect_end(f, ipath);
        gzclose(f);
    }
    unsigned char *lab = malloc(n);
    if (s == TD_OK) s = idx_open(lpath, 0x00000801, 1, ldims, &f);
    if (s == TD_OK) {
        s = gz_read_exact(f, lpath, lab, n, "the labels");
        if (s == TD_OK) s = idx_expect_end(f, lpath);
        gzclose(f);
    }
    for (uint32_t i = 0; s == TD_OK && i < n; i++) {
        if (lab[i] > 9) {
            s = TD_FAIL(TD_ERR_FORMAT, "%s: label %u of image %u is outside 0..9", lpath, lab[i], i);
            break;
        }
        out->labels[i] = lab[i];
        for (int y = 0; y < 28; y++)
            memcpy(out->pixels + ((size_t)i * side + y + off) * side + off, raw + (size_t)i * 784 + y * 28, 28);
    }
    if (s == TD_OK) {
        /* Mean and std of the 28x28 pixels, always from the training set,
         * so that test images are normalised like training ones. */
        double sum = 0, sq = 0, count = 0;
        if (train) {
            for (size_t i = 0; i < (size_t)n * 784; i++) {
                double v = raw[i] / 255.0;
                sum += v;
                sq += v * v;
            }
            count = (double)n * 784;
        }
        out->mean[0] = train ? sum / count : 0;
        out->std[0] = train ? sqrt(sq / count - out->mean[0] * out->mean[0]) : 1;
    }
    free(raw);
    free(lab);
    if (s != TD_OK) dataset_free(out);
    return s;
}

/* ----------------------------------------------------------- synthetic */

td_status dataset_synthetic(int n, int c, int hw, int classes, uint64_t seed, int test, dataset *out)
{
    if (n < 1 || c < 1 || c > 3 || hw < 4 || classes < 2)
        return TD_FAIL(TD_ERR_ARG, "synthetic dataset: bad size (n=%d c=%d hw=%d classes=%d)", n, c, hw, classes);
    TD_CHECK(alloc_set(out, test ? "synthetic-test" : "synthetic-train", n, c, hw, hw, classes));
    size_t img = (size_t)c * hw * hw;
    /* One smooth template per class (sum of two random plane waves),
     * then per-image noise: learnable, but not trivially. */
    double *tmpl = malloc((size_t)classes * img * sizeof *tmpl);
    if (!tmpl) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    for (int k = 0; k < classes; k++) {
        philox_stream s;
        philox_stream_init(&s, seed, PURPOSE_SYNTH, (uint64_t)k);
        double fx = 1 + 3 * philox_next_uniform_f64(&s), fy = 1 + 3 * philox_next_uniform_f64(&s);
        double ph = 6.283 * philox_next_uniform_f64(&s);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < hw; y++)
                for (int x = 0; x < hw; x++)
                    tmpl[(size_t)k * img + ((size_t)ch * hw + y) * hw + x] =
                        0.5 + 0.3 * sin(fx * 6.283 * x / hw + ph + ch) * cos(fy * 6.283 * y / hw);
    }
    for (int i = 0; i < n; i++) {
        philox_stream s;
        philox_stream_init(&s, seed, PURPOSE_SYNTH, ((uint64_t)(test ? 2 : 1) << 32) | (uint64_t)i);
        int k = (int)philox_next_below(&s, (uint32_t)classes);
        out->labels[i] = k;
        for (size_t e = 0; e < img; e++) {
            double v = tmpl[(size_t)k * img + e] + 0.25 * (philox_next_uniform_f64(&s) - 0.5);
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            out->pixels[(size_t)i * img + e] = (uint8_t)lround(v * 255);
        }
    }
    free(tmpl);
    for (int ch = 0; ch < c; ch++) {
        out->mean[ch] = 0.5;
        out->std[ch] = 0.25;
    }
    return TD_OK;
}

td_status dataset_load_named(const char *name, const char *data_dir, int pad32, int train, dataset *out)
{
    if (!strcmp(name, "fashion-mnist")) return dataset_load_fashion_mnist(data_dir, train, pad32, out);
    if (!strncmp(name, "cifar10:", 8)) return dataset_load_cifar10(name + 8, train, out);
    if (!strcmp(name, "synthetic"))
        return dataset_synthetic(train ? SYNTHETIC_TRAIN : SYNTHETIC_TEST, 3, 32, 10, 7, !train, out);
    return TD_FAIL(TD_ERR_ARG, "unknown dataset '%s' (fashion-mnist, cifar10:DIR or synthetic)", name);
}

td_status dataset_images(const char *spec, int train, int *n)
{
    if (!strcmp(spec, "fashion-mnist"))
        *n = train ? FASHION_TRAIN : FASHION_TEST;
    else if (!strncmp(spec, "cifar10:", 8))
        *n = (train ? CIFAR_TRAIN_FILES : 1) * CIFAR_PER_FILE;
    else if (!strcmp(spec, "synthetic"))
        *n = train ? SYNTHETIC_TRAIN : SYNTHETIC_TEST;
    else
        return TD_FAIL(TD_ERR_ARG, "unknown dataset '%s' (fashion-mnist, cifar10:DIR or synthetic)", spec);
    return TD_OK;
}
