/* Widening the mixed ops between the DrNAS stages (docs/numerics.md
 * s.6.3, the reference's net2wider): every op module grows from C/k1
 * to C/k2 channels by appending copies of existing channels, chosen at
 * random per layer, with no rescaling (the function changes). The copies
 * of one layer's outputs are the copies of the next layer's inputs:
 *   SepConv  op.1 out a | op.2 in a, out b | op.3 b | op.5 out c | op.6 in c, out d | op.7 d
 *   DilConv  op.1 out a | op.2 in a, out b | op.3 b
 *   pool BN  1 a
 *   FactorizedReduce conv_1 in a, out b | conv_2 in c, out d | bn [b, d]
 * (the BN's appended statistics follow [b, d] although the new channels
 * sit at the end of each half: the reference does the same, and only the
 * running statistics see it). Everything outside the mixed ops keeps its
 * size and is copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/drnas_search.h"
#include "tsedarts/philox.h"

/* Channel list `slot` of op module (cell, edge, op): len draws below
 * range, the same whichever tensor asks. */
static void draw_list(uint64_t seed, int cell, int edge, int op, int slot, int len, int range, int *out)
{
    philox_stream s;
    uint64_t index = (((uint64_t)cell * DARTS_EDGES + (uint64_t)edge) * DOP_COUNT + (uint64_t)op) * 8 + (uint64_t)slot;
    philox_stream_init(&s, seed, PURPOSE_DRNAS_WIDEN, index);
    for (int i = 0; i < len; i++) out[i] = (int)philox_next_below(&s, (uint32_t)range);
}

/* old index of new channel i: itself, or the copy's source */
static int source(int i, int n_old, const int *list) { return i < n_old ? i : list[i - n_old]; }

typedef struct widen_rule {
    const char *leaf; /* name after "cells.i._ops.e._ops.j." */
    int out_slot;     /* list of the output channels (-1: none widened) */
    int in_slot;      /* list of the input channels (-1: none widened) */
    int fr_bn;        /* FactorizedReduce's BN: [b, d] */
} widen_rule;

static const widen_rule rules[] = {
    {"op.1.weight", 0, -1, 0},       {"op.2.weight", 1, 0, 0},        {"op.3.running_mean", 1, -1, 0},
    {"op.3.running_var", 1, -1, 0},  {"op.5.weight", 2, -1, 0},       {"op.6.weight", 3, 2, 0},
    {"op.7.running_mean", 3, -1, 0}, {"op.7.running_var", 3, -1, 0},  {"1.running_mean", 0, -1, 0},
    {"1.running_var", 0, -1, 0},     {"conv_1.weight", 1, 0, 0},      {"conv_2.weight", 3, 2, 0},
    {"bn.running_mean", -1, -1, 1},  {"bn.running_var", -1, -1, 1},
};

/* Output channels of a tensor: N for convolutions, C for BN statistics
 * (stored (1, C, 1, 1)). */
static td_status widen_one(const param *po, const param *pn, uint64_t seed, const double *const src[2],
                           double *const dst[2], int n_arrays)
{
    int cell, edge, op, at = 0;
    if (sscanf(pn->name, "cells.%d._ops.%d._ops.%d.%n", &cell, &edge, &op, &at) != 3 || !at)
        return TD_FAIL(TD_ERR_STATE, "DrNAS widening: %s changes size but is not in a mixed op", pn->name);
    const char *leaf = pn->name + at;
    const widen_rule *r = NULL;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (!strcmp(rules[i].leaf, leaf)) r = &rules[i];
    if (!r) return TD_FAIL(TD_ERR_STATE, "DrNAS widening: no rule for %s", pn->name);
    shape4 so = po->shape, sn = pn->shape;
    int is_bn = po->role == ROLE_BNSTAT;
    int out_old = is_bn ? so.c : so.n, out_new = is_bn ? sn.c : sn.n;
    int in_old = is_bn ? 1 : so.c, in_new = is_bn ? 1 : sn.c;
    if (out_new < out_old || in_new < in_old || so.h != sn.h || so.w != sn.w || (is_bn && (so.n != 1 || sn.n != 1)))
        return TD_FAIL(TD_ERR_STATE, "DrNAS widening: %s cannot grow from %dx%d to %dx%d", pn->name, out_old, in_old,
                       out_new, in_new);
    int *out_list = calloc((size_t)out_new + 1, sizeof *out_list), *in_list = calloc((size_t)in_new + 1, sizeof *in_list);
    if (!out_list || !in_list) {
        free(out_list);
        free(in_list);
        return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    }
    int n_out = out_new - out_old, n_in = in_new - in_old;
    if (r->fr_bn) {
        /* the two halves' output lists, each of n_out/2 draws below out_old/2 */
        draw_list(seed, cell, edge, op, 1, n_out / 2, out_old / 2, out_list);
        draw_list(seed, cell, edge, op, 3, n_out - n_out / 2, out_old / 2, out_list + n_out / 2);
    } else if (n_out) {
        draw_list(seed, cell, edge, op, r->out_slot, n_out, out_old, out_list);
    }
    if (n_in && r->in_slot >= 0) draw_list(seed, cell, edge, op, r->in_slot, n_in, in_old, in_list);
    td_status s = TD_OK;
    if ((n_out && r->out_slot < 0 && !r->fr_bn) || (n_in && r->in_slot < 0))
        s = TD_FAIL(TD_ERR_STATE, "DrNAS widening: %s grows along an axis its rule keeps", pn->name);
    size_t plane = (size_t)sn.h * sn.w;
    for (int a = 0; s == TD_OK && a < n_arrays; a++)
        for (int o = 0; o < out_new; o++)
            for (int i = 0; i < in_new; i++) {
                int so_ = source(o, out_old, out_list), si = source(i, in_old, in_list);
                memcpy(dst[a] + pn->offset + ((size_t)o * in_new + i) * plane,
                       src[a] + po->offset + ((size_t)so_ * in_old + si) * plane, plane * sizeof(double));
            }
    free(out_list);
    free(in_list);
    return s;
}

td_status drnas_widen(const graph *from, const graph *to, uint64_t seed, const double *w_old, double *w_new,
                      const double *mom_old, double *mom_new, const double *bn_old, double *bn_new)
{
    if (graph_param_count(from, ROLE_ALPHA) != graph_param_count(to, ROLE_ALPHA))
        return TD_FAIL(TD_ERR_STATE, "DrNAS widening: the two networks have different alphas");
    for (int p = 0; p < to->n_params; p++) {
        const param *pn = &to->params[p];
        if (pn->role == ROLE_ALPHA) continue;
        int q = graph_find_param(from, pn->name);
        if (q < 0) return TD_FAIL(TD_ERR_STATE, "DrNAS widening: %s is not in the stage-1 network", pn->name);
        const param *po = &from->params[q];
        int is_w = pn->role == ROLE_WEIGHT;
        const double *src[2] = {is_w ? w_old : bn_old, mom_old};
        double *dst[2] = {is_w ? w_new : bn_new, mom_new};
        int n_arrays = is_w ? 2 : 1; /* momentum has the weights' layout */
        if (shape_numel(po->shape) == shape_numel(pn->shape) && !memcmp(&po->shape, &pn->shape, sizeof po->shape)) {
            for (int a = 0; a < n_arrays; a++)
                memcpy(dst[a] + pn->offset, src[a] + po->offset, shape_numel(pn->shape) * sizeof(double));
            continue;
        }
        TD_CHECK(widen_one(po, pn, seed, src, dst, n_arrays));
    }
    if (graph_param_count(from, ROLE_WEIGHT) > graph_param_count(to, ROLE_WEIGHT))
        return TD_FAIL(TD_ERR_STATE, "DrNAS widening: the stage-2 network is smaller than stage 1");
    return TD_OK;
}
