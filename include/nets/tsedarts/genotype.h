/* Genotypes of the DARTS space: derivation from alphas (docs/numerics.md s.1.5),
 * the canonical text form, DARTS' Python syntax, Graphviz DOT, cell depth
 * and skip count. */
#ifndef TSEDARTS_GENOTYPE_H
#define TSEDARTS_GENOTYPE_H

#include <stddef.h>

#include "tsedarts/status.h"

#define GENOTYPE_OPS 8 /* two per intermediate node */

typedef struct genotype_cell {
    int op[GENOTYPE_OPS];    /* darts_op index (never none) */
    int input[GENOTYPE_OPS]; /* state index; node i's pair may use 0..i+1 */
} genotype_cell;

typedef struct genotype {
    char name[64];
    genotype_cell normal, reduce;
} genotype;

/* From raw alphas (14 x 8 each, row-major): softmax per row, top-2 edges
 * per node by max non-none weight (ties: lower input), strongest first,
 * argmax op excluding none (ties: lower op index). */
void genotype_derive(const double *alphas_normal, const double *alphas_reduce, const char *name, genotype *out);

/* Canonical one-line text:
 * "NAME | normal: op:in x8 | reduce: op:in x8 | concat 2-5". */
void genotype_format(const genotype *g, char *buf, size_t len);
/* Parses the canonical line; `where` names the source for messages. */
td_status genotype_parse(const char *line, const char *where, genotype *out);
void genotype_format_python(const genotype *g, char *buf, size_t len);
void genotype_format_dot(const genotype *g, char *buf, size_t len);

/* Longest input-to-output path in edges (Shu et al.), in [2, 5]. */
int genotype_depth(const genotype_cell *c);
int genotype_skip_count(const genotype_cell *c);
/* Number of parameter-free ops (pooling, skip) among the 8. */
int genotype_param_free_count(const genotype_cell *c);

/* A file holding one canonical line (# comments allowed), or the name of a
 * known genotype in the genotype directory ($TSEDARTS_GENOTYPE_DIR, else
 * the source tree's genotypes/). */
td_status genotype_load(const char *name_or_file, genotype *out);
/* The directory searched for known genotypes. */
const char *genotype_dir(void);

#endif
