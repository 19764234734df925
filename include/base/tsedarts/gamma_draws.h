/* Gamma(beta, 1) draws from the counter-based generator: the randomness of
 * a Dirichlet sample (x = G / sum G, the dirichlet_rows op). Drawn on the
 * host, before a forward pass, and passed to the graph as an input, so the
 * graph's derivative is a pure function of its inputs and any pass can be
 * drawn again from (seed, pass) alone: a resumed run draws what the
 * uninterrupted one would, and the CPU and GPU see the same draws. */
#ifndef TSEDARTS_GAMMA_DRAWS_H
#define TSEDARTS_GAMMA_DRAWS_H

#include <stddef.h>
#include <stdint.h>

/* Entries per pass: entry i of pass f reads the stream (seed,
 * PURPOSE_DIRICHLET, f * GAMMA_DRAWS_MAX_ENTRIES + i). */
#define GAMMA_DRAWS_MAX_ENTRIES ((size_t)1 << 20)

/* out[i] ~ Gamma(beta[i], 1) for i < n (n <= GAMMA_DRAWS_MAX_ENTRIES,
 * every beta[i] > 0): Marsaglia and Tsang's method, with beta < 1 boosted
 * to beta + 1 and scaled by U^(1/beta). Each entry has its own stream,
 * since the number of draws it takes is random. Draws are at least
 * FLT_MIN, so they stay normal numbers in either element type. Returns 0,
 * or -1 for bad arguments. */
int gamma_draws(uint64_t seed, uint64_t pass, const double *beta, size_t n, double *out);

#endif
