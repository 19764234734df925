/* One contiguous buffer per role on a backend (weights, alphas, BN stats,
 * their gradients, inputs, labels, outputs); tensors are offsets into it. */
#ifndef TSEDARTS_BUFFERS_H
#define TSEDARTS_BUFFERS_H

#include "tsedarts/backend.h"
#include "tsedarts/exec.h"

typedef struct role_buffers {
    const backend *be;
    dtype dt;
    void *ptr[ROLE_COUNT];
    size_t elems[ROLE_COUNT];
} role_buffers;

/* Zero-filled buffers sized for g (labels are int32, the rest dt). */
td_status role_buffers_alloc(role_buffers *rb, const graph *g, const backend *be, dtype dt);
void role_buffers_free(role_buffers *rb);
void role_buffers_bind(const role_buffers *rb, exec_ctx *ctx);
size_t role_elem_size(value_role role, dtype dt);

/* Copies between a role buffer and f64 host memory, converting. */
td_status role_buffers_upload_f64(role_buffers *rb, value_role role, const double *src, size_t n);
td_status role_buffers_download_f64(const role_buffers *rb, value_role role, double *dst, size_t n);

/* Converts n elements of backend-independent host data between types. */
void convert_to_f64(const void *src, dtype dt, double *dst, size_t n);
void convert_from_f64(const double *src, dtype dt, void *dst, size_t n);

#endif
