/* The CPU backend: host memory and the table of reference kernels. */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "normed.h"
#include "ref_kernels.h"
#include "tsedarts/backend_cpu.h"

typedef td_status (*ref_kernel)(const kernel_args *a);

/* TSEDARTS_HUGE_PAGES=0 turns the huge-page request below off. */
static int getenv_is_zero(const char *name)
{
    const char *v = getenv(name);
    return v && !strcmp(v, "0");
}

size_t ref_parallel_min = 16384;

void backend_cpu_set_parallel_min(size_t elements) { ref_parallel_min = elements; }

static const ref_kernel kernels[OP_COUNT][2] = {
#define REF_ENTRY(id, name) [OP_##id] = {ref_##name##_f32, ref_##name##_f64},
    TD_OP_LIST(REF_ENTRY)
#undef REF_ENTRY
};

/* Buffers of 2 MiB and more (activation arenas, weights and their
 * optimiser state) start on a 2 MiB boundary and ask for transparent huge
 * pages, where the kernel grants them only on request (the common
 * "madvise" setting): a step streams its activations through every
 * kernel, and with 4 KiB pages each tensor of a few MiB misses the TLB
 * once per page. Only where the memory sits changes, never a value. */
#define HUGE_PAGE (2u << 20)
static void *cpu_alloc(size_t bytes)
{
    void *p = NULL;
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : 64;
    if (posix_memalign(&p, align, bytes ? bytes : 64) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_PAGE && !getenv_is_zero("TSEDARTS_HUGE_PAGES")) madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static void cpu_release(void *p) { free(p); }

static td_status cpu_copy(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
    return TD_OK;
}

static td_status cpu_zero(void *dst, size_t bytes)
{
    memset(dst, 0, bytes);
    return TD_OK;
}

static td_status cpu_run_node(const kernel_args *a)
{
    if (a->dt != DT_F32 && a->dt != DT_F64)
        return TD_FAIL(TD_ERR_ARG, "cpu backend: unsupported element type %s", dtype_name(a->dt));
    ref_kernel k = kernels[a->nd->op][a->dt == DT_F64];
    if (!k) return TD_FAIL(TD_ERR_UNSUPPORTED, "cpu backend: no kernel for %s", op_name(a->nd->op));
    TD_CHECK(ref_check_normed(FUSED_NONE, 0, a));
    return k(a);
}

/* A fused group: the chain's members one after another (the bits of
 * running them alone, by construction), the patterned groups by their
 * kernels. */
static td_status cpu_run_fused(fused_kind kind, int n, const kernel_args *const *m)
{
    if (kind != FUSED_CHAIN) {
        for (int q = 0; q < n; q++) TD_CHECK(ref_check_normed(kind, q, m[q]));
        return ref_run_fused(kind, m);
    }
    for (int q = 0; q < n; q++) TD_CHECK(cpu_run_node(m[q]));
    return TD_OK;
}

static int cpu_fuses(fused_kind kind, dtype dt) { return kind == FUSED_CHAIN ? dt == DT_F32 || dt == DT_F64 : ref_fuses(kind, dt); }

/* Horizontal batches: members too small to split their own work run side
 * by side, one per thread, in one parallel region instead of one region
 * (or none) each; members large enough to split run one after another,
 * each split as when it runs alone. A kernel gives the same bits on any
 * number of threads, so either way each member's results are its own. */
static size_t member_work(const kernel_args *a)
{
    size_t w = shape_numel(a->out_shape);
    for (int k = 0; k < a->nin; k++)
        if (shape_numel(a->in_shape[k]) > w) w = shape_numel(a->in_shape[k]);
    return w;
}

static int side_by_side(int n, const kernel_args *first)
{
    size_t w = member_work(first);
    return n > 1 && w < ref_parallel_min && w * (size_t)n >= ref_parallel_min;
}

/* Runs member k of a batch (a node, or a fused group of per nodes). */
static td_status run_member(const kernel_args *const *m, int k, fused_kind kind, int per)
{
    return kind == FUSED_NONE ? cpu_run_node(m[k]) : cpu_run_fused(kind, per, m + (size_t)k * per);
}

static td_status run_members(int n, const kernel_args *const *m, fused_kind kind, int per)
{
    if (!side_by_side(n, m[0])) {
        for (int k = 0; k < n; k++) TD_CHECK(run_member(m, k, kind, per));
        return TD_OK;
    }
    int failed = -1;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < n; k++)
        if (run_member(m, k, kind, per) != TD_OK) {
#pragma omp critical(cpu_batch_failed)
            if (failed < 0 || k < failed) failed = k;
        }
    /* the message was set on a worker thread: the failing member again,
     * here, sets it on this one */
    return failed < 0 ? TD_OK : run_member(m, failed, kind, per);
}

/* Members that split their own work (side_by_side) run alone anyway. */
static size_t cpu_batch_member_max(void) { return ref_parallel_min; }

static int cpu_batches(op_kind op, dtype dt) { return op >= 0 && op < OP_COUNT && (dt == DT_F32 || dt == DT_F64); }
static td_status cpu_run_batched(int n, const kernel_args *const *m) { return run_members(n, m, FUSED_NONE, 1); }
static td_status cpu_run_fused_batched(fused_kind kind, int per, int n, const kernel_args *const *m)
{
    return run_members(n, m, kind, per);
}

static td_status cpu_sync(void) { return TD_OK; }

/* The kernels' vector width is fixed when the library is compiled. */
static char *cpu_describe(void)
{
#if defined(__AVX2__) && defined(__FMA__)
    const char *isa = "avx2+fma";
#else
    const char *isa = "baseline";
#endif
    const char *fmt = "{\"name\": \"cpu\", \"kernels\": \"ref (C11, OpenMP %d)\", \"vector_isa\": \"%s\", "
                      "\"threads\": %d}";
    int n = snprintf(NULL, 0, fmt, _OPENMP, isa, omp_get_max_threads());
    char *s = malloc((size_t)n + 1);
    if (s) snprintf(s, (size_t)n + 1, fmt, _OPENMP, isa, omp_get_max_threads());
    return s;
}

static const backend cpu_backend = {
    .name = "cpu",
    .device_memory = 0,
    .describe = cpu_describe,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_copy,
    .download = cpu_copy,
    .zero = cpu_zero,
    .run_node = cpu_run_node,
    .run_fused = cpu_run_fused,
    .reads_normed = ref_reads_normed,
    .fuses = cpu_fuses,
    .batches = cpu_batches,
    .run_batched = cpu_run_batched,
    .fused_batches = cpu_fuses,
    .run_fused_batched = cpu_run_fused_batched,
    .batch_member_max = cpu_batch_member_max,
    .sync = cpu_sync,
    .flat_copy = ref_flat_copy,
    .flat_axpy = ref_flat_axpy,
    .flat_scale = ref_flat_scale,
    .flat_sum_squares = ref_flat_sum_squares,
    .sgd_step = ref_sgd_step,
    .adam_step = ref_adam_step,
    .flat_clip = ref_flat_clip,
    .flat_inverse_norm = ref_flat_inverse_norm,
    .flat_axpy_dev = ref_flat_axpy_dev,
    .tally_pass = ref_tally_pass,
    /* host memory is what the kernels read, and an upload is a copy done
     * on return: no pinning and no fences */
    .host_alloc = cpu_alloc,
    .host_release = cpu_release,
};

const backend *backend_cpu(void) { return &cpu_backend; }
