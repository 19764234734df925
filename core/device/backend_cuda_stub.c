/* Stands in for the CUDA backend in builds without the CUDA toolkit. */
#include "tsedarts/backend_cuda.h"

const backend *backend_cuda(int device, const char **why)
{
    (void)device;
    if (why) *why = "this build has no CUDA backend (configure with the CUDA toolkit, cuDNN and cuBLAS)";
    return NULL;
}

int backend_cuda_count(const char **why)
{
    if (why) *why = "this build has no CUDA backend (configure with the CUDA toolkit, cuDNN and cuBLAS)";
    return 0;
}

int backend_cuda_built(void) { return 0; }

int backend_cuda_load(const char **why)
{
    if (why) *why = "this build has no CUDA backend (configure with the CUDA toolkit, cuDNN and cuBLAS)";
    return 0;
}
