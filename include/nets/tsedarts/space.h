/* Search spaces (docs/numerics.md s.1 and the paper's diagnostics): the DARTS space,
 * RobustDARTS' S2 (skip_connect and sep_conv_3x3 only, no none) on the
 * same supernet, and the NAS-Bench-201 cell space on its own skeleton. */
#ifndef TSEDARTS_SPACE_H
#define TSEDARTS_SPACE_H

typedef enum search_space { SPACE_DARTS = 0, SPACE_S2, SPACE_NB201, SPACE_COUNT } search_space;

const char *space_name(int space);
extern const char *const space_names[]; /* indexed by search_space, NULL-terminated */
int space_by_name(const char *name); /* -1 if unknown */

/* Alpha layout: cell types (normal, reduce / one), rows (edges) per cell
 * type, candidate ops per edge. */
int space_cell_types(int space);
int space_edges(int space);
int space_ops(int space);
/* The DARTS op (enum darts_op) behind op k of an S2 or DARTS edge. */
int space_darts_op(int space, int k);

/* NAS-Bench-201 */
enum nb201_op { NB_NONE = 0, NB_SKIP_CONNECT, NB_CONV_1X1, NB_CONV_3X3, NB_AVG_POOL_3X3, NB_OP_COUNT };
#define NB201_NODES 4 /* node 0 is the input, node 3 the output */
#define NB201_EDGES 6
const char *nb201_op_name(int op);
/* The architecture string of NAS-Bench-201 from one op per edge (edge order
 * 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2). */
void nb201_format(const int *ops, char *buf, int len);
/* argmax over every op of each edge, none included (the NB201 rule). */
void nb201_derive(const double *alphas, int *ops);

#endif
