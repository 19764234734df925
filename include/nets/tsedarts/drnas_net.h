/* The DrNAS search network (docs/numerics.md s.6.1, s.6.2): the DARTS
 * supernet with partial-channel mixed ops (1/k of the channels go through
 * the ops, the rest bypass them, then a channel shuffle), mixing weights
 * sampled per pass from Dirichlet(ELU(alpha) + 1), and in the second stage
 * a prune mask that keeps some ops per edge. */
#ifndef TSEDARTS_DRNAS_NET_H
#define TSEDARTS_DRNAS_NET_H

#include "tsedarts/darts.h"
#include "tsedarts/supernet.h"

#define DRNAS_ROWS (2 * DARTS_EDGES) /* normal rows, then reduce rows */

typedef struct drnas_net_config {
    supernet_config net; /* C, layers, image and classes; smooth; space unused */
    int k;               /* partial-channel divisor: 1/k of the channels go through the ops */
    int with_none;       /* 8 ops with `none` (the TSE fork) or 7 without (DrNAS) */
    int masked;          /* keep[] applies: pruned ops are skipped, kept weights renormalised */
    unsigned char keep[DRNAS_ROWS][DOP_COUNT]; /* 1: op kept; column = op index in the space */
} drnas_net_config;

/* Ops per edge, and the DARTS op (enum darts_op) behind column j. */
int drnas_ops(int with_none);
int drnas_op_of(int with_none, int j);

/* The search network for a batch. Besides images and labels, its inputs
 * are the gamma draws of this pass's Dirichlet samples (io->dirichlet_gamma,
 * one (14, ops) input per cell type; gamma_draws.h) and, when masked, the
 * keep mask as numbers (io->prune_mask, same shapes). The parameter layout
 * depends on C, layers and k only: pruned ops keep their (unused) weights,
 * as the reference keeps and widens them. */
typedef struct drnas_io {
    net_io io;
    int dirichlet_gamma[2]; /* ROLE_INPUT (14, ops, 1, 1): normal, reduce */
    int prune_mask[2];      /* ROLE_INPUT, or -1 when not masked */
} drnas_io;

td_status drnas_supernet_build(layer_builder *b, const drnas_net_config *cfg, int batch, drnas_io *io);

/* The same with the model builder signature; the extra inputs are found
 * again with drnas_find_inputs. */
td_status drnas_build_fn(layer_builder *b, const void *cfg, int batch, net_io *io);

/* The Dirichlet inputs of a built graph: the first inputs after images and
 * labels, in the order normal gamma, reduce gamma[, normal mask, reduce
 * mask]. Returns TD_OK or an error if the graph is not a DrNAS network. */
td_status drnas_find_inputs(const graph *g, const net_io *io, int masked, drnas_io *out);

/* The partial-channel mixed op of one edge (exposed for tests): x has C
 * channels; ops[0..n) are the DARTS ops applied to the first C/k channels
 * with weights w[idx[i]] (w: a (rows, ops) value); the other channels
 * bypass, max-pooled 2x2 when stride is 2; then channel shuffle by k.
 * skip[i] set: op i is built for its parameters only (pruned). */
int drnas_mixed_op(layer_builder *b, int x, int C, int k, int stride, int w, int n, const int *ops, const int *idx,
                   const unsigned char *skip);

#endif
