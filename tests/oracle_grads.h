/* The oracle tests' record of our side: loss and gradients of every
 * trained parameter under its PyTorch name, for the peer to compare. */
#ifndef TSEDARTS_TEST_ORACLE_GRADS_H
#define TSEDARTS_TEST_ORACLE_GRADS_H

#include "tsedarts/buffers.h"
#include "tsedarts/exec.h"

/* Writes path (safetensors, F32): the weight and alpha gradients of g's
 * parameters from rb, and the scalar "loss" at value `loss` of ctx. */
td_status oracle_write_grads(const graph *g, const role_buffers *rb, exec_ctx *ctx, int loss, const char *path);

#endif
