/* Finds a graph's fused groups from their declarations (fusion.h). */
#include "tsedarts/fusion_plan.h"

#include <stdlib.h>
#include <string.h>

/* Per value: the needed nodes that read it (first, last, how many). */
typedef struct readers {
    int *first, *last, *count;
    const unsigned char *needed;
} readers;

/* Instances of the unstored-head groups of one head, found so far. */
#define UNSTORED_MAX 32
typedef struct found_list {
    const fused_instance *inst;
    int n;
} found_list;

/* Whether node i is a member (past the head) of an instance found. */
static int claimed(const found_list *f, int i)
{
    for (int p = 0; f && p < f->n; p++)
        for (int r = 1; r < f->inst[p].n; r++)
            if (f->inst[p].member[r] == i) return 1;
    return 0;
}

static int input_fits(const graph *g, const node *nd, int k, unsigned char want, int head)
{
    const node *h = &g->nodes[head];
    int v = graph_node_inputs(g, nd)[k];
    switch (want) {
    case FUSED_IN_HEAD_OUT: return v == h->out;
    case FUSED_IN_NOT_HEAD_OUT: return v != h->out;
    case FUSED_IN_HEAD_IN0: return h->nin > 0 && v == graph_node_inputs(g, h)[0];
    default: return 1;
    }
}

static int reads(const graph *g, int i, int v)
{
    const int *in = graph_node_inputs(g, &g->nodes[i]);
    for (int k = 0; k < g->nodes[i].nin; k++)
        if (in[k] == v) return 1;
    return 0;
}

static int member_fits(const graph *g, const fused_member *m, int i, int head)
{
    const node *nd = &g->nodes[i];
    if (!fused_member_op_fits(m, g, nd) || nd->nin > FUSED_MAX_MEMBER_INPUTS) return 0;
    for (int k = 0; k < nd->nin; k++)
        if (!input_fits(g, nd, k, m->in[k], head)) return 0;
    return 1;
}

/* The first needed reader of v, from its first to its last, that fits
 * member m and is neither one of the q members before it nor claimed by
 * an instance found before; or -1. */
static int any_reader(const graph *g, const fused_member *m, int v, int h, const readers *rd,
                      const unsigned char *role, const fused_instance *so_far, int q, const found_list *found)
{
    if (v < 0 || rd->first[v] < 0) return -1;
    for (int i = rd->first[v]; i <= rd->last[v]; i++) {
        if (!rd->needed[i] || role[i] || !reads(g, i, v) || !member_fits(g, m, i, h) || claimed(found, i)) continue;
        int taken = 0;
        for (int p = 0; p < q; p++) taken |= so_far->member[p] == i;
        if (!taken) return i;
    }
    return -1;
}

/* The group's members with head h, or 0 when it is not there; found (or
 * NULL) lists the instances whose nodes an ANY_READER member skips. */
static int match(const graph *g, const fused_group *grp, int h, const int *next_needed, const readers *rd,
                 const unsigned char *role, const found_list *found, fused_instance *out)
{
    const node *hn = &g->nodes[h];
    if (!member_fits(g, &grp->m[0], h, h) || role[h]) return 0;
    int v = hn->out;
    out->kind = grp->kind;
    out->n = grp->n;
    out->member[0] = h;
    for (int q = 1; q < grp->n; q++) {
        int c = -1;
        switch (grp->m[q].place) {
        case FUSED_NEXT: c = next_needed[out->member[q - 1]]; break;
        case FUSED_FIRST_READER: c = v >= 0 ? rd->first[v] : -1; break;
        case FUSED_LAST_READER: c = v >= 0 ? rd->last[v] : -1; break;
        case FUSED_ANY_READER: c = any_reader(g, &grp->m[q], v, h, rd, role, out, q, found); break;
        default: break;
        }
        if (c < 0 || role[c] || !member_fits(g, &grp->m[q], c, h)) return 0;
        for (int p = 0; p < q; p++)
            if (out->member[p] == c) return 0;
        out->member[q] = c;
    }
    /* the kernel covers its member and the NEXT-placed ones after it */
    int q = grp->runs_at;
    while (q + 1 < grp->n && grp->m[q + 1].place == FUSED_NEXT) q++;
    out->last = out->member[q];
    return 1;
}

static td_status push(fusion_plan *fp, const fused_instance *in, int *cap)
{
    if (fp->n_inst == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        fused_instance *p = realloc(fp->inst, (size_t)nc * sizeof *p);
        if (!p) return TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
        fp->inst = p;
        *cap = nc;
    }
    fp->inst[fp->n_inst++] = *in;
    return TD_OK;
}

/* The node where the kernel runs, and the nodes it covers or that are
 * recomputed there, which run nothing themselves. */
static void assign_roles(const fused_group *grp, const fused_instance *in, int id, fusion_plan *fp)
{
    for (int q = 0; q < in->n; q++) {
        int i = in->member[q];
        if (q == grp->runs_at) {
            fp->role[i] = FUSED_ROLE_RUNS;
            fp->runs[i] = id;
        } else if (fp->role[i] != FUSED_ROLE_RUNS) {
            fp->role[i] = FUSED_ROLE_SILENT;
        }
        if (!grp->head_stored) fp->recomputing[i] = 1;
    }
}

/* The unstored-head groups of head h, accepted only together: every reader
 * of its output a member of exactly one of them, every required group of
 * its op found; a repeated group once for each reader it fits. */
static td_status try_unstored(const graph *g, int h, const int *next_needed, const readers *rd, const backend *be,
                              dtype dt, fusion_plan *fp, int *cap, unsigned char *unplaced)
{
    int v = g->nodes[h].out;
    if (v < 0 || g->values[v].role != ROLE_ACT || fp->role[h]) return TD_OK;
    fused_instance found[UNSTORED_MAX];
    found_list fl = {found, 0};
    int covered = 0;
    for (int k = FUSED_NONE + 1; k < FUSED_KIND_END; k++) {
        const fused_group *grp = fused_group_of((fused_kind)k);
        if (k == FUSED_CHAIN || grp->head_stored || !fused_member_op_fits(&grp->m[0], g, &g->nodes[h])) continue;
        int got = 0;
        fused_instance in;
        while (be->fuses((fused_kind)k, dt) && match(g, grp, h, next_needed, rd, fp->role, &fl, &in)) {
            if (fl.n == UNSTORED_MAX) return TD_OK; /* readers beyond counting: stored */
            for (int q = 1; q < grp->n; q++) {
                if (claimed(&fl, in.member[q])) return TD_OK; /* a node claimed twice */
                covered += reads(g, in.member[q], v);
            }
            found[fl.n++] = in;
            got++;
            if (!grp->repeats) break;
        }
        if (!got && grp->required) return TD_OK;
    }
    int n_found = fl.n;
    if (!n_found || covered != rd->count[v]) return TD_OK;
    for (int p = 0; p < n_found; p++) {
        TD_CHECK(push(fp, &found[p], cap));
        assign_roles(fused_group_of(found[p].kind), &found[p], fp->n_inst - 1, fp);
    }
    unplaced[v] = 1;
    return TD_OK;
}

/* Whether value v is stored: made by a node that runs (or a parameter or
 * input), not recomputed by its readers nor itself a normed value. */
static int stored(const graph *g, const fusion_plan *fp, int v)
{
    int p = g->values[v].producer;
    return p < 0 || (!fp->recomputing[p] && !fp->normed[p]);
}

/* Whether every input of node p is stored (a normed reader gets their
 * pointers). */
static int inputs_stored(const graph *g, const fusion_plan *fp, int p)
{
    const int *in = graph_node_inputs(g, &g->nodes[p]);
    for (int k = 0; k < g->nodes[p].nin; k++)
        if (!stored(g, fp, in[k])) return 0;
    return 1;
}

/* Whether every needed reader of v reads it as a normed_input. */
static int read_only_normed(const graph *g, const readers *rd, const backend *be, dtype dt, int v)
{
    for (int i = rd->first[v]; i <= rd->last[v]; i++) {
        if (!rd->needed[i]) continue;
        const int *x = graph_node_inputs(g, &g->nodes[i]);
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (x[k] == v && !be->reads_normed(&g->nodes[i], k, dt)) return 0;
    }
    return 1;
}

/* Normed values, after the patterned groups: a batch norm's output y is
 * not stored when every needed reader can take it as a normed_input
 * (backend.h reads_normed): each computes y where it reads it, from what
 * y was computed from, which then lives until the last reader instead of
 * y. Three kinds:
 * - without affine terms, y = (x 1 - m) r, the scale_axis of a
 *   centred_scale instance (which then runs nowhere but stays in the
 *   list), read from x, the centring's scalars and r;
 * - with them, y = xc a + beta, an affine_axis over channels run alone,
 *   read from its stored input xc (the centred input, which the batch
 *   norm's backward keeps anyway) and its scalars, with r = 1;
 * - a drop path's y m (a scale_axis over images) of either, read as the
 *   same with m the image's factor.
 * The mixed ops' sums, the alphas' gradients, the batch norm's own
 * backward statistics and input gradient, ReLUs and a drop path's scaling
 * read them so. It saves writing y and, where x is still in cache,
 * reading it back. */
static void find_normed_values(const graph *g, const readers *rd, const backend *be, dtype dt, fusion_plan *fp,
                               unsigned char *unplaced)
{
    for (int p = 0; p < g->n_nodes; p++) {
        const node *nd = &g->nodes[p];
        int v = nd->out;
        if (!rd->needed[p] || v < 0 || g->values[v].role != ROLE_ACT || rd->first[v] < 0) continue;
        int scaled = fp->role[p] == FUSED_ROLE_RUNS && fp->inst[fp->runs[p]].kind == FUSED_CENTRED_SCALE &&
                     fp->inst[fp->runs[p]].member[1] == p;
        int affine = fp->role[p] == FUSED_ROLE_NONE && nd->op == OP_AFFINE_AXIS && nd->p.axis == AXIS_C &&
                     inputs_stored(g, fp, p);
        normed_source src;
        int dropped = fp->role[p] == FUSED_ROLE_NONE && nd->op == OP_SCALE_AXIS && nd->p.axis == AXIS_N &&
                      fusion_normed_source(fp, g, graph_node_inputs(g, nd)[0], &src) >= 0 && src.img < 0 &&
                      stored(g, fp, graph_node_inputs(g, nd)[1]);
        if ((!scaled && !affine && !dropped) || !read_only_normed(g, rd, be, dt, v)) continue;
        fp->normed[p] = 1;
        fp->recomputing[p] = 1;
        fp->role[p] = FUSED_ROLE_SILENT;
        fp->runs[p] = -1;
        unplaced[v] = 1;
    }
}

int fusion_normed_source(const fusion_plan *fp, const graph *g, int v, normed_source *src)
{
    int s = g->values[v].producer;
    if (s < 0 || !fp->normed || !fp->normed[s]) return -1;
    const node *nd = &g->nodes[s];
    const int *in = graph_node_inputs(g, nd);
    if (nd->op == OP_SCALE_AXIS && nd->p.axis == AXIS_N) {
        /* a drop path's: what it scales, times its factor per image */
        if (fusion_normed_source(fp, g, in[0], src) < 0) return -1;
        src->img = in[1];
        return s;
    }
    /* a scale_axis over channels reads its centring's inputs; an
     * affine_axis its own */
    const node *a = nd->op == OP_SCALE_AXIS ? &g->nodes[g->values[in[0]].producer] : nd;
    const int *ain = graph_node_inputs(g, a);
    src->x = ain[0];
    src->sc = ain[1];
    src->bias = a->nin > 2 ? ain[2] : -1;
    src->r = nd->op == OP_SCALE_AXIS ? in[1] : -1;
    src->img = -1;
    return s;
}

/* The chains, after every patterned group has taken its nodes: each run
 * of two or more consecutive needed nodes that fit (fusion.h), not yet in
 * a group, of one size, up to FUSED_MAX_MEMBERS long. */
static td_status find_chains(const graph *g, const unsigned char *needed, const int *next_needed, fusion_plan *fp,
                             int *cap)
{
    for (int h = 0; h < g->n_nodes; h++) {
        if (!needed[h] || fp->role[h]) continue;
        const node *hn = &g->nodes[h];
        size_t elems = shape_numel(g->values[hn->out >= 0 ? hn->out : graph_node_inputs(g, hn)[0]].shape);
        if (!fused_chain_member_fits(g, hn, elems)) continue;
        fused_instance in = {.kind = FUSED_CHAIN, .n = 1, .member = {h}};
        for (int c = next_needed[h]; c >= 0 && in.n < FUSED_MAX_MEMBERS && !fp->role[c] &&
                                     fused_chain_member_fits(g, &g->nodes[c], elems);
             c = next_needed[c])
            in.member[in.n++] = c;
        if (in.n < 2) continue;
        in.last = in.member[in.n - 1];
        TD_CHECK(push(fp, &in, cap));
        assign_roles(fused_group_of(FUSED_CHAIN), &in, fp->n_inst - 1, fp);
        h = in.last;
    }
    return TD_OK;
}

td_status fusion_plan_build(const graph *g, const unsigned char *needed, const int *next_needed, const backend *be,
                            dtype dt, fusion_plan *fp, unsigned char *unplaced)
{
    memset(fp, 0, sizeof *fp);
    int nn = g->n_nodes, nv = g->n_values, cap = 0;
    size_t nn1 = (size_t)(nn ? nn : 1), nv1 = (size_t)(nv ? nv : 1);
    fp->runs = malloc(nn1 * sizeof *fp->runs);
    fp->role = calloc(nn1, 1);
    fp->recomputing = calloc(nn1, 1);
    fp->normed = calloc(nn1, 1);
    readers rd = {malloc(nv1 * sizeof(int)), malloc(nv1 * sizeof(int)), calloc(nv1, sizeof(int)), needed};
    td_status s = TD_OK;
    if (!fp->runs || !fp->role || !fp->recomputing || !fp->normed || !rd.first || !rd.last || !rd.count)
        s = TD_FAIL(TD_ERR_MEMORY, "exec: out of memory");
    if (s == TD_OK) {
        for (int i = 0; i < nn; i++) fp->runs[i] = -1;
        for (int v = 0; v < nv; v++) rd.first[v] = rd.last[v] = -1;
        for (int i = 0; i < nn; i++) {
            if (!needed[i]) continue;
            const int *in = graph_node_inputs(g, &g->nodes[i]);
            for (int k = 0; k < g->nodes[i].nin; k++)
                if (rd.last[in[k]] != i) {
                    rd.count[in[k]]++;
                    if (rd.first[in[k]] < 0) rd.first[in[k]] = i;
                    rd.last[in[k]] = i;
                }
        }
    }
    if (s == TD_OK && be->run_fused && be->fuses) {
        /* first the groups that leave a value unstored, then the rest */
        for (int h = 0; s == TD_OK && h < nn; h++)
            if (needed[h]) s = try_unstored(g, h, next_needed, &rd, be, dt, fp, &cap, unplaced);
        for (int h = 0; s == TD_OK && h < nn; h++) {
            if (!needed[h] || fp->role[h]) continue;
            for (int k = FUSED_NONE + 1; k < FUSED_KIND_END; k++) {
                const fused_group *grp = fused_group_of((fused_kind)k);
                fused_instance in;
                if (k == FUSED_CHAIN || !grp->head_stored || !be->fuses((fused_kind)k, dt) ||
                    !match(g, grp, h, next_needed, &rd, fp->role, NULL, &in))
                    continue;
                s = push(fp, &in, &cap);
                if (s == TD_OK) assign_roles(grp, &in, fp->n_inst - 1, fp);
                break;
            }
        }
    }
    if (s == TD_OK && be->run_fused && be->fuses && be->reads_normed) find_normed_values(g, &rd, be, dt, fp, unplaced);
    if (s == TD_OK && be->run_fused && be->fuses && be->fuses(FUSED_CHAIN, dt)) s = find_chains(g, needed, next_needed, fp, &cap);
    free(rd.first);
    free(rd.last);
    free(rd.count);
    if (s != TD_OK) fusion_plan_free(fp);
    return s;
}

void fusion_plan_free(fusion_plan *fp)
{
    free(fp->inst);
    free(fp->runs);
    free(fp->role);
    free(fp->recomputing);
    free(fp->normed);
    memset(fp, 0, sizeof *fp);
}
