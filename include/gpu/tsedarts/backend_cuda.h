/* The CUDA backend (gpu/). */
#ifndef TSEDARTS_BACKEND_CUDA_H
#define TSEDARTS_BACKEND_CUDA_H

#include "tsedarts/backend.h"

/* The CUDA backend on a device, or NULL when this build has none or no
 * device is usable (then *why says which). */
const backend *backend_cuda(int device, const char **why);

/* The CUDA devices this process sees (0 when this build has none or the
 * driver cannot count them; then *why says which). It initialises the CUDA
 * runtime: a process that forks workers calls it in a child. */
int backend_cuda_count(const char **why);

#endif
