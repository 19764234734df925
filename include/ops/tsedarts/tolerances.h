/* Tolerances for comparing two implementations of the primitives. A
 * comparison passes elementwise when |a - ref| <= atol + rtol * |ref|,
 * after a check that NaN/Inf agree. The f32-against-f64 tolerances belong
 * to each op family and sit beside its test cases (core/ops/<family>.c),
 * each with the evidence that set it; a GPU's f32 is held to the same bar
 * against the CPU's f64 (the same formulas in the same precision, summed in
 * another order, which those bars already allow for: the CPU's own fast
 * paths sum in other orders than its plain kernels). */
#ifndef TSEDARTS_TOLERANCES_H
#define TSEDARTS_TOLERANCES_H

typedef struct op_tolerance {
    double rtol, atol;
} op_tolerance;

/* A GPU's f64 against the CPU's f64, on the registry's O(1) inputs: the
 * same formulas with sums in another order and the device's libm, each a
 * few ulp (1e-16) per operation over at most thousands of terms, so 1e-12
 * leaves a factor of ten and still catches any wrong index or formula. */
#define TOL_GPU_F64_RTOL 1e-12
#define TOL_GPU_F64_ATOL 1e-12

#endif
