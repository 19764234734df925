/* Runs a graph on a backend in one element type. */
#ifndef TSEDARTS_EXEC_H
#define TSEDARTS_EXEC_H

#include "tsedarts/backend.h"
#include "tsedarts/graph.h"
#include "tsedarts/planner.h"

typedef struct exec_ctx {
    const graph *g;
    const backend *be;
    dtype dt;
    unsigned char *needed; /* per node */
    memory_plan plan;
    void *arena;
    size_t arena_bytes;
    void *role_base[ROLE_COUNT]; /* bound by the caller, backend memory */
    /* per-node scratch for argument marshalling */
    void **in_ptr;
    shape4 *in_shape;
    int in_cap;
} exec_ctx;

/* Plans memory and allocates the activation arena. */
td_status exec_create(const graph *g, const backend *be, dtype dt,
                      exec_ctx **out);
void exec_destroy(exec_ctx *ctx);

/* Points a role at a buffer of at least g->role_size[role] elements. */
void exec_bind(exec_ctx *ctx, value_role role, void *base);

/* Address of a value's data (backend memory). */
void *exec_value_ptr(const exec_ctx *ctx, int v);

/* Runs every needed node in order. */
td_status exec_run(exec_ctx *ctx);
/* Runs one node (skipped if not needed); for node-by-node comparison. */
td_status exec_run_node(exec_ctx *ctx, int i);

#endif
