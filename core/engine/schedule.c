/* Execution order and batches (schedule.h). */
#include "tsedarts/schedule.h"

#include <stdlib.h>
#include <string.h>

#include "tsedarts/runtime.h"

/* Growable int list. */
typedef struct ints {
    int *v;
    int n, cap;
} ints;

static int ints_push(ints *l, int x)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        int *p = realloc(l->v, (size_t)cap * sizeof *p);
        if (!p) return 0;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 1;
}

static int ints_has(const ints *l, int from, int x)
{
    for (int k = from; k < l->n; k++)
        if (l->v[k] == x) return 1;
    return 0;
}

int schedule_unit_members(const fusion_plan *fp, int u, int *members)
{
    if (!fp->role || fp->role[u] != FUSED_ROLE_RUNS) {
        members[0] = u;
        return 1;
    }
    const fused_instance *in = &fp->inst[fp->runs[u]];
    const fused_group *grp = fused_group_of(in->kind);
    int n = 0;
    for (int q = grp->runs_at; q < in->n; q++) {
        members[n++] = in->member[q];
        if (in->member[q] == in->last) break;
    }
    return n;
}

/* Whether a unit reads value v through the inputs of v's producer, which
 * its kernel recomputes: the unstored head of the group it runs (in, or
 * NULL), a normed value's scale_axis (fusion_plan.h), and inside a normed
 * value (inside) the unstored affine_axis before it. */
static int read_through(const graph *g, const fusion_plan *fp, const fused_instance *in, int v, int inside)
{
    int p = g->values[v].producer;
    if (p < 0 || !fp->recomputing || !fp->recomputing[p]) return 0;
    if (fp->normed[p] || (inside && g->nodes[p].op == OP_AFFINE_AXIS)) return 1;
    return in && p == in->member[0] && !fused_group_of(in->kind)->head_stored;
}

/* Appends v to r (no repeats), or what it is recomputed from. */
static int push_read(const graph *g, const fusion_plan *fp, const fused_instance *in, int v, int inside, ints *r,
                     int r0)
{
    if (!read_through(g, fp, in, v, inside)) return ints_has(r, r0, v) || ints_push(r, v);
    const node *h = &g->nodes[g->values[v].producer];
    const int *hin = graph_node_inputs(g, h);
    for (int j = 0; j < h->nin; j++)
        if (!push_read(g, fp, in, hin[j], 1, r, r0)) return 0;
    return 1;
}

/* Appends what unit u reads to r and what it writes to w (no repeats).
 * A sink (the running-statistics update) writes the statistics it is
 * given as inputs. */
static int unit_access(const graph *g, const fusion_plan *fp, int u, ints *r, ints *w)
{
    int members[FUSED_MAX_MEMBERS], n = schedule_unit_members(fp, u, members);
    const fused_instance *inst = fp->role && fp->role[u] == FUSED_ROLE_RUNS ? &fp->inst[fp->runs[u]] : NULL;
    int r0 = r->n, w0 = w->n;
    for (int q = 0; q < n; q++) {
        const node *nd = &g->nodes[members[q]];
        const int *in = graph_node_inputs(g, nd);
        for (int k = 0; k < nd->nin; k++) {
            if (read_through(g, fp, inst, in[k], 0)) {
                if (!push_read(g, fp, inst, in[k], 0, r, r0)) return 0;
                continue;
            }
            if (!ints_has(r, r0, in[k]) && !ints_push(r, in[k])) return 0;
            if (nd->out < 0 && g->values[in[k]].role == ROLE_BNSTAT && !ints_has(w, w0, in[k]) && !ints_push(w, in[k]))
                return 0;
        }
        if (nd->out >= 0 && !ints_has(w, w0, nd->out) && !ints_push(w, nd->out)) return 0;
    }
    return 1;
}

/* The parameters that decide what a kernel computes, field by field (the
 * struct's padding is not compared); idx_off, where a weighted sum's index
 * list sits, may differ: each member's list travels with its arguments. */
static int params_match(const node_params *a, const node_params *b)
{
    return a->stride == b->stride && a->pad == b->pad && a->dil == b->dil && a->groups == b->groups && a->k == b->k &&
           a->kh == b->kh && a->kw == b->kw && a->axis == b->axis && a->ta == b->ta && a->tb == b->tb &&
           a->count_pad == b->count_pad && a->top == b->top && a->left == b->left && a->c0 == b->c0 &&
           a->c1 == b->c1 && a->a == b->a && a->b == b->b && shape_equal(a->shape, b->shape) &&
           a->idx_len == b->idx_len && a->wlen == b->wlen;
}

static int nodes_match(const graph *g, int x, int y)
{
    const node *a = &g->nodes[x], *b = &g->nodes[y];
    if (a->op != b->op || a->nin != b->nin || (a->out < 0) != (b->out < 0) || !params_match(&a->p, &b->p)) return 0;
    if (a->out >= 0 && !shape_equal(g->values[a->out].shape, g->values[b->out].shape)) return 0;
    const int *ia = graph_node_inputs(g, a), *ib = graph_node_inputs(g, b);
    for (int k = 0; k < a->nin; k++) {
        const value *va = &g->values[ia[k]], *vb = &g->values[ib[k]];
        if (!shape_equal(va->shape, vb->shape) || va->is_int != vb->is_int) return 0;
    }
    return 1;
}

/* Whether units x and y can be members of one batched call on be. */
static int units_match(const graph *g, const fusion_plan *fp, const backend *be, dtype dt, int x, int y)
{
    int fx = fp->role && fp->role[x] == FUSED_ROLE_RUNS, fy = fp->role && fp->role[y] == FUSED_ROLE_RUNS;
    if (fx != fy) return 0;
    if (!fx) return be->batches && be->run_batched && be->batches(g->nodes[x].op, dt) && nodes_match(g, x, y);
    const fused_instance *a = &fp->inst[fp->runs[x]], *b = &fp->inst[fp->runs[y]];
    if (a->kind != b->kind || a->n != b->n || !be->fused_batches || !be->run_fused_batched ||
        !be->fused_batches(a->kind, dt))
        return 0;
    for (int q = 0; q < a->n; q++)
        if (!nodes_match(g, a->member[q], b->member[q])) return 0;
    return 1;
}

/* The largest unit batched on be: TSEDARTS_BATCH=all batches units of
 * any size (a switch for comparing orders; it changes no bits). */
static size_t member_max(const backend *be)
{
    const char *b = getenv("TSEDARTS_BATCH");
    if ((b && !strcmp(b, "all")) || !be->batch_member_max) return (size_t)-1;
    return be->batch_member_max();
}

/* Elements of the largest value in list l from index a to b. */
static size_t largest_value(const graph *g, const ints *l, int a, int b)
{
    size_t m = 0;
    for (int j = a; j < b; j++)
        if (shape_numel(g->values[l->v[j]].shape) > m) m = shape_numel(g->values[l->v[j]].shape);
    return m;
}

int schedule_default_window(const backend *be)
{
    if (!(be->batches && be->run_batched) && !(be->fused_batches && be->run_fused_batched)) return 0;
    const char *off = getenv("TSEDARTS_BATCH");
    if (off && !strcmp(off, "0")) return 0;
    const char *w = getenv("TSEDARTS_BATCH_WINDOW");
    if (w && *w) {
        char *end;
        long n = strtol(w, &end, 10);
        if (!*end && n >= 0 && n <= 1 << 20) return (int)n;
    }
    return SCHEDULE_DEFAULT_WINDOW;
}

/* What the window's units read and write, their levels, and the new order
 * of the window's units (by level, then grouped by match within a level). */
typedef struct window_work {
    int *level;    /* per unit of the window */
    int *order;    /* the window's units in their new order (indices into units) */
    int *step_of;  /* per position of order: whether a new step starts there */
    unsigned char *taken;
} window_work;

td_status schedule_build(const graph *g, const unsigned char *needed, const fusion_plan *fp, const backend *be,
                         dtype dt, int window, exec_schedule *out)
{
    memset(out, 0, sizeof *out);
    int nn = g->n_nodes, nv = g->n_values;
    ints units = {0}, r = {0}, w = {0}, roff = {0}, woff = {0}, steps = {0};
    int *unit_of = malloc((size_t)(nn ? nn : 1) * sizeof *unit_of);
    /* per running statistic, in the window stat_window[v]: the last level
     * that read it and the level that last wrote it (-1: none) */
    size_t nv1 = (size_t)(nv ? nv : 1);
    int *stat_window = malloc(nv1 * sizeof(int)), *stat_read = malloc(nv1 * sizeof(int));
    int *stat_written = malloc(nv1 * sizeof(int));
    td_status s = unit_of && stat_window && stat_read && stat_written ? TD_OK
                                                                     : TD_FAIL(TD_ERR_MEMORY, "schedule: out of memory");
    /* the units in graph order, each with its reads and writes */
    ints ur = {0}, uw = {0}, uroff = {0}, uwoff = {0};
    for (int i = 0; s == TD_OK && i < nn; i++) {
        unit_of[i] = -1;
        if (!needed[i] || (fp->role && fp->role[i] == FUSED_ROLE_SILENT)) continue;
        if (!ints_push(&units, i) || !ints_push(&uroff, ur.n) || !ints_push(&uwoff, uw.n) ||
            !unit_access(g, fp, i, &ur, &uw))
            s = TD_FAIL(TD_ERR_MEMORY, "schedule: out of memory");
    }
    if (s == TD_OK && (!ints_push(&uroff, ur.n) || !ints_push(&uwoff, uw.n)))
        s = TD_FAIL(TD_ERR_MEMORY, "schedule: out of memory");
    int nu = units.n;
    for (int k = 0; s == TD_OK && k < nu; k++) {
        int members[FUSED_MAX_MEMBERS], n = schedule_unit_members(fp, units.v[k], members);
        for (int q = 0; q < n; q++) unit_of[members[q]] = k;
    }
    window_work ww = {malloc((size_t)(nu ? nu : 1) * sizeof(int)), malloc((size_t)(nu ? nu : 1) * sizeof(int)),
                      malloc((size_t)(nu ? nu : 1) * sizeof(int)), calloc((size_t)(nu ? nu : 1), 1)};
    if (s == TD_OK && (!ww.level || !ww.order || !ww.step_of || !ww.taken))
        s = TD_FAIL(TD_ERR_MEMORY, "schedule: out of memory");
    for (int v = 0; s == TD_OK && v < nv; v++) stat_window[v] = -1;
    /* no batching: one unit per window keeps graph order; a unit too
     * large to batch is a window of its own, in its place */
    int span = window > 0 ? window : 1;
    size_t largest = member_max(be);
    unsigned char *alone = calloc((size_t)(nu ? nu : 1), 1);
    if (s == TD_OK && !alone) s = TD_FAIL(TD_ERR_MEMORY, "schedule: out of memory");
    for (int k = 0; s == TD_OK && window > 0 && k < nu; k++) {
        size_t reads = largest_value(g, &ur, uroff.v[k], uroff.v[k + 1]);
        size_t writes = largest_value(g, &uw, uwoff.v[k], uwoff.v[k + 1]);
        alone[k] = (reads > writes ? reads : writes) > largest;
    }
    for (int w0 = 0, w1; s == TD_OK && w0 < nu; w0 = w1) {
        int top = 0;
        w1 = w0 + 1;
        if (!alone[w0])
            while (w1 < nu && w1 - w0 < span && !alone[w1]) w1++;
        /* levels, in graph order (a unit's producers come before it); a
         * running statistic is read after the update that writes it and
         * updated after every earlier reader and update of the window */
        for (int k = w0; k < w1; k++) {
            int lv = 0;
            for (int j = uroff.v[k]; j < uroff.v[k + 1]; j++) {
                int v = ur.v[j], p = g->values[v].producer, pu = p >= 0 ? unit_of[p] : -1;
                if (pu >= w0 && pu < k && ww.level[pu] + 1 > lv) lv = ww.level[pu] + 1;
                if (stat_window[v] == w0 && stat_written[v] + 1 > lv) lv = stat_written[v] + 1;
            }
            for (int j = uwoff.v[k]; j < uwoff.v[k + 1]; j++) {
                int v = uw.v[j];
                if (g->values[v].producer >= 0 || stat_window[v] != w0) continue;
                if (stat_read[v] + 1 > lv) lv = stat_read[v] + 1;
                if (stat_written[v] + 1 > lv) lv = stat_written[v] + 1;
            }
            ww.level[k] = lv;
            if (lv > top) top = lv;
            for (int j = uroff.v[k]; j < uroff.v[k + 1]; j++) {
                int v = ur.v[j];
                if (g->values[v].role != ROLE_BNSTAT) continue;
                if (stat_window[v] != w0) stat_window[v] = w0, stat_read[v] = stat_written[v] = -1;
                if (lv > stat_read[v]) stat_read[v] = lv;
            }
            for (int j = uwoff.v[k]; j < uwoff.v[k + 1]; j++) {
                int v = uw.v[j];
                if (g->values[v].producer >= 0) continue;
                if (stat_window[v] != w0) stat_window[v] = w0, stat_read[v] = -1;
                stat_written[v] = lv;
            }
        }
        /* by level (stable), and within a level the matching units together */
        int pos = w0;
        for (int lv = 0; lv <= top; lv++)
            for (int k = w0; k < w1; k++) {
                if (ww.level[k] != lv || ww.taken[k]) continue;
                ww.taken[k] = 1;
                ww.order[pos] = k;
                ww.step_of[pos++] = 1;
                int size = 1;
                for (int j = k + 1; window > 0 && j < w1 && size < SCHEDULE_MAX_BATCH; j++) {
                    if (ww.level[j] != lv || ww.taken[j] || !units_match(g, fp, be, dt, units.v[k], units.v[j]))
                        continue;
                    ww.taken[j] = 1;
                    ww.order[pos] = j;
                    ww.step_of[pos++] = 0;
                    size++;
                }
            }
    }
    /* the schedule: units by the new order, steps, and each step's accesses */
    if (s == TD_OK) {
        out->unit = malloc((size_t)(nu ? nu : 1) * sizeof *out->unit);
        if (!out->unit) s = TD_FAIL(TD_ERR_MEMORY, "schedule: out of memory");
    }
    for (int p = 0; s == TD_OK && p < nu; p++) {
        int k = ww.order[p], ok = 1;
        out->unit[p] = units.v[k];
        if (ww.step_of[p]) ok = ints_push(&steps, p) && ints_push(&roff, r.n) && ints_push(&woff, w.n);
        for (int j = uroff.v[k]; ok && j < uroff.v[k + 1]; j++) ok = ints_push(&r, ur.v[j]);
        for (int j = uwoff.v[k]; ok && j < uwoff.v[k + 1]; j++) ok = ints_push(&w, uw.v[j]);
        if (!ok) s = TD_FAIL(TD_ERR_MEMORY, "schedule: out of memory");
    }
    if (s == TD_OK && !(ints_push(&steps, nu) && ints_push(&roff, r.n) && ints_push(&woff, w.n)))
        s = TD_FAIL(TD_ERR_MEMORY, "schedule: out of memory");
    free(unit_of);
    free(alone);
    free(stat_window);
    free(stat_read);
    free(stat_written);
    free(ww.level);
    free(ww.order);
    free(ww.step_of);
    free(ww.taken);
    free(units.v);
    free(ur.v);
    free(uw.v);
    free(uroff.v);
    free(uwoff.v);
    out->n_units = nu;
    out->n_steps = steps.n - 1;
    out->step_first = steps.v;
    out->roff = roff.v;
    out->rval = r.v;
    out->woff = woff.v;
    out->wval = w.v;
    if (s != TD_OK) schedule_free(out);
    return s;
}

void schedule_free(exec_schedule *s)
{
    free(s->unit);
    free(s->step_first);
    free(s->woff);
    free(s->wval);
    free(s->roff);
    free(s->rval);
    memset(s, 0, sizeof *s);
}
