/* Philox 4x32-10 (Salmon et al., SC'11), the project's only source of
 * randomness. A stream is named by (seed, purpose, index); block j of the
 * stream is philox4x32_10(counter = {j, index_lo, index_hi, purpose},
 * key = {seed_lo, seed_hi}). Any draw can be recomputed without replaying
 * earlier ones, which is what makes resume and CPU/GPU agreement exact. */
#ifndef TSEDARTS_PHILOX_H
#define TSEDARTS_PHILOX_H

#include <stdint.h>

typedef struct philox_block {
    uint32_t v[4];
} philox_block;

/* The raw bijection, as in Random123: ten rounds on counter ctr with key. */
philox_block philox4x32_10(const uint32_t ctr[4], const uint32_t key[2]);

/* Purposes keep streams for different uses apart. */
typedef enum philox_purpose {
    PURPOSE_INIT = 1,       /* weight init; index = parameter number */
    PURPOSE_ALPHA_INIT = 2, /* architecture parameters */
    PURPOSE_SHUFFLE = 3,    /* per-epoch order; index = epoch, half */
    PURPOSE_AUGMENT = 4,    /* crop/flip/cutout; index = epoch, sample */
    PURPOSE_SPLIT = 5,      /* train/validation split of a dataset */
    PURPOSE_DROP_PATH = 6,  /* drop path masks; index = step, cell, op */
    PURPOSE_TEST = 7,       /* test inputs */
    PURPOSE_SYNTH = 8,      /* synthetic dataset */
    PURPOSE_DIRICHLET = 9,  /* Dirichlet samples' gamma draws; index = pass, entry */
    PURPOSE_SKIPDROP = 10,  /* PDARTS skip dropout; index = pass, cell, edge */
    /* DrNAS (11-15 free) */
    PURPOSE_DRNAS_ARCH_BATCH = 16, /* architecture batches drawn anew each step; index = step */
    PURPOSE_DRNAS_WIDEN = 17,      /* copied channels; index = cell, edge, op, slot */
    PURPOSE_DRNAS_ARCH_AUGMENT = 18 /* crop/flip of those batches; index = step, slot */
} philox_purpose;

/* A sequential reader of one stream: four 32-bit words per block. */
typedef struct philox_stream {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    int used; /* words of buf already consumed (4 = empty) */
} philox_stream;

void philox_stream_init(philox_stream *s, uint64_t seed, uint32_t purpose,
                        uint64_t index);
uint32_t philox_next_u32(philox_stream *s);
/* Uniform in (0, 1) with 24 random bits (exactly representable in float). */
float philox_next_uniform_f32(philox_stream *s);
/* Uniform in (0, 1) with 53 random bits. */
double philox_next_uniform_f64(philox_stream *s);
/* Standard normal by Box-Muller on two 53-bit uniforms. */
double philox_next_normal(philox_stream *s);
/* Uniform integer in [0, n) without modulo bias (n >= 1). */
uint32_t philox_next_below(philox_stream *s, uint32_t n);

#endif
