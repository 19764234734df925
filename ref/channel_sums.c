/* The per-channel sums of a tensor (channel_sums.h) by blocks of images.
 *
 * Each block sums its images from zero, image after image, and the
 * blocks' sums are then merged lane by lane in block order. The block size
 * depends on the shape only, never on the number of threads, so neither
 * do the bits. A thread takes whole blocks of images: long stretches of
 * memory, split as the kernels that wrote the tensor split their work.
 * Each thread taking a block of channels through every image instead was
 * slower (batch 64, C=16, 8 cells: 0.290-0.300 against 0.246-0.251 s in
 * sum_axis, and the passes that follow it faster too; bench/README.md). */
#include "channel_sums.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* The fewest images per block. Smaller blocks were slower, each pair
 * alternated at the scale above (sum_axis, s per step): 1 image 0.302-0.307
 * against 4 images 0.263; 4 images 0.258-0.259 against 8 images
 * 0.246-0.251; 16 images as 8. */
#define IMAGES_PER_BLOCK_MIN 8

/* Images per block where a channel keeps `sums` sums: at least enough
 * that a block's partial sums are no larger than the data it reads, so
 * that merging them never costs more than the pass itself (this matters
 * only for planes of fewer values than a channel_sums holds). */
static int images_per_block(shape4 s, int sums)
{
    size_t partial = (size_t)sums * (sizeof(channel_sums) / sizeof(float)), image = (size_t)s.h * s.w;
    size_t ipb = IMAGES_PER_BLOCK_MIN;
    if (image > 0 && (partial + image - 1) / image > ipb) ipb = (partial + image - 1) / image;
    return ipb > (size_t)s.n && s.n > 0 ? s.n : (int)ipb;
}

/* Channel c's total over blocks [0, blocks) of part, block b's sums of
 * channel c at part[b C + c]: merged in block order, then the lanes. */
static float merged_total(const channel_sums *part, int blocks, int C, int c)
{
    channel_sums t = part[c];
    for (int b = 1; b < blocks; b++) sums_merge(&t, &part[(size_t)b * C + c]);
    return sums_total(&t);
}

int channel_sums_run(shape4 s, int par, image_sums_fn add, const void *ctx, float *first, float *second)
{
    int sums = second ? 2 : 1;
    int C = s.c, ipb = images_per_block(s, sums), blocks = s.n > 0 ? (s.n + ipb - 1) / ipb : 0;
    if (C <= 0) return 1;
    if (blocks == 0) {
        for (int c = 0; c < C; c++) {
            first[c] = 0.0f;
            if (second) second[c] = 0.0f;
        }
        return 1;
    }
    size_t per_sum = (size_t)blocks * C;
    channel_sums *part;
    if (posix_memalign((void **)&part, 64, (size_t)sums * per_sum * sizeof *part) != 0) return 0;
    channel_sums *pa = part, *pb = second ? part + per_sum : NULL;
    /* channels split too, only where the blocks of images alone would
     * leave threads idle: that changes who computes a channel, not how */
    int threads = par ? omp_get_max_threads() : 1;
    int groups = threads > blocks ? (threads + blocks - 1) / blocks : 1;
    if (groups > C) groups = C;
    int items = blocks * groups;
#pragma omp parallel if (par)
    {
#pragma omp for schedule(static)
        for (int it = 0; it < items; it++) {
            int b = it / groups, g = it % groups;
            int c0 = (int)((long)C * g / groups), c1 = (int)((long)C * (g + 1) / groups);
            int n1 = (b + 1) * ipb < s.n ? (b + 1) * ipb : s.n;
            channel_sums *a = pa + (size_t)b * C, *bb = pb ? pb + (size_t)b * C : NULL;
            memset(a + c0, 0, (size_t)(c1 - c0) * sizeof *a);
            if (bb) memset(bb + c0, 0, (size_t)(c1 - c0) * sizeof *bb);
            for (int n = b * ipb; n < n1; n++) add(ctx, n, c0, c1, a, bb);
        }
        /* the implied barrier: every plane has been read before a result
         * is written (a caller's result may overwrite an input) */
#pragma omp for schedule(static)
        for (int c = 0; c < C; c++) {
            first[c] = merged_total(pa, blocks, C, c);
            if (pb) second[c] = merged_total(pb, blocks, C, c);
        }
    }
    free(part);
    return 1;
}
