/* Device names to backends. */
#include "tsedarts/device.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/backend_cpu.h"
#include "tsedarts/backend_cuda.h"

/* cuda, cuda:N -> N; -1 when name is not a CUDA device name. */
static int cuda_index(const char *name)
{
    if (strcmp(name, "cuda") == 0) return 0;
    if (strncmp(name, "cuda:", 5) != 0 || !name[5]) return -1;
    char *end;
    errno = 0;
    long n = strtol(name + 5, &end, 10);
    if (*end || errno || n < 0 || n > 1023) return -1;
    return (int)n;
}

td_status device_open(const char *name, const backend **out)
{
    *out = NULL;
    if (!name || strcmp(name, "cpu") == 0) {
        *out = backend_cpu();
        return TD_OK;
    }
    int idx = cuda_index(name);
    if (idx < 0) return TD_FAIL(TD_ERR_ARG, "unknown device '%s' (cpu, cuda or cuda:N)", name);
    /* the GPU's speed switches are refused by name before any device is
     * touched, so a mistyped one is an error here, never a device "not
     * usable"; the values are those gpu/backend_cuda.cu reads */
    const char *conv = getenv("TSEDARTS_GPU_CONV");
    if (conv && *conv && strcmp(conv, "own") && strcmp(conv, "cudnn"))
        return TD_FAIL(TD_ERR_ARG, "TSEDARTS_GPU_CONV is '%s': use own (the default) or cudnn", conv);
    const char *why = NULL;
    *out = backend_cuda(idx, &why);
    if (!*out) return TD_FAIL(TD_ERR_UNSUPPORTED, "device %s cannot be used: %s", name, why ? why : "unknown reason");
    return TD_OK;
}

td_status device_check_name(const char *name)
{
    if (!name || strcmp(name, "cpu") == 0 || cuda_index(name) >= 0) return TD_OK;
    return TD_FAIL(TD_ERR_ARG, "unknown device '%s' (cpu, cuda or cuda:N)", name);
}

int device_same(const char *a, const char *b)
{
    if (strcmp(a, b) == 0) return 1;
    int ia = cuda_index(a), ib = cuda_index(b);
    return ia >= 0 && ia == ib;
}
