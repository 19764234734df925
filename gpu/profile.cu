/* What the executor's profile and an external trace need from the device:
 * marks on the stream's own clock (CUDA events), the count of launches,
 * and NVTX ranges (backend.h timer_mark, timer_read, launches, range_push,
 * range_pop).
 *
 * A mark is an event recorded on the stream: it waits for nothing on the
 * host, so a profiled run launches as an unprofiled one does, and the
 * time between two marks is the device's time for what was launched
 * between them (including any wait for the host to launch it). The events
 * are made on first use and reused by every later run. */
#include <stdlib.h>

#include "gpu_internal.h"

#ifdef TSEDARTS_HAVE_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

static cudaEvent_t *marks;
static int n_marks;

/* Mark k, made if this is the first run to need so many. */
static td_status mark_get(int k, cudaEvent_t *ev)
{
    if (k < 0) return TD_FAIL(TD_ERR_ARG, "cuda: timer mark %d", k);
    if (k >= n_marks) {
        int n = 2 * k + 64;
        cudaEvent_t *grown = (cudaEvent_t *)realloc(marks, (size_t)n * sizeof *grown);
        if (!grown) return TD_FAIL(TD_ERR_MEMORY, "cuda: no memory for %d timer marks", n);
        marks = grown;
        for (; n_marks < n; n_marks++) CUDA_CHECK(cudaEventCreate(&marks[n_marks]));
    }
    *ev = marks[k];
    return TD_OK;
}

static td_status gpu_timer_mark(int k)
{
    cudaEvent_t ev = NULL;
    TD_CHECK(mark_get(k, &ev));
    CUDA_CHECK(cudaEventRecord(ev, gpu.stream));
    return TD_OK;
}

static td_status gpu_timer_read(int from, int to, double *seconds)
{
    if (from < 0 || to < 0 || from >= n_marks || to >= n_marks)
        return TD_FAIL(TD_ERR_ARG, "cuda: timer marks %d and %d (%d made)", from, to, n_marks);
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, marks[from], marks[to]));
    *seconds = 1e-3 * ms;
    return TD_OK;
}

static long gpu_launches(void) { return gpu.launches; }

#ifdef TSEDARTS_HAVE_NVTX
static void gpu_range_push(const char *name) { nvtxRangePushA(name); }
static void gpu_range_pop(void) { nvtxRangePop(); }
#endif

void gpu_profile_register(backend *be)
{
    be->timer_mark = gpu_timer_mark;
    be->timer_read = gpu_timer_read;
    be->launches = gpu_launches;
#ifdef TSEDARTS_HAVE_NVTX
    be->range_push = gpu_range_push;
    be->range_pop = gpu_range_pop;
#endif
}

void gpu_profile_release(void)
{
    for (int i = 0; i < n_marks; i++)
        if (marks[i]) cudaEventDestroy(marks[i]);
    free(marks);
    marks = NULL;
    n_marks = 0;
}
