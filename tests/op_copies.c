/* Op cases several times over in one graph, run batched or plain, and
 * role buffers compared bit for bit (op_copies.h). */
#include "op_copies.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/buffers.h"
#include "tsedarts/ops.h"

graph *copies_of(const op_case *c, double *host[ROLE_COUNT])
{
    graph *g = graph_create();
    int in[COPIES][OP_CASE_MAX_IN];
    for (int k = 0; k < COPIES; k++) {
        op_case_inputs_copy(g, c, k, in[k]);
        int y = op_case_build(g, c, in[k]);
        if (y >= 0 && g->nodes[g->n_nodes - 1].out == y) graph_bind(g, y, ROLE_OUTPUT, (size_t)-1);
    }
    cr_assert_eq(graph_status(g), TD_OK, "%s: %s", c->label, td_error_message());
    for (int r = 0; r < ROLE_COUNT; r++) host[r] = calloc(g->role_size[r] + 1, sizeof(double));
    for (int k = 0; k < COPIES; k++) op_case_fill(g, c, in[k], 900 + (uint64_t)k, host);
    return g;
}

void run_graph(const graph *g, double *const host[ROLE_COUNT], const backend *be, dtype dt, int batched,
                      double *out[ROLE_COUNT], int *steps)
{
    role_buffers rb = {0};
    cr_assert_eq(role_buffers_alloc(&rb, g, be, dt), TD_OK);
    for (int r = 1; r < ROLE_COUNT; r++)
        if (g->role_size[r]) cr_assert_eq(role_buffers_upload_f64(&rb, (value_role)r, host[r], g->role_size[r]), TD_OK);
    exec_ctx *ctx;
    cr_assert_eq(batched ? exec_create(g, be, dt, &ctx) : exec_create_plain(g, be, dt, &ctx), TD_OK, "%s",
                 td_error_message());
    role_buffers_bind(&rb, ctx);
    cr_assert_eq(exec_run(ctx), TD_OK, "%s", td_error_message());
    *steps = ctx->sched.n_steps;
    for (int r = 1; r < ROLE_COUNT; r++) {
        out[r] = calloc(g->role_size[r] + 1, sizeof(double));
        if (g->role_size[r]) cr_assert_eq(role_buffers_download_f64(&rb, (value_role)r, out[r], g->role_size[r]), TD_OK);
    }
    out[0] = NULL;
    exec_destroy(ctx);
    role_buffers_free(&rb);
}

int same_roles(const graph *g, double *const a[ROLE_COUNT], double *const b[ROLE_COUNT], char *why, size_t len)
{
    for (int r = 1; r < ROLE_COUNT; r++)
        for (size_t i = 0; i < g->role_size[r]; i++)
            if (memcmp(&a[r][i], &b[r][i], sizeof(double))) {
                snprintf(why, len, "role %s element %zu: %.17g batched, %.17g alone", role_name((value_role)r), i,
                         a[r][i], b[r][i]);
                return 0;
            }
    return 1;
}

void free_roles(double *r[ROLE_COUNT])
{
    for (int k = 0; k < ROLE_COUNT; k++) free(r[k]);
}

