/* The evaluation network of a genotype (docs/numerics.md s.4; DARTS'
 * NetworkCIFAR): fixed cells, all BN affine, drop path, an auxiliary head
 * after cell 2 layers / 3. */
#ifndef TSEDARTS_EVALNET_H
#define TSEDARTS_EVALNET_H

#include "tsedarts/genotype.h"
#include "tsedarts/layers.h"
#include "tsedarts/supernet.h"

#define AUX_WEIGHT 0.4
#define DROP_PATH_PROB 0.2

typedef struct evalnet_config {
    genotype geno;
    int C, layers, in_ch, hw, classes;
    int auxiliary; /* build the auxiliary head (training graphs) */
    int drop_path; /* multiply droppable ops by per-sample masks (inputs) */
    int linear;    /* instead of the genotype: a linear classifier */
} evalnet_config;

/* Appends the network; in training graphs (b->train) with auxiliary set the
 * loss is CE + 0.4 CE_aux. With drop_path, io->drop_mask is the first of
 * io_masks consecutive (batch, 1, 1, 1) inputs, one per droppable op in
 * cell order, holding mask / keep_prob. */
td_status evalnet_build(layer_builder *b, const void *cfg, int batch, net_io *io);

/* Droppable ops (all but identities) of a network: the mask count. */
int evalnet_mask_count(const evalnet_config *cfg);

/* Checks that the auxiliary head fits: it needs at least 8x8 after the
 * second reduction (28x28 inputs give 7x7: pad to 32x32). */
td_status evalnet_check(const evalnet_config *cfg);

#endif
