#include "fenced_backend.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/backend_cpu.h"

/* Bit 62 makes an x86-64 address non-canonical: a load or store through it
 * traps (SIGSEGV or SIGBUS). Offsets added by the executor keep the bit. */
#define FENCE ((uintptr_t)1 << 62)

static void *fence(void *p) { return p ? (void *)((uintptr_t)p | FENCE) : NULL; }
static void *open_fence(const void *p) { return p ? (void *)((uintptr_t)p & ~FENCE) : NULL; }

static void *fenced_alloc(size_t bytes) { return fence(backend_cpu()->alloc(bytes)); }
static void fenced_release(void *p) { backend_cpu()->release(open_fence(p)); }

static td_status fenced_upload(void *dst, const void *src, size_t bytes)
{
    memcpy(open_fence(dst), src, bytes);
    return TD_OK;
}

static td_status fenced_download(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, open_fence(src), bytes);
    return TD_OK;
}

static td_status fenced_zero(void *dst, size_t bytes)
{
    memset(open_fence(dst), 0, bytes);
    return TD_OK;
}

/* The arguments with every pointer opened (at most 64 inputs here),
 * normed inputs' included. */
typedef struct opened_args {
    kernel_args a;
    void *in[64];
    normed_input normed[64];
} opened_args;

static td_status open_args(const kernel_args *a, opened_args *o)
{
    if (a->nin > 64) return TD_FAIL(TD_ERR_UNSUPPORTED, "fenced backend: %d inputs", a->nin);
    o->a = *a;
    for (int k = 0; k < a->nin; k++) {
        o->in[k] = open_fence(a->in[k]);
        if (!a->normed) continue;
        const normed_input *n = &a->normed[k];
        o->normed[k] = (normed_input){open_fence(n->x), open_fence(n->sc), open_fence(n->bias), open_fence(n->r),
                                      open_fence(n->img)};
    }
    o->a.in = o->in;
    o->a.normed = a->normed ? o->normed : NULL;
    o->a.out = open_fence(a->out);
    return TD_OK;
}

static td_status fenced_run_node(const kernel_args *a)
{
    opened_args o;
    TD_CHECK(open_args(a, &o));
    return backend_cpu()->run_node(&o.a);
}

static int fenced_fuses(fused_kind kind, dtype dt) { return backend_cpu()->fuses(kind, dt); }
static int fenced_reads_normed(const node *nd, int k, dtype dt) { return backend_cpu()->reads_normed(nd, k, dt); }

static td_status fenced_run_fused(fused_kind kind, int n, const kernel_args *const *members)
{
    opened_args o[FUSED_MAX_MEMBERS];
    const kernel_args *m[FUSED_MAX_MEMBERS];
    for (int q = 0; q < n; q++) {
        TD_CHECK(open_args(members[q], &o[q]));
        m[q] = &o[q].a;
    }
    return backend_cpu()->run_fused(kind, n, m);
}

static td_status fenced_sync(void) { return TD_OK; }

static td_status fenced_flat_copy(void *dst, const void *src, size_t bytes)
{
    return backend_cpu()->flat_copy(open_fence(dst), open_fence(src), bytes);
}

static td_status fenced_flat_axpy(void *y, const void *x, size_t n, dtype dt, double a)
{
    return backend_cpu()->flat_axpy(open_fence(y), open_fence(x), n, dt, a);
}

static td_status fenced_flat_scale(void *x, size_t n, dtype dt, double s)
{
    return backend_cpu()->flat_scale(open_fence(x), n, dt, s);
}

static td_status fenced_flat_sum_squares(const void *x, size_t n, dtype dt, double *out)
{
    return backend_cpu()->flat_sum_squares(open_fence(x), n, dt, out);
}

static td_status fenced_sgd_step(void *w, const void *g, void *buf, size_t n, dtype dt, double lr, double momentum,
                                 double wd, int nesterov)
{
    return backend_cpu()->sgd_step(open_fence(w), open_fence(g), open_fence(buf), n, dt, lr, momentum, wd, nesterov);
}

static td_status fenced_adam_step(void *p, const void *g, void *m, void *v, size_t n, dtype dt, double lr,
                                  double beta1, double beta2, double eps, double wd, long step)
{
    return backend_cpu()->adam_step(open_fence(p), open_fence(g), open_fence(m), open_fence(v), n, dt, lr, beta1,
                                    beta2, eps, wd, step);
}

static char *fenced_describe(void) { return backend_cpu()->describe(); }

static size_t free_memory = (size_t)1 << 50;
void fenced_set_free_memory(size_t bytes) { free_memory = bytes; }
static size_t fenced_memory_free(void) { return free_memory; }

const backend *backend_fenced(void)
{
    static backend b;
    if (!b.name) {
        b.name = "cpu";
        b.device_memory = 1;
        b.describe = fenced_describe;
        b.alloc = fenced_alloc;
        b.release = fenced_release;
        b.upload = fenced_upload;
        b.download = fenced_download;
        b.zero = fenced_zero;
        b.run_node = fenced_run_node;
        b.fuses = fenced_fuses;
        b.run_fused = fenced_run_fused;
        b.reads_normed = fenced_reads_normed;
        b.sync = fenced_sync;
        b.flat_copy = fenced_flat_copy;
        b.flat_axpy = fenced_flat_axpy;
        b.flat_scale = fenced_flat_scale;
        b.flat_sum_squares = fenced_flat_sum_squares;
        b.sgd_step = fenced_sgd_step;
        b.adam_step = fenced_adam_step;
        b.memory_free = fenced_memory_free;
    }
    return &b;
}
