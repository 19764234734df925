#include "png_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tsedarts/fileio.h"

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Undoes the per-row filters in place; rows of `stride` bytes after their filter byte. */
static td_status unfilter(unsigned char *raw, unsigned char *img, int h, size_t stride, int bpp, const char *path)
{
    for (int y = 0; y < h; y++) {
        int f = raw[(size_t)y * (stride + 1)];
        const unsigned char *src = raw + (size_t)y * (stride + 1) + 1;
        unsigned char *row = img + (size_t)y * stride, *up = y ? row - stride : NULL;
        for (size_t x = 0; x < stride; x++) {
            int a = x >= (size_t)bpp ? row[x - bpp] : 0, b = up ? up[x] : 0, c = up && x >= (size_t)bpp ? up[x - bpp] : 0;
            int pred = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2 : f == 4 ? paeth(a, b, c) : -1;
            if (pred < 0) return TD_FAIL(TD_ERR_FORMAT, "%s: row %d has filter %d", path, y, f);
            row[x] = (unsigned char)(src[x] + pred);
        }
    }
    return TD_OK;
}

td_status png_summarise(const char *path, png_summary *out)
{
    char *file;
    size_t len;
    TD_CHECK(file_read_all(path, &file, &len));
    const unsigned char *d = (const unsigned char *)file;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    td_status s = len > 8 && !memcmp(d, sig, 8) ? TD_OK : TD_FAIL(TD_ERR_FORMAT, "%s: not a PNG", path);
    int w = 0, h = 0, depth = 0, colour = -1, interlace = 0;
    unsigned char *idat = NULL;
    size_t n_idat = 0;
    for (size_t at = 8; s == TD_OK && at + 12 <= len;) {
        uint32_t n = be32(d + at);
        const unsigned char *type = d + at + 4, *body = d + at + 8;
        if (at + 12 + n > len) {
            s = TD_FAIL(TD_ERR_FORMAT, "%s: chunk cut short", path);
            break;
        }
        if (!memcmp(type, "IHDR", 4) && n >= 13) {
            w = (int)be32(body), h = (int)be32(body + 4), depth = body[8], colour = body[9], interlace = body[12];
        } else if (!memcmp(type, "IDAT", 4)) {
            unsigned char *more = realloc(idat, n_idat + n);
            if (!more) s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
            else memcpy(more + n_idat, body, n), idat = more, n_idat += n;
        }
        at += 12 + n;
    }
    int channels = colour == 0 ? 1 : colour == 2 ? 3 : colour == 6 ? 4 : colour == 4 ? 2 : 0;
    if (s == TD_OK && (depth != 8 || !channels || interlace || w <= 0 || h <= 0))
        s = TD_FAIL(TD_ERR_FORMAT, "%s: %dx%d, depth %d, colour type %d, interlace %d: not read here", path, w, h, depth,
                    colour, interlace);
    size_t stride = (size_t)w * channels;
    unsigned char *raw = NULL, *img = NULL;
    if (s == TD_OK) {
        uLongf raw_len = (uLongf)((stride + 1) * (size_t)h);
        raw = malloc(raw_len);
        img = malloc(stride * (size_t)h);
        if (!raw || !img) s = TD_FAIL(TD_ERR_MEMORY, "out of memory");
        else if (uncompress(raw, &raw_len, idat, n_idat) != Z_OK || raw_len != (stride + 1) * (size_t)h)
            s = TD_FAIL(TD_ERR_FORMAT, "%s: image data does not inflate to %dx%d", path, w, h);
    }
    if (s == TD_OK) s = unfilter(raw, img, h, stride, channels, path);
    if (s == TD_OK) {
        double sum = 0, sum2 = 0;
        long inked = 0;
        for (long i = 0; i < (long)w * h; i++) {
            const unsigned char *px = img + (size_t)i * channels;
            int grey = channels >= 3 ? (px[0] * 30 + px[1] * 59 + px[2] * 11) / 100 : px[0];
            sum += grey, sum2 += (double)grey * grey;
            inked += memcmp(px, img, (size_t)channels) != 0;
        }
        double n = (double)w * h;
        out->width = w, out->height = h;
        out->inked = inked / n;
        out->variance = sum2 / n - (sum / n) * (sum / n);
    }
    free(raw);
    free(img);
    free(idat);
    free(file);
    return s;
}

int png_is_drawn(const png_summary *s) { return s->inked > 0.01 && s->variance > 20.0; }
