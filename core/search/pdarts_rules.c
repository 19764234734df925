/* PDARTS schedules, op dropping and final derivation, in the order and
 * with the tie rules of the reference train_search.py (docs/numerics.md
 * s.7.1-7.4). Probabilities are the row softmax of the alphas, in double. */
#include "tsedarts/pdarts.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tsedarts/search.h"

const char *const pdarts_lr_form_names[PDARTS_LR_COUNT + 1] = {[PDARTS_LR_TORCH11] = "torch1.1",
                                                               [PDARTS_LR_TORCH04] = "torch0.4", NULL};

double pdarts_skip_dropout_p(double p0, int e, int E, int W)
{
    if (e < W) return p0 * (double)(E - e - 1) / E;
    return p0 * exp(-0.2 * (e - W));
}

double pdarts_lr(double lr_max, double lr_min, int e, int E, int form)
{
    return cosine_lr(lr_max, lr_min, form == PDARTS_LR_TORCH04 ? e : e + 1, E);
}

void pdarts_full_ops(supernet_edge_ops *edges)
{
    edges->n_ops = DOP_COUNT;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < DARTS_EDGES; e++)
            for (int k = 0; k < DOP_COUNT; k++) edges->ops[t][e][k] = (signed char)k;
}

static void softmax_row(const double *a, int n, double *p)
{
    double mx = a[0], sum = 0;
    for (int k = 1; k < n; k++) mx = a[k] > mx ? a[k] : mx;
    for (int k = 0; k < n; k++) sum += (p[k] = exp(a[k] - mx));
    for (int k = 0; k < n; k++) p[k] /= sum;
}

/* The column of least p among those not yet out (first on ties). */
static int argmin_in(const double *p, const int *out, int n)
{
    int best = -1;
    for (int k = 0; k < n; k++)
        if (!out[k] && (best < 0 || p[k] < p[best])) best = k;
    return best;
}

td_status pdarts_drop_ops(const supernet_edge_ops *edges, const double *alphas, int n_drop, supernet_edge_ops *next)
{
    int n = edges->n_ops;
    if (n < 1 || n > DOP_COUNT || n_drop < 0 || n_drop >= n)
        return TD_FAIL(TD_ERR_ARG, "pdarts: cannot drop %d of %d ops per edge", n_drop, n);
    supernet_edge_ops out = *edges;
    out.n_ops = n - n_drop;
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < DARTS_EDGES; e++) {
            double p[DOP_COUNT];
            int gone[DOP_COUNT] = {0};
            softmax_row(alphas + (size_t)(t * DARTS_EDGES + e) * n, n, p);
            for (int d = 0; d < n_drop; d++) gone[argmin_in(p, gone, n)] = 1;
            int j = 0;
            for (int k = 0; k < n; k++)
                if (!gone[k]) out.ops[t][e][j++] = edges->ops[t][e][k];
            for (; j < DOP_COUNT; j++) out.ops[t][e][j] = 0;
        }
    *next = out;
    return TD_OK;
}

/* ------------------------------------------------------------ records */

json_t *pdarts_stage_json(int layers, const supernet_edge_ops *edges)
{
    json_t *o = json_object();
    json_object_set_new(o, "layers", json_integer(layers));
    static const char *const types[2] = {"ops_normal", "ops_reduce"};
    for (int t = 0; t < 2; t++) {
        json_t *rows = json_array();
        for (int e = 0; e < DARTS_EDGES; e++) {
            json_t *row = json_array();
            for (int k = 0; k < edges->n_ops; k++)
                json_array_append_new(row, json_string(darts_op_name(edges->ops[t][e][k])));
            json_array_append_new(rows, row);
        }
        json_object_set_new(o, types[t], rows);
    }
    return o;
}

td_status pdarts_edges_parse(json_t *o, supernet_edge_ops *edges)
{
    static const char *const types[2] = {"ops_normal", "ops_reduce"};
    int n = -1;
    for (int t = 0; t < 2; t++) {
        json_t *rows = json_object_get(o, types[t]);
        if (!json_is_array(rows) || json_array_size(rows) != DARTS_EDGES)
            return TD_FAIL(TD_ERR_FORMAT, "stage op lists: %s is not 14 rows", types[t]);
        for (int e = 0; e < DARTS_EDGES; e++) {
            json_t *row = json_array_get(rows, (size_t)e);
            int len = json_is_array(row) ? (int)json_array_size(row) : -1;
            if (len < 1 || len > DOP_COUNT || (n >= 0 && len != n))
                return TD_FAIL(TD_ERR_FORMAT, "stage op lists: %s row %d has %d ops", types[t], e, len);
            n = len;
            for (int k = 0; k < n; k++) {
                const char *name = json_string_value(json_array_get(row, (size_t)k));
                int op = name ? darts_op_by_name(name) : -1;
                if (op < 0) return TD_FAIL(TD_ERR_FORMAT, "stage op lists: unknown op in %s row %d", types[t], e);
                edges->ops[t][e][k] = (signed char)op;
            }
        }
    }
    edges->n_ops = n;
    return TD_OK;
}

/* ------------------------------------------------------------ derive */

/* Step 1: the one op of an edge kept from its n candidates. With none
 * among them (then in column 0) none goes first and n - 2 more; else the
 * n - 1 weakest go, one at a time, first index on ties. */
static int edge_choice(const double *p, const signed char *ops, int n)
{
    int gone[DOP_COUNT] = {0}, to_drop = n - 1;
    if (ops[0] == DOP_NONE) {
        gone[0] = 1;
        to_drop--;
    }
    for (int d = 0; d < to_drop; d++) gone[argmin_in(p, gone, n)] = 1;
    for (int k = 0; k < n; k++)
        if (!gone[k]) return k;
    return -1;
}

/* Steps 1-4 on probabilities p (14 x n, none columns already 0). */
static void derive_cell(const double *p, const signed char (*ops)[DOP_COUNT], int n, genotype_cell *cell)
{
    double score[DARTS_EDGES];
    int choice[DARTS_EDGES];
    for (int e = 0; e < DARTS_EDGES; e++) {
        choice[e] = edge_choice(p + e * n, ops[e], n);
        score[e] = 0;
        for (int k = 0; k < n; k++) score[e] = p[e * n + k] > score[e] ? p[e * n + k] : score[e];
    }
    int row = 0;
    for (int i = 0; i < DARTS_NODES; i++) {
        int n_in = 2 + i, kept[2] = {0, 1};
        if (i > 0) {
            /* ascending stable sort, last two: a later (higher) input wins a
             * tie, so scan for maxima with >= */
            int top = 0;
            for (int j = 1; j < n_in; j++)
                if (score[row + j] >= score[row + top]) top = j;
            int second = top == 0 ? 1 : 0;
            for (int j = second + 1; j < n_in; j++)
                if (j != top && score[row + j] >= score[row + second]) second = j;
            kept[0] = top < second ? top : second;
            kept[1] = top < second ? second : top;
        }
        for (int k = 0; k < 2; k++) {
            int e = row + kept[k];
            cell->input[2 * i + k] = kept[k];
            cell->op[2 * i + k] = ops[e][choice[e]];
        }
        row += n_in;
    }
}

/* The alpha column of the kept skip_connect of node slot s, or -1. */
static int skip_column(const genotype_cell *cell, const signed char (*ops)[DOP_COUNT], int n, int s, int *edge)
{
    if (cell->op[s] != DOP_SKIP_CONNECT) return -1;
    int node = s / 2, first = 0;
    for (int i = 0; i < node; i++) first += 2 + i;
    *edge = first + cell->input[s];
    for (int k = 0; k < n; k++)
        if (ops[*edge][k] == DOP_SKIP_CONNECT) return k;
    return -1;
}

td_status pdarts_derive(const supernet_edge_ops *edges, const double *alphas, int max_skip, const char *name,
                        genotype *out, int *limited)
{
    int n = edges->n_ops;
    if (n < 2 || n > DOP_COUNT)
        return TD_FAIL(TD_ERR_ARG, "pdarts: derivation needs per-edge op lists (got %d ops)", n);
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name ? name : "searched");
    *limited = 0;
    double p[2][DARTS_EDGES * DOP_COUNT];
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < DARTS_EDGES; e++) {
            for (int k = 0; k < n; k++)
                if (edges->ops[t][e][k] < 0 || edges->ops[t][e][k] >= DOP_COUNT)
                    return TD_FAIL(TD_ERR_ARG, "pdarts: bad op %d on edge %d", edges->ops[t][e][k], e);
            softmax_row(alphas + (size_t)(t * DARTS_EDGES + e) * n, n, p[t] + e * n);
            if (edges->ops[t][e][0] == DOP_NONE) p[t][e * n] = 0; /* step 2: none never ranks an edge */
        }
    derive_cell(p[0], (const signed char(*)[DOP_COUNT])edges->ops[0], n, &out->normal);
    derive_cell(p[1], (const signed char(*)[DOP_COUNT])edges->ops[1], n, &out->reduce);
    /* Step 5. Each round zeroes one kept skip's probability; a skip whose
     * probability is already zero could be chosen again only on an exact tie
     * at zero, so 14 rounds (one per edge) bound the loop. */
    for (int round = 0; round < DARTS_EDGES && genotype_skip_count(&out->normal) > max_skip; round++) {
        int weakest = -1, w_col = -1;
        double w_p = 2;
        for (int e = 0; e < DARTS_EDGES; e++) /* in edge order: the first of equal ones goes */
            for (int s = 0; s < GENOTYPE_OPS; s++) {
                int edge, col = skip_column(&out->normal, (const signed char(*)[DOP_COUNT])edges->ops[0], n, s, &edge);
                if (col >= 0 && edge == e && p[0][e * n + col] < w_p) {
                    weakest = e;
                    w_col = col;
                    w_p = p[0][e * n + col];
                }
            }
        if (weakest < 0) break;
        p[0][weakest * n + w_col] = 0;
        derive_cell(p[0], (const signed char(*)[DOP_COUNT])edges->ops[0], n, &out->normal);
        (*limited)++;
    }
    return TD_OK;
}
