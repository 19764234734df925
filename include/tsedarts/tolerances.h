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

/* CUDA f32 against CPU f64, per primitive on the op registry. Not yet
 * measured on a GPU: set equal to the CPU f32 bar, which an f32
 * implementation with a different summation order must also meet; to be
 * revised with the evidence of the first GPU run. */
#define TOL_GPU_VS_CPU_RTOL 1e-6
#define TOL_GPU_VS_CPU_ATOL 2e-6

#endif
