/* A backend whose memory the host cannot touch: the CPU kernels behind
 * pointers with a high bit set, so that any read or write of backend
 * memory outside the backend (a habit a GPU would not forgive) faults at
 * once instead of passing on the CPU and failing on a GPU. */
#ifndef TSEDARTS_TEST_FENCED_BACKEND_H
#define TSEDARTS_TEST_FENCED_BACKEND_H

#include <stddef.h>

#include "tsedarts/backend.h"

const backend *backend_fenced(void);
/* What its memory_free reports (a device's free memory; default: plenty). */
void fenced_set_free_memory(size_t bytes);

#endif
