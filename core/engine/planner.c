/* Activation memory planner: greedy best-fit by liveness. */
#include "tsedarts/planner.h"

#include "tsedarts/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    size_t off, size;
    int value;
} block;

typedef struct live_set {
    block *b;
    int n, cap;
} live_set;

static size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* Blocks are kept sorted by offset; gaps between them are reusable. */
static size_t live_alloc(live_set *s, size_t size, int value, size_t *top)
{
    size_t best_off = (size_t)-1, best_gap = (size_t)-1;
    int best_pos = s->n;
    size_t prev_end = 0;
    for (int i = 0; i <= s->n; i++) {
        size_t start = i < s->n ? s->b[i].off : (size_t)-1;
        size_t gap = start - prev_end;
        if (i < s->n && gap >= size && gap < best_gap) {
            best_gap = gap;
            best_off = prev_end;
            best_pos = i;
        }
        if (i < s->n) prev_end = s->b[i].off + s->b[i].size;
    }
    if (best_off == (size_t)-1) {
        best_off = prev_end;
        best_pos = s->n;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->b = realloc(s->b, (size_t)s->cap * sizeof *s->b);
    }
    memmove(s->b + best_pos + 1, s->b + best_pos, (size_t)(s->n - best_pos) * sizeof *s->b);
    s->b[best_pos].off = best_off;
    s->b[best_pos].size = size;
    s->b[best_pos].value = value;
    s->n++;
    if (best_off + size > *top) *top = best_off + size;
    return best_off;
}

static void live_free(live_set *s, int value)
{
    for (int i = 0; i < s->n; i++)
        if (s->b[i].value == value) {
            memmove(s->b + i, s->b + i + 1, (size_t)(s->n - i - 1) * sizeof *s->b);
            s->n--;
            return;
        }
}

td_status planner_plan(const graph *g, const unsigned char *needed, size_t align, memory_plan *plan)
{
    /* one step per needed node, in order: it makes its output, reads its inputs */
    int nn = g->n_nodes, steps = 0, nin = 0;
    for (int i = 0; i < nn; i++)
        if (needed[i]) steps++, nin += g->nodes[i].nin;
    exec_schedule s = {0};
    s.n_steps = steps;
    s.woff = malloc((size_t)(steps + 1) * sizeof(int));
    s.roff = malloc((size_t)(steps + 1) * sizeof(int));
    s.wval = malloc((size_t)(steps ? steps : 1) * sizeof(int));
    s.rval = malloc((size_t)(nin ? nin : 1) * sizeof(int));
    td_status st = s.woff && s.roff && s.wval && s.rval ? TD_OK : TD_FAIL(TD_ERR_MEMORY, "planner: out of memory");
    if (st == TD_OK) {
        int t = 0, w = 0, r = 0;
        for (int i = 0; i < nn; i++) {
            if (!needed[i]) continue;
            s.woff[t] = w;
            s.roff[t] = r;
            if (g->nodes[i].out >= 0) s.wval[w++] = g->nodes[i].out;
            const int *in = graph_node_inputs(g, &g->nodes[i]);
            for (int k = 0; k < g->nodes[i].nin; k++) s.rval[r++] = in[k];
            t++;
        }
        s.woff[t] = w;
        s.roff[t] = r;
        st = planner_plan_steps(g, &s, align, NULL, plan);
    }
    free(s.woff);
    free(s.roff);
    free(s.wval);
    free(s.rval);
    return st;
}

td_status planner_plan_steps(const graph *g, const exec_schedule *sched, size_t align, const unsigned char *unplaced,
                             memory_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    int nv = g->n_values, ns = sched->n_steps;
    plan->offset = calloc((size_t)(nv ? nv : 1), sizeof *plan->offset);
    plan->first = malloc((size_t)(nv ? nv : 1) * sizeof *plan->first);
    plan->last = malloc((size_t)(nv ? nv : 1) * sizeof *plan->last);
    plan->align = align ? align : 1;
    int *free_head = malloc((size_t)(ns ? ns : 1) * sizeof *free_head);
    int *free_next = malloc((size_t)(nv ? nv : 1) * sizeof *free_next);
    if (!plan->offset || !plan->first || !plan->last || !free_head || !free_next) {
        free(free_head);
        free(free_next);
        planner_free(plan);
        return TD_FAIL(TD_ERR_MEMORY, "planner: out of memory");
    }
    for (int v = 0; v < nv; v++) plan->first[v] = plan->last[v] = -1;
    for (int t = 0; t < ns; t++) {
        for (int k = sched->woff[t]; k < sched->woff[t + 1]; k++) {
            int v = sched->wval[k];
            if (plan->first[v] < 0) plan->first[v] = t;
            if (t > plan->last[v]) plan->last[v] = t;
        }
        for (int k = sched->roff[t]; k < sched->roff[t + 1]; k++)
            if (t > plan->last[sched->rval[k]]) plan->last[sched->rval[k]] = t;
    }
    /* a value read but made by no step is not an activation of this plan */
    for (int v = 0; v < nv; v++)
        if ((unplaced && unplaced[v]) || plan->first[v] < 0 || g->values[v].role != ROLE_ACT)
            plan->first[v] = plan->last[v] = -1;
    for (int t = 0; t < ns; t++) free_head[t] = -1;
    for (int v = 0; v < nv; v++) {
        if (plan->first[v] < 0) continue;
        free_next[v] = free_head[plan->last[v]];
        free_head[plan->last[v]] = v;
    }
    live_set live = {0};
    size_t top = 0;
    for (int t = 0; t < ns; t++) {
        for (int k = sched->woff[t]; k < sched->woff[t + 1]; k++) {
            int v = sched->wval[k];
            if (plan->first[v] == t)
                plan->offset[v] = live_alloc(&live, round_up(shape_numel(g->values[v].shape), plan->align), v, &top);
        }
        for (int v = free_head[t]; v >= 0; v = free_next[v]) live_free(&live, v);
    }
    plan->arena_elems = top;
    free(live.b);
    free(free_head);
    free(free_next);
    return TD_OK;
}

void planner_free(memory_plan *plan)
{
    free(plan->offset);
    free(plan->first);
    free(plan->last);
    memset(plan, 0, sizeof *plan);
}

typedef struct interval {
    size_t lo, hi;
    int first, last, value;
} interval;

static int by_first(const void *a, const void *b)
{
    const interval *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

int planner_count_overlaps(const graph *g, const memory_plan *plan,
                           char *first_msg, size_t len)
{
    int n = 0, bad = 0;
    interval *iv = malloc((size_t)g->n_values * sizeof *iv);
    for (int v = 0; v < g->n_values; v++) {
        if (g->values[v].role != ROLE_ACT || plan->first[v] < 0) continue;
        iv[n].lo = plan->offset[v];
        iv[n].hi = plan->offset[v] + shape_numel(g->values[v].shape);
        iv[n].first = plan->first[v];
        iv[n].last = plan->last[v];
        iv[n].value = v;
        if (iv[n].hi > plan->arena_elems) {
            if (!bad && first_msg) snprintf(first_msg, len, "value %d ends past the arena", v);
            bad++;
        }
        n++;
    }
    qsort(iv, (size_t)n, sizeof *iv, by_first);
    /* Two values conflict when their node ranges intersect and their
     * element ranges intersect; sweep over start times. */
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n && iv[b].first <= iv[a].last; b++) {
            if (iv[a].lo < iv[b].hi && iv[b].lo < iv[a].hi) {
                if (!bad && first_msg)
                    snprintf(first_msg, len, "values %d and %d overlap while both live", iv[a].value, iv[b].value);
                bad++;
            }
        }
    free(iv);
    return bad;
}
