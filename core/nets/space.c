/* Search-space tables and the NAS-Bench-201 genotype. */
#include "tsedarts/space.h"

#include <stdio.h>
#include <string.h>

#include "tsedarts/darts.h"

const char *const space_names[SPACE_COUNT + 1] = {[SPACE_DARTS] = "darts", [SPACE_S2] = "s2", [SPACE_NB201] = "nb201",
                                                  NULL};

const char *space_name(int space) { return space >= 0 && space < SPACE_COUNT ? space_names[space] : "?"; }

int space_by_name(const char *name)
{
    for (int i = 0; i < SPACE_COUNT; i++)
        if (!strcmp(space_names[i], name)) return i;
    return -1;
}

int space_cell_types(int space) { return space == SPACE_NB201 ? 1 : 2; }
int space_edges(int space) { return space == SPACE_NB201 ? NB201_EDGES : DARTS_EDGES; }
int space_ops(int space) { return space == SPACE_NB201 ? NB_OP_COUNT : space == SPACE_S2 ? 2 : DOP_COUNT; }

int space_darts_op(int space, int k)
{
    static const int s2_ops[2] = {DOP_SKIP_CONNECT, DOP_SEP_CONV_3X3};
    if (space == SPACE_S2) return k >= 0 && k < 2 ? s2_ops[k] : -1;
    if (space == SPACE_DARTS) return k >= 0 && k < DOP_COUNT ? k : -1;
    return -1;
}

static const char *const nb_names[NB_OP_COUNT] = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                                                  "avg_pool_3x3"};

const char *nb201_op_name(int op) { return op >= 0 && op < NB_OP_COUNT ? nb_names[op] : "?"; }

void nb201_format(const int *ops, char *buf, int len)
{
    int at = 0, e = 0;
    for (int i = 1; i < NB201_NODES && at < len; i++) {
        at += snprintf(buf + at, (size_t)(len - at), "%s|", i > 1 ? "+" : "");
        for (int j = 0; j < i && at < len; j++, e++)
            at += snprintf(buf + at, (size_t)(len - at), "%s~%d|", nb201_op_name(ops[e]), j);
    }
}

void nb201_derive(const double *alphas, int *ops)
{
    for (int e = 0; e < NB201_EDGES; e++) {
        int best = 0;
        for (int k = 1; k < NB_OP_COUNT; k++)
            if (alphas[e * NB_OP_COUNT + k] > alphas[e * NB_OP_COUNT + best]) best = k; /* first maximum */
        ops[e] = best;
    }
}
