/* Datasets in memory (uint8 pixels), their loaders, seeded orders and
 * splits, and batch assembly with augmentation (docs/numerics.md s.3). */
#ifndef TSEDARTS_DATA_H
#define TSEDARTS_DATA_H

#include <stdint.h>

#include "tsedarts/status.h"
#include "tsedarts/tensor.h"

#define FASHION_MNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct dataset {
    char name[64];
    int n, c, h, w; /* stored images, after any padding */
    int classes;
    uint8_t *pixels; /* n * c * h * w, channel planes */
    int32_t *labels;
    double mean[3], std[3]; /* per channel, of pixel / 255 */
} dataset;

/* CIFAR-10 binary: data_batch_1..5.bin (train) or test_batch.bin in dir. */
td_status dataset_load_cifar10(const char *dir, int train, dataset *out);
/* Fashion-MNIST IDX gzip files in dir; pad32 zero-pads 28x28 to 32x32.
 * Mean and std are computed from the 28x28 training images. */
td_status dataset_load_fashion_mnist(const char *dir, int train, int pad32, dataset *out);
/* A learnable synthetic set: per-class templates plus noise. */
td_status dataset_synthetic(int n, int c, int hw, int classes, uint64_t seed, int test, dataset *out);
/* A set by its configuration name: "fashion-mnist" (from data_dir),
 * "cifar10:DIR" or "synthetic" (2048 training / 512 test images). */
td_status dataset_load_named(const char *name, const char *data_dir, int pad32, int train, dataset *out);
void dataset_free(dataset *d);

/* Image channels, side and classes a dataset spec loads as, without
 * loading it ("fashion-mnist", "cifar10:DIR", "synthetic"). */
td_status dataset_dims(const char *spec, int pad32, int *channels, int *side, int *classes);
/* Images in its training (train = 1) or test set, without loading it. */
td_status dataset_images(const char *spec, int train, int *n);

/* Fisher-Yates permutation of [0, n) from the stream (seed, purpose, index). */
void data_permutation(uint64_t seed, uint32_t purpose, uint64_t index, int n, int *out);

typedef struct augment {
    int crop_pad; /* random crop with this zero padding (0: none) */
    int flip;     /* random horizontal flip with p = 0.5 */
    int cutout;   /* cutout square side (0: none), after normalisation */
} augment;

/* Assembles a batch of images ids[0..b) as dt (f32/f64) in NCHW plus
 * labels. Augmentation draws come from (seed, augment, epoch << 32 | id), so
 * a sample looks the same whenever (epoch, id) repeats (TSE replay, resume). */
void data_make_batch(const dataset *d, const int *ids, int b, const augment *aug, uint64_t seed, uint32_t epoch,
                     dtype dt, void *images, int32_t *labels);
/* The same for a batch of draws with replacement, where an image may come
 * back within an epoch and must then look new, as a data loader's fresh
 * transform makes it: sample i's augmentation comes from (seed, purpose,
 * draw << 32 | i), keyed by the draw (a batch number the caller never
 * repeats) and the slot, not by the image. */
void data_make_draws(const dataset *d, const int *ids, int b, const augment *aug, uint64_t seed, uint32_t purpose,
                     uint64_t draw, dtype dt, void *images, int32_t *labels);

#endif
