/* The DARTS search network (docs/numerics.md s.1.3). */
#ifndef TSEDARTS_SUPERNET_H
#define TSEDARTS_SUPERNET_H

#include "tsedarts/darts.h"
#include "tsedarts/layers.h"

typedef struct supernet_config {
    int C;        /* initial channels (16) */
    int layers;   /* cells (8) */
    int in_ch;    /* image channels */
    int hw;       /* image height = width */
    int classes;
    int smooth;   /* smooth stand-in ops (for exactness tests) */
    int space;    /* search_space (space.h); for nb201, layers = cells per stage */
} supernet_config;

/* PDARTS stages: candidate ops per edge. Column j of alpha row e of cell
 * type t (0 normal, 1 reduce) is op ops[t][e][j] (enum darts_op, ascending:
 * PRIMITIVES order). Kept apart from supernet_config, which holds only
 * what a search config sets: these are decided by the search. */
typedef struct supernet_edge_ops {
    int n_ops; /* per edge; 0: the space's own list */
    signed char ops[2][DARTS_EDGES][DOP_COUNT];
    /* training graphs follow every stride-1 skip_connect with dropout, its
     * mask an input (supernet_skip_dropout_at) */
    int skip_dropout;
} supernet_edge_ops;

/* A network of a PDARTS stage: the config and the stage's edges. */
typedef struct supernet_stage {
    supernet_config cfg;
    supernet_edge_ops edges;
} supernet_stage;

/* What a built graph exposes. */
typedef struct net_io {
    int images;   /* ROLE_INPUT (batch, in_ch, hw, hw) */
    int labels;   /* ROLE_LABEL (batch, 1, 1, 1) */
    int logits;   /* (batch, classes, 1, 1) */
    int loss;     /* scalar mean cross-entropy */
    int alphas[2];/* alpha leaves: normal, reduce (-1 in eval nets) */
    int aux_logits; /* eval nets with the auxiliary head, else -1 */
    int drop_mask;  /* eval nets with drop path: the first mask input, else -1 */
    int n_masks;    /* number of consecutive (batch, 1, 1, 1) mask inputs */
    int skip_mask;  /* search nets with skip dropout: the first mask input, else -1 */
    int n_skip_masks;       /* consecutive mask inputs, each shaped as its skip's input */
    size_t skip_mask_numel; /* elements of all of them together */
} net_io;

/* Appends the supernet forward pass for a batch to g, registering every
 * parameter (weights, BN statistics, alphas) in a fixed order, so that every
 * graph of the same config shares one parameter layout. */
td_status supernet_build(layer_builder *b, const supernet_config *cfg, int batch, net_io *io);
/* The same with per-edge op lists and skip dropout (edges NULL: none). */
td_status supernet_build_edges(layer_builder *b, const supernet_config *cfg, const supernet_edge_ops *edges, int batch,
                               net_io *io);

/* Images and labels inputs of a search network; smooth ops as configured. */
void supernet_inputs(layer_builder *b, const supernet_config *cfg, int batch, net_io *io);

/* The NAS-Bench-201 search network (core/nets/nb201.c). */
td_status nb201_build(layer_builder *b, const supernet_config *cfg, int batch, net_io *io);

/* The same with the generic builder signature (model.h). */
td_status supernet_build_fn(layer_builder *b, const void *cfg, int batch, net_io *io);
/* ... for a supernet_stage. */
td_status supernet_stage_build_fn(layer_builder *b, const void *stage, int batch, net_io *io);

/* Candidate ops per alpha row, and op k of row `edge` of cell type
 * `reduce` (enum darts_op), for the space or the per-edge lists (edges may
 * be NULL). */
int supernet_ops_per_edge(const supernet_config *cfg, const supernet_edge_ops *edges);
int supernet_edge_op(const supernet_config *cfg, const supernet_edge_ops *edges, int reduce, int edge, int k);

/* Whether edge `edge` of cell `cell` carries a skip dropout in training
 * graphs: a stride-1 skip_connect among its candidates, skip_dropout set.
 * The masks are graph inputs in the order of (cell, edge). */
int supernet_skip_dropout_at(const supernet_config *cfg, const supernet_edge_ops *edges, int cell, int edge);

/* Whether search cell i of `layers` keeps its activations for the
 * backward pass instead of recomputing them (supernet.c has the
 * measurements behind the split). */
int supernet_cell_keeps_activations(const layer_builder *b, int layers, int i);

/* Reduction cells sit at layers/3 and 2*layers/3. */
int darts_is_reduction(int layers, int i);

#endif
