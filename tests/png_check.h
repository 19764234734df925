/* Reading a PNG back for the figure tests, with zlib and nothing else:
 * enough of the format for what matplotlib and Graphviz write (8-bit
 * grey, RGB or RGBA, not interlaced). */
#ifndef TSEDARTS_TEST_PNG_CHECK_H
#define TSEDARTS_TEST_PNG_CHECK_H

#include "tsedarts/status.h"

typedef struct png_summary {
    int width, height;
    double inked;    /* fraction of pixels that differ from the top-left one (the background) */
    double variance; /* of the grey level (0..255) over all pixels */
} png_summary;

td_status png_summarise(const char *path, png_summary *out);

/* A figure with something drawn on it: more than 1% of the pixels
 * differ from the background, and the grey levels vary. */
int png_is_drawn(const png_summary *s);

#endif
