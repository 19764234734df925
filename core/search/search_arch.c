/* What a search has found so far, for each search space: the derived
 * genotype (DARTS rule for darts and s2, argmax per edge for nb201, the
 * PDARTS rule in PDARTS' last stage), its text, the summary figures logged
 * per epoch, and softmax(alpha). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsedarts/darts.h"
#include "tsedarts/search_internal.h"

td_status search_arch_describe(search_state *st, search_arch *a)
{
    const search_algorithm *alg = search_algorithm_for(st->cfg.algo);
    if (alg && alg->stages && alg->stages->describe) return alg->stages->describe(st, a);
    memset(a, 0, sizeof *a);
    int space = st->net.cfg.space, E = space_edges(space), K = supernet_ops_per_edge(&st->net.cfg, &st->net.edges);
    a->space = space;
    a->skips_removed = -1;
    size_t na = st->m.n[ROLE_ALPHA];
    double *raw = malloc((na + 1) * sizeof *raw);
    if (!raw) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    td_status s = model_download_f64(&st->m, ROLE_ALPHA, raw);
    if (s == TD_OK && space == SPACE_NB201) {
        nb201_derive(raw, a->nb201_ops);
        nb201_format(a->nb201_ops, a->text, sizeof a->text);
    } else if (s == TD_OK && search_algo_staged(st->cfg.algo) && st->stage == PDARTS_STAGES - 1) {
        s = pdarts_derive(&st->net.edges, raw, st->cfg.max_skip, "searched", &a->geno, &a->skips_removed);
        if (s == TD_OK) genotype_format(&a->geno, a->text, sizeof a->text);
    } else if (s == TD_OK) {
        /* S2 edges and PDARTS' earlier stages hold a subset of the DARTS
         * ops: the others get weight exactly zero (alpha -inf), so the DARTS
         * rule applies unchanged */
        double full[2][DARTS_EDGES * DOP_COUNT];
        for (int c = 0; c < 2; c++)
            for (int e = 0; e < DARTS_EDGES; e++) {
                for (int k = 0; k < DOP_COUNT; k++) full[c][e * DOP_COUNT + k] = -INFINITY;
                for (int k = 0; k < K; k++)
                    full[c][e * DOP_COUNT + supernet_edge_op(&st->net.cfg, &st->net.edges, c, e, k)] = raw[(c * E + e) * K + k];
            }
        genotype_derive(full[0], full[1], "searched", &a->geno);
        genotype_format(&a->geno, a->text, sizeof a->text);
    }
    free(raw);
    return s;
}

int search_arch_skips(const search_arch *a)
{
    if (a->space != SPACE_NB201) return genotype_skip_count(&a->geno.normal);
    int n = 0;
    for (int e = 0; e < NB201_EDGES; e++) n += a->nb201_ops[e] == NB_SKIP_CONNECT;
    return n;
}

int search_arch_depth(const search_arch *a)
{
    if (a->space != SPACE_NB201) return genotype_depth(&a->geno.normal);
    /* longest path from node 0 to node 3 through edges that are not none */
    int d[NB201_NODES] = {0, -1, -1, -1}, e = 0;
    for (int i = 1; i < NB201_NODES; i++)
        for (int j = 0; j < i; j++, e++)
            if (a->nb201_ops[e] != NB_NONE && d[j] >= 0 && d[j] + 1 > d[i]) d[i] = d[j] + 1;
    return d[NB201_NODES - 1];
}

void search_arch_json(const search_arch *a, json_t *o)
{
    json_object_set_new(o, "genotype", json_string(a->text));
    if (a->space == SPACE_NB201) {
        json_object_set_new(o, "depth", json_integer(search_arch_depth(a)));
        json_object_set_new(o, "skip", json_integer(search_arch_skips(a)));
        return;
    }
    json_object_set_new(o, "normal_depth", json_integer(genotype_depth(&a->geno.normal)));
    json_object_set_new(o, "reduce_depth", json_integer(genotype_depth(&a->geno.reduce)));
    json_object_set_new(o, "normal_skip", json_integer(genotype_skip_count(&a->geno.normal)));
    json_object_set_new(o, "reduce_skip", json_integer(genotype_skip_count(&a->geno.reduce)));
    if (a->skips_removed >= 0) {
        json_object_set_new(o, "derivation", json_string("pdarts"));
        json_object_set_new(o, "skips_removed", json_integer(a->skips_removed));
    }
    if (a->drnas_rule) {
        json_object_set_new(o, "derivation", json_string("drnas"));
        json_object_set_new(o, "drnas_with_none", json_boolean(a->drnas_with_none));
        if (a->drnas_masked) {
            /* per alpha row (normal rows, then reduce), the columns kept */
            int n_ops = a->drnas_with_none ? DOP_COUNT : DOP_COUNT - 1;
            json_t *rows = json_array();
            for (int r = 0; r < 2 * DARTS_EDGES; r++) {
                json_t *row = json_array();
                for (int j = 0; j < n_ops; j++)
                    if (a->drnas_keep[r][j]) json_array_append_new(row, json_integer(j));
                json_array_append_new(rows, row);
            }
            json_object_set_new(o, "drnas_kept_columns", rows);
        }
    }
}

td_status search_softmax_json(search_state *st, json_t *o)
{
    const search_algorithm *alg = search_algorithm_for(st->cfg.algo);
    if (alg && alg->stages && alg->stages->softmax_json) return alg->stages->softmax_json(st, o);
    int space = st->net.cfg.space, E = space_edges(space), K = supernet_ops_per_edge(&st->net.cfg, &st->net.edges),
        C = space_cell_types(space);
    size_t na = st->m.n[ROLE_ALPHA];
    double *a = malloc((na + 1) * sizeof *a);
    if (!a) return TD_FAIL(TD_ERR_MEMORY, "out of memory");
    td_status s = model_download_f64(&st->m, ROLE_ALPHA, a);
    static const char *const names[2][2] = {{"softmax", NULL}, {"softmax_normal", "softmax_reduce"}};
    for (int c = 0; s == TD_OK && c < C; c++) {
        json_t *rows = json_array();
        for (int r = 0; r < E; r++) {
            const double *x = a + (size_t)(c * E + r) * K;
            double mx = x[0], sum = 0, e[16] /* >= every space's op count */;
            for (int k = 1; k < K; k++) mx = x[k] > mx ? x[k] : mx;
            for (int k = 0; k < K; k++) sum += (e[k] = exp(x[k] - mx));
            json_t *row = json_array();
            for (int k = 0; k < K; k++) json_array_append_new(row, json_real(e[k] / sum));
            json_array_append_new(rows, row);
        }
        json_object_set_new(o, names[C - 1][c], rows);
    }
    free(a);
    return s;
}
