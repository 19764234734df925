/* Element types and NCHW shapes. Every tensor in a graph is 4-D; vectors are
 * (1, C, 1, 1) or (N, 1, 1, 1), matrices (rows, cols, 1, 1), scalars
 * (1, 1, 1, 1). */
#ifndef TSEDARTS_TENSOR_H
#define TSEDARTS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum dtype { DT_F32 = 0, DT_F64 = 1, DT_I32 = 2 } dtype;

typedef struct shape4 {
    int n, c, h, w;
} shape4;

static inline shape4 shape_make(int n, int c, int h, int w)
{
    shape4 s = {n, c, h, w};
    return s;
}

static inline size_t shape_numel(shape4 s)
{
    return (size_t)s.n * (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

static inline int shape_equal(shape4 a, shape4 b)
{
    return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w;
}

static inline size_t dtype_size(dtype t)
{
    return t == DT_F64 ? 8 : 4;
}

const char *dtype_name(dtype t);
/* "f32", "f64", NULL: the types a run computes in, indexed by dtype. */
extern const char *const dtype_float_names[];

/* Writes "(n, c, h, w)" into buf. */
const char *shape_format(shape4 s, char *buf, size_t len);

#endif
