#include "tsedarts/tensor.h"

#include <stdio.h>

const char *const dtype_float_names[] = {[DT_F32] = "f32", [DT_F64] = "f64", NULL};

const char *dtype_name(dtype t)
{
    switch (t) {
    case DT_F32:
    case DT_F64: return dtype_float_names[t];
    case DT_I32: return "i32";
    }
    return "?";
}

const char *shape_format(shape4 s, char *buf, size_t len)
{
    snprintf(buf, len, "(%d, %d, %d, %d)", s.n, s.c, s.h, s.w);
    return buf;
}
