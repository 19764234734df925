#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/philox.h"
#include "tsedarts/backend_cpu.h"

td_status host_run_init(host_run *r, graph *g, dtype dt)
{
    memset(r, 0, sizeof *r);
    r->g = g;
    r->dt = dt;
    TD_CHECK(exec_create(g, backend_cpu(), dt, &r->ctx));
    for (int role = 1; role < ROLE_COUNT; role++) {
        size_t es = role == ROLE_LABEL ? 4 : dtype_size(dt);
        size_t n = g->role_size[role] ? g->role_size[role] : 1;
        r->role[role] = calloc(n, es);
        if (!r->role[role]) return TD_FAIL(TD_ERR_MEMORY, "harness: out of memory");
        exec_bind(r->ctx, (value_role)role, r->role[role]);
    }
    return TD_OK;
}

void host_run_free(host_run *r)
{
    exec_destroy(r->ctx);
    for (int role = 0; role < ROLE_COUNT; role++) free(r->role[role]);
    memset(r, 0, sizeof *r);
}

td_status host_run_exec(host_run *r) { return exec_run(r->ctx); }

double host_get(const host_run *r, int v, size_t i)
{
    const void *p = exec_value_ptr(r->ctx, v);
    if (r->g->values[v].is_int) return ((const int32_t *)p)[i];
    return r->dt == DT_F64 ? ((const double *)p)[i] : ((const float *)p)[i];
}

void host_set(host_run *r, int v, size_t i, double x)
{
    void *p = exec_value_ptr(r->ctx, v);
    if (r->dt == DT_F64)
        ((double *)p)[i] = x;
    else
        ((float *)p)[i] = (float)x;
}

void host_set_label(host_run *r, int v, size_t i, int32_t label)
{
    ((int32_t *)exec_value_ptr(r->ctx, v))[i] = label;
}

void host_fill_uniform(host_run *r, int v, uint64_t seed, double lo, double hi)
{
    philox_stream s;
    philox_stream_init(&s, seed, PURPOSE_TEST, (uint64_t)v);
    size_t n = shape_numel(r->g->values[v].shape);
    for (size_t i = 0; i < n; i++) host_set(r, v, i, lo + (hi - lo) * philox_next_uniform_f64(&s));
}

double rel_error(const double *a, const double *b, size_t n)
{
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += (a[i] - b[i]) * (a[i] - b[i]);
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }
    double den = sqrt(na > nb ? na : nb);
    if (den < 1e-300) return sqrt(d);
    return sqrt(d) / den;
}

void copy_roles(const graph *g, const role_buffers *rb, dtype dt, void *out[ROLE_COUNT], size_t bytes[ROLE_COUNT])
{
    for (int r = 1; r < ROLE_COUNT; r++) {
        bytes[r] = g->role_size[r] * role_elem_size((value_role)r, dt);
        out[r] = malloc(bytes[r] + 1); /* + 1: a role of no bytes still gets a pointer */
        memcpy(out[r], rb->ptr[r], bytes[r]);
    }
}
