/* Test helpers: run a graph on host buffers in f32 or f64 and read values. */
#ifndef TSEDARTS_TEST_HARNESS_H
#define TSEDARTS_TEST_HARNESS_H

#include <stdint.h>

#include "tsedarts/buffers.h"
#include "tsedarts/exec.h"
#include "tsedarts/graph.h"

typedef struct host_run {
    graph *g;
    dtype dt;
    exec_ctx *ctx;
    void *role[ROLE_COUNT]; /* host buffers, one per role */
} host_run;

/* Allocates zeroed buffers for every role of g and an executor on the CPU. */
td_status host_run_init(host_run *r, graph *g, dtype dt);
void host_run_free(host_run *r);
td_status host_run_exec(host_run *r);

/* Element i of a non-activation value, as double. */
double host_get(const host_run *r, int v, size_t i);
void host_set(host_run *r, int v, size_t i, double x);
void host_set_label(host_run *r, int v, size_t i, int32_t label);
/* Fills value v with uniform draws in [lo, hi) from a Philox test stream. */
void host_fill_uniform(host_run *r, int v, uint64_t seed, double lo, double hi);

/* Copies every role's buffer of rb (g's, element type dt) into out[]
 * (malloc'd, bytes[] long), for runs compared bit for bit. */
void copy_roles(const graph *g, const role_buffers *rb, dtype dt, void *out[ROLE_COUNT], size_t bytes[ROLE_COUNT]);

/* ||a - b|| / max(||a||, ||b||, tiny) over n pairs. */
double rel_error(const double *a, const double *b, size_t n);

#endif
