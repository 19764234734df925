/* Op cases several times over in one graph, run batched or plain, and
 * role buffers compared bit for bit: the checks of horizontal batching
 * (test_batching on the CPU, test_gpu_ops on a GPU). */
#ifndef TSEDARTS_TEST_OP_COPIES_H
#define TSEDARTS_TEST_OP_COPIES_H

#include "tsedarts/exec.h"
#include "tsedarts/op_registry.h"

#define COPIES 3

/* COPIES copies of case c in one graph, each with its own inputs drawn
 * from its own stream; host[] gets every role's initial contents. */
graph *copies_of(const op_case *c, double *host[ROLE_COUNT]);
/* Runs g from host on be in dt, batched (an executor that fuses and
 * batches) or plain (every node alone); out[] gets every role's final
 * contents (f64, malloc'd; out[0] NULL) and *steps the calls it took. */
void run_graph(const graph *g, double *const host[ROLE_COUNT], const backend *be, dtype dt, int batched,
               double *out[ROLE_COUNT], int *steps);
/* 1 when every element of every role has the same bits (as f64: -0 and
 * +0 differ); else 0 and the first difference in why. */
int same_roles(const graph *g, double *const a[ROLE_COUNT], double *const b[ROLE_COUNT], char *why, size_t len);
void free_roles(double *r[ROLE_COUNT]);

#endif
