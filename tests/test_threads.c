/* Results do not depend on the OpenMP thread count: a whole supernet step
 * (forward, backward, BN running statistics) with 1, 2 and 3 threads
 * gives bit-identical outputs, gradients and statistics, at a batch of 6
 * (one block of images in the batch norms' sums, split by channels) and
 * of 20 (blocks of 8, 8 and 4 images, 3 threads splitting them unevenly;
 * ref/channel_sums.c). */
#include <criterion/criterion.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#include "tsedarts/autodiff.h"
#include "tsedarts/buffers.h"
#include "tsedarts/params.h"
#include "tsedarts/philox.h"
#include "tsedarts/supernet.h"
#include "tsedarts/backend_cpu.h"

static void run_step(dtype dt, int batch, int threads, void *out[ROLE_COUNT], size_t bytes[ROLE_COUNT])
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    supernet_config cfg = {4, 5, 3, 8, 10, 0};
    net_io io;
    cr_assert_eq(supernet_build(&b, &cfg, batch, &io), TD_OK, "%s", td_error_message());
    graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    graph_bind(g, io.logits, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.loss, 1, 1), TD_OK);
    role_buffers rb;
    cr_assert_eq(role_buffers_alloc(&rb, g, backend_cpu(), dt), TD_OK);
    params_init(g, 3, dt, rb.ptr[ROLE_WEIGHT], rb.ptr[ROLE_ALPHA], rb.ptr[ROLE_BNSTAT]);
    philox_stream s;
    philox_stream_init(&s, 9, PURPOSE_TEST, 0);
    size_t n = g->role_size[ROLE_INPUT];
    for (size_t i = 0; i < n; i++) {
        double u = philox_next_uniform_f64(&s) * 2 - 1;
        if (dt == DT_F32)
            ((float *)rb.ptr[ROLE_INPUT])[i] = (float)u;
        else
            ((double *)rb.ptr[ROLE_INPUT])[i] = u;
    }
    for (int i = 0; i < batch; i++) ((int32_t *)rb.ptr[ROLE_LABEL])[i] = i % 10;
    exec_ctx *ctx;
    cr_assert_eq(exec_create(g, backend_cpu(), dt, &ctx), TD_OK);
    role_buffers_bind(&rb, ctx);
    omp_set_num_threads(threads);
    backend_cpu_set_parallel_min(0); /* every kernel takes its parallel path */
    cr_assert_eq(exec_run(ctx), TD_OK, "%s", td_error_message());
    copy_roles(g, &rb, dt, out, bytes);
    exec_destroy(ctx);
    role_buffers_free(&rb);
    layer_free(&b);
    graph_destroy(g);
}

static void check(dtype dt, int batch)
{
    void *one[ROLE_COUNT], *more[ROLE_COUNT];
    size_t b1[ROLE_COUNT], bm[ROLE_COUNT];
    run_step(dt, batch, 1, one, b1);
    for (int threads = 2; threads <= 3; threads++) {
        run_step(dt, batch, threads, more, bm);
        for (int r = 1; r < ROLE_COUNT; r++) {
            cr_assert_eq(b1[r], bm[r]);
            cr_expect(memcmp(one[r], more[r], b1[r]) == 0, "%s, batch %d: role %s differs between 1 and %d threads",
                      dtype_name(dt), batch, role_name((value_role)r), threads);
            free(more[r]);
        }
    }
    for (int r = 1; r < ROLE_COUNT; r++) free(one[r]);
}

Test(threads, supernet_step_bit_identical_f32) { check(DT_F32, 6); }
Test(threads, supernet_step_bit_identical_f64) { check(DT_F64, 6); }
Test(threads, supernet_step_bit_identical_f32_several_image_blocks) { check(DT_F32, 20); }
