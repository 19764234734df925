/* Finite-difference checks of the VJP and JVP rules of one registry case,
 * in f64 on a host backend (the CPU reference). Used by the test suite and by `tsedarts selftest`. */
#ifndef TSEDARTS_GRADCHECK_H
#define TSEDARTS_GRADCHECK_H

#include "tsedarts/backend.h"
#include "tsedarts/op_registry.h"

/* Central differences with step 1e-5 on O(1) inputs in f64: truncation
 * ~1e-10 and rounding ~1e-11, so a correct rule stays far below this. */
#define GRADCHECK_STEP 1e-5
#define GRADCHECK_TOL 1e-6

typedef struct gradcheck_result {
    int applicable; /* 0 for cases without differentiable inputs */
    double vjp_err; /* worst relative error over the inputs */
    double jvp_err;
    int worst_input; /* input with the worst VJP error */
    /* The op's rules are a surrogate (op_def.surrogate_rules): vjp_err and
     * jvp_err are then the relative mismatch of <u, JVP t> and <VJP u, t>. */
    int transposed;
    int refused; /* the op's rules refuse (op_def.refused_rules), as checked */
} gradcheck_result;

td_status gradcheck_case(const op_case *c, const backend *host_backend, gradcheck_result *res);

#endif
