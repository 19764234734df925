/* The CUDA backend (gpu/). */
#ifndef TSEDARTS_BACKEND_CUDA_H
#define TSEDARTS_BACKEND_CUDA_H

#include "tsedarts/backend.h"

/* The CUDA backend on a device, or NULL when this build has none or no
 * device is usable (then *why says which). */
const backend *backend_cuda(int device, const char **why);

#endif
