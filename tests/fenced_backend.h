/* A backend whose memory the host cannot touch: the CPU kernels behind
 * pointers with a high bit set, so that any read or write of backend
 * memory outside the backend (a habit a GPU would not forgive) faults at
 * once instead of passing on the CPU and failing on a GPU. */
#ifndef TSEDARTS_TEST_FENCED_BACKEND_H
#define TSEDARTS_TEST_FENCED_BACKEND_H

#include "tsedarts/backend.h"

const backend *backend_fenced(void);

#endif
