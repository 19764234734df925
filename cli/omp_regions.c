/* GCC compiles every `#pragma omp parallel` into one call of libgomp's
 * GOMP_parallel. Where the build links the program with
 * -Wl,--wrap=GOMP_parallel (TSEDARTS_COUNT_OMP_REGIONS, GCC only), those
 * calls come here first and are counted; the region then runs as it would
 * have. Regions nested in a running one (the members of a batch run side
 * by side) do not fork and are not counted. */
#include "omp_regions.h"

#include <omp.h>
#include <stdatomic.h>

#ifdef TSEDARTS_COUNT_OMP_REGIONS
static atomic_long started, forked;

void __real_GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
void __wrap_GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);

void __wrap_GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags)
{
    if (omp_get_level() == 0) {
        atomic_fetch_add_explicit(&started, 1, memory_order_relaxed);
        /* num_threads 1: an `if` clause that was false */
        if (num_threads != 1 && omp_get_max_threads() > 1) atomic_fetch_add_explicit(&forked, 1, memory_order_relaxed);
    }
    __real_GOMP_parallel(fn, data, num_threads, flags);
}

long omp_regions_started(void) { return atomic_load(&started); }
long omp_regions_forked(void) { return atomic_load(&forked); }
#else
long omp_regions_started(void) { return -1; }
long omp_regions_forked(void) { return -1; }
#endif
