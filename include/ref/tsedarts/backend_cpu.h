/* The CPU reference backend (ref/). */
#ifndef TSEDARTS_BACKEND_CPU_H
#define TSEDARTS_BACKEND_CPU_H

#include "tsedarts/backend.h"

const backend *backend_cpu(void);
/* Kernels on fewer elements than this run on one thread (default 16384);
 * tests set 0 to put every kernel through its parallel path. */
void backend_cpu_set_parallel_min(size_t elements);

#endif
