/* Tolerances for comparing two implementations of the primitives. A
 * comparison passes elementwise when |a - ref| <= atol + rtol * |ref|,
 * after a check that NaN/Inf agree. The f32-against-f64 tolerances belong
 * to each op family and sit beside its test cases (core/ops/<family>.c),
 * each with the evidence that set it; the GPU's is here until a GPU run
 * gives per-family evidence. */
#ifndef TSEDARTS_TOLERANCES_H
#define TSEDARTS_TOLERANCES_H

typedef struct op_tolerance {
    double rtol, atol;
} op_tolerance;

/* CUDA f32 against CPU f64, per primitive on the op registry. Not yet
 * measured on a GPU: set equal to the CPU f32 bar of the coarsest family
 * (conv), which an f32 implementation with a different summation order
 * must also meet; to be revised with the evidence of the first GPU run. */
#define TOL_GPU_VS_CPU_RTOL 1e-6
#define TOL_GPU_VS_CPU_ATOL 2e-6

#endif
