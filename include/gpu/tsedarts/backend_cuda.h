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

/* Whether this build has the CUDA backend. It is a module that the
 * program loads when a CUDA device is first asked for, so a run on the CPU
 * maps none of the CUDA libraries (core/device/backend_cuda_loader.c). */
int backend_cuda_built(void);

/* Loads that module now, touching no device: 1 when it is loaded, 0 with
 * *why when it cannot be or the build has none. A build with the backend
 * whose module does not load is broken, not short of a GPU. */
int backend_cuda_load(const char **why);

#endif
