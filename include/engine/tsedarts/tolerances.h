/* Every numerical tolerance used to compare two implementations, with the
 * evidence that set it. A comparison passes elementwise when
 * |a - ref| <= atol + rtol * |ref|, after a check that NaN/Inf agree. */
#ifndef TSEDARTS_TOLERANCES_H
#define TSEDARTS_TOLERANCES_H

/* CPU f32 against CPU f64, per primitive on the op registry (inputs in
 * [-1, 1)). Evidence: test_f32_f64 prints the worst |a - b| /
 * (1e-7 + 1e-7 |b|) per op; the largest seen was 3.2 (conv2d_bwd_filter,
 * sums of up to 98 products of f32-rounded inputs), i.e. errors up to
 * 3.2e-7 (1 + |b|). atol 2e-6 and rtol 1e-6 leave about six times that. */
#define TOL_F32_VS_F64_RTOL 1e-6
#define TOL_F32_VS_F64_ATOL 2e-6
/* The same on the wide cases (maps up to 33x33, batch 2 to 4): weight
 * gradients and channel sums add up to 4096 products of f32-rounded
 * inputs, and that rounding grows with the square root of the count.
 * Evidence: test_wide_kernels prints the worst |a - b| / (1e-7 + 1e-7 |b|)
 * per case; the largest seen was 81 (conv2d_bwd_filter depthwise 3x3 on
 * 32x32, 2,048 products per weight), i.e. errors up to 8.1e-6 (1 + |b|).
 * atol 4e-5 and rtol 2e-5 leave about five times that; a wrong tap or
 * index errs by 1e-2 or more. */
#define TOL_F32_VS_F64_WIDE_RTOL 2e-5
#define TOL_F32_VS_F64_WIDE_ATOL 4e-5

/* CUDA f32 against CPU f64, per primitive on the op registry. Not yet
 * measured on a GPU: set equal to the CPU f32 bar, which an f32
 * implementation with a different summation order must also meet; to be
 * revised with the evidence of the first GPU run. */
#define TOL_GPU_VS_CPU_RTOL 1e-6
#define TOL_GPU_VS_CPU_ATOL 2e-6

#endif
