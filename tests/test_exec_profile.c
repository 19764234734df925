/* The executor's counts and profile, and TSEDARTS_SYNC_EACH_NODE: each
 * checked on the CPU against a backend that counts what it was asked to
 * do (and, for the device-clock and recording paths, stands in for a
 * device with a clock of its own). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/autodiff.h"
#include "tsedarts/backend_cpu.h"
#include "tsedarts/buffers.h"
#include "tsedarts/exec.h"
#include "tsedarts/layers.h"
#include "tsedarts/ops.h"
#include "tsedarts/params.h"
#include "tsedarts/runtime.h"
#include "tsedarts/supernet.h"

/* relu, mul and sum_all needed; an exp nobody reads is not. */
static graph *three_nodes(void)
{
    graph *g = graph_create();
    int x = graph_input(g, shape_make(2, 3, 4, 4), 0);
    op_exp(g, x);
    int y = op_relu(g, x);
    int s = op_sum_all(g, op_mul(g, y, x));
    graph_bind(g, s, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_status(g), TD_OK, "%s", g->error);
    return g;
}

static int node_of(const graph *g, op_kind op)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == op) return i;
    cr_assert_fail("no %s node", op_name(op));
    return -1;
}

/* A CPU that counts: kernel calls, launches (two per kernel, as a device
 * launching two kernels per node would), synchronisations, recordings,
 * trace ranges; with a device clock that advances by a cost per op. */
static struct {
    long calls, fused_calls, launches, syncs, captures, pushes, pops;
    int capturing;
    double clock, marks[64];
    op_kind faulting_op, failing_op; /* OP_COUNT: none */
    int fault_pending;
} fake;

static double cost_of(op_kind op) { return op == OP_RELU ? 1.0 : op == OP_MUL ? 2.0 : op == OP_SUM_ALL ? 4.0 : 0.5; }

static td_status fake_run_node(const kernel_args *a)
{
    if (a->nd->op == fake.failing_op) return TD_FAIL(TD_ERR_BACKEND, "fake: launch refused");
    fake.launches += 2;
    if (fake.capturing) return TD_OK; /* recorded, not run */
    fake.calls++;
    fake.clock += cost_of(a->nd->op);
    if (a->nd->op == fake.faulting_op) fake.fault_pending = 1; /* shows only at the next synchronisation */
    return backend_cpu()->run_node(a);
}

static td_status fake_run_fused(fused_kind kind, int n, const kernel_args *const *members)
{
    fake.fused_calls++;
    return backend_cpu()->run_fused(kind, n, members);
}

static td_status fake_sync(void)
{
    fake.syncs++;
    if (fake.fault_pending) {
        fake.fault_pending = 0;
        return TD_FAIL(TD_ERR_BACKEND, "fake: an illegal memory access was encountered");
    }
    return TD_OK;
}

static long fake_launches(void) { return fake.launches; }

static td_status fake_timer_mark(int k)
{
    cr_assert(k >= 0 && k < 64);
    fake.marks[k] = fake.clock;
    return TD_OK;
}

static td_status fake_timer_read(int from, int to, double *s)
{
    *s = fake.marks[to] - fake.marks[from];
    return TD_OK;
}

static td_status fake_capture_begin(void)
{
    fake.capturing = 1;
    fake.captures++;
    return TD_OK;
}

static td_status fake_capture_end(void **handle)
{
    fake.capturing = 0;
    *handle = &fake;
    return TD_OK;
}

static td_status fake_capture_abort(void)
{
    fake.capturing = 0;
    return TD_OK;
}

static td_status fake_replay(void *handle)
{
    (void)handle;
    return TD_OK;
}

static void fake_replay_free(void *handle) { (void)handle; }
static void fake_push(const char *name)
{
    (void)name;
    fake.pushes++;
}
static void fake_pop(void) { fake.pops++; }

/* The counting CPU; with a clock and recording when device is set. */
static backend fake_backend(int device)
{
    memset(&fake, 0, sizeof fake);
    fake.faulting_op = fake.failing_op = OP_COUNT;
    backend be = *backend_cpu();
    be.name = "fake";
    be.run_node = fake_run_node;
    be.run_fused = fake_run_fused;
    /* no batches: each node or group a call of its own, as counted here */
    be.batches = NULL;
    be.run_batched = NULL;
    be.fused_batches = NULL;
    be.run_fused_batched = NULL;
    be.sync = fake_sync;
    be.range_push = fake_push;
    be.range_pop = fake_pop;
    if (device) {
        be.launches = fake_launches;
        be.timer_mark = fake_timer_mark;
        be.timer_read = fake_timer_read;
        be.capture_begin = fake_capture_begin;
        be.capture_end = fake_capture_end;
        be.capture_abort = fake_capture_abort;
        be.replay = fake_replay;
        be.replay_free = fake_replay_free;
    }
    return be;
}

typedef struct bound_run {
    exec_ctx *ctx;
    role_buffers rb;
} bound_run;

static void bound_open(bound_run *r, const graph *g, const backend *be, int fused)
{
    cr_assert_eq(role_buffers_alloc(&r->rb, g, be, DT_F32), TD_OK);
    for (size_t i = 0; i < g->role_size[ROLE_INPUT]; i++) ((float *)r->rb.ptr[ROLE_INPUT])[i] = (float)i / 7 - 3;
    cr_assert_eq((fused ? exec_create : exec_create_plain)(g, be, DT_F32, &r->ctx), TD_OK);
    role_buffers_bind(&r->rb, r->ctx);
}

static void bound_close(bound_run *r)
{
    exec_destroy(r->ctx);
    role_buffers_free(&r->rb);
}

Test(exec_profile, counts_one_dispatch_per_needed_node_on_the_cpu)
{
    graph *g = three_nodes();
    bound_run r;
    bound_open(&r, g, backend_cpu(), 0);
    exec_profile_reset();
    for (int k = 0; k < 3; k++) cr_assert_eq(exec_run(r.ctx), TD_OK, "%s", td_error_message());
    const exec_profile *p = exec_profile_get();
    cr_expect_eq(p->runs, 3);
    cr_expect_eq(p->dispatches, 9, "3 runs of relu, mul, sum_all (the unread exp not run): %ld", p->dispatches);
    cr_expect_eq(p->launches, 0, "the CPU counts no launches");
    cr_expect_eq(p->replays, 0);
    exec_profile_reset();
    cr_expect_eq(exec_profile_get()->dispatches, 0);
    bound_close(&r);
    graph_destroy(g);
}

/* With fused groups a dispatch is one call into the backend, whichever
 * entry: the count matches what the backend saw, and is below the nodes. */
Test(exec_profile, counts_a_fused_group_as_one_dispatch)
{
    graph *g = graph_create();
    layer_builder b;
    layer_init(&b, g, 1, 1);
    supernet_config cfg = {4, 3, 3, 8, 10, 0};
    net_io io;
    cr_assert_eq(supernet_build(&b, &cfg, 4, &io), TD_OK);
    graph_bind(g, io.loss, ROLE_OUTPUT, (size_t)-1);
    cr_assert_eq(graph_param_grads(g, io.loss, 1, 1), TD_OK, "%s", td_error_message());
    backend be = fake_backend(0);
    bound_run r;
    bound_open(&r, g, &be, 1);
    params_init(g, 3, DT_F32, r.rb.ptr[ROLE_WEIGHT], r.rb.ptr[ROLE_ALPHA], r.rb.ptr[ROLE_BNSTAT]);
    exec_profile_reset();
    cr_assert_eq(exec_run(r.ctx), TD_OK, "%s", td_error_message());
    const exec_profile *p = exec_profile_get();
    int needed = 0;
    for (int i = 0; i < g->n_nodes; i++) needed += r.ctx->needed[i];
    cr_expect_gt(fake.fused_calls, 0, "no fused group ran");
    cr_expect_eq(p->dispatches, fake.calls + fake.fused_calls, "counted %ld, the backend saw %ld + %ld fused",
                 p->dispatches, fake.calls, fake.fused_calls);
    cr_expect_lt(p->dispatches, needed);
    fprintf(stderr, "small supernet: %d needed nodes, %ld dispatches (%ld fused)\n", needed, p->dispatches,
            fake.fused_calls);
    bound_close(&r);
    layer_free(&b);
    graph_destroy(g);
}

/* On a device clock each node is charged the interval between the marks
 * around it, all read after one synchronisation at the end of the run;
 * and the run is not recorded. */
Test(exec_profile, device_clock_charges_each_node_and_syncs_once_per_run)
{
    graph *g = three_nodes();
    backend be = fake_backend(1);
    bound_run r;
    bound_open(&r, g, &be, 1);
    exec_profile_reset();
    exec_profile_enable(1);
    for (int k = 0; k < 3; k++) cr_assert_eq(exec_run(r.ctx), TD_OK, "%s", td_error_message());
    exec_profile_enable(0);
    const exec_profile *p = exec_profile_get();
    cr_expect_eq(fake.captures, 0, "a profiled run was recorded");
    cr_expect_eq(fake.syncs, 3, "%ld synchronisations for 3 runs", fake.syncs);
    cr_expect(p->device_clock);
    cr_expect_eq(p->seconds[OP_RELU], 3.0, "relu: %g s", p->seconds[OP_RELU]);
    cr_expect_eq(p->seconds[OP_MUL], 6.0, "mul: %g s", p->seconds[OP_MUL]);
    cr_expect_eq(p->seconds[OP_SUM_ALL], 12.0, "sum_all: %g s", p->seconds[OP_SUM_ALL]);
    cr_expect_eq(p->seconds[OP_EXP], 0.0);
    cr_expect_eq(p->calls[OP_MUL], 3);
    cr_expect_eq(p->launches_by_op[OP_MUL], 6);
    cr_expect_eq(p->launches, 18);
    cr_expect_eq(fake.pushes, 3 * 4, "a range per run and per node while profiling: %ld", fake.pushes);
    cr_expect_eq(fake.pops, fake.pushes);
    bound_close(&r);
    graph_destroy(g);
}

/* Unprofiled, the first run is direct, the second recorded and replayed,
 * the rest replayed: each counts the dispatches and launches it stands
 * for; and no trace range is pushed unless asked. */
Test(exec_profile, a_replay_counts_what_was_recorded)
{
    graph *g = three_nodes();
    backend be = fake_backend(1);
    bound_run r;
    bound_open(&r, g, &be, 1);
    exec_profile_reset();
    for (int k = 0; k < 4; k++) cr_assert_eq(exec_run(r.ctx), TD_OK, "%s", td_error_message());
    const exec_profile *p = exec_profile_get();
    cr_expect_eq(fake.captures, 1);
    cr_expect_eq(p->runs, 4);
    cr_expect_eq(p->replays, 3);
    cr_expect_eq(p->dispatches, 12);
    cr_expect_eq(p->launches, 24);
    cr_expect_eq(p->replayed_launches, 18);
    cr_expect_eq(p->recorded_launches, 6);
    cr_expect_eq(fake.launches, 12, "the backend counted the direct run and the recording");
    cr_expect_eq(fake.pushes, 0);
    bound_close(&r);
    graph_destroy(g);
}

/* A kernel that faults shows at the next synchronisation: without the
 * switch the run ends without seeing it; with it the error names the node. */
Test(exec_profile, sync_each_node_names_the_faulting_node)
{
    graph *g = three_nodes();
    backend be = fake_backend(0);
    bound_run r;
    bound_open(&r, g, &be, 1);
    fake.faulting_op = OP_MUL;
    unsetenv("TSEDARTS_SYNC_EACH_NODE");
    cr_expect_not(exec_sync_each_node());
    cr_expect_eq(exec_run(r.ctx), TD_OK, "without the switch the executor does not synchronise");
    fake.fault_pending = 0;
    setenv("TSEDARTS_SYNC_EACH_NODE", "1", 1);
    cr_expect(exec_sync_each_node());
    td_status s = exec_run(r.ctx);
    unsetenv("TSEDARTS_SYNC_EACH_NODE");
    cr_assert_eq(s, TD_ERR_BACKEND);
    char want[64];
    snprintf(want, sizeof want, "node %d (mul)", node_of(g, OP_MUL));
    const char *msg = td_error_message();
    cr_expect(strstr(msg, want) != NULL, "\"%s\" does not name %s", msg, want);
    cr_expect(strstr(msg, "illegal memory access") != NULL, "\"%s\" lost the backend's message", msg);
    fprintf(stderr, "%s\n", msg);
    setenv("TSEDARTS_SYNC_EACH_NODE", "0", 1);
    cr_expect_not(exec_sync_each_node(), "\"0\" is off");
    unsetenv("TSEDARTS_SYNC_EACH_NODE");
    bound_close(&r);
    graph_destroy(g);
}

/* A kernel call that fails names its node, switch or not. */
Test(exec_profile, a_failed_call_names_its_node)
{
    graph *g = three_nodes();
    backend be = fake_backend(0);
    bound_run r;
    bound_open(&r, g, &be, 1);
    fake.failing_op = OP_SUM_ALL;
    cr_assert_eq(exec_run(r.ctx), TD_ERR_BACKEND);
    char want[64];
    snprintf(want, sizeof want, "node %d (sum_all): fake: launch refused", node_of(g, OP_SUM_ALL));
    cr_expect(strstr(td_error_message(), want) != NULL, "\"%s\" does not name %s", td_error_message(), want);
    bound_close(&r);
    graph_destroy(g);
}

/* env.json says which switches a run was under. */
Test(exec_profile, env_json_records_the_switches)
{
    for (int on = 0; on < 2; on++) {
        if (on) setenv("TSEDARTS_SYNC_EACH_NODE", "1", 1);
        else unsetenv("TSEDARTS_SYNC_EACH_NODE");
        char *text = fingerprint_json(1, NULL);
        json_error_t err;
        json_t *o = json_loads(text, 0, &err);
        cr_assert(o, "%s", err.text);
        json_t *v = json_object_get(json_object_get(o, "switches"), "TSEDARTS_SYNC_EACH_NODE");
        cr_expect(json_is_boolean(v));
        cr_expect_eq(json_is_true(v), on);
        cr_expect(json_is_boolean(json_object_get(json_object_get(o, "switches"), "TSEDARTS_NO_GRAPHS")));
        json_decref(o);
        free(text);
    }
    unsetenv("TSEDARTS_SYNC_EACH_NODE");
}
