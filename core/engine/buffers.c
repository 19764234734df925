#include "tsedarts/buffers.h"

#include <stdlib.h>
#include <string.h>

size_t role_elem_size(value_role role, dtype dt)
{
    return role == ROLE_LABEL ? 4 : dtype_size(dt);
}

td_status role_buffers_alloc(role_buffers *rb, const graph *g, const backend *be, dtype dt)
{
    memset(rb, 0, sizeof *rb);
    rb->be = be;
    rb->dt = dt;
    for (int r = 1; r < ROLE_COUNT; r++) {
        rb->elems[r] = g->role_size[r];
        size_t bytes = (rb->elems[r] ? rb->elems[r] : 1) * role_elem_size((value_role)r, dt);
        rb->ptr[r] = be->alloc(bytes);
        if (!rb->ptr[r]) {
            role_buffers_free(rb);
            return TD_FAIL(TD_ERR_MEMORY, "cannot allocate %zu bytes for %s on %s", bytes, role_name((value_role)r),
                           be->name);
        }
        TD_CHECK(be->zero(rb->ptr[r], bytes));
    }
    return TD_OK;
}

void role_buffers_free(role_buffers *rb)
{
    for (int r = 0; r < ROLE_COUNT; r++)
        if (rb->ptr[r]) rb->be->release(rb->ptr[r]);
    memset(rb->ptr, 0, sizeof rb->ptr);
}

void role_buffers_bind(const role_buffers *rb, exec_ctx *ctx)
{
    for (int r = 1; r < ROLE_COUNT; r++) exec_bind(ctx, (value_role)r, rb->ptr[r]);
}

void convert_to_f64(const void *src, dtype dt, double *dst, size_t n)
{
    if (dt == DT_F64)
        memcpy(dst, src, n * sizeof *dst);
    else if (dt == DT_F32)
        for (size_t i = 0; i < n; i++) dst[i] = ((const float *)src)[i];
    else
        for (size_t i = 0; i < n; i++) dst[i] = ((const int32_t *)src)[i];
}

void convert_from_f64(const double *src, dtype dt, void *dst, size_t n)
{
    if (dt == DT_F64)
        memcpy(dst, src, n * sizeof *src);
    else if (dt == DT_F32)
        for (size_t i = 0; i < n; i++) ((float *)dst)[i] = (float)src[i];
    else
        for (size_t i = 0; i < n; i++) ((int32_t *)dst)[i] = (int32_t)src[i];
}

td_status role_buffers_upload_f64(role_buffers *rb, value_role role, const double *src, size_t n)
{
    dtype t = role == ROLE_LABEL ? DT_I32 : rb->dt;
    size_t es = role_elem_size(role, rb->dt);
    void *tmp = malloc(n * es + 1);
    if (!tmp) return TD_FAIL(TD_ERR_MEMORY, "upload: out of memory");
    convert_from_f64(src, t, tmp, n);
    td_status s = rb->be->upload(rb->ptr[role], tmp, n * es);
    free(tmp);
    return s;
}

td_status role_buffers_download_f64(const role_buffers *rb, value_role role, double *dst, size_t n)
{
    dtype t = role == ROLE_LABEL ? DT_I32 : rb->dt;
    size_t es = role_elem_size(role, rb->dt);
    void *tmp = malloc(n * es + 1);
    if (!tmp) return TD_FAIL(TD_ERR_MEMORY, "download: out of memory");
    td_status s = rb->be->download(tmp, rb->ptr[role], n * es);
    if (s == TD_OK) convert_to_f64(tmp, t, dst, n);
    free(tmp);
    return s;
}
