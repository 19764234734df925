/* Seeded orders and batch assembly with augmentation. */
#include <string.h>

#include "tsedarts/data.h"
#include "tsedarts/philox.h"

void data_permutation(uint64_t seed, uint32_t purpose, uint64_t index, int n, int *out)
{
    philox_stream s;
    philox_stream_init(&s, seed, purpose, index);
    for (int i = 0; i < n; i++) out[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)philox_next_below(&s, (uint32_t)i + 1);
        int t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

/* Image i of the batch from image id, its crop, flip and cutout drawn from
 * stream s. */
static void make_one(const dataset *d, int id, const augment *aug, philox_stream *s, dtype dt, void *images, int i)
{
    int C = d->c, H = d->h, W = d->w;
    size_t img = (size_t)C * H * W;
    /* Draws in a fixed order whatever is enabled, so switching one
     * augmentation off does not change the others. */
    int dy = (int)philox_next_below(s, 2 * (uint32_t)aug->crop_pad + 1) - aug->crop_pad;
    int dx = (int)philox_next_below(s, 2 * (uint32_t)aug->crop_pad + 1) - aug->crop_pad;
    int flip = aug->flip && (philox_next_u32(s) & 1);
    int cy = (int)philox_next_below(s, (uint32_t)H), cx = (int)philox_next_below(s, (uint32_t)W);
    const uint8_t *src = d->pixels + (size_t)id * img;
    for (int c = 0; c < C; c++) {
        double mean = d->mean[c], inv_std = 1.0 / d->std[c];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int sy = y + dy, sx = (flip ? W - 1 - x : x) + dx;
                double p = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? src[((size_t)c * H + sy) * W + sx] / 255.0 : 0.0;
                double v = (p - mean) * inv_std;
                if (aug->cutout) {
                    int half = aug->cutout / 2;
                    if (y >= cy - half && y < cy + half && x >= cx - half && x < cx + half) v = 0.0;
                }
                size_t o = (size_t)i * img + ((size_t)c * H + y) * W + x;
                if (dt == DT_F64)
                    ((double *)images)[o] = v;
                else
                    ((float *)images)[o] = (float)v;
            }
    }
}

void data_make_batch(const dataset *d, const int *ids, int b, const augment *aug, uint64_t seed, uint32_t epoch,
                     dtype dt, void *images, int32_t *labels)
{
    for (int i = 0; i < b; i++) {
        labels[i] = d->labels[ids[i]];
        philox_stream s;
        philox_stream_init(&s, seed, PURPOSE_AUGMENT, ((uint64_t)epoch << 32) | (uint32_t)ids[i]);
        make_one(d, ids[i], aug, &s, dt, images, i);
    }
}

void data_make_draws(const dataset *d, const int *ids, int b, const augment *aug, uint64_t seed, uint32_t purpose,
                     uint64_t draw, dtype dt, void *images, int32_t *labels)
{
    for (int i = 0; i < b; i++) {
        labels[i] = d->labels[ids[i]];
        philox_stream s;
        philox_stream_init(&s, seed, purpose, (draw << 32) | (uint32_t)i);
        make_one(d, ids[i], aug, &s, dt, images, i);
    }
}
