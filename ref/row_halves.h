/* Rows split into their even and odd positions and joined back, so that
 * stride-2 windows read contiguous memory (moves only: values unchanged). */
#ifndef TSEDARTS_REF_ROW_HALVES_H
#define TSEDARTS_REF_ROW_HALVES_H

#include "simd.h"

/* E[k] = r[2 k], O[k] = r[2 k + 1] for the positions in a row of W. */
static inline void unzip_row(const float *r, int W, float *E, float *O)
{
    int half = W / 2, k = 0;
    for (; k + 8 <= half; k += 8) {
        vf8 e, o;
        vf8_unzip(vf8_load(r + 2 * k), vf8_load(r + 2 * k + 8), &e, &o);
        vf8_store(E + k, e);
        vf8_store(O + k, o);
    }
    for (; k < half; k++) {
        E[k] = r[2 * k];
        O[k] = r[2 * k + 1];
    }
    if (W & 1) E[half] = r[W - 1];
}

/* The inverse: r[2 k] = E[k], r[2 k + 1] = O[k]. */
static inline void zip_row(const float *E, const float *O, int W, float *r)
{
    int half = W / 2, k = 0;
    for (; k + 8 <= half; k += 8) {
        vf8 a, b;
        vf8_zip(vf8_load(E + k), vf8_load(O + k), &a, &b);
        vf8_store(r + 2 * k, a);
        vf8_store(r + 2 * k + 8, b);
    }
    for (; k < half; k++) {
        r[2 * k] = E[k];
        r[2 * k + 1] = O[k];
    }
    if (W & 1) r[W - 1] = E[half];
}

#endif
